#!/usr/bin/env bash
# make check-large: repack → verify → unpack round trips (raw and zstd), inflate, and shard/merge on a larger
# synthetic checkpoint (the small preset with 4 layers and 64 experts), compared byte for byte with diff -r.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.build/release/ingot
DIR=$(mktemp -d "${TMPDIR:-/tmp}/ingot-large.XXXXXX")
trap 'rm -rf "$DIR"' EXIT
"$BIN" synth --preset small --layers 4 --experts 64 --seed 9 -o "$DIR/src" --quiet
"$BIN" repack "$DIR/src" -o "$DIR/raw" --quiet
"$BIN" verify "$DIR/raw" --quiet > /dev/null
"$BIN" unpack "$DIR/raw" -o "$DIR/back" --quiet
diff -r "$DIR/src" "$DIR/back"
"$BIN" repack "$DIR/src" -o "$DIR/z" --compress zstd:9 --quiet
"$BIN" unpack "$DIR/z" -o "$DIR/back-z" --quiet
diff -r "$DIR/src" "$DIR/back-z"
"$BIN" inflate "$DIR/z" -o "$DIR/inflated" --quiet
diff -r "$DIR/raw" "$DIR/inflated"
for i in 1 2 3 4; do "$BIN" repack "$DIR/src" -o "$DIR/slice$i" --shard "$i/4" --quiet; done
"$BIN" merge "$DIR"/slice4 "$DIR"/slice2 "$DIR"/slice1 "$DIR"/slice3 -o "$DIR/merged"
diff -r "$DIR/raw" "$DIR/merged"
INGOT_EXHAUSTIVE=1 swift test -c release -Xswiftc -enable-testing --filter BitFlipTests
echo "check-large: all round trips byte-identical ($(du -sh "$DIR/src" | cut -f1) source)"
