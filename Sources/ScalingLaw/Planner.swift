import Foundation
import LossRecords

/// A loss predicted for a target model at one token count.
public struct LossPrediction: Sendable, Equatable, Codable {
    public var tokens: Double
    public var loss: Double
    /// Bootstrap percentile interval at the fit's confidence level (nil without bootstrap samples).
    public var interval: [Double]?
    public init(tokens: Double, loss: Double, interval: [Double]?) {
        self.tokens = tokens
        self.loss = loss
        self.interval = interval
    }
}

/// Predictions and token budgets for a model the law was not fitted on, from a fit alone.
public struct Planner: Sendable {
    public let law: any Law
    public let fit: FitResult
    let best: [Double]
    let samples: [[Double]]

    /// Token counts searched for a budget: 1 token to 1e30.
    static let searchRange = (lo: 0.0, hi: 30.0)

    /// How far a target's `rho` may sit from the rate its `n` and `n0` imply: rounding of either,
    /// not a different model (0.25 against 0.2503 passes, 0.25 against 0.26 does not).
    public static let rateTolerance = 5e-4

    /// Checks `fit` against `law` as strictly as the fit.json reader (a fit built in memory gets
    /// the same guarantees); throws naming the first bad field.
    public init(law: any Law, fit: FitResult) throws {
        if let (field, problem) = fit.problem(for: law) { throw LawError("fit: \(field): \(problem)") }
        self.law = law
        self.fit = fit
        best = fit.parameterVector
        samples = fit.bootstrap?.samples ?? []
    }

    /// The law's input point for the target, deriving `rho` from `n0` and `n` or `n` from `n0`
    /// and `rho`. Throws the target's `problem()`, or a `LawError` naming what the law still lacks.
    public func point(for target: PlanTarget) throws -> LawPoint {
        if let problem = target.problem() { throw problem }
        let missing = missingInputs(for: target)
        guard missing.isEmpty else {
            throw LawError("law \(law.name) needs \(missing.map(\.rawValue).joined(separator: ", ")) for the target model")
        }
        let x = target.point
        // A fitted law can still be undefined at a far-off target (a power of rho = 0, say).
        guard law.value(best, at: x.with(.tokens, 1e9)).isFinite else {
            throw LawError("law \(law.name) with the fitted parameters has no finite loss at this target model")
        }
        return x
    }

    /// The inputs besides tokens the law reads that the target neither gives nor derives.
    public func missingInputs(for target: PlanTarget) -> [Variable] {
        let x = target.point
        return law.variables.filter { $0 != .tokens && x[$0].isNaN }
    }

    /// Losses at the given token counts, with bootstrap intervals when the fit has samples.
    public func predict(_ target: PlanTarget, tokens: [Double]) throws -> [LossPrediction] {
        guard tokens.count <= InputLimits.predictionPoints else {
            throw InputError("tokens", "at most \(InputLimits.grouped(InputLimits.predictionPoints)) token counts, got \(tokens.count)")
        }
        if let d = tokens.first(where: { !($0 > 0 && $0.isFinite) }) {
            throw InputError("tokens", "expected positive token counts, got \(NumberText.short(d))")
        }
        let x = try point(for: target)
        return try tokens.map { d in
            let xd = x.with(.tokens, d)
            let loss = law.value(best, at: xd)
            guard loss.isFinite else {
                throw LawError("law \(law.name) with the fitted parameters has no finite loss at \(NumberText.short(d)) tokens")
            }
            return LossPrediction(tokens: d, loss: loss, interval: interval(samples.map { law.value($0, at: xd) }))
        }
    }

    /// Which of the target's inputs (and the token counts) lie outside what the law was fitted on.
    public func extrapolation(_ target: PlanTarget, tokens: [Double]) throws -> [String] {
        let x = try point(for: target)
        var out: [String] = []
        for v in law.variables where v != .tokens {
            if let r = fit.data.ranges[v.rawValue], !(r[0]...r[1]).contains(x[v]) {
                out.append("\(v.rawValue) = \(fmt(x[v])) is outside the fitted range [\(fmt(r[0])), \(fmt(r[1]))]")
            }
        }
        if let r = fit.data.ranges["tokens"] {
            let outside = tokens.filter { !(r[0]...r[1]).contains($0) }
            if let lo = outside.min(), let hi = outside.max() {
                out.append(lo == hi ? "tokens = \(fmt(lo)) is outside the fitted range [\(fmt(r[0])), \(fmt(r[1]))]"
                    : "tokens \(fmt(lo))–\(fmt(hi)) lie outside the fitted range [\(fmt(r[0])), \(fmt(r[1]))]")
            }
        }
        return out
    }

    /// `L(D -> inf)` at the target under parameters `p`.
    func floor(_ p: [Double], at x: LawPoint) -> Double {
        let v = law.value(p, at: x.with(.tokens, .infinity))
        return v.isFinite ? v : law.value(p, at: x.with(.tokens, 1e300))
    }

    /// The smallest token count meeting the criterion under parameters `p`, nil if none does
    /// (up to 1e30 tokens). Laws here fall monotonically in D with a shrinking slope, so the
    /// condition switches once; bisection in log D finds where.
    func budget(_ p: [Double], at x: LawPoint, criterion: PlanCriterion) -> Double? {
        let condition: (Double) -> Bool
        switch criterion {
        case .targetLoss(let target):
            condition = { law.value(p, at: x.with(.tokens, $0)) <= target }
        case .maxSlope(let tau):
            condition = { -law.tokenDerivative(p, at: x.with(.tokens, $0)) * 1e9 <= tau }
        case .recovery(let f, let lossPruned):
            let fl = floor(p, at: x)
            guard lossPruned > fl else { return nil }
            let target = lossPruned - f * (lossPruned - fl)
            condition = { law.value(p, at: x.with(.tokens, $0)) <= target }
        }
        var lo = Self.searchRange.lo, hi = Self.searchRange.hi
        if condition(Foundation.pow(10, lo)) { return Foundation.pow(10, lo) }
        guard condition(Foundation.pow(10, hi)) else { return nil }
        for _ in 0..<200 where hi - lo > 1e-13 {
            let mid = (lo + hi) / 2
            if condition(Foundation.pow(10, mid)) { hi = mid } else { lo = mid }
        }
        return Foundation.pow(10, hi)
    }

    public func plan(_ target: PlanTarget, criterion: PlanCriterion) throws -> PlanResult {
        if let problem = criterion.problem() { throw problem }
        let x = try point(for: target)
        let fl = floor(best, at: x)
        guard fl.isFinite else { throw LawError("law \(law.name) with the fitted parameters has no finite floor L(D→∞) at this target model") }
        let tokens = budget(best, at: x, criterion: criterion)
        let budgets = samples.map { budget($0, at: x, criterion: criterion) }
        let reachedBudgets = budgets.compactMap { $0 }.sorted()
        let unreachable = budgets.count - reachedBudgets.count
        let a = (1 - fit.options.confidence) / 2

        // Unreachable replicates count as an infinite budget: if more than the upper tail are
        // unreachable, the interval has no upper end and only its lower end is reported, a
        // one-sided bound ("at least"), as long as fewer than the lower tail's share reach it.
        var iv: [Double]?
        var lowerBound: Double?
        if !samples.isEmpty, !reachedBudgets.isEmpty {
            let all = reachedBudgets + [Double](repeating: .infinity, count: unreachable)
            let lo = percentile(all, a), hi = percentile(all, 1 - a)
            if lo.isFinite, hi.isFinite { iv = [lo, hi] } else if lo.isFinite { lowerBound = lo }
        }

        var extrapolation = try extrapolation(target, tokens: tokens.map { [$0] } ?? [])
        var message: String
        let level = Int((fit.options.confidence * 100).rounded())
        if let tokens {
            message = "\(fmt(tokens)) post-training tokens to \(criterion)"
            if let iv { message += " (\(level)% interval \(fmt(iv[0]))–\(fmt(iv[1])))" }
            else if let lowerBound {
                let oneSided = String(format: "%g", 100 - 100 * a)
                message += " (at least \(fmt(lowerBound)) with \(oneSided)% confidence; no upper end: \(unreachable) of \(samples.count) bootstrap fits never meet the criterion)"
            } else if !samples.isEmpty { message += " (no \(level)% interval: \(unreachable) of \(samples.count) bootstrap fits never meet the criterion)" }
            if tokens == Foundation.pow(10, Self.searchRange.lo) { message = "the criterion is already met without post-training (\(criterion))" }
        } else {
            switch criterion {
            case .targetLoss(let l): message = "unreachable: the law's floor at this model is \(fmt(fl)), above the target loss \(fmt(l))"
            case .recovery(_, let lp) where lp <= fl:
                message = "unreachable: the pruned loss \(fmt(lp)) is already at or below the law's floor \(fmt(fl))"
            default: message = "unreachable within 1e30 tokens under the fitted law (\(criterion))"
            }
        }
        if !extrapolation.isEmpty { message += "; extrapolated (\(extrapolation.count) input(s) outside the fitted range)" }
        if law.variables.contains(.loss0) == false, target.loss0 != nil {
            extrapolation.append("law \(law.name) does not use loss0; the value given was ignored")
        }

        let curve = curvePoints(x, around: tokens, iv: iv)
        let targetLoss: Double? = switch criterion {
        case .targetLoss(let l): l
        case .maxSlope: nil
        case .recovery(let f, let lp): lp - f * (lp - fl)
        }
        return PlanResult(criterion: "\(criterion)", target: target, tokens: tokens, interval: iv, lowerBound: lowerBound, reachable: tokens != nil,
                          lossAtBudget: tokens.map { law.value(best, at: x.with(.tokens, $0)) }.flatMap { $0.isFinite ? $0 : nil }, floor: fl,
                          replicates: samples.count, unreachableReplicates: unreachable, extrapolation: extrapolation,
                          message: message, curve: curve, targetLoss: targetLoss)
    }

    /// 80 log-spaced points covering the fitted token range and the budget with its interval.
    func curvePoints(_ x: LawPoint, around tokens: Double?, iv: [Double]?) -> [CurvePoint] {
        var lo = fit.data.ranges["tokens"]?[0] ?? 1e6
        var hi = fit.data.ranges["tokens"]?[1] ?? 1e12
        for t in [tokens, iv?.first, iv?.last].compactMap({ $0 }) where t > 0 {
            lo = min(lo, t / 3)
            hi = max(hi, t * 3)
        }
        // Within what a Double holds after the widening (a fitted range may reach 1e308).
        lo = min(max(lo, 1), 1e290)
        hi = min(max(hi, lo * 10), 1e300)
        // Points where the law is not finite are left out: the curve is for drawing.
        return SyntheticDesign.logSpaced(lo, hi, count: 80).compactMap { d in
            let xd = x.with(.tokens, d)
            let loss = law.value(best, at: xd)
            guard loss.isFinite else { return nil }
            let band = interval(samples.map { law.value($0, at: xd) })
            return CurvePoint(tokens: d, loss: loss, lower: band?[0], upper: band?[1])
        }
    }

    func interval(_ values: [Double]) -> [Double]? {
        let v = values.filter(\.isFinite).sorted()
        guard v.count >= 2 else { return nil }
        let a = (1 - fit.options.confidence) / 2
        return [percentile(v, a), percentile(v, 1 - a)]
    }
}

func fmt(_ x: Double) -> String { String(format: "%.4g", x) }
