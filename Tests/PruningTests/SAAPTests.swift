import Foundation
import Model
@testable import Pruning
import Randomness
import Testing

private func removedParameters(_ s: UnitSelection, _ c: LlamaConfig) -> Int {
    ParameterCounts(c).nonEmbedding - ParameterCounts(s.config(from: c)).nonEmbedding
}

/// Calibration gradients of a small random model (one backward sweep: SAAP is gradient-based).
private func gradients(_ c: LlamaConfig, seed: UInt64) throws -> CalibrationGradients {
    let m = try randomModel(c, seed: seed)
    return CalibrationGradients.collect(m, calibration: try randomCalibration(vocab: c.vocabSize), batchSize: 6)
}

/// Group terms with every unit of block `l` given density `density[l]` per weight (both kinds).
private func plantedTerms(_ c: LlamaConfig, density: [Double]) -> (heads: [[UnitScorer.GroupTerm]], neurons: [[UnitScorer.GroupTerm]]) {
    let D = c.headDim, C = c.hidden
    var rng = SeededRandom(seed: 1)
    let heads = c.blocks.enumerated().map { l, b in
        (0..<b.heads).map { _ -> UnitScorer.GroupTerm in
            let n = Double((b.heads == b.kvHeads ? 4 : 2) * D * C), jitter = 0.8 + 0.4 * rng.uniform()
            return UnitScorer.GroupTerm(sum: 0.5 * density[l] * n * jitter, sumAbs: density[l] * n * jitter)
        }
    }
    let neurons = c.blocks.enumerated().map { l, b in
        (0..<b.mlpHidden).map { _ -> UnitScorer.GroupTerm in
            let jitter = 0.8 + 0.4 * rng.uniform()
            return UnitScorer.GroupTerm(sum: -0.5 * density[l] * Double(3 * C) * jitter, sumAbs: density[l] * Double(3 * C) * jitter)
        }
    }
    return (heads, neurons)
}

@Suite struct SAAPTests {
    /// The learned uncertainties are the closed form `s_k^2 = mean per-weight importance_k`, computed
    /// here independently from the raw gradients; gradient descent on the objective reaches the
    /// same values; and the closed form is the objective's minimum.
    @Test func uncertaintyWeightsAreTheClosedForm() throws {
        let c = pruningConfig()
        let g = try gradients(c, seed: 5)
        let out = try SAAP.select(config: c, gradients: g, rate: 0.25)
        // Independent computation of both means over all units, per weight of each coupled group.
        let layout = ParameterLayout(c), D = c.headDim, C = c.hidden
        func term(_ name: String, rows: [Int]? = nil, cols: [Int]? = nil) -> (Double, Double) {
            let e = layout[name]!, n = e.shape[1]
            var s = 0.0, a = 0.0
            for i in rows ?? Array(0..<e.shape[0]) {
                for j in cols ?? Array(0..<n) {
                    let x = Double(g.parameters[e.offset + i * n + j]) * Double(g.gradients[e.offset + i * n + j])
                    s += x; a += abs(x)
                }
            }
            return (s, a)
        }
        var v: [Double] = [], el: [Double] = []
        for (l, b) in c.blocks.enumerated() {
            let p = "model.layers.\(l)."
            for h in 0..<b.heads {
                let dims = Array((h * D)..<(h * D + D))
                var parts = [term(p + "self_attn.q_proj.weight", rows: dims), term(p + "self_attn.o_proj.weight", cols: dims)]
                if b.heads == b.kvHeads { parts += [term(p + "self_attn.k_proj.weight", rows: dims), term(p + "self_attn.v_proj.weight", rows: dims)] }
                let n = Double(parts.count * D * C)
                v.append(abs(parts.reduce(0) { $0 + $1.0 }) / n)
                el.append(parts.reduce(0) { $0 + $1.1 } / n)
            }
            for j in 0..<b.mlpHidden {
                let parts = [term(p + "mlp.gate_proj.weight", rows: [j]), term(p + "mlp.up_proj.weight", rows: [j]), term(p + "mlp.down_proj.weight", cols: [j])]
                v.append(abs(parts.reduce(0) { $0 + $1.0 }) / Double(3 * C))
                el.append(parts.reduce(0) { $0 + $1.1 } / Double(3 * C))
            }
        }
        let meanV = v.reduce(0, +) / Double(v.count), meanE = el.reduce(0, +) / Double(el.count)
        #expect(abs(out.weights.vector - meanV) <= 1e-9 * meanV && abs(out.weights.element - meanE) <= 1e-9 * meanE,
                "\(out.weights) vs \(meanV), \(meanE)")
        #expect(meanV > 0 && meanE > meanV, "the element-wise sum bounds the vector-wise one")
        // Fused score of neuron 0 of block 1 is v/(2 s1^2) + e/(2 s2^2).
        let k = c.blocks[0].heads + c.blocks[0].mlpHidden + c.blocks[1].heads
        #expect(abs(out.scores.neurons[1][0] - (v[k] / (2 * meanV) + el[k] / (2 * meanE))) < 1e-12)
        // Learned iteratively: the same numbers.
        let learned = SAAP.fitUncertainty(meanVector: meanV, meanElement: meanE, method: .gradientDescent(steps: 400, learningRate: 0.5))
        #expect(abs(learned.vector / meanV - 1) < 1e-9 && abs(learned.element / meanE - 1) < 1e-9, "\(learned)")
        var o = SAAP.Options()
        o.uncertainty = .gradientDescent(steps: 400, learningRate: 0.5)
        let iterative = try SAAP.select(config: c, gradients: g, rate: 0.25, options: o)
        #expect(iterative.selection == out.selection && iterative.weights.steps == 400)
        // And it is the minimum: moving either s changes the objective upwards.
        let best = out.weights.objective(meanVector: meanV, meanElement: meanE)
        for f in [0.5, 0.9, 1.1, 2.0] {
            #expect(SAAP.Uncertainty(vector: meanV * f, element: meanE).objective(meanVector: meanV, meanElement: meanE) > best)
            #expect(SAAP.Uncertainty(vector: meanV, element: meanE * f).objective(meanVector: meanV, meanElement: meanE) > best)
        }
    }

    /// Block rates average (weighted by block parameters) to the target, and the block whose units
    /// matter more per weight loses less; the least important loses most.
    @Test(arguments: [0.1, 0.25, 0.4])
    func blockRatesFavourImportantBlocks(rate: Double) throws {
        let c = pruningConfig()
        let out = try SAAP.select(config: c, terms: plantedTerms(c, density: [1, 3, 0.5]), rate: rate)
        let P = ParameterCounts(c).perBlock.map(Double.init)
        let mean = zip(out.blockRates, P).reduce(0) { $0 + $1.0 * $1.1 } / P.reduce(0, +)
        #expect(abs(mean - rate) < 1e-9, "weighted mean \(mean), rates \(out.blockRates)")
        #expect(out.blockRates[1] < out.blockRates[0] && out.blockRates[0] < out.blockRates[2], "\(out.blockRates)")
        #expect(out.blockImportance[1] > out.blockImportance[0] && out.blockImportance[0] > out.blockImportance[2])
        #expect(out.fluctuation > 0.3)
        // Clamped to [rate / 2, 3 rate / 2] by default.
        #expect(out.blockRates.allSatisfy { $0 >= rate * 0.5 - 1e-12 && $0 <= rate * 1.5 + 1e-12 })
        // The realised per-block losses follow the same order.
        #expect(out.achievedBlockRates[1] < out.achievedBlockRates[2], "\(out.achievedBlockRates)")
    }

    /// Equal importance everywhere gives every block the target rate; sensitivity 0 likewise.
    @Test func flatImportanceIsUniform() throws {
        let c = pruningConfig()
        let flat = try SAAP.blockRates(config: c, importance: [2, 2, 2], rate: 0.3)
        #expect(flat.allSatisfy { abs($0 - 0.3) < 1e-12 })
        var o = SAAP.Options()
        o.sensitivity = 0
        #expect(try SAAP.blockRates(config: c, importance: [1, 5, 0.1], rate: 0.3, options: o).allSatisfy { abs($0 - 0.3) < 1e-12 })
        // Linear in the relative deviation while inside the clamps: B = (0.9, 1.1, 1) around mean ~1.
        o.sensitivity = 1
        let r = try SAAP.blockRates(config: c, importance: [0.9, 1.1, 1.0], rate: 0.3, options: o)
        #expect(r[0] > r[2] && r[2] > r[1] && abs((r[0] - r[2]) - (r[2] - r[1])) < 1e-3)
    }

    /// On real gradients the rate is met within one neuron's parameters for both attention layouts,
    /// the selection is valid, and the same inputs give the same outcome.
    @Test(arguments: [0.1, 0.3, 0.5])
    func rateHitAndDeterministic(rate: Double) throws {
        let ladderLike = LlamaConfig.uniform(vocabSize: 32, hidden: 32, layers: 3, heads: 4, kvHeads: 2, mlpHidden: 48, maxSequence: 32)
        for c in [pruningConfig(), ladderLike] {
            let g = try gradients(c, seed: 8)
            let a = try SAAP.select(config: c, gradients: g, rate: rate)
            try a.selection.validate(against: c)
            let removed = Double(removedParameters(a.selection, c)), target = rate * Double(ParameterCounts(c).nonEmbedding)
            #expect(abs(removed - target) <= Double(3 * c.hidden), "removed \(removed), target \(target)")
            let b = try SAAP.select(config: c, gradients: g, rate: rate)
            #expect(a.selection == b.selection && a.scores == b.scores && a.blockRates == b.blockRates && a.weights == b.weights)
            #expect(a.notes.count == 2)
        }
    }

    @Test func badInputsThrow() throws {
        let c = pruningConfig()
        let g = try gradients(c, seed: 2)
        #expect(throws: PruningError.self) { try SAAP.select(config: c, gradients: g, rate: 1.0) }
        #expect(throws: PruningError.self) { try SAAP.select(config: LlamaConfig.uniform(vocabSize: 32, hidden: 16, layers: 2, heads: 4, mlpHidden: 8), gradients: g, rate: 0.2) }
        var o = SAAP.Options()
        o.maxBlockRate = 1
        #expect(throws: PruningError.self) { try SAAP.select(config: c, gradients: g, rate: 0.2, options: o) }
    }
}
