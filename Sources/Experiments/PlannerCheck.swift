import Foundation
import ScalingLaw
import LossRecords

/// The planner's own test: fit the law on every base but the largest, plan the tokens each of the
/// largest base's pruned models needs to reach a loss its measured curve did reach, and compare
/// with the tokens at which the curve crossed it. Two targets per curve: the loss at its middle
/// evaluation (in log tokens) and at its last, the budget a plan is usually asked for.
public enum PlannerCheck {
    /// Which evaluation of the measured curve sets the target loss.
    public enum TargetPoint: String, Sendable, CaseIterable {
        case middle, last
    }

    public struct Row: Sendable {
        public var family: String
        public var run: String
        public var n0: Double
        public var rho: Double
        public var loss0: Double
        public var at: TargetPoint
        /// The loss at that evaluation of the curve.
        public var targetLoss: Double
        /// Where the measured curve first reached it (log-linear between the two evaluations around it).
        public var actualTokens: Double
        public var planned: PlanResult?
        public var error: String?

        /// (planned − actual) / actual, in percent.
        public var errorPercent: Double? {
            planned?.tokens.map { 100 * ($0 - actualTokens) / actualTokens }
        }
        /// Whether the plan's interval holds the actual tokens; with a one-sided bound, whether
        /// the actual tokens reach it (nil with neither).
        public var inside: Bool? {
            if let b = planned?.lowerBound { return actualTokens >= b }
            guard let i = planned?.interval, i.count == 2 else { return nil }
            return i[0] <= actualTokens && actualTokens <= i[1]
        }
    }

    /// Rows for one family's records; none when fewer than three bases (two to fit, one to test).
    static func rows(family: String, records: [LossRecord], law: any Law, options: FitOptions) -> [Row] {
        let sizes = Set(records.compactMap(\.n0))
        guard sizes.count >= 3, let largest = sizes.max() else { return [] }
        let fitOn = records.filter { $0.n0 != largest }
        let fit: FitAnalysis
        do { fit = try ScalingLawFitter.fit(fitOn, law: law, options: options, file: "records.csv") } catch {
            return [Row(family: family, run: "-", n0: largest, rho: .nan, loss0: .nan, at: .middle, targetLoss: .nan, actualTokens: .nan,
                        planned: nil, error: "fit on the smaller bases failed: \(error)")]
        }
        var out: [Row] = []
        for run in uniqued(records.filter { $0.n0 == largest }.map(\.run)) {
            let curve = records.filter { $0.run == run && ($0.tokens ?? 0) > 0 }.sorted { $0.tokens! < $1.tokens! }
            guard curve.count >= 3, let first = curve.first, let rho = first.rho, let loss0 = first.loss0 else { continue }
            for at in TargetPoint.allCases {
                let target = curve[at == .middle ? curve.count / 2 : curve.count - 1].loss
                guard let actual = crossing(curve.map { ($0.tokens!, $0.loss) }, target) else { continue }
                var row = Row(family: family, run: run, n0: largest, rho: rho, loss0: loss0, at: at, targetLoss: target, actualTokens: actual,
                              planned: nil, error: nil)
                do {
                    row.planned = try Planner(law: fit.law, fit: fit.result).plan(PlanTarget(n0: largest, rho: rho, loss0: loss0), criterion: .targetLoss(target))
                } catch {
                    row.error = "\(error)"
                }
                out.append(row)
            }
        }
        return out
    }

    /// The first token count at which the curve reaches `target`, interpolated linearly in
    /// log tokens between the evaluations before and at the crossing.
    static func crossing(_ points: [(tokens: Double, loss: Double)], _ target: Double) -> Double? {
        guard let k = points.firstIndex(where: { $0.loss <= target }) else { return nil }
        guard k > 0 else { return points[0].tokens }
        let (a, b) = (points[k - 1], points[k])
        guard a.loss > b.loss else { return b.tokens }
        let f = (a.loss - target) / (a.loss - b.loss)
        return Foundation.exp(Foundation.log(a.tokens) + f * (Foundation.log(b.tokens) - Foundation.log(a.tokens)))
    }
}
