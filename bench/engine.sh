#!/usr/bin/env bash
# make bench-engine: the INT4 matrix-vector kernel on a bundle's experts at K2's real shapes (synth --preset k2
# --layers 2 --experts 16: 16 experts × gate/up 2048×7168 and down 7168×2048, ≈ 350 MB of expert tiles, more
# than any cache) in GB/s of weight bytes against a STREAM copy and the read ceiling (the same bytes read by a loop
# that only loads) measured in the same run (1 and 2 threads); then
# decode tokens/s of `ingot run` on synth --preset small (checkpoint and bundle, exact and Q8_0 activations) and on the
# K2-shaped model. bench-engine reports both INT4 kernels: exact f32 activations and --int4-activations q8_0.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.build/release/ingot
DIR=${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/ingot-bench.XXXXXX")}
trap 'rm -rf "$DIR"' EXIT
"$BIN" synth --preset k2 --layers 2 --experts 16 -o "$DIR/k2" --quiet > /dev/null
"$BIN" repack "$DIR/k2" -o "$DIR/k2.bundle" --quiet > /dev/null
echo "## INT4 matvec (bundle tiles) vs STREAM copy"
"$BIN" bench-engine "$DIR/k2.bundle" --threads 1
"$BIN" bench-engine "$DIR/k2.bundle" --threads 2
"$BIN" synth --preset small --seed 1 -o "$DIR/small" --quiet > /dev/null
"$BIN" repack "$DIR/small" -o "$DIR/small.bundle" --quiet > /dev/null
prompt=$(seq -s, 1 32)
echo "## decode, synth --preset small (4 layers, 16 experts top-4, hidden 256)"
for m in "$DIR/small" "$DIR/small.bundle"; do
  for act in f32 q8_0; do
    "$BIN" run "$m" --tokens "$prompt" --max-tokens 128 --int4-activations "$act" --json | python3 -c '
import json, sys; d = json.load(sys.stdin)
print("%s, %s activations: prefill %.1f tok/s, decode %.1f tok/s" % (sys.argv[1], sys.argv[2], d["prefill_tokens_per_second"], d["decode_tokens_per_second"]))' "$(basename "$m")" "$act"
  done
done
echo "## decode, K2 shapes (2 layers: dense + one MoE layer of 16 experts; lm_head 163840×7168 BF16 dominates)"
/usr/bin/time -f 'peak RSS %M KB' "$BIN" run "$DIR/k2.bundle" --tokens 1,2,3,4 --max-tokens 4 --json | python3 -c '
import json, sys; d = json.load(sys.stdin)
print("k2 bundle: prefill %.2f tok/s, decode %.2f tok/s" % (d["prefill_tokens_per_second"], d["decode_tokens_per_second"]))'
