#!/usr/bin/env bash
# make bench-verify: `ingot verify` of a one-MoE-layer K2-shaped checkpoint (synth --preset k2 --layers 2:
# layer 0 dense, layer 1 with 384 experts at K2's real shapes) against `cat` of the same files to /dev/null,
# cold cache (drop_caches, needs root) and warm cache. Prints RESULTS.md rows.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.build/release/ingot
DIR=${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/ingot-bench.XXXXXX")}
trap 'rm -rf "$DIR"' EXIT
"$BIN" synth --preset k2 --layers 2 -o "$DIR/k2" --quiet > /dev/null
bytes=$(cat "$DIR"/k2/*.safetensors | wc -c)
now() { date +%s.%N; }
drop() { sync; if [ -w /proc/sys/vm/drop_caches ]; then echo 3 > /proc/sys/vm/drop_caches; return 0; fi; return 1; }
timed() { local s e; s=$(now); "$@" > /dev/null; e=$(now); echo "$e - $s" | bc -l; }
row() { python3 -c "import sys; b,c,v=int(sys.argv[1]),float(sys.argv[2]),float(sys.argv[3]); print(f'| verify k2 1 MoE layer, {sys.argv[4]} | {b/1e9:.2f} GB | verify {b/v/1e9:.2f} GB/s ({v:.1f} s) | cat {b/c/1e9:.2f} GB/s ({c:.1f} s) | {c/v:.2f} |')" "$bytes" "$1" "$2" "$3"; }
if drop; then
  cat_cold=$(timed sh -c "cat '$DIR'/k2/*.safetensors")
  drop
  verify_cold=$(timed "$BIN" verify "$DIR/k2" --quiet)
  row "$cat_cold" "$verify_cold" "cold cache"
else
  echo "| cold cache | skipped: /proc/sys/vm/drop_caches is not writable |"
fi
cat "$DIR"/k2/*.safetensors > /dev/null
cat_warm=$(timed sh -c "cat '$DIR'/k2/*.safetensors")
verify_warm=$(timed "$BIN" verify "$DIR/k2" --quiet)
/usr/bin/time -f '%M' -o "$DIR/rss" "$BIN" verify "$DIR/k2" --quiet > /dev/null
row "$cat_warm" "$verify_warm" "warm cache"
echo "peak RSS of verify (warm): $(( $(cat "$DIR/rss") / 1024 )) MiB"
# The same files as a Hugging Face cache (snapshot links into blobs/ named by digest): verify there hashes every
# file against its blob name by default. Warm cache, against `verify --checksums none` of the same folder.
repo="$DIR/models--bench--k2"
mkdir -p "$repo/blobs" "$repo/snapshots/main"
for f in "$DIR"/k2/*; do
  name=$(basename "$f")
  case "$name" in
    *.safetensors) digest=$(sha256sum "$f" | cut -c1-64) ;;
    *) digest=$(git hash-object "$f") ;;
  esac
  mv "$f" "$repo/blobs/$digest"
  ln -s "../../blobs/$digest" "$repo/snapshots/main/$name"
done
cat "$repo"/blobs/* > /dev/null
plain=$(timed "$BIN" verify "$repo" --checksums none --quiet)
hub=$(timed "$BIN" verify "$repo" --quiet)
python3 -c "import sys; b,p,h=int(sys.argv[1]),float(sys.argv[2]),float(sys.argv[3]); print(f'| verify k2 1 MoE layer in a Hugging Face cache, warm | {b/1e9:.2f} GB | --checksums none {p:.1f} s | hub digests (default) {h:.1f} s | {h/p:.2f}x |')" "$bytes" "$plain" "$hub"
