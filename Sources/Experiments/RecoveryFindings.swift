import Foundation
import Reports
import ScalingLaw
import LossRecords

/// The P2 paper's two findings about post-training, measured on the curves themselves, with no
/// law: higher pruning rates need more post-training tokens to recover, larger models need fewer.
/// And the check that makes `loss0` meaningful: an unpruned control barely moves under the recipe.
///
/// A curve's need for data is read as its half-recovery tokens `t½`: the tokens at which it first
/// closed half of the recovery it made by a common horizon `T*` (the shortest curve's last
/// evaluation, so that curves with longer budgets are not judged on more tokens). The recovered
/// fraction by `T*`, (L(0) − L(T*)) / (L(0) − loss0), is reported beside it.
public enum RecoveryFindings {
    public struct Control: Sendable {
        public var base: String
        public var start: Double, end: Double
        /// Largest |L(t) − L(0)| along the curve.
        public var maxMove: Double
        public var tokens: Double
        public static let tolerance = 0.01
        public var passes: Bool { Swift.abs(end - start) < Self.tolerance }
    }

    public struct Recovery: Sendable {
        public var run: String, base: String, family: String
        /// The grid's nominal setting (rate or pattern), which pairs curves across bases.
        public var setting: String
        public var n0: Double, rho: Double, loss0: Double
        /// The pruned model's loss before post-training, and at the common horizon.
        public var start: Double, atHorizon: Double
        public var halfTokens: Double?
        /// The first evaluation already closed half the recovery: `halfTokens` is an upper bound.
        public var halfAtFirst: Bool
        public var recoveredFraction: Double? {
            start > loss0 ? (start - atHorizon) / (start - loss0) : nil
        }
    }

    /// Pairs of curves that differ in one factor, and how many of them order as the claim says.
    public struct Verdict: Sendable {
        public var claim: String
        public var measure: String
        public var agree: Int, pairs: Int
        public var holds: Bool { pairs > 0 && 2 * agree > pairs }
    }

    public struct Findings: Sendable {
        public var horizon: Double
        public var controls: [Control]
        public var recoveries: [Recovery]
        public var verdicts: [Verdict]
    }

    public static func analyse(_ records: [LossRecord]) -> Findings? {
        let runs = uniqued(records.map(\.run))
        var curves: [(run: String, labels: [String: String], n0: Double, rho: Double, loss0: Double, points: [(tokens: Double, loss: Double)])] = []
        for run in runs {
            let rs = records.filter { $0.run == run && $0.tokens != nil }.sorted { $0.tokens! < $1.tokens! }
            guard let first = rs.first, first.tokens == 0, rs.count >= 3, let n0 = first.n0, let loss0 = first.loss0 else { continue }
            curves.append((run, first.labels, n0, first.rho ?? 0, loss0, rs.map { ($0.tokens!, $0.loss) }))
        }
        let pruned = curves.filter { $0.labels["family"] != "control" }
        guard let horizon = pruned.map({ $0.points.last!.tokens }).min(), horizon > 0 else { return nil }

        let controls = curves.filter { $0.labels["family"] == "control" }.map { c in
            Control(base: c.labels["base"] ?? c.run, start: c.points[0].loss, end: c.points.last!.loss,
                    maxMove: c.points.map { Swift.abs($0.loss - c.points[0].loss) }.max() ?? 0, tokens: c.points.last!.tokens)
        }
        let recoveries = pruned.map { c -> Recovery in
            let start = c.points[0].loss
            let positive = Array(c.points.dropFirst())
            let end = lossAt(horizon, positive)
            let target = start - 0.5 * (start - end)
            let within = positive.filter { $0.tokens <= horizon * (1 + 1e-9) }
            let half = start > end ? PlannerCheck.crossing(within, target) : nil
            return Recovery(run: c.run, base: c.labels["base"] ?? "", family: c.labels["family"] ?? "all",
                            setting: c.labels["rate"] ?? c.labels["pattern"] ?? String(format: "%.3f", c.rho), n0: c.n0, rho: c.rho, loss0: c.loss0,
                            start: start, atHorizon: end, halfTokens: half, halfAtFirst: within.first.map { $0.loss <= target } ?? false)
        }
        return Findings(horizon: horizon, controls: controls, recoveries: recoveries, verdicts: verdicts(recoveries))
    }

    /// The loss at `tokens`, linear in log tokens between the evaluations around it.
    static func lossAt(_ tokens: Double, _ points: [(tokens: Double, loss: Double)]) -> Double {
        guard let k = points.firstIndex(where: { $0.tokens >= tokens }) else { return points.last!.loss }
        guard k > 0, points[k].tokens > tokens else { return points[k].loss }
        let (a, b) = (points[k - 1], points[k])
        let f = (Foundation.log(tokens) - Foundation.log(a.tokens)) / (Foundation.log(b.tokens) - Foundation.log(a.tokens))
        return a.loss + f * (b.loss - a.loss)
    }

    static func verdicts(_ rs: [Recovery]) -> [Verdict] {
        // Pairs within one family that differ only in rate (same base), or only in base (same rate).
        func pairs(sameKey: (Recovery) -> String, order: (Recovery) -> Double) -> [(Recovery, Recovery)] {
            var out: [(Recovery, Recovery)] = []
            for group in Dictionary(grouping: rs, by: sameKey).values {
                let g = group.sorted { order($0) < order($1) }
                for i in g.indices { for j in g.indices where i < j && order(g[i]) < order(g[j]) { out.append((g[i], g[j])) } }
            }
            return out
        }
        let byRate = pairs(sameKey: { "\($0.family)|\($0.base)" }, order: \.rho)
        let bySize = pairs(sameKey: { "\($0.family)|\($0.setting)" }, order: \.n0)
        func count(_ ps: [(Recovery, Recovery)], _ agrees: (Recovery, Recovery) -> Bool?) -> (Int, Int) {
            let judged = ps.compactMap { agrees($0.0, $0.1) }
            return (judged.filter { $0 }.count, judged.count)
        }
        func both<T>(_ a: T?, _ b: T?) -> (T, T)? { if let a, let b { (a, b) } else { nil } }
        let rateHalf = count(byRate) { lo, hi in both(lo.halfTokens, hi.halfTokens).map { $0.1 > $0.0 } }
        let rateFraction = count(byRate) { lo, hi in both(lo.recoveredFraction, hi.recoveredFraction).map { $0.1 < $0.0 } }
        let sizeHalf = count(bySize) { small, large in both(small.halfTokens, large.halfTokens).map { $0.1 < $0.0 } }
        let sizeFraction = count(bySize) { small, large in both(small.recoveredFraction, large.recoveredFraction).map { $0.1 > $0.0 } }
        return [
            Verdict(claim: "higher rates need more post-training", measure: "t½ longer at the higher rate", agree: rateHalf.0, pairs: rateHalf.1),
            Verdict(claim: "higher rates need more post-training", measure: "smaller fraction recovered by T* at the higher rate",
                    agree: rateFraction.0, pairs: rateFraction.1),
            Verdict(claim: "larger models need less post-training", measure: "t½ shorter for the larger base", agree: sizeHalf.0, pairs: sizeHalf.1),
            Verdict(claim: "larger models need less post-training", measure: "larger fraction recovered by T* for the larger base",
                    agree: sizeFraction.0, pairs: sizeFraction.1),
        ]
    }

    public static func csv(_ f: Findings) -> String {
        func n(_ x: Double?) -> String { x.map { "\($0)" } ?? "" }
        var t = CSVTable(header: ["kind", "run", "family", "base", "setting", "n0", "rho", "loss0", "loss_start", "loss_horizon", "horizon_tokens",
                                  "half_tokens", "half_at_first", "recovered_fraction", "control_change", "control_max_move"])
        for c in f.controls {
            t.append(["control", "", "control", c.base, "", "", "0", "", n(c.start), n(c.end), n(c.tokens), "", "", "", n(c.end - c.start), n(c.maxMove)])
        }
        for r in f.recoveries {
            t.append(["pruned", r.run, r.family, r.base, r.setting, n(r.n0), n(r.rho), n(r.loss0), n(r.start), n(r.atHorizon), n(f.horizon),
                      n(r.halfTokens), "\(r.halfAtFirst)", n(r.recoveredFraction), "", ""])
        }
        return t.text
    }

    /// The summary's section: controls, each curve's recovery, and the verdicts.
    public static func markdown(_ f: Findings) -> String {
        func g(_ x: Double?, _ d: Int = 4) -> String { x.map { String(format: "%.\(d)g", $0) } ?? "n/a" }
        var out = "## Do the paper's findings hold here?\n\n"
        if !f.controls.isEmpty {
            out += "Unpruned controls, post-trained with the study's recipe (`loss0` means something only if they barely move: |end − start| < \(Control.tolerance) nats):\n\n"
            out += "| base | loss at 0 tokens | at the end | change | largest move | tokens | < \(Control.tolerance) |\n| --- | --- | --- | --- | --- | --- | --- |\n"
            for c in f.controls {
                out += "| \(c.base) | \(String(format: "%.4f", c.start)) | \(String(format: "%.4f", c.end)) | \(String(format: "%+.4f", c.end - c.start)) | "
                out += "\(String(format: "%.4f", c.maxMove)) | \(g(c.tokens, 3)) | \(c.passes ? "yes" : "no") |\n"
            }
            out += "\n"
        }
        out += "Each pruned curve's half-recovery tokens t½ (the tokens at which it closed half of the recovery it made by "
        out += "T* = \(g(f.horizon, 3)) tokens, the shortest curve's end; ≤ when the first evaluation already had) and the fraction of the "
        out += "pruning damage L(0) − loss0 recovered by T*:\n\n"
        out += "| family | base | rho | loss0 | L(0) | L(T*) | t½ | recovered by T* |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n"
        for r in f.recoveries.sorted(by: { ($0.family, $0.n0, $0.rho) < ($1.family, $1.n0, $1.rho) }) {
            let half = r.halfTokens.map { (r.halfAtFirst ? "≤ " : "") + g($0, 3) } ?? "n/a"
            out += "| \(r.family) | \(r.base) | \(g(r.rho, 3)) | \(String(format: "%.4f", r.loss0)) | \(String(format: "%.4f", r.start)) | "
            out += "\(String(format: "%.4f", r.atHorizon)) | \(half) | \(r.recoveredFraction.map { String(format: "%.0f %%", 100 * $0) } ?? "n/a") |\n"
        }
        out += "\nPairs of curves of one family that differ in one factor, and how many order as the paper says:\n\n"
        out += "| claim | measure | agree | pairs | holds |\n| --- | --- | --- | --- | --- |\n"
        for v in f.verdicts {
            out += "| \(v.claim) | \(v.measure) | \(v.agree) | \(v.pairs) | \(v.pairs == 0 ? "n/a" : v.holds ? "yes" : "no") |\n"
        }
        return out + "\n"
    }
}
