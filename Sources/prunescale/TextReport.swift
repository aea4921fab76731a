import Foundation
import ScalingLaw
import LossRecords

/// Terminal renderings of results (the command line prints; the numbers come from the libraries).
enum TextReport {
    static func g(_ x: Double?, _ digits: Int = 5) -> String {
        guard let x else { return "-" }
        return String(format: "%.\(digits)g", x)
    }

    /// A metric: "n/a" when undefined (its reason is printed below the table).
    static func metric(_ x: Double?, _ digits: Int = 5) -> String { x.map { g($0, digits) } ?? "n/a" }

    static func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }

    static func fit(_ r: FitResult) -> String {
        var out: [String] = []
        out.append("law \(r.law.name): \(r.formula)")
        var data = "records: \(r.data.records) in \(r.data.runs) runs; fitted on \(r.data.fitted)"
        if let h = r.holdout { data += ", held out \(r.data.heldOut) (\(h))" }
        if r.data.excluded > 0 { data += ", left out \(r.data.excluded)" }
        out.append(data)
        out.append("objective: \(r.options.objective.rawValue) in \(r.options.space.rawValue) space = \(g(r.objectiveValue)); starts: \(r.starts.reachedBest) of \(r.starts.requested) reached the best (\(r.starts.converged) converged)")
        let level = Int((r.options.confidence * 100).rounded())
        out.append("")
        out.append(pad("parameter", 12) + pad("value", 16) + pad("std. error", 14) + (r.bootstrap != nil ? "\(level)% bootstrap interval" : ""))
        for e in r.estimates {
            var line = pad(e.name, 12) + pad(g(e.value, 7), 16) + pad(e.fixed ? "fixed" : g(e.stderr, 3), 14)
            if let iv = e.interval { line += "[\(g(iv[0], 4)), \(g(iv[1], 4))]" }
            out.append(line)
        }
        if let b = r.bootstrap { out.append("bootstrap (\(r.options.interval.rawValue)): \(b.converged) of \(b.replicates) replicates converged") }
        out.append("")
        out.append(pad("metric", 18) + pad("fit", 16) + (r.holdoutMetrics != nil ? "held out" : ""))
        for m in FitMetrics.Metric.allCases {
            out.append(pad(m.label, 18) + pad(metric(r.metrics[m]), 16) + (r.holdoutMetrics.map { metric($0[m]) } ?? ""))
        }
        for note in r.metrics.notes { out.append(note) }
        for note in r.holdoutMetrics?.notes ?? [] { out.append("held out: \(note)") }
        if !r.warnings.isEmpty {
            out.append("")
            out.append("warnings:")
            for w in r.warnings { out.append("  - \(w)") }
        }
        return out.joined(separator: "\n")
    }

    static func plan(_ p: PlanResult, confidence: Double) -> String {
        var out = [p.message]
        if let t = p.tokens {
            out.append("budget: \(g(t)) tokens" + (p.interval.map { " (\(Int((confidence * 100).rounded()))% interval \(g($0[0])) – \(g($0[1])))" }
                ?? p.lowerBound.map { " (at least \(g($0)); no upper end)" } ?? ""))
            if let l = p.lossAtBudget { out.append("loss at budget: \(g(l))") }
        }
        out.append("law floor L(D→∞): \(g(p.floor))")
        if p.replicates > 0 { out.append("bootstrap: \(p.replicates) replicates, \(p.unreachableReplicates) never meet the criterion") }
        if !p.extrapolation.isEmpty {
            out.append("extrapolation:")
            for e in p.extrapolation { out.append("  - \(e)") }
        }
        return out.joined(separator: "\n")
    }
}
