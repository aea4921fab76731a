import Foundation
import LossRecords

/// How the planner decides that a model has had enough post-training tokens.
public enum PlanCriterion: Sendable, Equatable, Codable, CustomStringConvertible {
    /// Smallest D with `L(D) <= loss`.
    case targetLoss(Double)
    /// Smallest D with `-dL/dD <= tau`, tau in loss per 1e9 tokens.
    case maxSlope(Double)
    /// Smallest D closing `fraction` of the gap between `lossPruned` (loss right after pruning)
    /// and the law's floor `L(D -> inf)`.
    case recovery(fraction: Double, lossPruned: Double)

    public var description: String {
        switch self {
        case .targetLoss(let l): "target loss \(l)"
        case .maxSlope(let t): "loss falls by at most \(t) per 1e9 tokens"
        case .recovery(let f, let l): "recover \(f * 100)% of the gap from the pruned loss \(l) to the law's floor"
        }
    }
}

/// The model a prediction or plan is for. `rho` and `n` derive from each other with `n0`.
public struct PlanTarget: Sendable, Equatable, Codable {
    public var n0: Double?
    public var n: Double?
    public var rho: Double?
    public var loss0: Double?
    public init(n0: Double? = nil, n: Double? = nil, rho: Double? = nil, loss0: Double? = nil) {
        self.n0 = n0
        self.n = n
        self.rho = rho
        self.loss0 = loss0
    }
}

extension PlanCriterion {
    /// The values a criterion holds, by the names `problem` gives them by default.
    public enum Input: String, Sendable, CaseIterable {
        case targetLoss, maxSlope, fraction, lossPruned
    }

    /// The first value out of range, or nil. `name` says what to call each value in the message:
    /// the library's names by default; a command line passes its flags.
    public func problem(naming name: (Input) -> String = { $0.rawValue }) -> InputError? {
        let short = NumberText.short
        switch self {
        case .targetLoss(let l):
            if !(l > 0 && l.isFinite) { return InputError(name(.targetLoss), "expected a positive loss, got \(short(l))") }
        case .maxSlope(let t):
            if !(t > 0 && t.isFinite) { return InputError(name(.maxSlope), "expected a positive loss drop per 1e9 tokens, got \(short(t))") }
        case .recovery(let f, let lp):
            if !(f > 0 && f < 1) { return InputError(name(.fraction), "expected a fraction in (0, 1), got \(short(f))") }
            if !(lp.isFinite && lp > 0) { return InputError(name(.lossPruned), "expected a positive loss, got \(short(lp))") }
        }
        return nil
    }
}

extension PlanTarget {
    /// The first value out of range, or `n` and `rho` describing different models; nil when the
    /// target is consistent. `name` says what to call each input in the message: the variable's
    /// name by default; a command line passes its flags.
    public func problem(naming name: (Variable) -> String = { $0.rawValue }) -> InputError? {
        let short = NumberText.short
        if let n0, !(n0 > 0 && n0.isFinite) { return InputError(name(.n0), "expected a positive parameter count, got \(short(n0))") }
        if let n, !(n > 0 && n.isFinite) { return InputError(name(.n), "expected a positive parameter count, got \(short(n))") }
        if let rho, !(rho >= 0 && rho < 1) { return InputError(name(.rho), "expected a pruning rate in [0, 1), got \(short(rho))") }
        if let loss0, !(loss0 > 0 && loss0.isFinite) { return InputError(name(.loss0), "expected a positive loss, got \(short(loss0))") }
        if let n0, let n, n > n0 {
            return InputError(name(.n), "\(short(n)) is larger than \(name(.n0)) \(short(n0)); n is the size after pruning")
        }
        if let n0, let n, let rho, abs((1 - n / n0) - rho) > Planner.rateTolerance {
            return InputError("\(name(.n)), \(name(.rho))",
                              "they disagree: \(name(.n)) \(short(n)) of \(name(.n0)) \(short(n0)) is rho = \(short(1 - n / n0)), but \(name(.rho)) is \(short(rho)) (n = \(short((1 - rho) * n0))); give one of them")
        }
        return nil
    }

    /// The law's input point at 1 token, with `rho` derived from `n0` and `n` or `n` from `n0`
    /// and `rho`; inputs neither given nor derived are NaN.
    var point: LawPoint {
        var t = self
        if t.rho == nil, let n0 = t.n0, let n = t.n { t.rho = 1 - n / n0 }
        if t.n == nil, let n0 = t.n0, let rho = t.rho { t.n = (1 - rho) * n0 }
        return LawPoint(n0: t.n0 ?? .nan, n: t.n ?? .nan, rho: t.rho ?? .nan, loss0: t.loss0 ?? .nan, tokens: 1)
    }
}

/// A point of the loss curve at the target, with its interval when bootstrap samples exist.
public struct CurvePoint: Sendable, Equatable, Codable {
    public var tokens: Double
    public var loss: Double
    public var lower: Double?
    public var upper: Double?
    public init(tokens: Double, loss: Double, lower: Double? = nil, upper: Double? = nil) {
        self.tokens = tokens
        self.loss = loss
        self.lower = lower
        self.upper = upper
    }
}

/// The planner's answer.
public struct PlanResult: Sendable, Equatable, Codable {
    public var criterion: String
    public var target: PlanTarget
    /// The token budget under the best-fit law; nil when the criterion cannot be met.
    public var tokens: Double?
    /// Bootstrap interval of the budget at the fit's confidence level (nil without bootstrap or
    /// when too many replicates cannot meet the criterion to bound it).
    public var interval: [Double]?
    /// When the interval has no upper end (more than its upper tail of replicates never meet the
    /// criterion), its lower end alone: a one-sided bound the budget exceeds with the
    /// confidence of that tail. Nil when `interval` is given.
    public var lowerBound: Double?
    public var reachable: Bool
    /// The loss the law predicts at the budget.
    public var lossAtBudget: Double?
    /// The loss the criterion aims at (target-loss and recovery criteria; nil for the slope criterion).
    public var targetLoss: Double?
    /// `L(D -> inf)` at the target.
    public var floor: Double
    /// Bootstrap replicates used, and how many of them could not meet the criterion.
    public var replicates: Int
    public var unreachableReplicates: Int
    /// Inputs outside the range the law was fitted on.
    public var extrapolation: [String]
    /// One sentence a person can act on.
    public var message: String
    /// The law's curve at the target over a token range around the budget, for the figure.
    public var curve: [CurvePoint]

    enum CodingKeys: String, CodingKey {
        case criterion, target, tokens, interval, reachable, floor, replicates, extrapolation, message, curve
        case lossAtBudget = "loss_at_budget", unreachableReplicates = "unreachable_replicates", targetLoss = "target_loss"
        case lowerBound = "lower_bound"
    }

    /// `tokens`, `interval` and `loss_at_budget` are always present in JSON (null when unknown),
    /// so a consumer can test them without checking for a missing key.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(criterion, forKey: .criterion)
        try c.encode(target, forKey: .target)
        try c.encode(tokens, forKey: .tokens)
        try c.encode(interval, forKey: .interval)
        try c.encodeIfPresent(lowerBound, forKey: .lowerBound)
        try c.encode(reachable, forKey: .reachable)
        try c.encode(lossAtBudget, forKey: .lossAtBudget)
        try c.encode(targetLoss, forKey: .targetLoss)
        try c.encode(floor, forKey: .floor)
        try c.encode(replicates, forKey: .replicates)
        try c.encode(unreachableReplicates, forKey: .unreachableReplicates)
        try c.encode(extrapolation, forKey: .extrapolation)
        try c.encode(message, forKey: .message)
        try c.encode(curve, forKey: .curve)
    }

    public init(criterion: String, target: PlanTarget, tokens: Double?, interval: [Double]?, lowerBound: Double? = nil, reachable: Bool, lossAtBudget: Double?,
                floor: Double, replicates: Int, unreachableReplicates: Int, extrapolation: [String], message: String, curve: [CurvePoint], targetLoss: Double? = nil) {
        self.criterion = criterion
        self.target = target
        self.tokens = tokens
        self.interval = interval
        self.lowerBound = lowerBound
        self.reachable = reachable
        self.lossAtBudget = lossAtBudget
        self.floor = floor
        self.replicates = replicates
        self.unreachableReplicates = unreachableReplicates
        self.extrapolation = extrapolation
        self.message = message
        self.curve = curve
        self.targetLoss = targetLoss
    }
}
