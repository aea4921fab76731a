"""The PyTorch half of benchmarks/eval-throughput: forward-only evaluation (logits and the mean
cross-entropy, no gradients) of a PruneScale/Hugging Face checkpoint folder, timed.

Tokens come from the same 64-bit LCG as eval-bench's, so both sides score the same windows and
their losses must agree (a free correctness check beside the speed). Prints one JSON line.
"""

import argparse
import json
import statistics
import sys
import time

import torch

import llama_ref


def lcg_tokens(n, vocab, seed):
    """n ids in [0, vocab): x <- x * 6364136223846793005 + 1442695040888963407 (mod 2^64), id = (x >> 33) % vocab."""
    x, out, mask = seed, [], (1 << 64) - 1
    for _ in range(n):
        x = (x * 6364136223846793005 + 1442695040888963407) & mask
        out.append((x >> 33) % vocab)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="checkpoint folder (config.json + model.safetensors)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--attention", choices=["sdpa", "math"], default="sdpa")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    model = llama_ref.load(a.model, sdpa=(a.attention == "sdpa")).eval()
    V, B, T = model.config.vocab, a.batch, a.seq
    ids = torch.tensor(lcg_tokens(B * (T + 1), V, a.seed)).view(B, T + 1)
    x, y = ids[:, :-1].contiguous(), ids[:, 1:].contiguous()
    losses, times = [], []
    with torch.inference_mode():
        for i in range(a.warmup + a.steps):
            t0 = time.perf_counter()
            losses.append(model(x, y).item())
            if i >= a.warmup:
                times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(json.dumps({
        "side": "torch", "threads": a.threads, "batch": B, "seq": T, "steps": a.steps,
        "tokens_per_s": round(B * T / med, 1), "tokens_per_s_best": round(B * T / min(times), 1),
        "step_ms_median": round(med * 1e3, 2), "loss": round(losses[-1], 6),
        "params": sum(p.numel() for p in model.parameters()), "attention": a.attention, "torch": torch.__version__,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
