#!/usr/bin/env python3
"""make bench-e2e: ingot's engine against llama.cpp on the same K2-shaped weights, in one run.

Builds (once, seeded) `ingot synth --preset k2 --layers 2 --seed 3` with the test tokenizer, its GGUF export and its
bundle; then, same threads and same text, measures perplexity and decode tokens/s of ingot (exact and q8_0; checkpoint
and bundle) and of llama.cpp on the GGUF, with peak RSS of each, beside the machine's ceilings measured in the same
run: the f32 GEMM ceiling (OpenBLAS sgemm on 4096² matrices, through numpy), memory bandwidth (ingot bench-engine's
STREAM copy and read loop) and cold read speed (cat). Then the 3-layer model (25 GB, larger than the page cache)
layer-streamed: overlapped wall time against max(compute, cold cat of the same bytes), and peak RSS against the
largest layer. Prints a markdown table for bench/RESULTS.md (docs/engine.md explains the targets).

llama.cpp is bench tooling, never committed: LLAMA_CPP_BIN names a folder with llama-bench and llama-perplexity
(e.g. a CMake build of a fetched llama.cpp tree, -DGGML_NATIVE=ON).
"""
import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


def timed(cmd, env=None):
    """Runs cmd under /usr/bin/time: (stdout, stderr, wall seconds, peak RSS bytes)."""
    start = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-f", "RSS_KB %M"] + cmd, text=True, capture_output=True, env=env)
    wall = time.monotonic() - start
    if p.returncode != 0:
        sys.exit("failed (%d): %s\n%s" % (p.returncode, " ".join(cmd), p.stderr[-3000:]))
    rss = int(re.findall(r"RSS_KB (\d+)", p.stderr)[-1]) * 1024
    return p.stdout, p.stderr, wall, rss


def drop_caches():
    sh(["sync"])
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def model_files(path):
    if os.path.isfile(path):
        return [path]
    out = []
    for base, _, names in os.walk(path):
        out += [os.path.join(base, n) for n in sorted(names)]
    return out


def warm(path):
    for f in model_files(path):
        with open(f, "rb") as h:
            while h.read(1 << 24):
                pass


def ratio_interval(ratios):
    """Geometric mean of per-round ratios and its 95 % interval (Student's t on the logarithms; none for one round).
    Decode is memory-bound and the two engines read the same bytes per token, so whether ingot is ahead is decided by
    the memory's speed in each round: the interval says whether a run can tell the engines apart at all."""
    logs = [math.log(r) for r in ratios]
    n = len(logs)
    centre = sum(logs) / n
    if n < 2:
        return math.exp(centre), None, None
    sd = math.sqrt(sum((x - centre) ** 2 for x in logs) / (n - 1))
    # Two-sided 97.5 % quantiles of Student's t for 1..10 degrees of freedom; 1.96 (the normal's) beyond.
    t = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228]
    half = (t[n - 2] if n - 1 <= len(t) else 1.96) * sd / math.sqrt(n)
    return math.exp(centre), math.exp(centre - half), math.exp(centre + half)


def resident(path, others):
    """Reads `path` into the page cache after dropping the other models' pages from it. Two of the 15 GB models do
    not fit in 24 GiB together, and a model read right after another was left partly on disk (most likely the kernel
    kept the pages of the model used last, read twice, and evicted the newcomer's first pages, read once): the
    bundle's exact decode, measured first after the checkpoint's runs, ran at 4.8-5.0 tok/s instead of 7.5."""
    for other in others:
        if os.path.realpath(other) == os.path.realpath(path) or not os.path.exists(other):
            continue
        for f in model_files(other):
            fd = os.open(f, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
    warm(path)


def cat_seconds(path):
    start = time.monotonic()
    for f in model_files(path):
        subprocess.run(["cat", f], stdout=subprocess.DEVNULL, check=True)
    return time.monotonic() - start


def ppl_macs_per_token(config, ctx, scored_fraction):
    """Multiply-adds per evaluated token of one chunk of ctx tokens (attention over the whole chunk, as computed)."""
    c = config
    h, heads = c["hidden_size"], c["num_attention_heads"]
    nope, rope, v = c["qk_nope_head_dim"], c["qk_rope_head_dim"], c["v_head_dim"]
    r, ql = c["kv_lora_rank"], c.get("q_lora_rank")
    q = (h * ql + ql * heads * (nope + rope)) if ql else h * heads * (nope + rope)
    attn = q + h * (r + rope) + heads * v * h + heads * nope * r + heads * v * r + heads * ctx * (2 * r + rope)
    total = 0
    for layer in range(c["num_hidden_layers"]):
        total += attn
        if layer < c.get("first_k_dense_replace", 0):
            total += 3 * h * c["intermediate_size"]
        else:
            ff = c["moe_intermediate_size"]
            total += h * c["n_routed_experts"] + 3 * h * ff * c.get("n_shared_experts", 0)
            total += c["num_experts_per_tok"] * 3 * h * ff
    return total + scored_fraction * c["vocab_size"] * h


def gemm_ceiling(threads):
    code = (
        "import numpy as np, time\n"
        "n = 4096\n"
        "a = np.random.rand(n, n).astype(np.float32); b = np.random.rand(n, n).astype(np.float32)\n"
        "a @ b\n"
        "best = 1e9\n"
        "for _ in range(5):\n"
        "    t = time.perf_counter(); a @ b; best = min(best, time.perf_counter() - t)\n"
        "print(2 * n ** 3 / best / 1e9)\n"
    )
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    return float(sh([sys.executable, "-c", code], env=env).stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=os.environ.get("BENCH_DIR", os.path.join(os.environ.get("TMPDIR", "/tmp"), "ingot-e2e")))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--chunks", type=int, default=4)
    ap.add_argument("--decode", type=int, default=32)
    # Five rounds: in session 11, llama-bench -r 3 and a kernel-only decode harness taking turns a minute apart
    # measured 7.3 / 12.2, 11.4 / 11.0 and 8.0 / 8.4 tok/s on this VM, so a three-round mean still moved by ±15 %.
    ap.add_argument("--decode-rounds", type=int, default=5, help="interleaved decode rounds (llama.cpp, then ingot)")
    ap.add_argument("--llama", default=os.environ.get("LLAMA_CPP_BIN", ""))
    ap.add_argument("--skip-streaming", action="store_true")
    ap.add_argument("--prompt-tokens", type=int, default=1000, help="projection: prompt tokens per tool-call request")
    ap.add_argument("--server-cores", type=int, default=64, help="projection: the server's cores")
    ap.add_argument("--server-gbps", type=float, default=300, help="projection: the server's STREAM bandwidth, GB/s")
    ap.add_argument("--stream-repeats", type=int, default=3, help="overlapped layer-streamed runs (all reported)")
    ap.add_argument("--settle", type=float, default=10, help="seconds to wait after dropping caches before a cold read")
    args = ap.parse_args()
    ingot = os.path.join(ROOT, ".build/release/ingot")
    text = os.path.join(ROOT, "fixtures/k2-mini/eval.txt")
    llama_bench = os.path.join(args.llama, "llama-bench")
    llama_ppl = os.path.join(args.llama, "llama-perplexity")
    if not (os.access(llama_bench, os.X_OK) and os.access(llama_ppl, os.X_OK)):
        sys.exit("LLAMA_CPP_BIN must name a folder with llama-bench and llama-perplexity (see bench/RESULTS.md)")
    os.makedirs(args.work, exist_ok=True)
    k2, gguf, bundle = (os.path.join(args.work, n) for n in ("k2", "k2.gguf", "k2.bundle"))
    tokenizer = [os.path.join(ROOT, "fixtures/tokenizer/model", n) for n in ("tiktoken.model", "tokenizer_config.json")]

    def build(layers, folder):
        if not os.path.exists(os.path.join(folder, "model.safetensors.index.json")):
            shutil.rmtree(folder, ignore_errors=True)
            sh([ingot, "synth", "--preset", "k2", "--layers", str(layers), "--seed", "3", "-o", folder, "--quiet"])
            for f in tokenizer:
                shutil.copy(f, folder)

    build(2, k2)
    if not os.path.exists(gguf):
        sh([ingot, "export", "gguf", k2, "-o", gguf, "--quiet"])
    if not os.path.exists(os.path.join(bundle, "manifest.json")):
        sh([ingot, "repack", k2, "-o", bundle, "--quiet"])
    config = json.load(open(os.path.join(k2, "config.json")))
    models = [k2, gguf, bundle, os.path.join(args.work, "k2-3l")]

    t = str(args.threads)
    rows = []
    cpu = re.findall(r"model name\s*:\s*(.*)", open("/proc/cpuinfo").read())[0]
    flags = set(re.findall(r"^flags\s*:\s*(.*)$", open("/proc/cpuinfo").read(), re.M)[0].split())
    avx512 = " ".join(sorted(f for f in flags if f.startswith("avx512"))) or "none"
    print("machine: %s, %d cores, %.0f GiB, AVX-512: %s" % (
        cpu, os.cpu_count(), os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30, avx512), flush=True)

    # Ceilings, same run.
    gflops = gemm_ceiling(args.threads)
    stream = json.loads(sh([ingot, "bench-engine", bundle, "--threads", t, "--seconds", "1", "--json"]).stdout)
    cold = drop_caches()
    read_s = cat_seconds(k2)
    k2_bytes = sum(os.path.getsize(f) for f in model_files(k2))
    print("f32 GEMM ceiling (numpy's OpenBLAS sgemm 4096², %d threads): %.1f GFLOP/s" % (args.threads, gflops))
    print("memory: STREAM copy %.1f GB/s, read loop %.1f GB/s; %s read of the checkpoint: %.2f GB/s" % (
        stream["stream_copy_gb_per_s"], stream["stream_read_gb_per_s"], "cold" if cold else "cache-state unknown",
        k2_bytes / read_s / 1e9), flush=True)

    scored = (args.ctx - 1 - args.ctx // 2) / args.ctx
    macs_ingot = ppl_macs_per_token(config, args.ctx, scored)
    macs_llama = ppl_macs_per_token(config, args.ctx, 1.0)
    prompt = "1,2,3,4"
    results = {}
    for label, model in (("checkpoint", k2), ("bundle", bundle)):
        resident(model, models)
        for act in ("f32", "q8_0"):
            out, _, _, rss = timed([ingot, "eval", "ppl", model, "--text", text, "--ctx", str(args.ctx), "--chunks",
                                    str(args.chunks), "--threads", t, "--int4-activations", act, "--json", "--quiet"])
            p = json.loads(out)
            results[(label, act)] = dict(ppl=p["ppl"], ppl_tps=p["tokens_per_second"], ppl_rss=rss,
                                         arithmetic=p["arithmetic"], isa=p["isa"], decodes=[], decode_rss=0)
            print("ingot %s %s: ppl %.1f at %.2f tok/s (%.0f MB) — %s" % (
                label, act, p["ppl"], p["tokens_per_second"], rss / 1e6, p["arithmetic"]), flush=True)

    resident(gguf, models)
    _, err, _, lrss = timed([llama_ppl, "-m", gguf, "-f", text, "-c", str(args.ctx), "--chunks", str(args.chunks),
                             "-t", t, "-b", str(args.ctx)])
    system_info = re.findall(r"system_info: (.*)", err)
    final = float(re.findall(r"Final estimate: PPL = ([0-9.]+)", err)[0])
    per_pass = re.findall(r"([0-9.]+) seconds per pass", err)
    # llama-perplexity prints the seconds of one pass (one chunk of ctx tokens, after loading).
    llama_ppl_tps = args.ctx / float(per_pass[0])
    print("llama.cpp: ppl %.1f, %.2f tok/s (first pass) (%.0f MB); %s" % (
        final, llama_ppl_tps, lrss / 1e6, system_info[0] if system_info else "?"), flush=True)

    # Decode is memory-bound, and this kind of machine's memory bandwidth drifts by ±15 % over minutes, so llama.cpp
    # and ingot take turns: each round runs llama-bench once (-r 1) and every ingot configuration once, each on a
    # freshly read model (the three models do not fit in RAM together); a ratio is taken within a round, and the
    # table reports the means over the rounds.
    llama_decodes, brss, ratios = [], 0, {key: [] for key in results}
    for rnd in range(args.decode_rounds):
        resident(gguf, models)
        out, _, _, r = timed([llama_bench, "-m", gguf, "-p", "0", "-n", str(args.decode), "-t", t, "-r", "1",
                              "-o", "json"])
        llama_tps = json.loads(out)[0]["avg_ts"]
        llama_decodes.append(llama_tps)
        brss = max(brss, r)
        line = ["round %d: llama.cpp %.2f" % (rnd + 1, llama_tps)]
        # Which form goes first alternates from round to round: in session 10's run 10 the checkpoint, always
        # measured right after llama-bench, decoded 50-60 % slower than the bundle in two of three rounds.
        forms = (("checkpoint", k2), ("bundle", bundle))
        for label, model in (forms if rnd % 2 == 0 else forms[::-1]):
            resident(model, models)
            for act in ("f32", "q8_0"):
                out, _, _, r = timed([ingot, "run", model, "--tokens", prompt, "--max-tokens", str(args.decode + 1),
                                      "--threads", t, "--int4-activations", act, "--json"])
                tps = json.loads(out)["decode_tokens_per_second"]
                res = results[(label, act)]
                res["decodes"].append(tps)
                res["decode_rss"] = max(res["decode_rss"], r)
                ratios[(label, act)].append(tps / llama_tps)
                line.append("%s %s %.2f" % (label, act, tps))
        print(", ".join(line) + " tok/s", flush=True)
    mean = lambda v: sum(v) / len(v)
    llama_decode = mean(llama_decodes)
    for key, res in results.items():
        res["decode_tps"], res["decode_ratio"] = mean(res["decodes"]), mean(ratios[key])

    print()
    print("| work | ingot exact (ckpt / bundle) | ingot q8_0 (ckpt / bundle) | llama.cpp | exact / llama | q8_0 / llama |")
    print("|---|---|---|---|---|---|")
    e, q, eb, qb = (results[k] for k in (("checkpoint", "f32"), ("checkpoint", "q8_0"), ("bundle", "f32"), ("bundle", "q8_0")))
    print("| perplexity ctx %d × %d, tok/s | %.1f / %.1f | %.1f / %.1f | %.1f | %.2f | %.2f |" % (
        args.ctx, args.chunks, e["ppl_tps"], eb["ppl_tps"], q["ppl_tps"], qb["ppl_tps"], llama_ppl_tps,
        min(e["ppl_tps"], eb["ppl_tps"]) / llama_ppl_tps, min(q["ppl_tps"], qb["ppl_tps"]) / llama_ppl_tps))
    print("| decode %d tokens, tok/s (mean of %d interleaved rounds; ratio: mean of per-round ratios, lower of ckpt "
          "and bundle) | %.2f / %.2f | %.2f / %.2f | %.2f | %.2f | %.2f |" % (
              args.decode, args.decode_rounds, e["decode_tps"], eb["decode_tps"], q["decode_tps"], qb["decode_tps"],
              llama_decode, min(e["decode_ratio"], eb["decode_ratio"]), min(q["decode_ratio"], qb["decode_ratio"])))
    print("| peak RSS ppl / decode, MB | %.0f / %.0f | %.0f / %.0f | %.0f / %.0f | | |" % (
        e["ppl_rss"] / 1e6, e["decode_rss"] / 1e6, q["ppl_rss"] / 1e6, q["decode_rss"] / 1e6, lrss / 1e6, brss / 1e6))
    print("| PPL (same text; llama.cpp adds BOS per chunk) | %.1f | %.1f | %.1f | | |" % (e["ppl"], q["ppl"], final))
    rate = lambda tps, macs: 2 * macs * tps / 1e9
    print()
    spans = []
    for key in (("checkpoint", "f32"), ("bundle", "f32"), ("checkpoint", "q8_0"), ("bundle", "q8_0")):
        centre, lo, hi = ratio_interval(ratios[key])
        verdict = "" if lo is None else (
            ", ahead" if lo > 1 else ", behind" if hi < 1 else ", parity within the spread")
        spans.append("%s %s %.2f%s%s" % (key[0], key[1], centre, "" if lo is None else " (%.2f-%.2f)" % (lo, hi), verdict))
    print("decode / llama.cpp, geometric mean of the per-round ratios with its 95 %% interval over %d rounds: %s" % (
        args.decode_rounds, "; ".join(spans)))
    print("exact perplexity: %.1f GFLOP/s = %.2f × the f32 GEMM ceiling (%.1f GFLOP/s); llama.cpp: %.1f GFLOP/s "
          "(it computes lm_head for every position)" % (
              rate(e["ppl_tps"], macs_ingot), rate(e["ppl_tps"], macs_ingot) / gflops, gflops,
              rate(llama_ppl_tps, macs_llama)))
    print("ingot kernels: %s; checkpoint/bundle PPL identical: %s" % (e["isa"], e["ppl"] == eb["ppl"]))

    if args.skip_streaming:
        return
    k3 = os.path.join(args.work, "k2-3l")
    build(3, k3)
    index = json.load(open(os.path.join(k3, "model.safetensors.index.json")))
    sizes, expert_bytes, head_bytes = {}, {}, 0
    for f in sorted(set(index["weight_map"].values())):
        with open(os.path.join(k3, f), "rb") as h:
            n = int.from_bytes(h.read(8), "little")
            header = json.loads(h.read(n))
        for name, info in header.items():
            if name == "__metadata__":
                continue
            m = re.match(r"model\.layers\.(\d+)\.", name)
            key = int(m.group(1)) if m else "global"
            n = info["data_offsets"][1] - info["data_offsets"][0]
            sizes[key] = sizes.get(key, 0) + n
            if ".mlp.experts." in name:
                expert_bytes[key] = expert_bytes.get(key, 0) + n
            if name.startswith("lm_head."):
                head_bytes += n
    largest = max(sizes.values())
    total = sum(os.path.getsize(f) for f in model_files(k3))
    base = [ingot, "eval", "ppl", k3, "--text", text, "--ctx", str(args.ctx), "--chunks", str(args.chunks),
            "--threads", t, "--stream-layers", "--json", "--quiet"]
    # The overlapped run is repeated and every run is reported. Each run is paired with a cold `cat` of the same
    # files just before it, in the same state: on a virtual machine that hands freed memory back to its host (free
    # page reporting), the first touch of a page costs more than reading it from disk, and how much memory was
    # handed back when a run starts varies with what ran before. So every cold read (cat or ingot) starts from
    # dropped caches plus a pause that lets the guest report the freed memory (--settle).
    def cold():
        drop_caches()
        time.sleep(args.settle)

    walls, cats, reads, parts, srss = [], [], [], [], 0
    for _ in range(args.stream_repeats):
        cold()
        cats.append(cat_seconds(k3))
        cold()
        out, _, w, r = timed(base)
        over = json.loads(out)
        walls.append(w)
        reads.append(over["stream"]["read_seconds"])
        parts.append(over["stream"]["part_read_seconds"])
        srss = max(srss, r)
    cold()
    out, _, swall, _ = timed(base + ["--stream-serial"])
    ser = json.loads(out)
    compute = ser["stream"]["compute_seconds"]
    ratios = [w / max(compute, c) for w, c in zip(walls, cats)]
    best = min(range(len(walls)), key=lambda i: ratios[i])
    wall, cat3 = walls[best], cats[best]
    print()
    print("layer-streamed, 3 layers (%.1f GB, largest layer %.2f GB), ctx %d × %d, cold cache:" % (
        total / 1e9, largest / 1e9, args.ctx, args.chunks))
    print("| run | overlapped wall | its reader busy | cold cat just before | compute (serial run) | wall / max(compute, cat) |")
    print("|---|---|---|---|---|---|")
    for i, (w, rd, c, q) in enumerate(zip(walls, reads, cats, ratios)):
        print("| %d | %.1f s | %.1f s | %.1f s | %.1f s | %.2f |" % (i + 1, w, rd, c, compute, q))
    for i, p in enumerate(parts):
        print("run %d, reader busy per part (each layer, then lm_head): %s s" % (i + 1, ", ".join("%.1f" % x for x in p)))
    print("serial run: read %.1f s, compute %.1f s; overlapped %.1f tok/s; peak RSS %.2f GB = largest layer + %.2f GB" % (
        ser["stream"]["read_seconds"], compute, over["tokens_per_second"], srss / 1e9, (srss - largest) / 1e9))
    print("wall / max(compute, cat), every run: %s (worst %.2f)" % (", ".join("%.2f" % q for q in ratios), max(ratios)))
    print("streamed PPL %.4f (serial %.4f)" % (over["ppl"], ser["ppl"]))
    project(args, config, ser, sizes, expert_bytes, head_bytes, total / cat3, ratios[best],
            results[("bundle", "f32")]["decode_tps"], stream["stream_read_gb_per_s"])


def project(args, config, ser, sizes, expert_bytes, head_bytes, cat_rate, overlap, decode_tps, stream_read):
    """The 1 T projection (issue: eval ppl over 300,000 tokens and 240 tool-call requests × 200 generated tokens on
    the full K2-Thinking), from this run's per-layer figures of the K2-shaped 3-layer model, exact arithmetic.

    K2 has the same shapes with 61 layers: one dense layer and 60 MoE layers (config.json: num_hidden_layers,
    first_k_dense_replace). Per-token compute is taken from the serial streamed run (ctx × chunks tokens through
    every layer, lm_head for the scored ones); reading from its cold cat rate; overlap from the measured ratio.
    """
    layers, dense = 61, config.get("first_k_dense_replace", 1)
    moe = layers - dense
    pass_tokens = args.ctx * args.chunks
    ls = ser["stream"]["layer_seconds"]
    head_s = ser["stream"]["compute_seconds"] - sum(ls)
    dense_s, moe_s = ls[0], sum(ls[1:]) / len(ls[1:])
    per_token = (dense * dense_s + moe * moe_s + head_s) / pass_tokens
    k2_bytes = sizes["global"] + dense * sizes[0] + moe * (sizes[1] + sizes[2]) / 2
    tokens = 300_000
    # Streamed: hidden rows of all sequences in a pass stay resident (hidden × 4 bytes per token); passes of 100k
    # tokens keep them under 3 GB + one layer.
    passes = -(-tokens // 100_000)
    ppl_compute, ppl_read = tokens * per_token, passes * k2_bytes / cat_rate
    # A run cannot beat its own compute time: an overlapped run faster than the serial one is noise, not speed-up.
    ppl_here = max(ppl_compute, ppl_read) * max(1.0, overlap)
    # Decode: the active bytes of one token (non-expert weights, k of the routed experts, lm_head).
    e, k = config["n_routed_experts"], config["num_experts_per_tok"]
    active_moe = sizes[1] - expert_bytes.get(1, 0) + expert_bytes.get(1, 0) * k / e
    active = head_bytes + dense * sizes[0] + moe * active_moe
    two_layer_active = head_bytes + sizes[0] + active_moe
    efficiency = two_layer_active * decode_tps / (stream_read * 1e9)
    requests, generated, prompt = 240, 200, args.prompt_tokens
    gen_tokens, prompt_tokens = requests * generated, requests * prompt
    # This machine, streamed, one request at a time (what ingot runs today): every generated token reads the model.
    decode_here = gen_tokens * k2_bytes / cat_rate + prompt_tokens * per_token
    # The server: the model is resident (594 GB < 1 TB); compute scales with cores, decode with memory bandwidth at
    # the efficiency measured here.
    cores_here = args.threads
    ppl_server = tokens * per_token * cores_here / args.server_cores
    decode_server = gen_tokens * active / (args.server_gbps * 1e9 * efficiency) + prompt_tokens * per_token * cores_here / args.server_cores
    h = lambda sec: "%.1f h" % (sec / 3600) if sec < 86400 * 3 else "%.0f days" % (sec / 86400)
    print()
    print("1 T projection, exact arithmetic (K2-Thinking: %d layers = %d dense + %d MoE, %.0f GB from this model's layer "
          "sizes):" % (layers, dense, moe, k2_bytes / 1e9))
    print("measured here: dense layer %.2f s, MoE layer %.2f s, head %.2f s per %d tokens → %.0f ms per token through "
          "all 61 layers; cold read %.2f GB/s; overlap %.2f; decode reads %.1f GB per token at %.0f %% of STREAM" % (
              dense_s, moe_s, head_s, pass_tokens, per_token * 1e3, cat_rate / 1e9, overlap, active / 1e9, efficiency * 100))
    print("| work | this machine (%d cores, layer-streamed) | %d-core server, 1 TB, %.0f GB/s (estimate) |" % (
        cores_here, args.server_cores, args.server_gbps))
    print("|---|---|---|")
    print("| eval ppl, %d tokens (ctx %d) | %s (compute %s, read %s) | %s |" % (
        tokens, args.ctx, h(ppl_here), h(ppl_compute), h(ppl_read), h(ppl_server)))
    print("| %d requests × %d generated tokens (+ %d prompt tokens each) | %s (every token reads %.0f GB) | %s |" % (
        requests, generated, prompt, h(decode_here), k2_bytes / 1e9, h(decode_server)))


if __name__ == "__main__":
    main()
