#!/usr/bin/env bash
# make bench-synth: `ingot synth --preset k2 --layers N` against the disk's own write speed, measured in the
# same run with dd (same byte count, fsync at the end, as synth fsyncs each shard). Prints a RESULTS.md row.
set -euo pipefail
cd "$(dirname "$0")/.."
LAYERS=${LAYERS:-2}
DIR=${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/ingot-bench.XXXXXX")}
BIN=.build/release/ingot
trap 'rm -rf "$DIR"' EXIT
rm -rf "$DIR/k2"
/usr/bin/time -f '%e %M' -o "$DIR/synth.time" "$BIN" synth --preset k2 --layers "$LAYERS" -o "$DIR/k2" --quiet > "$DIR/synth.out"
bytes=$(du -sb "$DIR/k2" | cut -f1)
read -r synth_s synth_kb < "$DIR/synth.time"
rm -rf "$DIR/k2"
sync
mib=$(( (bytes + 1048575) / 1048576 ))
start=$(date +%s.%N)
dd if=/dev/zero of="$DIR/dd.bin" bs=1M count="$mib" conv=fsync status=none
end=$(date +%s.%N)
rm -f "$DIR/dd.bin"
dd_s=$(echo "$end - $start" | bc -l)
python3 - "$bytes" "$synth_s" "$synth_kb" "$dd_s" "$LAYERS" <<'PY'
import sys
b, s, kb, d, layers = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
print(f"| synth k2 --layers {layers} | {b/1e9:.2f} GB | synth {b/s/1e6:.0f} MB/s ({s:.1f} s) | dd+fsync {b/d/1e6:.0f} MB/s ({d:.1f} s) "
      f"| ratio {d/s:.2f} | peak RSS {kb/1024:.0f} MiB |")
PY
