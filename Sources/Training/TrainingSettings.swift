import Foundation
import TextData
import Model

/// The learning-rate schedule's shape; `TrainingSettings` turns it into an `LRSchedule`.
public enum ScheduleKind: String, Sendable, Codable, CaseIterable {
    /// Linear warmup, then cosine to `minLRFraction × lr` at the last step.
    case cosine
    /// Warmup-stable-decay: linear warmup, constant, then linear to the minimum over the last
    /// `decayFraction` of the steps.
    case wsd
    /// The peak rate throughout (no warmup): for short continuations and tests.
    case constant
}

/// Everything that fixes a training run's numbers. Stored in `trainer_state.json`, so a resumed
/// run uses exactly the settings it started with.
///
/// One optimizer step consumes `batchSize × sequenceLength × accumulate` tokens; the run takes
/// `ceil(tokens / tokensPerStep)` steps, so it may overshoot the budget by less than one step.
public struct TrainingSettings: Sendable, Codable, Equatable {
    /// Token budget of this run (tokens fed to the model, counted as predicted positions).
    public var tokens: Int
    public var batchSize: Int = 16
    public var sequenceLength: Int = 256
    /// Micro-batches whose gradients are summed (each scaled 1/accumulate) before a step.
    public var accumulate: Int = 1
    /// Peak learning rate.
    public var learningRate: Double = 1e-3
    public var schedule: ScheduleKind = .cosine
    /// Warmup steps; nil: 5 % of the steps, at most 200 (none for `.constant`).
    public var warmupSteps: Int?
    /// WSD only: share of the steps in the final decay.
    public var decayFraction: Double = 0.2
    /// The rate the schedule ends at, as a fraction of the peak.
    public var minLRFraction: Double = 0.1
    public var weightDecay: Double = 0.1
    public var beta1: Double = 0.9
    public var beta2: Double = 0.95
    /// Global gradient-norm clip; 0 turns clipping off.
    public var clip: Double = 1.0
    /// Seed of the batch sampler (batch k of step s is fixed by (seed, s × accumulate + k)).
    public var seed: UInt64 = 0
    /// Token counts to evaluate at; nil: `evalPoints` log-spaced from one step's tokens to the budget.
    /// Each is rounded up to a whole step; the end of the run is always evaluated.
    public var evalAt: [Int]?
    public var evalPoints: Int = 12
    /// Cap on eval tokens per evaluation: the first `evalTokens / sequenceLength` non-overlapping
    /// windows of the eval split (the same windows every time, so the curve is not noisy from
    /// resampling). 0: the whole split.
    public var evalTokens: Int = 65_536
    /// Checkpoint every this many steps (and at the end); 0: only at the end.
    public var saveEvery: Int = 0

    public init(tokens: Int) { self.tokens = tokens }

    enum CodingKeys: String, CodingKey {
        case tokens, batchSize = "batch_size", sequenceLength = "sequence_length", accumulate
        case learningRate = "learning_rate", schedule, warmupSteps = "warmup_steps", decayFraction = "decay_fraction"
        case minLRFraction = "min_lr_fraction", weightDecay = "weight_decay", beta1, beta2, clip, seed
        case evalAt = "eval_at", evalPoints = "eval_points", evalTokens = "eval_tokens", saveEvery = "save_every"
    }

    public var tokensPerStep: Int { batchSize * sequenceLength * accumulate }
    public var totalSteps: Int { max(1, (tokens + tokensPerStep - 1) / tokensPerStep) }

    public var resolvedWarmup: Int {
        if let warmupSteps { return min(warmupSteps, totalSteps) }
        return schedule == .constant ? 0 : min(200, totalSteps / 20)
    }

    public var lrSchedule: LRSchedule {
        switch schedule {
        case .constant:
            return .constant(lr: learningRate)
        case .cosine:
            return .warmupCosine(peak: learningRate, warmupSteps: resolvedWarmup, totalSteps: totalSteps, minFraction: minLRFraction)
        case .wsd:
            let decay = max(1, Int((Double(totalSteps) * decayFraction).rounded()))
            return .warmupStableDecay(peak: learningRate, warmupSteps: resolvedWarmup, totalSteps: totalSteps,
                                      decaySteps: min(decay, totalSteps - resolvedWarmup), minFraction: minLRFraction)
        }
    }

    /// Step counts (1-based: after that many steps) at which the eval split is scored, ascending,
    /// always ending with `totalSteps`.
    public var evalSteps: [Int] {
        let perStep = Double(tokensPerStep)
        let points: [Double]
        if let evalAt {
            points = evalAt.map(Double.init)
        } else {
            let lo = perStep, hi = Double(totalSteps) * perStep
            let n = max(1, evalPoints)
            points = n == 1 || hi <= lo ? [hi] : (0..<n).map { lo * Foundation.pow(hi / lo, Double($0) / Double(n - 1)) }
        }
        // Rounded up to whole steps (with slack so 1e6 written as 999999.99... does not add a step),
        // clamped in Double first so a point far beyond the budget cannot overflow the conversion.
        var steps = Set(points.map { Int(min(Double(totalSteps), max(1, ($0 / perStep - 1e-9).rounded(.up)))) })
        steps.insert(totalSteps)
        return steps.sorted()
    }

    /// The largest token budget (and step size) accepted: at this engine's 10^4–10^5 tokens/s,
    /// 10^15 tokens would take centuries, and the bound keeps every token count far from `Int`'s
    /// limit (`tokens + tokensPerStep`, `step × tokensPerStep`).
    public static let maxTokens = 1_000_000_000_000_000
    /// The most evaluations a run may plan (each is a pass over up to `evalTokens`); the ladder
    /// uses 12. Also bounds the list `evalSteps` builds.
    public static let maxEvalPoints = 10_000

    /// Problems in words; each names its setting as `train`'s flag and the ladder key say it
    /// (batch, sequence length, accumulate, ...). Counts are checked in overflow-free arithmetic.
    public func validate() throws {
        func fail(_ m: String) -> TrainingError { TrainingError(m) }
        guard tokens > 0 else { throw fail("token budget must be positive, got \(tokens)") }
        guard tokens <= Self.maxTokens else { throw fail("token budget \(tokens) exceeds the limit of 1e15 tokens") }
        guard batchSize > 0, sequenceLength > 0, accumulate > 0 else {
            throw fail("batch, sequence length and accumulation must be positive, got \(batchSize), \(sequenceLength), \(accumulate)")
        }
        let perStep = Double(batchSize) * Double(sequenceLength) * Double(accumulate)
        guard perStep <= Double(Self.maxTokens) else {
            throw fail("batch \(batchSize) × sequence length \(sequenceLength) × accumulate \(accumulate) = \(String(format: "%.3g", perStep)) tokens per step exceeds the limit of 1e15")
        }
        guard learningRate.isFinite, learningRate > 0 else { throw fail("learning rate must be positive, got \(learningRate)") }
        guard (0...1).contains(minLRFraction), (0...1).contains(decayFraction) else {
            throw fail("min-lr and decay fractions must lie in [0, 1], got \(minLRFraction) and \(decayFraction)")
        }
        guard weightDecay.isFinite, clip.isFinite, weightDecay >= 0, clip >= 0, (0..<1).contains(beta1), (0..<1).contains(beta2) else {
            throw fail("weight decay and clip must be finite and ≥ 0 and betas in [0, 1), got \(weightDecay), \(clip), \(beta1), \(beta2)")
        }
        if let w = warmupSteps, w < 0 { throw fail("warmup steps must be ≥ 0, got \(w)") }
        if let e = evalAt {
            if let bad = e.first(where: { $0 <= 0 }) { throw fail("eval points must be positive token counts, got \(bad)") }
            guard e.count <= Self.maxEvalPoints else { throw fail("\(e.count) eval points exceed the limit of \(Self.maxEvalPoints)") }
        }
        guard evalPoints > 0, evalTokens >= 0, saveEvery >= 0 else { throw fail("eval points must be positive; eval tokens and save interval ≥ 0") }
        guard evalPoints <= Self.maxEvalPoints else { throw fail("eval points \(evalPoints) exceed the limit of \(Self.maxEvalPoints)") }
    }

    /// Throws (naming `place`) when this machine cannot train `config` at these settings: the
    /// model, AdamW's moments, and the activations of one micro-batch (`ModelFootprint`).
    public func requireFits(_ config: LlamaConfig, place: String) throws {
        try requireFits(ModelFootprint(config), place: place)
    }

    public func requireFits(_ footprint: ModelFootprint, place: String) throws {
        let bytes = footprint.trainingBytes(batch: batchSize, sequence: sequenceLength)
        try ModelFootprint.requireFits(bytes, "training \(ModelFootprint.describe(count: footprint.parameters)) parameters at batch \(batchSize) × sequence length \(sequenceLength) (weights, gradients, AdamW moments, activations)", place: place)
    }
}

/// A training problem, one line.
public struct TrainingError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    public var message: String
    public init(_ message: String) { self.message = ModelError.oneLine(message) }
    public var description: String { message }
    public var errorDescription: String? { message }
}
