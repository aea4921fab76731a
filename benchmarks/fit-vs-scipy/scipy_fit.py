#!/usr/bin/env python3
"""scipy half of benchmarks/fit-vs-scipy: the same fit as `fit-bench fit`, with curve_fit.

usage: scipy_fit.py <spec.json> <reps>

Reads the spec the Swift side wrote (law, csv, parameter names, start), fits the CSV with
scipy.optimize.curve_fit(method='lm', jac=<analytic Jacobian>) from that start, and prints one
JSON object: the optimum, its sum of squared residuals and the wall time of every timed fit
(ms; also their median and minimum).
The timed region is what ScalingLawFitter.fit's timed region does with the same inputs: take the
logarithms of the inputs (LawPoint does this inside fit), fit, and compute the covariance
(curve_fit always returns pcov).
"""
import csv
import json
import sys
import time

import numpy as np
import scipy
from scipy.optimize import curve_fit

# MINPACK's stopping tests (lmder): ftol = relative reduction of the sum of squares, xtol =
# relative size of the step (scaled norm), gtol = cosine between the residuals and the Jacobian's
# columns. With the defaults (1.49e-8) the P2 fit stops 1.3e-7 (relative) short of the optimum.
# 1e-12 on all three, the xtol and gtol PruneScale gives GSL by default (FitOptions), costs at
# most one more evaluation on these fits and ends within ~1e-8 of PruneScale's optimum on both;
# 1e-15 still works but P2 then takes 22 evaluations instead of 7; 0 makes MINPACK stop with
# info 6/7 ("no further reduction is possible"), which curve_fit raises as a failure.
TOL = dict(ftol=1e-12, xtol=1e-12, gtol=1e-12)


def chinchilla(cols):
    n, tokens = cols["n"], cols["tokens"]

    def prepare():
        return np.log(n), np.log(tokens)

    def f(x, E, A, B, alpha, beta):
        log_n, log_d = x
        return E + A * np.exp(-alpha * log_n) + B * np.exp(-beta * log_d)

    def jac(x, E, A, B, alpha, beta):
        log_n, log_d = x
        a = np.exp(-alpha * log_n)
        b = np.exp(-beta * log_d)
        return np.column_stack((np.ones_like(a), a, b, -A * a * log_n, -B * b * log_d))

    return prepare, f, jac


def p2(cols):
    """L = L0 + rho^-gamma * N0^-delta * (NC*N0^-alpha + DC*D^-beta + E); at rho = 0 the rate
    factor (and its gamma-derivative) is 0, as in P2Law."""
    n0, rho, loss0, tokens = cols["n0"], cols["rho"], cols["loss0"], cols["tokens"]

    def prepare():
        pruned = rho > 0
        log_rho = np.where(pruned, np.log(np.where(pruned, rho, 1.0)), 0.0)
        return np.log(n0), log_rho, pruned, loss0, np.log(tokens)

    def parts(x, NC, DC, E, alpha, beta, gamma, delta):
        log_n0, log_rho, pruned, l0, log_d = x
        a = np.exp(-alpha * log_n0)
        b = np.exp(-beta * log_d)
        m = np.where(pruned, np.exp(-gamma * log_rho), 0.0) * np.exp(-delta * log_n0)
        return a, b, m, NC * a + DC * b + E

    def f(x, *p):
        a, b, m, inner = parts(x, *p)
        return x[3] + m * inner

    def jac(x, NC, DC, E, alpha, beta, gamma, delta):
        log_n0, log_rho, _, _, log_d = x
        a, b, m, inner = parts(x, NC, DC, E, alpha, beta, gamma, delta)
        mi = m * inner
        return np.column_stack((m * a, m * b, m, -m * NC * a * log_n0, -m * DC * b * log_d,
                                -log_rho * mi, -log_n0 * mi))

    return prepare, f, jac


LAWS = {"chinchilla": chinchilla, "p2": p2}


def read_csv(path):
    with open(path, newline="") as fh:
        rows = [r for r in csv.DictReader(fh)]
    cols = {}
    for name in ("n0", "n", "rho", "loss0", "tokens", "loss"):
        if rows and name in rows[0] and all(r[name] != "" for r in rows):
            cols[name] = np.array([float(r[name]) for r in rows])
    return cols


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: scipy_fit.py <spec.json> <reps>")
    with open(sys.argv[1]) as fh:
        spec = json.load(fh)
    reps = int(sys.argv[2])
    cols = read_csv(spec["csv"])
    prepare, f, jac = LAWS[spec["law"]](cols)
    y = cols["loss"]
    p0 = np.array(spec["start"], dtype=float)

    def fit():
        x = prepare()
        return curve_fit(f, x, y, p0=p0, method="lm", jac=jac, **TOL)

    popt, pcov = fit()
    for _ in range(max(10, reps // 10)):  # warm-up
        fit()
    ms = []
    for _ in range(reps):
        t0 = time.perf_counter_ns()
        popt, pcov = fit()
        ms.append((time.perf_counter_ns() - t0) / 1e6)
    r = f(prepare(), *popt) - y
    print(json.dumps({
        "law": spec["law"], "records": int(y.size), "params": [float(v) for v in popt],
        "ssr": float(r @ r), "reps": reps, "median_ms": float(np.median(ms)), "min_ms": float(min(ms)),
        "samples_ms": ms, "scipy": scipy.__version__, "numpy": np.__version__,
    }))


if __name__ == "__main__":
    main()
