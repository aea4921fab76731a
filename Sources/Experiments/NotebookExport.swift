import Foundation

/// A Jupyter notebook (nbformat 4) for a run's report: it loads the report's CSVs with pandas,
/// redraws the loss curves with matplotlib, and refits the P2 law with scipy as a check of
/// PruneScale's own fit that shares no code with it.
public enum NotebookExport {
    struct Notebook: Encodable {
        var cells: [Cell]
        var metadata: [String: [String: String]] = [
            "kernelspec": ["name": "python3", "display_name": "Python 3", "language": "python"],
            "language_info": ["name": "python"],
        ]
        var nbformat = 4
        var nbformatMinor = 5
        enum CodingKeys: String, CodingKey { case cells, metadata, nbformat, nbformatMinor = "nbformat_minor" }
    }

    struct Cell: Encodable {
        var cellType: String
        var id: String
        var source: [String]
        var metadata: [String: String] = [:]
        var outputs: [String]?
        var executionCount: Int?
        enum CodingKeys: String, CodingKey { case cellType = "cell_type", id, source, metadata, outputs, executionCount = "execution_count" }

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(cellType, forKey: .cellType)
            try c.encode(id, forKey: .id)
            try c.encode(source, forKey: .source)
            try c.encode(metadata, forKey: .metadata)
            if cellType == "code" {
                try c.encode(outputs ?? [], forKey: .outputs)
                try c.encodeNil(forKey: .executionCount)
            }
        }
    }

    /// The notebook's JSON for a notebook saved in `folder`; `report` is the run's report folder,
    /// written into the first code cell relative to the notebook (Jupyter runs a notebook in its
    /// own folder), so a checkout can move as a whole.
    public static func notebook(spec: ExperimentSpec, report: URL, folder: URL) throws -> Data {
        let reportPath = relativePath(from: folder, to: report)
        var cells: [Cell] = []
        func markdown(_ text: String) { cells.append(Cell(cellType: "markdown", id: "cell\(cells.count)", source: lines(text))) }
        func code(_ text: String) { cells.append(Cell(cellType: "code", id: "cell\(cells.count)", source: lines(text), outputs: [])) }

        markdown("""
            # \(spec.name): post-training scaling laws

            Written by `prunescale export-notebook \(spec.file)` from the run's report folder. Run the spec \
            (`prunescale run \(spec.file)`) or redo its report (`prunescale report \(spec.file)`) and re-execute \
            this notebook to refresh it. The last section refits the P2 law with scipy, independently of \
            PruneScale's GSL fitter, and checks that both reach the same fit quality.
            """)
        code("""
            import json, math, pathlib, warnings
            import numpy as np
            import pandas as pd
            import matplotlib.pyplot as plt
            from scipy.optimize import least_squares

            REPORT = pathlib.Path(\(pythonString(reportPath)))
            records = pd.read_csv(REPORT / "records.csv")
            fits = pd.read_csv(REPORT / "fits.csv")
            plans = pd.read_csv(REPORT / "plans.csv")
            print(f"{len(records)} evaluations of {records['run'].nunique()} cells; {len(fits)} fits")
            """)
        markdown("## Loss curves\n\nOne panel per pruning family, one colour per rate, one marker per base; the loss right after pruning (0 tokens) is left off the log axis.")
        code("""
            pruned = records[(records["family"] != "control") & (records["tokens"] > 0)]
            families = list(dict.fromkeys(pruned["family"]))
            fig, axes = plt.subplots(1, max(1, len(families)), figsize=(5 * max(1, len(families)), 4), squeeze=False)
            markers = ["o", "s", "^", "D", "v", "P"]
            for ax, family in zip(axes[0], families):
                part = pruned[pruned["family"] == family]
                rates = sorted(part["rate"].unique())
                bases = list(dict.fromkeys(part["base"]))
                for run, curve in part.groupby("run", sort=False):
                    curve = curve.sort_values("tokens")
                    color = plt.cm.viridis(rates.index(curve["rate"].iloc[0]) / max(1, len(rates) - 1))
                    ax.plot(curve["tokens"], curve["loss"], marker=markers[bases.index(curve["base"].iloc[0]) % len(markers)],
                            color=color, ms=4, lw=1, label=run)
                ax.set_xscale("log"); ax.set_title(family); ax.set_xlabel("post-training tokens"); ax.set_ylabel("eval loss")
            fig.tight_layout()
            plt.show()
            """)
        markdown("## Fits\n\nEvery law, family and held-out protocol as PruneScale fitted them (`fits.csv`).")
        code("""
            cols = ["family", "law", "holdout", "status", "r2", "rmse", "mape", "asd", "holdout_mape", "holdout_asd"]
            print(fits[[c for c in cols if c in fits.columns]].to_string(index=False))
            print()
            print(plans.to_string(index=False))
            """)
        markdown("""
            ## Cross-check: the P2 law refitted with scipy

            `L = L0 + (1/rho)^gamma (1/N0)^delta (NC/N0^alpha + DC/D^beta + E)`, evaluated here in numpy and fitted \
            with scipy's `least_squares` (trust region reflective) from PruneScale's default start and from perturbations \
            of its optimum, on the same records PruneScale fitted (pruned cells, tokens > 0). PruneScale's parameters are \
            re-evaluated here too: its RMSE must match the one it reported, and scipy's best fit must match it within \
            0.1 % of RMSE. Where either fit has a parameter of magnitude 1e12 or more, the law has no finite optimum on \
            these records (a term runs off, e.g. NC/N0^alpha with alpha growing becomes an offset for the smallest base \
            alone), both fits are points on a valley that keeps descending, and their RMSEs are reported, not compared.
            """)
        code("""
            NAMES = ["NC", "DC", "E", "alpha", "beta", "gamma", "delta"]

            def p2(p, n0, rho, loss0, d):
                nc, dc, e, alpha, beta, gamma, delta = p
                return loss0 + rho ** (-gamma) * n0 ** (-delta) * (nc * n0 ** (-alpha) + dc * d ** (-beta) + e)

            def rmse(p, x, y):
                return math.sqrt(np.mean((p2(p, *x) - y) ** 2))

            # Far from the optimum the powers overflow; those trial steps are rejected, not errors.
            np.seterr(all="ignore")
            warnings.filterwarnings("ignore", category=RuntimeWarning)
            rng = np.random.default_rng(0)
            rows = []
            ours_all = fits[(fits["law"] == "p2") & (fits["holdout"] == "none") & (fits["status"] == "ok")]
            for _, ours in ours_all.iterrows():
                part = pruned[(pruned["family"] == ours["family"]) & (pruned["rho"] > 0)]
                x = (part["n0"].to_numpy(float), part["rho"].to_numpy(float), part["loss0"].to_numpy(float), part["tokens"].to_numpy(float))
                y = part["loss"].to_numpy(float)
                best = np.array([ours[n] for n in NAMES], dtype=float)
                ours_rmse = rmse(best, x, y)
                # From PruneScale's optimum (scipy must find no descent there), its default start, and perturbations.
                starts = [best, np.array([300.0, 1000.0, 0.5, 0.3, 0.3, -0.5, 0.05])] + [best * rng.lognormal(0, 0.3, 7) for _ in range(8)]
                found = []
                for s in starts:
                    r = least_squares(lambda p: p2(p, *x) - y, s, method="trf", x_scale="jac", max_nfev=20000)
                    if np.all(np.isfinite(r.fun)):
                        found.append((rmse(r.x, x, y), r.x))
                scipy_rmse, scipy_best = min(found, key=lambda f: f[0])
                runaway = max(np.abs(best).max(), np.abs(scipy_best).max()) >= 1e12
                rows.append({"family": ours["family"], "records": len(y), "prunescale_rmse": ours_rmse, "reported_rmse": ours["rmse"],
                             "scipy_rmse": scipy_rmse, "relative_gap": (ours_rmse - scipy_rmse) / ours_rmse, "finite_optimum": not runaway})
            check = pd.DataFrame(rows)
            print(check.to_string(index=False))
            assert len(check) > 0, "no P2 fit in fits.csv to check"
            assert np.allclose(check["prunescale_rmse"], check["reported_rmse"], rtol=1e-6), "PruneScale's parameters do not give its reported RMSE"
            finite = check[check["finite_optimum"]]
            for family in check.loc[~check["finite_optimum"], "family"]:
                print(f"{family}: no finite optimum (a parameter of magnitude >= 1e12); RMSEs reported, not compared")
            assert (finite["relative_gap"].abs() <= 1e-3).all(), "scipy's best P2 fit and PruneScale's differ by more than 0.1 % of RMSE"
            print(f"cross-check passed: on the {len(finite)} famil{'y' if len(finite) == 1 else 'ies'} with a finite optimum, "
                  "scipy's best P2 fit is within 0.1 % of PruneScale's RMSE")
            """)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(Notebook(cells: cells))
    }

    /// A cell's source as nbformat keeps it: lines, each but the last ending in a newline.
    static func lines(_ text: String) -> [String] {
        let parts = text.components(separatedBy: "\n")
        return parts.enumerated().map { $0.offset < parts.count - 1 ? $0.element + "\n" : $0.element }
    }

    /// `to` relative to the folder `from` (both made absolute), e.g. `../out/quickstart/report`.
    static func relativePath(from: URL, to: URL) -> String {
        let a = from.standardizedFileURL.pathComponents, b = to.standardizedFileURL.pathComponents
        var common = 0
        while common < min(a.count, b.count), a[common] == b[common] { common += 1 }
        guard common > 1 else { return to.standardizedFileURL.path }  // nothing shared but "/"
        let parts = Array(repeating: "..", count: a.count - common) + b[common...]
        return parts.isEmpty ? "." : parts.joined(separator: "/")
    }

    static func pythonString(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
