import Foundation
import Persistence
import ScalingLaw
import LossRecords
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a fit report is made from: the fit, the law that made it, every record with its fitted
/// value, and optionally a plan.
public struct FitReport: Sendable {
    public var fit: FitResult
    public var law: any Law
    /// Every record with its fitted value and role (fit / holdout / excluded).
    public var rows: [PredictionRow]
    public var plan: PlanResult?

    public init(fit: FitResult, law: any Law, rows: [PredictionRow], plan: PlanResult? = nil) {
        self.fit = fit
        self.law = law
        self.rows = rows
        self.plan = plan
    }
}

public struct ReportError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var errorDescription: String? { message }
}

/// Writes everything in a fit's output directory except `fit.json`.
public enum ReportWriter {
    public static let predictionsFile = "predictions.csv"
    public static let summaryFile = "summary.md"
    public static let figuresDirectory = "figures"
    public static let lossFigure = "loss-vs-tokens.svg"
    public static let parityFigure = "predicted-vs-observed.svg"
    public static let planFigure = "plan.svg"

    /// Writes predictions.csv, summary.md, figures/loss-vs-tokens.svg,
    /// figures/predicted-vs-observed.svg, and figures/plan.svg when `plan != nil`.
    /// Each file is written atomically (temp + rename) so an interrupted run never leaves a half
    /// file that looks complete. Returns the paths written.
    public static func write(_ report: FitReport, to directory: URL) throws -> [URL] {
        let figures = directory.appendingPathComponent(figuresDirectory, isDirectory: true)
        try FileManager.default.createDirectory(at: figures, withIntermediateDirectories: true)
        var files: [(URL, String)] = [
            (directory.appendingPathComponent(predictionsFile), predictionsCSV(report.rows)),
            (directory.appendingPathComponent(summaryFile), markdownSummary(report)),
            (figures.appendingPathComponent(lossFigure), Figures.lossVersusTokens(report)),
            (figures.appendingPathComponent(parityFigure), Figures.predictedVersusObserved(report)),
        ]
        if let plan = report.plan {
            files.append((figures.appendingPathComponent(planFigure), Figures.plan(plan)))
        }
        for (url, text) in files { try AtomicFile.write(text, to: url) }
        return files.map(\.0)
    }


    // MARK: predictions.csv

    static let fixedColumns = ["run", "n0", "n", "rho", "loss0", "tokens", "observed", "fitted", "residual", "split"]

    /// A tidy table, one row per record: run, n0, n, rho, loss0, tokens, observed, fitted,
    /// residual, split, then every label column (union over records, sorted). Absent values are empty.
    public static func predictionsCSV(_ rows: [PredictionRow]) -> String {
        let labels = Set(rows.flatMap(\.record.labels.keys)).sorted()
        // A label named like a fixed column would make the header ambiguous for readers keyed by name.
        let labelHeader = labels.map { fixedColumns.contains($0) ? "label_\($0)" : $0 }
        var table = CSVTable(header: fixedColumns + labelHeader)
        let number = { (v: Double?) in CSVTable.number(v) }
        for row in rows {
            let r = row.record
            table.append([r.run, number(r.n0), number(r.n), number(r.rho), number(r.loss0), number(r.tokens),
                          number(r.loss), number(row.fitted), number(row.residual), row.role.rawValue]
                + labels.map { r.labels[$0] ?? "" })
        }
        return table.text
    }

    // MARK: summary.md

    /// The fit in a page: law and formula, parameters with their uncertainty, metrics on the fitted
    /// and held-out records, the data, the optimiser's starts and bootstrap, warnings, the plan if
    /// any, and the figures.
    public static func markdownSummary(_ report: FitReport) -> String {
        let fit = report.fit
        var md = "# Fit report: \(fit.law.name)\n\n"
        md += "```\n\(fit.formula)\n```\n\n"
        if let expression = fit.law.expression { md += "Custom law: `\(expression)`\n\n" }

        let level = Format.percent(fit.options.confidence)
        md += "## Parameters\n\n"
        let anyFixed = fit.estimates.contains(where: \.fixed)
        md += table(["Parameter", "Value", "Std. error", "\(level) interval"] + (anyFixed ? ["Note"] : []),
                    fit.estimates.map { e in
                        [e.name, Format.significant(e.value, 6), Format.optional(e.stderr, 3), Format.interval(e.interval, 4)]
                            + (anyFixed ? [e.fixed ? "fixed" : ""] : [])
                    }, numeric: true)
        if fit.bootstrap == nil { md += "\nNo intervals: the fit drew no bootstrap replicates.\n" }
        if let c = fit.correlation { md += strongCorrelations(c, names: fit.parameterNames) }
        md += "\n"

        md += "## Goodness of fit\n\n"
        let h = fit.holdoutMetrics
        let metricRows: [(String, (FitMetrics) -> String)] = [
            ("Records", { "\($0.count)" }),
            ("R²", { Format.metric($0.r2, 5) }),
            ("RMSE", { Format.metric($0.rmse, 4) }),
            ("MAPE (%)", { Format.metric($0.mape, 4) }),
            ("Huber", { Format.metric($0.huber, 4) }),
            ("ASD", { Format.metric($0.asd, 4) }),
            ("ASD (log tokens)", { Format.metric($0.asdLog, 4) }),
        ]
        md += table(["Metric", "Fit"] + (h == nil ? [] : ["Held out"]),
                    metricRows.map { name, f in [name, f(fit.metrics)] + (h.map { [f($0)] } ?? []) }, numeric: true)
        // Why an n/a is one, under the table.
        let notes = fit.metrics.notes.map { "- \($0)\n" } + (h?.notes.map { "- Held out: \($0)\n" } ?? [])
        if !notes.isEmpty { md += "\n" + notes.joined() }
        if let holdout = fit.holdout { md += "\nHeld-out protocol: `\(holdout)`.\n" }
        md += "\n"

        md += "## Data\n\n"
        let d = fit.data
        if let file = d.file { md += "- File: `\(file)`\n" }
        md += "- \(d.records) records in \(d.runs) runs: \(d.fitted) fitted, \(d.heldOut) held out, \(d.excluded) excluded\n"
        if !d.ranges.isEmpty {
            md += "\n" + table(["Variable", "Min", "Max"], orderedRangeKeys(d.ranges).map { k in
                let r = d.ranges[k]!
                return [k, r.first.map { Format.significant($0, 4) } ?? "—", r.last.map { Format.significant($0, 4) } ?? "—"]
            }, numeric: true)
        }
        md += "\n"

        md += "## Optimisation\n\n"
        let o = fit.options
        md += "- Objective: \(o.objective.rawValue)\(o.objective == .huber ? " (delta \(Format.significant(o.huberDelta, 3)))" : "") in \(o.space.rawValue) space; final value \(Format.significant(fit.objectiveValue, 6))\n"
        md += "- Starts: \(fit.starts.requested) requested (\(o.design.rawValue) design, seed \(o.seed)), \(fit.starts.converged) converged, \(fit.starts.reachedBest) reached the best objective\n"
        if let b = fit.bootstrap {
            md += "- Bootstrap: \(b.converged) of \(b.replicates) replicates converged (\(o.interval.summary)); intervals at \(level)\n"
        } else {
            md += "- Bootstrap: none\n"
        }
        let fixed = o.values(\.fixed), bounds = o.values(\.bounds)
        if !fixed.isEmpty {
            md += "- Fixed: " + fixed.keys.sorted().map { "\($0) = \(Format.significant(fixed[$0]!, 6))" }.joined(separator: ", ") + "\n"
        }
        if !bounds.isEmpty {
            md += "- Bounds: " + bounds.keys.sorted().map { k in
                let b = bounds[k]!
                return "\(Format.optional(b.lower)) ≤ \(k) ≤ \(Format.optional(b.upper))"
            }.joined(separator: ", ") + "\n"
        }
        md += "\n"

        md += "## Warnings\n\n"
        md += fit.warnings.isEmpty ? "None.\n\n" : fit.warnings.map { "- \($0)\n" }.joined() + "\n"

        if let plan = report.plan { md += planSection(plan) }

        md += "## Figures\n\n"
        md += "![Loss vs tokens](\(figuresDirectory)/\(lossFigure))\n\n"
        md += "![Predicted vs observed](\(figuresDirectory)/\(parityFigure))\n"
        if report.plan != nil { md += "\n![Token budget](\(figuresDirectory)/\(planFigure))\n" }
        return md
    }

    static func planSection(_ plan: PlanResult) -> String {
        var md = "## Plan\n\n"
        md += "\(plan.message)\n\n"
        let t = plan.target
        let target = [("n0", t.n0), ("n", t.n), ("rho", t.rho), ("loss0", t.loss0)]
            .compactMap { k, v in v.map { "\(k) = \(Format.significant($0, 4))" } }.joined(separator: ", ")
        var rows: [[String]] = [
            ["Criterion", plan.criterion],
            ["Target", target.isEmpty ? "—" : target],
            ["Reachable", plan.reachable ? "yes" : "no"],
            ["Token budget", Format.optional(plan.tokens, 3)],
            ["Budget interval", plan.lowerBound.map { "at least \(Format.significant($0, 3)) (no upper end)" } ?? Format.interval(plan.interval, 3)],
            ["Loss at budget", Format.optional(plan.lossAtBudget, 4)],
            ["Floor L(D→∞)", Format.significant(plan.floor, 4)],
        ]
        if plan.replicates > 0 {
            rows.append(["Bootstrap replicates", "\(plan.replicates) (\(plan.unreachableReplicates) cannot meet the criterion)"])
        }
        md += table(["", "Value"], rows)
        if !plan.extrapolation.isEmpty {
            md += "\nExtrapolation:\n\n" + plan.extrapolation.map { "- \($0)\n" }.joined()
        }
        return md + "\n"
    }

    /// Pairs of free parameters whose estimates move together strongly: such a pair is weakly
    /// identified, and each value alone means little.
    static func strongCorrelations(_ c: [[Double]], names: [String], threshold: Double = 0.9) -> String {
        var pairs: [String] = []
        for i in 0..<min(c.count, names.count) {
            for j in (i + 1)..<min(c[i].count, names.count) where Swift.abs(c[i][j]) >= threshold {
                pairs.append("\(names[i])–\(names[j]) (r = \(String(format: "%.4f", c[i][j])))")
            }
        }
        guard !pairs.isEmpty else { return "" }
        return "\nStrongly correlated estimates (|r| ≥ \(Format.significant(threshold, 2))): " + pairs.joined(separator: ", ") + ".\n"
    }

    /// Variables in schema order, anything else after, alphabetically.
    static func orderedRangeKeys(_ ranges: [String: [Double]]) -> [String] {
        let known = Variable.allCases.map(\.rawValue) + ["loss"]
        return known.filter { ranges[$0] != nil } + ranges.keys.filter { !known.contains($0) }.sorted()
    }

    /// A pipe table; `numeric` right-aligns every column after the first so digits line up.
    static func table(_ header: [String], _ rows: [[String]], numeric: Bool = false) -> String {
        let cell = { (s: String) in s.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ") }
        var md = "| " + header.map(cell).joined(separator: " | ") + " |\n"
        md += "|" + header.indices.map { numeric && $0 > 0 ? "---:|" : "---|" }.joined() + "\n"
        for r in rows { md += "| " + r.map(cell).joined(separator: " | ") + " |\n" }
        return md
    }
}
