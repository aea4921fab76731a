#!/usr/bin/env python3
"""Summarises one benchmarks/train-throughput run.

usage: compare.py <dir> <config>...

<dir> holds gemm.json (train-bench gemm) and, per config C and round r, C.ours.r.json (train-bench
step) and C.torch.r.json (benchmarks/torch/train_step.py). Per side the figure is the median over
rounds of each round's median step time (both sides report a per-round median; the same statistic
on both sides). Prints every round, our GFLOP/s against the sgemm ceiling and, last, one line per
config: `config=C ours_tok_s=... torch_tok_s=... ratio=...` with ratio = ours / torch.
"""
import glob
import json
import statistics
import sys


def load(pattern):
    out = []
    for path in sorted(glob.glob(pattern)):
        with open(path) as fh:
            out.append(json.load(fh))
    return out


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    d, configs = sys.argv[1], sys.argv[2:]
    with open(f"{d}/gemm.json") as fh:
        gemm = json.load(fh)
    ceiling = gemm["gflops_2t"]
    print(f"sgemm ceiling (cblas_sgemm, {gemm['n']}x{gemm['n']}x{gemm['n']} float32, best of {gemm['reps']}; "
          f"OpenBLAS core {gemm.get('openblas_core', '?')}): 2 threads {gemm['gflops_2t']:.1f} GFLOP/s "
          f"(median {gemm['gflops_2t_median']:.1f}), 1 thread {gemm['gflops_1t']:.1f} GFLOP/s (median {gemm['gflops_1t_median']:.1f})")
    final = []
    for c in configs:
        ours, torch = load(f"{d}/{c}.ours.*.json"), load(f"{d}/{c}.torch.*.json")
        if not ours or not torch:
            sys.exit(f"compare.py: no results for config {c}")
        o0, t0 = ours[0], torch[0]
        print(f"config {c}: batch {o0['batch']} x seq {o0['seq']} = {o0['batch'] * o0['seq']} tokens/step, "
              f"{o0['params']:,} params (torch {t0['params']:,}), {o0['gflop_per_step']:.2f} GFLOP/step; "
              f"{len(ours)} alternating rounds of {o0['steps']} timed steps after {o0['warmup']} warm-up steps, {o0['threads']} threads each")
        for r, (a, b) in enumerate(zip(ours, torch), 1):
            print(f"  round {r}: ours median {a['step_ms_median']:8.1f} ms (min {a['step_ms_min']:8.1f}, loss {a['loss_first']:.3f}->{a['loss_last']:.3f})"
                  f" | torch median {b['step_ms_median']:8.1f} ms (min {b['step_ms_min']:8.1f}, loss {b['loss_first']:.3f}->{b['loss_last']:.3f})")
        ours_ms = statistics.median(a["step_ms_median"] for a in ours)
        torch_ms = statistics.median(b["step_ms_median"] for b in torch)
        ours_min = min(a["step_ms_min"] for a in ours)
        torch_min = min(b["step_ms_min"] for b in torch)
        tokens = o0["batch"] * o0["seq"]
        fl = o0["gflop_per_step"]
        print(f"  ours: {fl / ours_ms * 1e3:.1f} GFLOP/s at the median step ({fl / ours_ms * 1e3 / ceiling:.0%} of the 2-thread sgemm ceiling), "
              f"{fl / ours_min * 1e3:.1f} GFLOP/s at the fastest ({fl / ours_min * 1e3 / ceiling:.0%}); "
              f"torch: {fl / torch_ms * 1e3:.1f} GFLOP/s median, {fl / torch_min * 1e3:.1f} fastest")
        print(f"  fastest single step: ours {ours_min:.1f} ms, torch {torch_min:.1f} ms (ratio {torch_min / ours_min:.2f})")
        a, b = tokens / ours_ms * 1e3, tokens / torch_ms * 1e3
        final.append(f"config={c} ours_tok_s={a:.0f} torch_tok_s={b:.0f} ratio={a / b:.2f}")
    print("\n".join(final))
    return 0


if __name__ == "__main__":
    sys.exit(main())
