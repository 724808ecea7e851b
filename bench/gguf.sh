#!/usr/bin/env bash
# make bench-gguf: `ingot export gguf` of K2-shaped synthetic checkpoints (synth --preset k2 --layers 3: a dense layer
# and two MoE layers at K2's real shapes; EXPERTS routed experts per layer, 384 in K2 but fewer by default so source +
# GGUF fit the disk) against `cp -r` of the same files + sync (same run; caches dropped when root), with peak RSS from
# /usr/bin/time -v at two expert counts (flat memory: RSS must not follow the model's size). Prints RESULTS.md rows.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.build/release/ingot
DIR=${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/ingot-bench.XXXXXX")}
EXPERTS=${EXPERTS:-"64 192"}
trap 'rm -rf "$DIR"' EXIT
drop() { sync; [ -w /proc/sys/vm/drop_caches ] && echo 3 > /proc/sys/vm/drop_caches || true; }
now() { date +%s.%N; }
for e in $EXPERTS; do
  "$BIN" synth --preset k2 --layers 3 --experts "$e" -o "$DIR/src" --quiet > /dev/null
  bytes=$(du -sb "$DIR/src" | cut -f1)
  tensors=$("$BIN" inspect "$DIR/src" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["tensor_count"])' 2>/dev/null || echo "?")
  drop; s=$(now); cp -r "$DIR/src" "$DIR/copy"; sync; t=$(now); cp_s=$(echo "$t - $s" | bc -l); rm -rf "$DIR/copy"
  drop; s=$(now)
  /usr/bin/time -v -o "$DIR/time.txt" "$BIN" export gguf "$DIR/src" -o "$DIR/out.gguf" --quiet > "$DIR/report.txt" 2> /dev/null
  sync; t=$(now); export_s=$(echo "$t - $s" | bc -l)
  rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$DIR/time.txt")
  user=$(awk -F': ' '/User time/ {print $2}' "$DIR/time.txt"); sys=$(awk -F': ' '/System time/ {print $2}' "$DIR/time.txt")
  out=$(stat -c %s "$DIR/out.gguf")
  lossless=$(grep -c "lossless" "$DIR/report.txt" || true)
  rm -rf "$DIR/out.gguf" "$DIR/src"
  python3 - "$e" "$bytes" "$tensors" "$cp_s" "$export_s" "$rss_kb" "$user" "$sys" "$out" "$lossless" <<'PY'
import sys
e, b, tensors, cp, ex, rss, user, sys_, out, lossless = sys.argv[1:]
b, out = int(b), int(out); cp, ex = float(cp), float(ex)
print(f"| k2 --layers 3 --experts {e} | {b/1e9:.2f} GB, {tensors} tensors → {out/1e9:.2f} GB | {b/ex/1e9:.2f} GB/s ({ex:.1f} s; "
      f"user {user} s, sys {sys_} s) | cp -r + sync {b/cp/1e9:.2f} GB/s ({cp:.1f} s) | {cp/ex:.2f} | peak RSS {int(rss)/1024:.0f} MiB "
      f"| {'lossless' if lossless != '0' else 'NOT lossless'} |")
PY
done
