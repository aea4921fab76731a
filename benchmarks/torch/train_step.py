#!/usr/bin/env python3
"""PyTorch's training step (forward + backward + AdamW) on the brief's configs S and M.

    python3 benchmarks/torch/train_step.py --config S|M [--threads 2] [--steps 30] [--warmup 5]
                                           [--attention sdpa|math] [--adamw fused|foreach|loop]

Configs (untied LM head, kv_heads = heads, head_dim 32, half-split RoPE theta 10000, eps 1e-5):
    S: vocab 256, hidden 128, 4 layers, 4 heads, ff 384, T 128, B 16
    M: vocab 512, hidden 256, 6 layers, 8 heads, ff 768, T 256, B 8
Init N(0, 0.02) for matrices, 1 for norms; random tokens (a few pre-drawn batches, cycled).
Step = zero_grad(set_to_none) + loss = model(x, y) + loss.backward() + AdamW.step(), with
torch.optim.AdamW(lr 3e-4, betas (0.9, 0.95), eps 1e-8, weight_decay 0.1 on matrices -- embeddings
and LM head included -- and 0 on norm weights). Defaults are the fastest eager options measured
here: fused SDPA attention and the fused CPU AdamW.

Prints one JSON line:
    config, threads, tokens_per_s (= B*T / median step time), tokens_per_s_mean (= B*T*steps /
    total timed time), tokens_per_s_best (= B*T / fastest step), step_ms_median, step_ms_min, steps, warmup, batch, seq, params,
    gflop_per_step and gflops (model FLOPs at the median step; see flops()), loss_first/loss_last,
    attention, adamw, torch.
The `--warmup` steps run first and are not timed.
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_ref  # noqa: E402

CONFIGS = {
    "S": dict(vocab=256, hidden=128, layers=4, heads=4, ff=384, T=128, B=16),
    "M": dict(vocab=512, hidden=256, layers=6, heads=8, ff=768, T=256, B=8),
}


def make_config(s):
    return llama_ref.Config.uniform(s["vocab"], s["hidden"], s["layers"], s["heads"], s["ff"],
                                    rope_theta=10000.0, eps=1e-5, tied=False)


def flops(c, B, T):
    """Training FLOPs of one step, the usual count (nanoGPT / PaLM appendix B): 6 per weight of every
    matmul (q, k, v, o, gate, up, down, LM head; not the embedding lookup) per token, plus attention
    scores and weighted sum 12 * heads * hd * T per layer per token (full T x T, causal half not
    subtracted). Elementwise work (norms, RoPE, softmax, SiLU, AdamW) is not counted."""
    matmul = sum((2 * h + 2 * kv) * c.head_dim * c.hidden + 3 * ff * c.hidden for h, kv, ff in c.blocks)
    matmul += c.vocab * c.hidden
    attn = sum(12 * h * c.head_dim * T for h, _, _ in c.blocks)
    return (6 * matmul + attn) * B * T


def make_optimizer(model, impl):
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}]
    kw = {"fused": dict(fused=True), "foreach": dict(foreach=True), "loop": dict(foreach=False)}[impl]
    return torch.optim.AdamW(groups, lr=3e-4, betas=(0.9, 0.95), eps=1e-8, **kw)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", choices=sorted(CONFIGS), required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=30, help="timed steps")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps before")
    ap.add_argument("--attention", choices=["sdpa", "math"], default="sdpa")
    ap.add_argument("--adamw", choices=["fused", "foreach", "loop"], default="fused")
    ap.add_argument("--seed", type=int, default=1234)
    a = ap.parse_args(argv)
    if a.steps < 1 or a.warmup < 0:
        ap.error("--steps must be >= 1 and --warmup >= 0")

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    s = CONFIGS[a.config]
    c, B, T = make_config(s), s["B"], s["T"]
    model = llama_ref.Llama(c, sdpa=(a.attention == "sdpa")).init_weights(0.02)
    model.train()
    opt = make_optimizer(model, a.adamw)
    g = torch.Generator().manual_seed(a.seed)
    batches = [torch.randint(0, c.vocab, (B, T + 1), generator=g) for _ in range(4)]
    batches = [(b[:, :-1].contiguous(), b[:, 1:].contiguous()) for b in batches]

    def step(i):
        x, y = batches[i % len(batches)]
        opt.zero_grad(set_to_none=True)
        loss = model(x, y)
        loss.backward()
        opt.step()
        return loss.item()

    losses = [step(i) for i in range(a.warmup)]
    times = []
    for i in range(a.steps):
        t0 = time.perf_counter()
        losses.append(step(a.warmup + i))
        times.append(time.perf_counter() - t0)

    med = statistics.median(times)
    fl = flops(c, B, T)
    print(json.dumps({
        "config": a.config, "threads": a.threads,
        "tokens_per_s": round(B * T / med, 1),
        "tokens_per_s_mean": round(B * T * len(times) / sum(times), 1),
        "tokens_per_s_best": round(B * T / min(times), 1),
        "step_ms_median": round(med * 1e3, 3), "step_ms_min": round(min(times) * 1e3, 3),
        "steps": a.steps, "warmup": a.warmup, "batch": B, "seq": T,
        "params": sum(p.numel() for p in model.parameters()),
        "gflop_per_step": round(fl / 1e9, 4), "gflops": round(fl / med / 1e9, 2),
        "loss_first": round(losses[0], 5), "loss_last": round(losses[-1], 5),
        "attention": a.attention, "adamw": a.adamw, "torch": torch.__version__,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
