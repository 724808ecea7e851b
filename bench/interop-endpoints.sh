#!/usr/bin/env bash
# make interop-endpoints: k2-mini's exports served by real stacks, checked against ingot's engine on the same
# checkpoint (docs/evaluation.md, "Verifying a deployment, stack by stack"). Not CI: several minutes per server.
#   mlx_lm.server (.venv-mlx from `make setup`) on `ingot export hf`, and on an F32 copy of it (bench/mlx_f32_copy.py:
#   mlx computes in the stored dtype, so that run tells BF16 arithmetic from anything else);
#   llama.cpp's llama-server on `ingot export gguf` (LLAMA_CPP_BIN: a folder with llama-server, built from a fetched
#   source tree; nothing of it is committed).
# Every run: all held-out requests (toolcalls.jsonl) and eval.txt's log-probs (CHUNKS chunks of CTX tokens; empty
# CHUNKS = the whole text); plus ingot's own q8_0 mode against exact, the arithmetic llama.cpp uses, to tell rounding
# from bugs. JSON summaries go to WORK.
set -euo pipefail
cd "$(dirname "$0")/.."
INGOT=${INGOT:-}  # a prebuilt ingot binary; by default this checkout's release build, made first
K2MINI=fixtures/k2-mini
WORK=${WORK:-${TMPDIR:-/tmp}/ingot-interop-endpoints}
CTX=${CTX:-512}
CHUNKS=${CHUNKS:-}
LIMIT=${LIMIT:-}
: "${LLAMA_CPP_BIN:?set LLAMA_CPP_BIN to a folder with llama-server (bench/RESULTS.md says how it was built)}"
[ -x "$LLAMA_CPP_BIN/llama-server" ] || { echo "no $LLAMA_CPP_BIN/llama-server" >&2; exit 2; }
[ -x .venv-mlx/bin/python ] || { echo "no .venv-mlx: run make setup" >&2; exit 2; }
rm -rf "$WORK" && mkdir -p "$WORK"
chunk_args=(--ctx "$CTX"); [ -n "$CHUNKS" ] && chunk_args+=(--chunks "$CHUNKS")
limit_args=(); [ -n "$LIMIT" ] && limit_args+=(--limit "$LIMIT")

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_ready() {  # url pid log
  for _ in $(seq 1 180); do
    curl -sf "$1/health" > /dev/null && return 0
    kill -0 "$2" 2> /dev/null || break
    sleep 0.5
  done
  echo "server at $1 did not start:" >&2; tail -20 "$3" >&2; return 1
}
parity() {  # label base-url [text options, default: CTX and CHUNKS]
  local label=$1 url=$2; shift 2
  local text_args=("${chunk_args[@]}"); [ $# -gt 0 ] && text_args=("$@")
  "$INGOT" eval parity "$K2MINI/int4" --endpoint "$url" --toolcalls "$K2MINI/toolcalls.jsonl" "${limit_args[@]}" \
    --text "$K2MINI/eval.txt" "${text_args[@]}" --concurrency 1 --no-thresholds --quiet --json > "$WORK/$label.json"
  python3 - "$label" "$WORK/$label.json" << 'PY'
import json, sys
j = json.load(open(sys.argv[2])); t = j["tool_calls"]; l = j.get("server_logits", {})
print("%-14s tool calls: %d requests, trigger F1 %.4f (FP %d, FN %d), exact match %.4f, schema CAND %.4f, prompt mismatches %d, failed %d"
      % (sys.argv[1], t["requests"], t["trigger_f1"], t["false_positives"], t["false_negatives"], t["exact_match"],
         t["schema_accuracy_candidate"], len(t["prompt_mismatches"]), len(t["failed"])))
if l.get("tokenization_mismatch"):
    print("%-14s logits: stopped: %s" % ("", l["tokenization_mismatch"]))
else:
    print("%-14s logits (%s, k %d): %d of %d positions, same top-1 %.4f, KLD top-k mean %.2e max %.2e, PPL REF %.3f CAND %.3f over %d"
          % ("", l["request_style"], l["k"], l["compared"], l["positions"], l["same_top1"], l["kld_topk_mean"],
             l["kld_topk_max"], l["ppl_ref_where_target_in_topk"], l["ppl_cand_where_target_in_topk"], l["target_in_topk"]))
PY
}

[ -n "$INGOT" ] || { make -s release > /dev/null; INGOT=.build/release/ingot; }
"$INGOT" export hf "$K2MINI/int4" -o "$WORK/k2-mini-hf" --quiet > /dev/null
"$INGOT" export gguf "$K2MINI/int4" -o "$WORK/k2-mini.gguf" --quiet > /dev/null
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; ctx $CTX, chunks ${CHUNKS:-all}"

# The arithmetic alone: ingot exact against ingot with llama.cpp's Q8_0 activations (BF16-rounded for BF16 weights).
"$INGOT" eval parity "$K2MINI/int4" "$K2MINI/int4" --cand-int4-activations q8_0 --toolcalls "$K2MINI/toolcalls.jsonl" \
  "${limit_args[@]}" --text "$K2MINI/eval.txt" "${chunk_args[@]}" --no-thresholds --quiet --json > "$WORK/ingot-q8_0.json"
python3 - "$WORK/ingot-q8_0.json" << 'PY'
import json, sys
j = json.load(open(sys.argv[1])); t = j["tool_calls"]; l = j["logits"]
print("%-14s tool calls: %d requests, trigger F1 %.4f, exact match %.4f; logits: same top-1 %.4f, KLD mean %.2e max %.2e (full vocabulary)"
      % ("ingot q8_0", t["requests"], t["trigger_f1"], t["exact_match"], l["same_top1"], l["kld"]["mean"], l["kld"]["max"]))
PY

port=$(free_port)
.venv-mlx/bin/python -m mlx_lm server --model "$WORK/k2-mini-hf" --host 127.0.0.1 --port "$port" --prompt-cache-size 1 \
  < /dev/null > "$WORK/mlx.log" 2>&1 &
pid=$!
trap 'kill $pid 2> /dev/null || true' EXIT
wait_ready "http://127.0.0.1:$port" "$pid" "$WORK/mlx.log"
parity mlx_lm.server "http://127.0.0.1:$port"
kill "$pid"; wait "$pid" 2> /dev/null || true

# The same server on an F32 copy of the export (bench/mlx_f32_copy.py): mlx computes in the stored dtype, so this
# run tells BF16 arithmetic from anything else. Tool calls in full; log-probs on F32_CHUNKS chunks (default: as the
# other runs).
.venv-mlx/bin/python bench/mlx_f32_copy.py "$WORK/k2-mini-hf" "$WORK/k2-mini-hf-f32" > /dev/null
port=$(free_port)
.venv-mlx/bin/python -m mlx_lm server --model "$WORK/k2-mini-hf-f32" --host 127.0.0.1 --port "$port" \
  --prompt-cache-size 1 < /dev/null > "$WORK/mlx-f32.log" 2>&1 &
pid=$!
wait_ready "http://127.0.0.1:$port" "$pid" "$WORK/mlx-f32.log"
if [ -n "${F32_CHUNKS:-}" ]; then
  parity mlx_lm.server-f32 "http://127.0.0.1:$port" --ctx "$CTX" --chunks "$F32_CHUNKS"
else
  parity mlx_lm.server-f32 "http://127.0.0.1:$port"
fi
kill "$pid"; wait "$pid" 2> /dev/null || true

# llama.cpp's deepseek2 loader does not read the GGUF's rope.scaling.yarn_beta_fast/slow (it keeps 32 and 1; k2-mini and
# K2 use 1 and 1), so the model's values go on the command line; without them llama-server's answers drift
# (bench/RESULTS.md, "Real serving stacks").
yarn=($(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["rope_scaling"]; print("--yarn-beta-fast", r.get("beta_fast", 32), "--yarn-beta-slow", r.get("beta_slow", 1))' "$K2MINI/int4/config.json"))
port=$(free_port)
"$LLAMA_CPP_BIN/llama-server" -m "$WORK/k2-mini.gguf" --jinja --host 127.0.0.1 --port "$port" -t "$(nproc)" "${yarn[@]}" \
  < /dev/null > "$WORK/llama-server.log" 2>&1 &
pid=$!
wait_ready "http://127.0.0.1:$port" "$pid" "$WORK/llama-server.log"
parity llama-server "http://127.0.0.1:$port"
echo "llama-server: $("$LLAMA_CPP_BIN/llama-server" --version 2>&1 | grep -m1 -i version || true)"
