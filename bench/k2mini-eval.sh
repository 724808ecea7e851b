#!/usr/bin/env bash
# make eval-k2-mini: the evaluation numbers of k2-mini recorded in bench/RESULTS.md and fixtures/k2-mini/README.md:
# tool-call accuracy of BF16 and INT4 against the expected answers, held-out perplexity of both, and the parity of
# INT4 against BF16 and against its own bundle (logits, routing, tool calls). Release build.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.build/release/ingot
M=fixtures/k2-mini
DIR=${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/ingot-k2mini.XXXXXX")}
trap 'rm -rf "$DIR"' EXIT
LIMIT=${LIMIT:-240}
for form in bf16 int4; do
  echo "## eval toolcalls $form (expected answers as truth, greedy, first $LIMIT requests)"
  "$BIN" eval toolcalls "$M/$form" --toolcalls "$M/toolcalls.jsonl" --limit "$LIMIT" --max-tokens 256 --quiet | head -4
  echo "## eval ppl $form"
  "$BIN" eval ppl "$M/$form" --text "$M/eval.txt" --ctx 256 --quiet
done
"$BIN" repack "$M/int4" -o "$DIR/int4.bundle" --quiet
echo "## eval parity int4 vs its bundle"
"$BIN" eval parity "$M/int4" "$DIR/int4.bundle" --text "$M/eval.txt" --ctx 256 --toolcalls "$M/toolcalls.jsonl" --limit "$LIMIT" \
  --max-tokens 256 --quiet --no-thresholds
echo "## eval parity bf16 vs int4"
"$BIN" eval parity "$M/bf16" "$M/int4" --text "$M/eval.txt" --ctx 256 --toolcalls "$M/toolcalls.jsonl" --limit "$LIMIT" \
  --max-tokens 256 --quiet --no-thresholds --report "${REPORT:-$DIR/parity.h5}"
