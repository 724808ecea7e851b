#!/usr/bin/env bash
# make bench-page-recycle: bench/page_recycle.c on two 9.8 GB MoE-layer shards of the 3-layer K2-shaped model
# (synth --preset k2 --layers 3, as make bench-e2e builds it under BENCH_DIR), alternating the two modes.
# Needs root (it drops the page cache between runs) and ≈ 26 GB free under BENCH_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${BENCH_DIR:?set BENCH_DIR to the folder make bench-e2e uses}
BIN=.build/release/ingot
K3=$DIR/k2-3l
[ -f "$K3/model.safetensors.index.json" ] || "$BIN" synth --preset k2 --layers 3 --seed 3 -o "$K3" --quiet
OLD=$K3/model-00002-of-000004.safetensors NEW=$K3/model-00003-of-000004.safetensors
cc -O2 -o "$DIR/page_recycle" bench/page_recycle.c
grep -m1 "model name" /proc/cpuinfo
echo "free page reporting order: $(cat /sys/module/page_reporting/parameters/page_reporting_order 2> /dev/null || echo none)"
for mode in at-once piecewise at-once piecewise; do
  sync; echo 3 > /proc/sys/vm/drop_caches; sleep 10   # every run starts with memory handed back to the host
  cat "$OLD" > /dev/null
  "$DIR/page_recycle" "$OLD" "$NEW" "$mode"
done
