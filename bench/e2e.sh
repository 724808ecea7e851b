#!/usr/bin/env bash
# make bench-e2e: ingot's engine vs llama.cpp at K2's real shapes, one run (bench/e2e.py says what and how).
# Needs ≈ 60 GB free under BENCH_DIR and LLAMA_CPP_BIN (a folder with llama-bench and llama-perplexity).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c 'import numpy' 2> /dev/null || pip install -q 'numpy==2.4.6'
exec python3 bench/e2e.py "$@"
