import Foundation
import Model

/// SAAP (Zheng et al. 2024, "Adaptive Pruning for Large Language Models with Structural Importance
/// Awareness"): width pruning with an uncertainty-weighted fusion of two first-order importances and
/// per-block rates from how the fused importance fluctuates across blocks. The paper publishes no
/// code; everything below beyond its abstract is our design. Its group-wise recovery fine-tuning
/// belongs to post-training and is not here.
///
/// 1. Importances per coupled group `u` (a head with its q rows and o columns, plus k/v rows without
///    KV sharing; a neuron with its gate/up rows and down column: `UnitScorer.groupTerms`), from the
///    calibration gradient `g` at the weights `w`:
///        vector-wise  I_v(u) = |sum_{k in u} w_k g_k|     (LLM-Pruner's group Taylor term)
///        element-wise I_e(u) = sum_{k in u} |w_k g_k|
///    Both are divided by the group's weight count `n_u` so that heads and neurons (and heads with
///    and without their own k/v) are on one per-parameter scale: `v_u = I_v / n_u`, `e_u = I_e / n_u`.
/// 2. Homoscedastic-uncertainty fusion (Kendall, Gal & Cipolla 2018): per unit
///        I(u) = v_u / (2 s1^2) + e_u / (2 s2^2) + log(s1 s2),
///    with `s1, s2` "learned" by minimising the mean of I over all units. The minimiser has a closed
///    form: d/ds1 [mean v / (2 s1^2) + log s1] = -mean v / s1^3 + 1 / s1 = 0 gives `s1^2 = mean_u v_u`,
///    and likewise `s2^2 = mean_u e_u` (the objective is convex in `log s^2`, so this is the global
///    minimum). Each importance is thus divided by its own scale before the two are averaged: the
///    noisier, larger-scale term cannot drown the other. `.gradientDescent` learns the same two
///    numbers iteratively (on `log s^2`, with clipped steps) and is tested against the closed form.
///    The `log(s1 s2)` term is the same for every unit, so it is left out of the unit scores (it
///    would only shift block means and so distort their ratios).
/// 3. Block importance `B_l = sum_{u in l} n_u I(u) / sum_{u in l} n_u`: fused importance per prunable
///    parameter. Its fluctuation across blocks, `(B_l - B) / B` with `B` the mean weighted by prunable
///    parameters (the model-wide coefficient of variation is reported), sets the rates:
///        rate_l = rate * (1 - k * (B_l - B) / B)        (k = `sensitivity`, default 1)
///    so a block twice as important as average keeps everything at k = 1 and an unimportant block
///    loses up to twice the average. Each rate is clamped to `[rate (1 - d), rate (1 + d)]`
///    (d = `maxDeviation`), to `maxBlockRate` and to what the block can lose (one head per KV group
///    and one neuron stay); then one common shift, found by bisection, makes the rates' mean weighted
///    by block parameters equal `rate` again (exactly, unless the clamps make it impossible).
/// 4. `WidthAllocator.select(..., allocation: .perBlock(rates))` with the fused scores: within a
///    block the lowest-fused units go, and the overall rate is met within one neuron's parameters.
public enum SAAP {
    public struct Options: Sendable, Equatable {
        public enum UncertaintyFit: Sendable, Equatable {
            /// `s_k^2 = mean importance_k` (the exact minimiser).
            case closedForm
            /// Gradient descent on `log s_k^2` from `s = 1`; steps are clipped to `learningRate`.
            case gradientDescent(steps: Int, learningRate: Double)
        }
        public var uncertainty: UncertaintyFit = .closedForm
        /// `k`: how far a block's relative importance moves its rate.
        public var sensitivity = 1.0
        /// `d`: every block rate stays within `[rate (1 - d), rate (1 + d)]`.
        public var maxDeviation = 0.5
        /// No block loses more than this fraction of its parameters.
        public var maxBlockRate = 0.9

        public init() {}
    }

    /// The learned uncertainties `s1^2` (vector-wise) and `s2^2` (element-wise).
    public struct Uncertainty: Sendable, Equatable {
        public var vector: Double
        public var element: Double
        /// Descent steps taken (0 for the closed form).
        public var steps: Int

        public init(vector: Double, element: Double, steps: Int = 0) {
            self.vector = vector
            self.element = element
            self.steps = steps
        }

        /// The factors `1 / (2 s^2)` the importances are multiplied by (0 for a term that is all zero).
        public var vectorWeight: Double { vector > 0 ? 1 / (2 * vector) : 0 }
        public var elementWeight: Double { element > 0 ? 1 / (2 * element) : 0 }

        /// Mean of the fusion objective over units whose mean importances are the given ones.
        public func objective(meanVector: Double, meanElement: Double) -> Double {
            meanVector * vectorWeight + meanElement * elementWeight + 0.5 * (log(vector) + log(element))
        }
    }

    public struct Outcome: Sendable {
        public var selection: UnitSelection
        /// Fused importance per unit (per parameter), original indices.
        public var scores: WidthScores
        /// The per-block rates handed to `WidthAllocator` (mean weighted by block parameters = rate).
        public var blockRates: [Double]
        /// What each block actually lost (fraction of its parameters) after unit granularity.
        public var achievedBlockRates: [Double]
        /// `B_l`: fused importance per prunable parameter of each block.
        public var blockImportance: [Double]
        /// Coefficient of variation of `B_l` across blocks (weighted by prunable parameters).
        public var fluctuation: Double
        public var weights: Uncertainty
        public var notes: [String]
    }

    public static func select(config c: LlamaConfig, gradients: CalibrationGradients, rate: Double, options: Options = .init()) throws -> Outcome {
        let layout = ParameterLayout(c)
        guard gradients.parameters.count == layout.totalCount, gradients.gradients.count == layout.totalCount else {
            throw PruningError("saap: gradients hold \(gradients.gradients.count) values, the model has \(layout.totalCount) parameters")
        }
        return try select(config: c, terms: UnitScorer.groupTerms(config: c, gradients: gradients), rate: rate, options: options)
    }

    /// The same from precomputed group terms (`UnitScorer.groupTerms`).
    public static func select(config c: LlamaConfig, terms: (heads: [[UnitScorer.GroupTerm]], neurons: [[UnitScorer.GroupTerm]]),
                              rate: Double, options o: Options = .init()) throws -> Outcome {
        guard rate >= 0, rate < 1 else { throw PruningError("saap: width rate \(rate) is outside [0, 1)") }
        guard o.sensitivity >= 0, o.maxDeviation >= 0, o.maxBlockRate > 0, o.maxBlockRate < 1 else {
            throw PruningError("saap: need sensitivity >= 0, max deviation >= 0 and max block rate in (0, 1)")
        }
        guard terms.heads.count == c.blocks.count, terms.neurons.count == c.blocks.count,
              zip(terms.heads, c.blocks).allSatisfy({ $0.count == $1.heads }),
              zip(terms.neurons, c.blocks).allSatisfy({ $0.count == $1.mlpHidden }) else {
            throw PruningError("saap: importance terms do not match the model's blocks")
        }
        let D = c.headDim, C = c.hidden
        func headWeights(_ b: BlockShape) -> Double { Double((b.heads == b.kvHeads ? 4 : 2) * D * C) }
        let neuronWeights = Double(3 * C)

        // 1. Per-parameter importances.
        let vHeads = zip(terms.heads, c.blocks).map { t, b in t.map { abs($0.sum) / headWeights(b) } }
        let eHeads = zip(terms.heads, c.blocks).map { t, b in t.map { $0.sumAbs / headWeights(b) } }
        let vNeurons = terms.neurons.map { $0.map { abs($0.sum) / neuronWeights } }
        let eNeurons = terms.neurons.map { $0.map { $0.sumAbs / neuronWeights } }
        let allV = vHeads.flatMap { $0 } + vNeurons.flatMap { $0 }, allE = eHeads.flatMap { $0 } + eNeurons.flatMap { $0 }
        let meanV = allV.reduce(0, +) / Double(max(1, allV.count)), meanE = allE.reduce(0, +) / Double(max(1, allE.count))

        // 2. Uncertainty weights and fused scores.
        let u = fitUncertainty(meanVector: meanV, meanElement: meanE, method: o.uncertainty)
        func fuse(_ v: Double, _ e: Double) -> Double { v * u.vectorWeight + e * u.elementWeight }
        let scores = WidthScores(heads: zip(vHeads, eHeads).map { zip($0, $1).map(fuse) },
                                 neurons: zip(vNeurons, eNeurons).map { zip($0, $1).map(fuse) })

        // 3. Block importance and rates.
        var importance: [Double] = [], prunable: [Double] = []
        for (l, b) in c.blocks.enumerated() {
            let hw = headWeights(b)
            let weights = Double(b.heads) * hw + Double(b.mlpHidden) * neuronWeights
            let total = scores.heads[l].reduce(0) { $0 + $1 * hw } + scores.neurons[l].reduce(0) { $0 + $1 * neuronWeights }
            importance.append(total / weights)
            prunable.append(weights)
        }
        let weightSum = prunable.reduce(0, +)
        let mean = zip(importance, prunable).reduce(0) { $0 + $1.0 * $1.1 } / weightSum
        let variance = zip(importance, prunable).reduce(0) { $0 + $1.1 * ($1.0 - mean) * ($1.0 - mean) } / weightSum
        let fluctuation = mean > 0 ? variance.squareRoot() / mean : 0
        let rates = try blockRates(config: c, importance: importance, rate: rate, options: o)

        // 4. Units.
        let selection = try WidthAllocator.select(scores: scores, config: c, rate: rate, allocation: .perBlock(rates))
        let before = ParameterCounts(c).perBlock, after = ParameterCounts(selection.config(from: c)).perBlock
        let achieved = before.indices.map { Double(before[$0] - after[$0]) / Double(before[$0]) }
        let learned = u.steps > 0 ? " after \(u.steps) descent steps" : " (closed form)"
        var notes = [String(format: "uncertainty: s1^2 %.4g (vector-wise), s2^2 %.4g (element-wise)", u.vector, u.element) + learned
                     + String(format: "; fluctuation of block importance (CV) %.4f", fluctuation)]
        notes.append("block rates " + rates.map { String(format: "%.4f", $0) }.joined(separator: " ")
                     + "; achieved " + achieved.map { String(format: "%.4f", $0) }.joined(separator: " "))
        return Outcome(selection: selection, scores: scores, blockRates: rates, achievedBlockRates: achieved, blockImportance: importance,
                       fluctuation: fluctuation, weights: u, notes: notes)
    }

    /// `s1^2, s2^2` minimising `mean v / (2 s1^2) + mean e / (2 s2^2) + log(s1 s2)`. A term whose mean
    /// is 0 has no minimiser (the objective falls without bound as its `s -> 0`); it gets `s^2 = 0`,
    /// which `Uncertainty` turns into weight 0.
    public static func fitUncertainty(meanVector: Double, meanElement: Double, method: Options.UncertaintyFit) -> Uncertainty {
        switch method {
        case .closedForm:
            return Uncertainty(vector: max(0, meanVector), element: max(0, meanElement))
        case .gradientDescent(let steps, let lr):
            // Per term, with sigma = log s^2: J(sigma) = m e^-sigma / 2 + sigma / 2, dJ/dsigma = (1 - m e^-sigma) / 2.
            // Convex; far from the optimum e^-sigma makes the gradient huge, so steps are clipped.
            func learn(_ m: Double) -> Double {
                guard m > 0 else { return 0 }
                var sigma = 0.0
                for _ in 0..<max(0, steps) {
                    let g = 0.5 * (1 - m * exp(-sigma))
                    sigma -= lr * min(1, max(-1, g))
                }
                return exp(sigma)
            }
            return Uncertainty(vector: learn(meanVector), element: learn(meanElement), steps: max(0, steps))
        }
    }

    /// Per-block rates from block importances (step 3 of the header). Their mean weighted by
    /// `ParameterCounts.perBlock` equals `rate` unless the clamps forbid it.
    public static func blockRates(config c: LlamaConfig, importance: [Double], rate: Double, options o: Options = .init()) throws -> [Double] {
        guard importance.count == c.blocks.count else { throw PruningError("saap: \(importance.count) block importances for \(c.blocks.count) blocks") }
        guard rate >= 0, rate < 1 else { throw PruningError("saap: width rate \(rate) is outside [0, 1)") }
        let P = ParameterCounts(c).perBlock.map(Double.init), D = c.headDim, C = c.hidden
        let prunable = c.blocks.map { b in Double(b.heads * (b.heads == b.kvHeads ? 4 : 2) * D * C + 3 * b.mlpHidden * C) }
        let wsum = prunable.reduce(0, +)
        let mean = zip(importance, prunable).reduce(0) { $0 + $1.0 * $1.1 } / wsum
        // What a block can lose at most: all but one head per KV group (or one head) and one neuron.
        let feasible = c.blocks.indices.map { l -> Double in
            let b = c.blocks[l], r = b.heads / b.kvHeads
            let attention = r == 1 ? (b.heads - 1) * 4 * D * C : (r - 1) * b.kvHeads * 2 * D * C
            return Double(attention + (b.mlpHidden - 1) * 3 * C) / P[l]
        }
        let raw = importance.map { mean > 0 ? rate * (1 - o.sensitivity * ($0 - mean) / mean) : rate }
        let lo = c.blocks.indices.map { _ in max(0, rate * (1 - o.maxDeviation)) }
        let hi = c.blocks.indices.map { l in max(0, min(rate * (1 + o.maxDeviation), o.maxBlockRate, feasible[l])) }
        func clamped(_ t: Double) -> [Double] { raw.indices.map { min(hi[$0], max(min(lo[$0], hi[$0]), raw[$0] + t)) } }
        func weightedMean(_ r: [Double]) -> Double { zip(r, P).reduce(0) { $0 + $1.0 * $1.1 } / P.reduce(0, +) }
        // The weighted mean is non-decreasing in the shift t: bisection finds the t that hits `rate`.
        let reach = (raw.map(abs).max() ?? 0) + 2  // a shift this large clamps every rate
        var a = -reach, b = reach
        for _ in 0..<200 {
            let m = 0.5 * (a + b)
            if weightedMean(clamped(m)) < rate { a = m } else { b = m }
        }
        return clamped(b).map { min($0, 1 - 1e-9) }
    }
}
