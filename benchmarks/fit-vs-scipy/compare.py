#!/usr/bin/env python3
"""Compares one fit's PruneScale and scipy results (the JSON `fit-bench fit` and scipy_fit.py print).

usage: compare.py <label> <spec.json> --ours <json>... --scipy <json>...

Each side may come in several files (rounds of the same fit, run alternately so that a change in
the machine's speed hits both sides alike); their timing samples are pooled. Prints both optima
side by side with the relative difference per parameter, then the timing line
`ours_ms=... scipy_ms=... ratio=...` (medians over all samples; ratio = scipy_ms / ours_ms, > 1
means PruneScale is faster), prefixed with `<label>: ` unless the label is empty.

Exits 1, without the timing line, when any parameter differs by more than 1e-6 relative (the two
fits did not find the same optimum, so their timings are not comparable) or when one side's
rounds disagree with each other.
"""
import json
import statistics
import sys

LIMIT = 1e-6


def rel(a, b):
    scale = max(abs(a), abs(b))
    return 0.0 if scale == 0 else abs(a - b) / scale


def load(paths):
    runs = []
    for path in paths:
        with open(path) as fh:
            runs.append(json.load(fh))
    return runs


def main():
    args = sys.argv[1:]
    if len(args) < 6 or args[2] != "--ours" or "--scipy" not in args:
        sys.exit(__doc__)
    label, spec_path = args[0], args[1]
    cut = args.index("--scipy")
    ours_runs, scipy_runs = load(args[3:cut]), load(args[cut + 1:])
    if not ours_runs or not scipy_runs:
        sys.exit(__doc__)
    with open(spec_path) as fh:
        spec = json.load(fh)
    name = label or spec["law"]
    ours, theirs = ours_runs[0], scipy_runs[0]
    status = 0
    for side, runs in (("PruneScale", ours_runs), ("scipy", scipy_runs)):
        if any(r["params"] != runs[0]["params"] for r in runs):
            print(f"{name}: {side} gave different optima in different rounds", file=sys.stderr)
            status = 1
    ours_ms = [t for r in ours_runs for t in r["samples_ms"]]
    scipy_ms = [t for r in scipy_runs for t in r["samples_ms"]]

    print(f"{name}: law {spec['law']}, {ours['records']} records ({spec['csv'].rsplit('/', 1)[-1]}), same start for both; "
          f"{len(ours_ms)} timed fits per side in {len(ours_runs)} alternating rounds after warm-up")
    print(f"  {'param':<7} {'start':>10} {'PruneScale (GSL LM)':>24} {'scipy curve_fit lm':>24} {'rel diff':>9}")
    worst = 0.0
    for j, p in enumerate(spec["names"]):
        a, b = ours["params"][j], theirs["params"][j]
        d = rel(a, b)
        worst = max(worst, d)
        print(f"  {p:<7} {spec['start'][j]:>10.6g} {a:>24.16g} {b:>24.16g} {d:>9.1e}")
    print(f"  {'SSR':<7} {'':>10} {ours['ssr']:>24.16g} {theirs['ssr']:>24.16g} {rel(ours['ssr'], theirs['ssr']):>9.1e}")
    print(f"  {name}_max_rel_diff={worst:.2e} (limit {LIMIT:g}): {'same optimum' if worst <= LIMIT else 'DIFFERENT OPTIMA'}")
    print(f"  fastest single fit: PruneScale {min(ours_ms):.3f} ms, scipy {min(scipy_ms):.3f} ms")
    if worst > LIMIT:
        print(f"{name}: the optima differ by {worst:.2e} relative (> {LIMIT:g}); timings not compared", file=sys.stderr)
        status = 1
    if status:
        return status
    prefix = f"{label}: " if label else ""
    a, b = statistics.median(ours_ms), statistics.median(scipy_ms)
    print(f"{prefix}ours_ms={a:.3f} scipy_ms={b:.3f} ratio={b / a:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
