import Foundation
import Model
import Pruning
import Testing

@Suite struct ScoreTests {
    /// Channel statistics agree with a direct two-pass computation over the tapped activations.
    @Test func channelStatisticsMatchTwoPass() throws {
        let c = pruningConfig()
        let m = try randomModel(c, seed: 8)
        let cal = try randomCalibration(vocab: c.vocabSize)
        let st = CalibrationStatistics.collect(m, calibration: cal, batchSize: 4)
        var rows: [[Float]] = []
        for s in cal.batches(of: 6) {
            m.forward(cal, s)
            let x = m.activations(.downInput, block: 1), F = c.blocks[1].mlpHidden
            for i in 0..<(s.count * cal.sequenceLength) { rows.append(Array(x[(i * F)..<(i * F + F)])) }
        }
        for j in [0, 7, 31] {
            let col = rows.map { Double($0[j]) }, n = Double(col.count)
            let mean = col.reduce(0, +) / n
            let variance = col.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / n
            let norm = col.reduce(0) { $0 + $1 * $1 }.squareRoot()
            let T = cal.sequenceLength
            let minitron = stride(from: 0, to: col.count, by: T).map { w in col[w..<(w + T)].reduce(0) { $0 + abs($1) } / Double(T) }
                .reduce(0) { $0 + $1 * $1 }.squareRoot()
            #expect(abs(st.downInput[1].mean(j) - mean) <= 1e-9 * max(1, abs(mean)))
            #expect(abs(st.downInput[1].variance(j) - variance) <= 1e-6 * variance)
            #expect(abs(st.downInput[1].norm(j) - norm) <= 1e-9 * norm)
            #expect(abs(st.downInput[1].minitron(j) - minitron) <= 1e-9 * minitron)
        }
    }

    /// A block that adds nothing to the residual has block influence 0 and is the first removed by
    /// every depth method.
    @Test(arguments: DepthMethod.allCases)
    func identityBlockGoesFirst(method: DepthMethod) throws {
        let c = LlamaConfig.uniform(vocabSize: 32, hidden: 16, layers: 6, heads: 4, kvHeads: 2, mlpHidden: 24, maxSequence: 32)
        let m = try randomModel(c, seed: 9, std: 0.3)
        var p = m.params.array
        for name in ["model.layers.3.self_attn.o_proj.weight", "model.layers.3.mlp.down_proj.weight"] {
            let e = m.layout[name]!
            for k in e.offset..<(e.offset + e.count) { p[k] = 0 }
        }
        let cal = try randomCalibration(vocab: 32)
        let out = try StructuredPruner.run(PruningRequest(target: .depth(method: method, rate: 0.15), batchSize: 3), config: c, parameters: p,
                                           calibration: cal, threads: 1)
        #expect(out.config.blocks.count == 5)
        let scores = out.report.scores!.blocks!
        #expect(abs(scores[3]) < 1e-6, "the identity block's score \(scores[3])")
        if method == .lossDrop {
            // On a random model removing some block may even lower the loss; the least harmful goes.
            #expect(out.report.removedBlocks == [scores.indices.min { scores[$0] < scores[$1] }!])
        } else {
            #expect(out.report.removedBlocks == [3])
            // Removing an identity block changes nothing.
            #expect(abs(out.report.calibrationLossAfter! - out.report.calibrationLossBefore!) < 1e-5)
        }
    }

    /// The calibration gradient is the gradient of the mean loss over all windows, whatever the batch size.
    @Test func calibrationGradientIndependentOfBatchSize() throws {
        let c = pruningConfig()
        let cal = try randomCalibration(vocab: c.vocabSize)
        let a = CalibrationGradients.collect(try randomModel(c, seed: 10), calibration: cal, batchSize: 1)
        let b = CalibrationGradients.collect(try randomModel(c, seed: 10), calibration: cal, batchSize: 6)
        let scale = b.gradients.map { abs($0) }.max()!
        #expect(zip(a.gradients, b.gradients).map { abs($0 - $1) }.max()! < 1e-5 * scale)
        #expect(abs(a.loss - b.loss) < 1e-5)
    }

    /// A neuron whose activation is always zero scores 0 with every activation-based method.
    @Test func deadNeuronScoresZero() throws {
        let c = pruningConfig()
        let m = try randomModel(c, seed: 11)
        let g = m.layout["model.layers.2.mlp.gate_proj.weight"]!, H = c.hidden
        for k in 0..<H { m.params[g.offset + 5 * H + k] = 0 }  // gate row 5 = 0 -> silu(0) * up = 0
        let cal = try randomCalibration(vocab: c.vocabSize)
        let st = CalibrationStatistics.collect(m, calibration: cal, batchSize: 2)
        let p = m.params.array
        for scores in [UnitScorer.wanda(config: c, parameters: p, statistics: st), UnitScorer.flap(config: c, parameters: p, statistics: st),
                       UnitScorer.minitron(config: c, statistics: st)] {
            #expect(scores.neurons[2][5] == 0)
            #expect(scores.neurons[2].enumerated().allSatisfy { $0.offset == 5 || $0.element > 0 })
        }
    }

    /// Every single-pass width method hits its rate on a GQA model and records what it did.
    @Test(arguments: [WidthMethod.magnitude, .wanda, .minitron, .taylor, .flap])
    func widthMethodsHitRate(method: WidthMethod) throws {
        let c = pruningConfig()
        let m = try randomModel(c, seed: 12)
        let cal = try randomCalibration(vocab: c.vocabSize)
        let out = try StructuredPruner.run(PruningRequest(target: .width(method: method, rate: 0.25)), config: c, parameters: m.params.array,
                                           calibration: cal, threads: 1)
        let before = ParameterCounts(c).nonEmbedding
        #expect(abs(Double(before - out.report.after.nonEmbedding) - 0.25 * Double(before)) <= Double(3 * c.hidden))
        #expect(abs(out.report.rate - 0.25) <= Double(3 * c.hidden) / Double(before))
        #expect(out.report.method == method.rawValue)
        #expect(out.report.keptUnits.count == 3)
        #expect(out.report.calibrationLossAfter!.isFinite)
        #expect(method == .taylor ? out.report.backwardPasses > 0 : out.report.backwardPasses == 0)
        let json = try JSONSerialization.jsonObject(with: out.report.json()) as! [String: Any]
        #expect(json["structure"] as? String == "width")
        #expect((json["before"] as? [String: Any])?["non_embedding"] as? Int == before)
    }
}

@Suite struct FLAPCompensationTests {
    /// FLAP's output biases equal `sum over removed columns of W[:, j] * mean(x_j)`, with the means
    /// taken independently from the activation taps of the original model.
    @Test func biasesEqualTheirClosedForm() throws {
        let c = pruningConfig()
        let m = try randomModel(c, seed: 21)
        let p = m.params.array
        let cal = try randomCalibration(vocab: c.vocabSize)
        let out = try StructuredPruner.run(PruningRequest(target: .width(method: .flap, rate: 0.3)), config: c, parameters: p,
                                           calibration: cal, threads: 1)
        #expect(out.config.mlpBias)
        // Means of down_proj's and o_proj's inputs over every calibration token, straight from the taps.
        var downSum = c.blocks.map { [Double](repeating: 0, count: $0.mlpHidden) }
        var attSum = c.blocks.map { [Double](repeating: 0, count: $0.heads * c.headDim) }
        for s in cal.batches(of: 6) {
            m.forward(cal, s)
            for l in c.blocks.indices {
                for (tap, width) in [(ActivationTap.downInput, c.blocks[l].mlpHidden), (.attentionOutputInput, c.blocks[l].heads * c.headDim)] {
                    let x = m.activations(tap, block: l)
                    for i in 0..<(s.count * cal.sequenceLength) {
                        for j in 0..<width {
                            if tap == .downInput { downSum[l][j] += Double(x[i * width + j]) } else { attSum[l][j] += Double(x[i * width + j]) }
                        }
                    }
                }
            }
        }
        let n = Double(cal.tokenCount), layout = ParameterLayout(out.config), D = c.headDim
        for (newIndex, kept) in out.report.keptUnits.enumerated() {
            let l = kept.block, C = c.hidden
            let down = m.tensor("model.layers.\(l).mlp.down_proj.weight"), F = c.blocks[l].mlpHidden
            let e = layout["model.layers.\(newIndex).mlp.down_proj.bias"]!
            for i in 0..<C {
                let expected = kept.neuronsRemoved.reduce(0.0) { $0 + Double(down[i * F + $1]) * downSum[l][$1] / n }
                #expect(abs(Double(out.parameters[e.offset + i]) - expected) <= 1e-5 * max(1, abs(expected)))
            }
            if let eo = layout["model.layers.\(newIndex).self_attn.o_proj.bias"] {
                let o = m.tensor("model.layers.\(l).self_attn.o_proj.weight"), W = c.blocks[l].heads * D
                let gone = (0..<c.blocks[l].heads).filter { !kept.heads.contains($0) }.flatMap { h in (h * D)..<(h * D + D) }
                for i in 0..<C {
                    let expected = gone.reduce(0.0) { $0 + Double(o[i * W + $1]) * attSum[l][$1] / n }
                    #expect(abs(Double(out.parameters[eo.offset + i]) - expected) <= 1e-5 * max(1, abs(expected)))
                }
            }
        }
        // The biases count as parameters but the rate is still met within one neuron.
        let before = ParameterCounts(c).nonEmbedding
        #expect(abs(Double(before - out.report.after.nonEmbedding) - 0.3 * Double(before)) <= Double(3 * c.hidden))
    }
}

@Suite struct MethodWiringTests {
    /// Bonsai and SAAP run through the common entry point, hit the rate, and Bonsai never differentiates.
    @Test(arguments: [WidthMethod.bonsai, .saap])
    func adaptiveMethodsRunEndToEnd(method: WidthMethod) throws {
        let c = pruningConfig()
        let m = try randomModel(c, seed: 31)
        let options = method == .bonsai ? ["sub-models": "8", "round-fraction": "0.15"] : [:]
        let out = try StructuredPruner.run(PruningRequest(target: .width(method: method, rate: 0.3), options: options), config: c,
                                           parameters: m.params.array, calibration: randomCalibration(vocab: c.vocabSize), threads: 1)
        let before = ParameterCounts(c).nonEmbedding
        #expect(abs(Double(before - out.report.after.nonEmbedding) - 0.3 * Double(before)) <= Double(3 * c.hidden))
        #expect(method == .bonsai ? out.report.backwardPasses == 0 : out.report.backwardPasses > 0)
        #expect(out.report.forwardPasses > 0)
        #expect(!out.report.notes.isEmpty)
    }

    @Test func unknownOptionsAreRejected() throws {
        let c = pruningConfig()
        let m = try randomModel(c, seed: 32)
        #expect(throws: PruningError.self) {
            try StructuredPruner.run(PruningRequest(target: .width(method: .wanda, rate: 0.3), options: ["sub-models": "8"]), config: c,
                                     parameters: m.params.array, calibration: randomCalibration(vocab: c.vocabSize), threads: 1)
        }
    }
}
