#!/usr/bin/env python3
"""Compares two gradient files (the format parity.py writes), tensor by tensor.

    python3 benchmarks/torch/compare.py GRADS_A GRADS_B [--tol 1e-4] [--quiet]

B is the reference: relative error = ||a - b|| / ||b|| (Frobenius norms, computed in float64;
0 when both are zero, inf when only b is). Prints one line per tensor (name, shape, max |a - b|,
relative error) and a last line "PASS max_rel=..." or "FAIL ...". Exits 1 if any relative error
exceeds --tol (default 1e-4), a value is not finite, a tensor is missing from one side or the
shapes differ; 2 if a file cannot be read.
"""

import argparse
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_ref  # noqa: E402


def compare(a, b, tol, out=sys.stdout, quiet=False):
    problems, worst = [], 0.0
    names = sorted(set(a) | set(b), key=lambda n: (n != "loss", n))
    width = max(len(n) for n in names) if names else 4
    if not quiet:
        print(f"{'tensor':<{width}}  {'shape':>14}  {'max_abs_diff':>12}  {'rel_err':>10}", file=out)
    for n in names:
        if n not in a or n not in b:
            problems.append(f"{n}: only in {'A' if n in a else 'B'}")
            continue
        x, y = a[n].double(), b[n].double()
        if x.shape != y.shape:
            problems.append(f"{n}: shape {list(x.shape)} vs {list(y.shape)}")
            continue
        if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
            problems.append(f"{n}: non-finite values")
            continue
        d = (x - y)
        dn, yn = d.norm().item(), y.norm().item()
        rel = 0.0 if dn == 0 else (dn / yn if yn > 0 else math.inf)
        mad = d.abs().max().item() if d.numel() else 0.0
        worst = max(worst, rel)
        flag = "  <-- over tolerance" if rel > tol else ""
        if rel > tol:
            problems.append(f"{n}: relative error {rel:.3e} > {tol:g}")
        if not quiet or rel > tol:
            print(f"{n:<{width}}  {str(list(x.shape)):>14}  {mad:12.4e}  {rel:10.3e}{flag}", file=out)
    if problems:
        print(f"FAIL ({len(problems)} problem(s); max_rel={worst:.3e}, tol={tol:g}): " + "; ".join(problems[:5]), file=out)
        return False
    print(f"PASS max_rel={worst:.3e} tol={tol:g} tensors={len(names)}", file=out)
    return True


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--quiet", action="store_true", help="print only tensors over tolerance and the verdict")
    args = ap.parse_args(argv)
    try:
        a, _ = llama_ref.read_safetensors(args.a)
        b, _ = llama_ref.read_safetensors(args.b)
    except (OSError, ValueError, KeyError) as e:
        print(f"compare: {e}", file=sys.stderr)
        return 2
    return 0 if compare(a, b, args.tol, quiet=args.quiet) else 1


if __name__ == "__main__":
    sys.exit(main())
