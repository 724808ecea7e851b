#!/usr/bin/env python3
"""k2-mini's generator with every experiment flag of the third and fourth training attempts (2026-12-04; README.md in
this folder says what each found): the data, batch and training stages the flags run through, on top of the model,
loss, monitoring and export of fixtures/scripts/make_k2_mini.py, which it imports. Its defaults make the same data as
that script (checked 2026-12-06: same tokenizer and held-out files); OUT is fixtures/k2-mini, so point --out
elsewhere for an experiment. The pilots here import CONFIG, ATTENTION and copy_batches from it.

k2-mini: a small trained model of exactly the Kimi K2 family, ingot's real test subject (fixtures/k2-mini/).

Steps (all seeded; `make k2-mini` runs them, CI does not):
  1. data      prose from the World English Bible (Debian `sword-text-web`, public domain; needs `mod2imp` from
               `libsword-utils`), synthetic K2-Thinking tool-calling conversations rendered by `ingot chat render
               --requests` (k2_mini_data.py), a K2-format tokenizer (tiktoken.model + tokenizer_config.json) trained on
               both; writes fixtures/k2-mini/eval.txt (held-out books) and toolcalls.jsonl (held-out requests).
  2. train     transformers DeepseekV3ForCausalLM (MLA with q_lora and kv_lora, YaRN, 1 dense + 3 MoE layers, 16 routed
               experts top-4, sigmoid noaux_tc router whose correction bias is updated aux-loss-free as in DeepSeek-V3,
               one shared expert), PyTorch CPU, 2 threads. Loss on the assistant turns of the conversations (tool-call
               turns and final answers) and on all prose tokens.
  3. export    fixtures/k2-mini/bf16/: config.json in K2's keys (model_type kimi_k2, rope_scaling yarn), per-expert
               tensor names as in K2's checkpoints, BF16 weights (F32 e_score_correction_bias), generation_config.json,
               tokenizer files; then fixtures/k2-mini/int4/ = `ingot quantize bf16 -o int4 --grid qat`.
Measure with k2_mini_eval.py (transformers) or ingot itself (see fixtures/k2-mini/README.md).

Run: python3 fixtures/scripts/make_k2_mini.py --ingot .build/release/ingot   (torch, transformers 5.x, tiktoken, regex,
     safetensors from PyPI; apt-get install sword-text-web libsword-utils)
"""
import argparse
import json
import math
import os
import pathlib
import random
import re
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fixtures", "scripts"))
import k2_mini_data as D  # noqa: E402
import make_k2_mini as M  # noqa: E402

ROOT, OUT = M.ROOT, M.OUT

BASE_RANKS, N_TRAIN_EPISODES, N_EVAL = M.BASE_RANKS, M.N_TRAIN_EPISODES, M.N_EVAL
# Shared with the committed generator (fixtures/scripts/make_k2_mini.py): these are the same functions, not copies.
config_json, hf_config, loss_weights, lm_loss, teacher_forced, export = (
    M.config_json, M.hf_config, M.loss_weights, M.lm_loss, M.teacher_forced, M.export)
COLON, OPEN = M.COLON, M.OPEN  # filled by train(); M.value_starts reads them
# Experiments of 2026-12-04 (fixtures/k2-mini/README.md, "fourth attempt"), off by default: the defaults reproduce
# the committed model. --random-values: share of training tool calls whose values come from spaces too large to
# memorize; --split-lead: the BPE never merges a word's leading space or quote into the word; --drill N: N short
# conversations (no history, 1-2 tools, every value random) that the first --curriculum steps train on alone.
# --copy-warmup S (third session): the first S steps train a plain copy task (copy_batches; --copy-fixed: the
# repeat at a fixed distance, which position alone solves) before the drill or the conversations.

CONFIG = M.CONFIG  # one dict: the committed script's hf_config() and export() read what --attention changes

# --attention fat (third session's experiment): heads of 32 (qk_nope, qk_rope, v), q and kv latents of 256; the dense
# intermediate shrinks to 512 so that the fixture would stay under 25 MB. Applied to CONFIG before anything else.
ATTENTION = {"committed": {}, "fat": dict(q_lora_rank=256, kv_lora_rank=256, qk_nope_head_dim=32, qk_rope_head_dim=32,
                                          v_head_dim=32, intermediate_size=512)}


# ---------------------------------------------------------------------------------------------------------------
# 1. data

def prose_words(text):
    """The training prose's vocabulary: lowercase words of 3-9 letters seen at least 3 times, sorted."""
    counts = {}
    for w in re.findall(r"\b[a-z]{3,9}\b", text):
        counts[w] = counts.get(w, 0) + 1
    return sorted(w for w, c in counts.items() if c >= 3)


def make_data(ingot, work, random_values=0.0, split_lead=False, n_drill=0):
    t0 = time.time()
    prose_train, prose_eval = D.prose_split()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "eval.txt").write_text(prose_eval)

    # Held-out requests first (seed 2), then training episodes (seed 1) that do not repeat any held-out prompt.
    g = D.Generator(2)
    evals = []
    for kind, n in N_EVAL.items():
        evals += [g.episode(kind) for _ in range(n)]
    random.Random(3).shuffle(evals)
    eval_prompts = D.render_batch(ingot, [D.request_of(e) for e in evals], work)
    assert len(set(eval_prompts)) == len(eval_prompts), "duplicate held-out request"
    with open(OUT / "toolcalls.jsonl", "w") as f:
        for e in evals:
            f.write(json.dumps({"messages": e.messages, "tools": e.tools, "expected": D.expected_of(e)},
                               ensure_ascii=False) + "\n")
    held = set(eval_prompts)

    words = prose_words(prose_train) if random_values > 0 or n_drill > 0 else []
    g = D.Generator(1, random_values, words)
    train = []
    while len(train) < N_TRAIN_EPISODES:
        # Training conversations carry more earlier exchanges than the held-out ones: every assistant turn is
        # trained, so each conversation teaches several calls for one tool declaration.
        kind = g.r.choices(["single", "multi", "none"], [50, 25, 25])[0]
        train.append(g.episode(kind, history=g.r.choices([0, 1, 2, 3], [15, 25, 30, 30])[0], p_chat=0.3))
    prompts = D.render_batch(ingot, [D.request_of(e) for e in train], work)
    # Tool episodes are trained with their follow-up: the tool results and the final answer.
    followups = [D.request_of(e, [e.target, *D.Generator.tool_results(e.calls, e.target["tool_calls"])])
                 if e.kind != "none" else None for e in train]
    idx = [i for i, f in enumerate(followups) if f is not None]
    rendered = D.render_batch(ingot, [followups[i] for i in idx], work)
    full = {i: r for i, r in zip(idx, rendered)}
    texts, starts, n_random, dropped = [], [], 0, 0
    for i, (e, p) in enumerate(zip(train, prompts)):
        if p in held or (i in full and full[i] in held):
            dropped += 1
            continue
        if i in full:
            call_text = D.completion_text(e.target)
            # ingot's renderer writes the call turn after the prompt exactly as completion_text does.
            assert full[i].startswith(p + call_text), "renderer and completion_text disagree"
            answer = {"content": " ".join(c["answer"] for c in e.calls),
                      "reasoning_content": "I have the results. I can answer now." if len(e.calls) > 1
                      else "The tool returned the result. I can answer now."}
            texts.append(full[i] + D.completion_text(answer))
        else:
            texts.append(p + D.completion_text(e.target))
        starts.append(p)  # the last user turn's generation prompt: the held-out-style target starts here
        n_random += e.random

    # The lookup drill: tool-call turns only, every value random, no earlier exchanges, one or two tools declared.
    g = D.Generator(4, 1.0, words)
    drill = [g.episode(g.r.choice(["single", "single", "multi"]), history=0, max_tools=2) for _ in range(n_drill)]
    drill_prompts = D.render_batch(ingot, [D.request_of(e) for e in drill], work) if drill else []

    chat_for_bpe = "\n".join(D.SPECIAL_RE.sub("\n", t) for t in texts[:4000])
    ranks = D.train_bpe(prose_train + chat_for_bpe, BASE_RANKS, split_lead)
    assert len(ranks) == BASE_RANKS
    D.write_tokenizer(str(work / "tokenizer"), ranks)
    enc = D.encoding(ranks)
    chat = [(enc.encode(t, allowed_special="all"), len(enc.encode(p, allowed_special="all"))) for t, p in zip(texts, starts)]
    prose = enc.encode(prose_train)
    drill = [(enc.encode(p + D.completion_text(e.target), allowed_special="all"),
              len(enc.encode(p, allowed_special="all"))) for e, p in zip(drill, drill_prompts) if p not in held]
    # Teacher-forced monitoring during training: the first 100 held-out requests with their expected turns.
    monitor = [(enc.encode(p + D.completion_text(e.target), allowed_special="all"), len(enc.encode(p, allowed_special="all")))
               for e, p in zip(evals[:100], eval_prompts)]
    torch.save({"chat": chat, "drill": drill, "prose": prose, "monitor": monitor}, work / "data.pt")
    # The Swift tokenizer must agree with tiktoken on the rendered prompts (ids through ingot chat render --ids).
    check = D.render_batch(ingot, [D.request_of(e) for e in evals[:40]], work / "tokenizer", ids=True)
    for ids, p in zip(check, eval_prompts[:40]):
        assert ids == enc.encode(p, allowed_special="all"), "ingot's tokenizer and tiktoken disagree"
    n_chat = sum(len(c[0]) for c in chat)
    print(f"data: {len(chat)} conversations ({n_random} with random values; {n_chat} tokens, {dropped} dropped as "
          f"held-out duplicates), {len(drill)} drill conversations ({sum(len(d[0]) for d in drill)} tokens), "
          f"prose {len(prose)} tokens, eval.txt {len(prose_eval)} chars, {len(evals)} held-out requests, "
          f"{time.time() - t0:.0f}s", flush=True)


# ---------------------------------------------------------------------------------------------------------------
# 2. train


def batches(data, seed, curriculum=0, chat_tokens=3600, prose_len=256, prose_rows=12, prose_every=6):
    """An endless, seeded stream of (ids [B, T], weights [B, T]) batches: chat batches of similar lengths padded to
    the longest, and every `prose_every`-th batch prose windows. The first `curriculum` steps are the lookup drill:
    only the drill conversations, no prose."""
    rng = random.Random(seed)
    prose = data["prose"]
    pad = BASE_RANKS + 255
    step = 0
    while True:
        phase1 = step < curriculum
        chat = data["drill"] if phase1 else data["chat"]
        order = list(range(len(chat)))
        rng.shuffle(order)
        # Sort chunks of 256 by length so padding stays small, then shuffle the batches.
        groups = []
        for c in range(0, len(order), 256):
            chunk = sorted(order[c:c + 256], key=lambda i: len(chat[i][0]))
            cur = []
            for i in chunk:
                longest = max([len(chat[j][0]) for j in cur + [i]])
                if cur and longest * (len(cur) + 1) > chat_tokens:
                    groups.append(cur)
                    cur = []
                cur.append(i)
            if cur:
                groups.append(cur)
        rng.shuffle(groups)
        for grp in groups:
            if phase1 and step >= curriculum:
                break  # the drill is over: start a new epoch over all conversations
            if not phase1 and step % prose_every == prose_every - 1:
                rows = []
                for _ in range(prose_rows):
                    s = rng.randrange(0, len(prose) - prose_len - 1)
                    rows.append(prose[s:s + prose_len + 1])
                ids = torch.tensor(rows)
                yield "prose", ids, torch.ones_like(ids, dtype=torch.float32)
                step += 1
            T = max(len(chat[i][0]) for i in grp)
            ids = torch.full((len(grp), T), pad)
            w = torch.zeros((len(grp), T))
            for r, i in enumerate(grp):
                seq, _ = chat[i]
                ids[r, :len(seq)] = torch.tensor(seq)
                w[r, :len(seq)] = torch.tensor(loss_weights(seq))
            yield "drill" if phase1 else "chat", ids, w
            step += 1


def copy_batches(seed, segment=32, length=128, rows=28, fixed=False, symbols=BASE_RANKS):
    """The copy warm-up: rows of `length` random ordinary tokens in which a `segment`-token stretch appears twice, the
    second time at a random distance (so only matching content finds it, not a fixed relative position); the loss on
    the second copy (a plain induction task; ~3,600 tokens a step like a chat batch). `fixed`: 56 rows of `segment`
    tokens followed by their repeat, a copy at a fixed distance that attention by relative position alone solves.
    `symbols`: the random tokens are ids 0..symbols-1."""
    gen = torch.Generator().manual_seed(seed)
    while fixed:
        x = torch.randint(0, BASE_RANKS, (56, segment), generator=gen)
        ids = torch.cat([x, x], 1)
        w = torch.zeros(ids.shape)
        w[:, segment + 1:] = 1.0
        yield "copy", ids, w
    while True:
        ids = torch.randint(0, symbols, (rows, length), generator=gen)
        w = torch.zeros(ids.shape)
        for r in range(rows):
            second = int(torch.randint(segment, length - segment + 1, (1,), generator=gen))
            first = int(torch.randint(0, second - segment + 1, (1,), generator=gen))
            ids[r, second:second + segment] = ids[r, first:first + segment]
            w[r, second + 1:second + segment] = 1.0
        yield "copy", ids, w



def train(work, steps, threads, seed=1234, curriculum=0, monitor_every=250, copy_warmup=0, copy_fixed=False):
    from transformers import DeepseekV3ForCausalLM
    torch.set_num_threads(threads)
    # Denormal floats appear once the model has trained a while and made its steps ~3x slower on this CPU.
    torch.set_flush_denormal(True)
    torch.manual_seed(seed)
    data = torch.load(work / "data.pt")
    if curriculum > 0 and not data.get("drill"):
        sys.exit(f"--curriculum {curriculum} needs drill conversations: run the data stage with --drill N")
    enc = D.encoding(D.load_ranks(str(work / "tokenizer")))
    COLON.update(enc.encode('":'))
    OPEN.update([enc.encode(' "')[0], enc.encode(" ")[0]])
    model = DeepseekV3ForCausalLM(hf_config()).float().train()
    print(f"model: {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters", flush=True)

    loads = {}

    def hook(layer):
        def f(_module, _inputs, output):
            loads[layer] = torch.bincount(output[2].flatten(), minlength=CONFIG["n_routed_experts"])
        return f

    gates = {i: layer.mlp.gate for i, layer in enumerate(model.model.layers) if hasattr(layer.mlp, "gate")}
    for i, g in gates.items():
        g.register_forward_hook(hook(i))

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=2e-3, betas=(0.9, 0.95), eps=1e-8)
    warmup = 60

    def lr_at(s):
        if s < warmup:
            return (s + 1) / warmup
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * (s - warmup) / max(1, steps - warmup)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    stream = batches(data, seed, curriculum)
    copies = copy_batches(seed, fixed=copy_fixed)
    t0 = time.time()
    avg = {"copy": None, "drill": None, "chat": None, "prose": None}
    tokens = 0
    for step in range(steps):
        kind, ids, w = next(copies if step < copy_warmup else stream)
        loss = lm_loss(model, ids, w)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        with torch.no_grad():  # DeepSeek-V3's auxiliary-loss-free balancing: bias toward under-loaded experts.
            for i, g in gates.items():
                load = loads[i].float()
                g.e_score_correction_bias += 1e-3 * torch.sign(load.mean() - load)
        tokens += ids.numel()
        avg[kind] = loss.item() if avg[kind] is None else 0.95 * avg[kind] + 0.05 * loss.item()
        if step % 25 == 0 or step == steps - 1:
            el = time.time() - t0
            print(f"step {step:5d}/{steps} copy {avg['copy'] or 0:.3f} drill {avg['drill'] or 0:.3f} "
                  f"chat {avg['chat'] or 0:.3f} prose {avg['prose'] or 0:.3f} "
                  f"lr {sched.get_last_lr()[0]:.2e} {tokens / el:.0f} tok/s {el / 60:.1f} min", flush=True)
        if (step + 1) % monitor_every == 0 or step == steps - 1:
            model.eval()
            exact, value, call = teacher_forced(model, data["monitor"])
            print(f"step {step:5d} held-out teacher-forced: exact turns {exact:.3f}, first value tokens {value:.3f}, "
                  f"tool-call tokens {call:.3f}", flush=True)
            model.train()
            torch.save(model.state_dict(), work / "model.pt")
    final = {k: round(v, 4) for k, v in avg.items() if v is not None}  # the kinds of batch this run had
    print(f"train: {steps} steps, {tokens} tokens, {(time.time() - t0) / 60:.1f} min, final smoothed losses "
          + ", ".join(f"{k} {v:.4f}" for k, v in final.items()), flush=True)
    (work / "train_summary.json").write_text(json.dumps({
        "steps": steps, "tokens": tokens, "minutes": round((time.time() - t0) / 60, 1),
        **{f"final_{k}_loss": v for k, v in final.items()}, "torch": torch.__version__}, indent=2) + "\n")


# ---------------------------------------------------------------------------------------------------------------
# 3. export


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ingot", default=str(ROOT / ".build" / "release" / "ingot"))
    ap.add_argument("--work", default=os.environ.get("K2MINI_WORK", "/tmp/k2-mini-work"))
    ap.add_argument("--steps", type=int, default=1300)
    ap.add_argument("--threads", type=int, default=2,
                    help="torch threads (1 is faster than 2 when other jobs share the 2 cores)")
    ap.add_argument("--out", default=str(OUT), help="where bf16/ and int4/ go (default fixtures/k2-mini)")
    ap.add_argument("--stage", choices=["all", "data", "train", "export"], default="all")
    ap.add_argument("--random-values", type=float, default=0.0, help="experiment (data): share of training tool calls "
                    "with random values (default 0)")
    ap.add_argument("--split-lead", action="store_true", help="experiment (data): BPE keeps a word's leading space "
                    "or quote a token of its own")
    ap.add_argument("--drill", type=int, default=0, help="experiment (data): number of lookup-drill conversations")
    ap.add_argument("--curriculum", type=int, default=0, help="experiment (train): steps on the drill alone first")
    ap.add_argument("--copy-warmup", type=int, default=0, help="experiment (train): steps on repeated random "
                    "segments (induction) before anything else")
    ap.add_argument("--copy-fixed", action="store_true", help="experiment (train): the warm-up's repeat at a fixed "
                    "distance (solvable by position alone)")
    ap.add_argument("--attention", choices=list(ATTENTION), default="committed",
                    help="experiment (train, export): the attention dimensions (default: the committed model's)")
    ap.add_argument("--monitor-every", type=int, default=250, help="steps between held-out teacher-forced checks")
    args = ap.parse_args()
    CONFIG.update(ATTENTION[args.attention])
    ingot = os.path.abspath(args.ingot)
    work = pathlib.Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    if args.stage in ("all", "data"):
        make_data(ingot, work, args.random_values, args.split_lead, args.drill)
    if args.stage in ("all", "train"):
        train(work, args.steps, args.threads, curriculum=args.curriculum, monitor_every=args.monitor_every,
              copy_warmup=args.copy_warmup, copy_fixed=args.copy_fixed)
    if args.stage in ("all", "export"):
        export(work, ingot, pathlib.Path(args.out))


if __name__ == "__main__":
    main()
