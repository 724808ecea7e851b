# ingot: `make demo` and `make test` work on a fresh Debian 12 machine with Swift 6 (see README).
SHELL := /bin/bash
SWIFT ?= swift
APT_PACKAGES := libzstd-dev libopenblas-dev libhdf5-dev pkg-config
RELEASE_BIN := .build/release/ingot
# mlx_lm.server for the serving-stack test (Tests/ingotTests/MLXServerTests.swift), pinned, in its own venv.
MLX_VENV := .venv-mlx
MLX_PACKAGES := 'mlx[cpu]==0.32.4' 'mlx-lm==0.32.2'
DEMO_DIR ?= $(or $(TMPDIR),/tmp)/ingot-demo

.PHONY: interop-endpoints check-html eval-k2-mini setup build release test lint demo recipes bench bench-synth bench-verify bench-repack bench-engine bench-e2e bench-page-recycle check-large check-slurm fuzz clean python-fixtures interop bench-gguf

## setup: install the system libraries (only those missing) and the mlx-lm venv; idempotent, non-interactive.
setup:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	else echo "setup: system libraries present"; fi
	@if ! $(MLX_VENV)/bin/python -c 'import mlx_lm' 2>/dev/null; then \
	  echo "setup: installing $(MLX_PACKAGES) into $(MLX_VENV) (the mlx_lm.server test)"; \
	  python3 -m venv $(MLX_VENV) && $(MLX_VENV)/bin/pip install -q --disable-pip-version-check $(MLX_PACKAGES); \
	else echo "setup: $(MLX_VENV) has mlx-lm"; fi

build: setup
	$(SWIFT) build

release: setup
	$(SWIFT) build -c release

## test: setup + the whole test suite (no large files; setup reaches PyPI once for the mlx-lm venv).
test: setup
	$(SWIFT) test

## lint: swift-format with the checked-in .swift-format (the generated BuiltinRecipes.swift is skipped).
lint:
	$(SWIFT) format lint --strict $$(git ls-files 'Sources/*.swift' 'Tests/*.swift' 'Fuzz/*.swift' | grep -v BuiltinRecipes.swift)

## demo: setup + release build + the main job on the embedded default fixture.
demo: release
	rm -rf $(DEMO_DIR) && mkdir -p $(DEMO_DIR)
	$(RELEASE_BIN) synth --preset small --seed 1 -o $(DEMO_DIR)/k2-small
	$(RELEASE_BIN) inspect $(DEMO_DIR)/k2-small
	$(RELEASE_BIN) verify $(DEMO_DIR)/k2-small --report $(DEMO_DIR)/verify.h5
	$(RELEASE_BIN) synth --preset small --form bf16 --seed 1 -o $(DEMO_DIR)/k2-small-bf16
	$(RELEASE_BIN) quantize $(DEMO_DIR)/k2-small-bf16 -o $(DEMO_DIR)/k2-small-int4
	$(RELEASE_BIN) verify $(DEMO_DIR)/k2-small-int4
	$(RELEASE_BIN) repack $(DEMO_DIR)/k2-small -o $(DEMO_DIR)/k2-small.bundle --compress zstd:3
	$(RELEASE_BIN) verify $(DEMO_DIR)/k2-small.bundle
	$(RELEASE_BIN) unpack $(DEMO_DIR)/k2-small.bundle -o $(DEMO_DIR)/k2-small-unpacked
	diff -r $(DEMO_DIR)/k2-small $(DEMO_DIR)/k2-small-unpacked && echo "demo: bundle round trip is byte-identical"
	@echo "== k2-mini (fixtures/k2-mini, a trained K2-architecture model): verify, repack, a tool call from the bundle, parity =="
	$(RELEASE_BIN) verify fixtures/k2-mini/int4
	$(RELEASE_BIN) repack fixtures/k2-mini/int4 -o $(DEMO_DIR)/k2-mini.bundle --quiet
	$(RELEASE_BIN) verify $(DEMO_DIR)/k2-mini.bundle
	head -n 1 fixtures/k2-mini/toolcalls.jsonl > $(DEMO_DIR)/request.json
	$(RELEASE_BIN) run $(DEMO_DIR)/k2-mini.bundle --request $(DEMO_DIR)/request.json --max-tokens 200
	@echo "== parity: k2-mini INT4 checkpoint vs its bundle (must be identical) =="
	$(RELEASE_BIN) eval parity fixtures/k2-mini/int4 $(DEMO_DIR)/k2-mini.bundle --text fixtures/k2-mini/eval.txt --ctx 256 --chunks 8 \
	  --toolcalls fixtures/k2-mini/toolcalls.jsonl --limit 16 --max-tokens 200 --quiet --report $(DEMO_DIR)/parity-bundle.h5 --html $(DEMO_DIR)/parity-bundle.html
	@echo "== parity: k2-mini BF16 vs INT4 (the quantization's cost; report only) =="
	$(RELEASE_BIN) eval parity fixtures/k2-mini/bf16 fixtures/k2-mini/int4 --text fixtures/k2-mini/eval.txt --ctx 256 --chunks 8 \
	  --toolcalls fixtures/k2-mini/toolcalls.jsonl --limit 16 --max-tokens 200 --quiet --no-thresholds --html $(DEMO_DIR)/parity-int4.html

## recipes: regenerate the compiled-in copy of recipes/*.yaml.
recipes:
	python3 fixtures/scripts/embed_recipes.py

## python-fixtures: regenerate golden files with the reference Python packages (not run by CI).
python-fixtures: release
	pip install -q 'safetensors==0.8.0' 'numpy>=2'
	python3 fixtures/scripts/make_safetensors_golden.py
	pip install -q torch compressed-tensors h5py transformers
	python3 fixtures/scripts/make_quantization_golden.py
	python3 fixtures/scripts/make_engine_golden.py
	pip install -q 'gguf==0.19.0'
	python3 fixtures/scripts/make_gguf_golden.py
	python3 fixtures/scripts/make_q8_golden.py
	bash fixtures/scripts/regenerate_tool_goldens.sh
	pip install -q 'tiktoken==0.14.0' 'regex==2026.5.9' 'jinja2==3.1.6' 'jsonschema==4.26.0'
	python3 fixtures/scripts/make_tokenizer_golden.py
	python3 fixtures/scripts/make_gguf_tokenizer_golden.py
	python3 fixtures/scripts/make_jsonschema_golden.py
	pip install -q 'loguru==0.7.3' 'megfile==4.2.4' 'openai==2.8.1' 'tqdm==4.67.1' 'httpx==0.28.1'
	curl -fsSL -o $(or $(TMPDIR),/tmp)/k2vv_tool_calls_eval.py \
	  https://raw.githubusercontent.com/MoonshotAI/K2-Vendor-Verifier/0bc5061be1a7b5667c2ec71a546a6b1c9ff5af9a/tool_calls_eval.py
	python3 fixtures/scripts/make_k2vv_scoring_golden.py --verifier $(or $(TMPDIR),/tmp)/k2vv_tool_calls_eval.py
	curl -fsSL -o $(or $(TMPDIR),/tmp)/moonshotai-Kimi-K2-Thinking.jinja \
	  https://raw.githubusercontent.com/ggml-org/llama.cpp/0c3c896ea80643608b4e961eec7e1efcd844e109/models/templates/moonshotai-Kimi-K2-Thinking.jinja
	python3 fixtures/scripts/make_chat_golden.py --template $(or $(TMPDIR),/tmp)/moonshotai-Kimi-K2-Thinking.jinja
	python3 fixtures/scripts/make_k2_mini_template_golden.py --ingot $(RELEASE_BIN)
	pip install -q 'transformers==5.25.0' 'tokenizers==0.23.3'
	python3 fixtures/scripts/make_hf_export_golden.py --ingot $(RELEASE_BIN)

## k2-mini: retrain fixtures/k2-mini from scratch (seeded; ≈50 min on 2 shared cores; the committed model used K2MINI_THREADS=1; not run by CI), then measure it
## with ingot. Prose from Debian's sword-text-web (World English Bible, public domain), read with libsword-utils.
K2MINI_WORK ?= $(or $(TMPDIR),/tmp)/k2-mini-work
K2MINI_THREADS ?= 2
k2-mini: release
	@for p in sword-text-web libsword-utils; do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; if [ -n "$$missing" ]; then SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; fi
	pip install -q torch 'transformers>=5' tiktoken regex safetensors
	python3 fixtures/scripts/make_k2_mini.py --ingot $(RELEASE_BIN) --work $(K2MINI_WORK) --threads $(K2MINI_THREADS)
	$(RELEASE_BIN) verify fixtures/k2-mini/int4
	$(RELEASE_BIN) eval toolcalls fixtures/k2-mini/bf16 --toolcalls fixtures/k2-mini/toolcalls.jsonl
	$(RELEASE_BIN) eval ppl fixtures/k2-mini/bf16 --text fixtures/k2-mini/eval.txt
	$(RELEASE_BIN) eval ppl fixtures/k2-mini/int4 --text fixtures/k2-mini/eval.txt

## bench: all benchmarks (release build); results go to bench/RESULTS.md by hand.
bench: bench-synth bench-verify bench-repack bench-engine

## bench-synth: synth --preset k2 --layers 2 vs dd of the same byte count (write speed).
bench-synth: release
	bash bench/synth.sh

## bench-verify: verify of a one-MoE-layer K2-shaped checkpoint vs cat of the same files, cold and warm cache.
bench-verify: release
	bash bench/verify.sh

## bench-engine: INT4 matvec on K2 expert shapes vs a STREAM copy (same run); decode tokens/s.
bench-engine: release
	bash bench/engine.sh

## bench-e2e: perplexity and decode tok/s of ingot (exact, q8_0; checkpoint, bundle) vs llama.cpp on the same K2-shaped
## weights (synth --preset k2 --layers 2, its GGUF and bundle), the f32 GEMM / memory / cold-read ceilings, and the
## 3-layer model (25 GB) layer-streamed; one run, ≈ 15 min, ≈ 60 GB under BENCH_DIR; LLAMA_CPP_BIN=folder with
## llama-bench and llama-perplexity (bench tooling, not committed). Not in CI.
bench-e2e: release
	bash bench/e2e.sh

## bench-page-recycle: reading a 9.8 GB layer into memory freed just before vs freed seconds earlier (root; BENCH_DIR).
bench-page-recycle: release
	bash bench/page-recycle.sh

## bench-repack: repack of a one-MoE-layer K2-shaped checkpoint vs cp, peak RSS, zstd size vs entropy, inflate speed.
bench-repack: release
	bash bench/repack.sh

.PHONY: bench-tokenizer
## bench-tokenizer: K2 tokenizer encode throughput on ~16 MB of mixed text (release build of the tests, gated benchmark).
bench-tokenizer: setup
	RUN_BENCHMARKS=1 $(SWIFT) test -c release -Xswiftc -enable-testing --filter TokenizerBenchmark 2>&1 | grep -E "tokenizer bench|passed|failed|error"

## check-large: round trips on a larger synthetic checkpoint (release build; a few minutes, not in CI).
check-large: release
	bash bench/check-large.sh

## check-slurm: installs slurm-wlm, starts munged, slurmctld and slurmd on this machine, runs the 4-task array job of
## docs/scale-out/repack-array.sbatch, merges, and compares with a single-machine repack byte for byte (root; not in CI)
check-slurm: release
	bash bench/check-slurm.sh

## interop: export k2-mini to GGUF, run it in llama.cpp (llama-cpp-python, built from PyPI when missing: slow) and compare
## its logits with ingot's on held-out text; not in CI. Gate (exit 1 below 99.9 % same top-1): dense tensors exported as
## F32 and llama.cpp's KV cache in F32, against ingot with --int4-activations q8_0 (llama.cpp's Q4_0 arithmetic), so only
## the conversion can differ. Then llama.cpp's defaults (BF16 dense, F16 KV), reported with decode tokens/s of both.
INTEROP_MODEL ?= fixtures/k2-mini/int4
INTEROP_TEXT ?= fixtures/k2-mini/eval.txt
INTEROP_TOKENS ?= 1024
INTEROP_DIR ?= $(or $(TMPDIR),/tmp)/ingot-interop
INTEROP_ARGS = --ingot $(RELEASE_BIN) --model $(INTEROP_MODEL) $(if $(wildcard $(INTEROP_TEXT)),--text $(INTEROP_TEXT),) \
  --tokens $(INTEROP_TOKENS)
## interop-endpoints: k2-mini served by mlx_lm.server (export hf) and llama-server (export gguf; LLAMA_CPP_BIN=folder
## with llama-server) against ingot's engine: all held-out requests and eval.txt's log-probs (CHUNKS=N for fewer). Not CI.
interop-endpoints: setup release
	bash bench/interop-endpoints.sh

interop: release
	python3 -c 'import llama_cpp' 2>/dev/null || pip install 'llama-cpp-python==0.3.36'
	python3 -c 'import safetensors, numpy' 2>/dev/null || pip install -q 'safetensors==0.8.0' 'numpy>=2'
	python3 fixtures/scripts/interop_llama_cpp.py $(INTEROP_ARGS) --dense-type f32 --kv-type f32 --decode-repeats 0 \
	  --work $(INTEROP_DIR)/f32-dense
	python3 fixtures/scripts/interop_llama_cpp.py $(INTEROP_ARGS) --min-top1 0 --work $(INTEROP_DIR)/defaults

## bench-gguf: export gguf of synth --preset k2 --layers 3 (≈ 25 GB, needs ≈ 55 GB free) vs cp, peak RSS.
bench-gguf: release
	bash bench/gguf.sh

## fuzz: libFuzzer on the safetensors header/index readers and the bundle manifest/extent reader, FUZZ_SECONDS each
## (default 600) from the committed seed corpus (fixtures/fuzz/); crashes land in fuzz-crashes/ as reproducers.
FUZZ_SECONDS ?= 600
fuzz: setup
	$(SWIFT) build --scratch-path .build-fuzz --product ingot-fuzz -Xswiftc -DFUZZING -Xswiftc -sanitize=fuzzer -Xswiftc -parse-as-library
	mkdir -p fuzz-crashes
	for t in safetensors bundle; do \
	  work=$$(mktemp -d); cp fixtures/fuzz/$$t/* $$work/; \
	  INGOT_FUZZ_TARGET=$$t .build-fuzz/debug/ingot-fuzz -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=fuzz-crashes/$$t- $$work || exit 1; \
	  rm -rf $$work; \
	done

clean:
	rm -rf .build

## check-html: render eval parity --html pages (an identical pair and a failing one) in headless Chromium and check
## the screenshots (installs Debian's chromium and PyPI's pillow if missing; not run by CI).
check-html: release
	@command -v chromium > /dev/null || (SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); $$SUDO apt-get install -y -qq chromium)
	@python3 -c 'import PIL' 2> /dev/null || pip install -q pillow
	rm -rf $(DEMO_DIR)/html && mkdir -p $(DEMO_DIR)/html
	seq -s, 0 2 190 > $(DEMO_DIR)/html/tokens.txt
	$(RELEASE_BIN) repack fixtures/engine/int4 -o $(DEMO_DIR)/html/int4.bundle --quiet
	$(RELEASE_BIN) eval parity fixtures/engine/int4 $(DEMO_DIR)/html/int4.bundle --tokens-file $(DEMO_DIR)/html/tokens.txt --ctx 32 --quiet --html $(DEMO_DIR)/html/ok.html
	$(RELEASE_BIN) quantize fixtures/engine/grouped -o $(DEMO_DIR)/html/grouped-int4 --grid rtn --quiet
	$(RELEASE_BIN) eval parity fixtures/engine/grouped $(DEMO_DIR)/html/grouped-int4 --tokens-file $(DEMO_DIR)/html/tokens.txt --ctx 32 --quiet --html $(DEMO_DIR)/html/failed.html || test $$? = 1
	python3 fixtures/scripts/check_html_report.py $(DEMO_DIR)/html/ok.html $(DEMO_DIR)/html/ok.png --expect ok
	python3 fixtures/scripts/check_html_report.py $(DEMO_DIR)/html/failed.html $(DEMO_DIR)/html/failed.png --expect failed

## eval-k2-mini: k2-mini's tool-call accuracy, perplexity and parity numbers (release; a few minutes; not CI).
eval-k2-mini: release
	bash bench/k2mini-eval.sh
