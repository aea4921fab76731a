import Foundation
import Model
import Tensor
import Testing

@Suite struct OptimizerTests {
    /// Two AdamW steps on one matrix weight and one norm weight, against numbers worked by hand.
    @Test func adamWMatchesAHandComputation() throws {
        let config = tinyConfig(tied: true)
        let layout = ParameterLayout(config)
        let params = FloatBuffer(count: layout.totalCount), grads = FloatBuffer(count: layout.totalCount)
        let matrix = layout["model.layers.0.self_attn.q_proj.weight"]!.offset
        let norm = layout["model.norm.weight"]!.offset
        params[matrix] = 1
        params[norm] = 1
        let opt = AdamW(layout: layout, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1)

        // Step 1, g = 0.5, lr = 0.1: m = 0.05, v = 0.0125, m^ = 0.5, v^ = 0.25, update = 0.1 * 0.5 / 0.5 = 0.1.
        // Matrix: 1 * (1 - 0.1 * 0.1) - 0.1 = 0.89. Norm (no decay): 1 - 0.1 = 0.9.
        grads[matrix] = 0.5
        grads[norm] = 0.5
        opt.step(params: params, grads: grads, lr: 0.1)
        #expect(abs(params[matrix] - 0.89) < 1e-6)
        #expect(abs(params[norm] - 0.9) < 1e-6)
        #expect(abs(opt.m[matrix] - 0.05) < 1e-7 && abs(opt.v[matrix] - 0.0125) < 1e-8)

        // Step 2, g = -0.25, lr = 0.1: m = 0.045 - 0.025 = 0.02, v = 0.011875 + 0.003125 = 0.015,
        // m^ = 0.02 / 0.19, v^ = 0.015 / 0.0975, update = 0.1 * m^ / sqrt(v^) = 0.026834...
        grads[matrix] = -0.25
        grads[norm] = -0.25
        opt.step(params: params, grads: grads, lr: 0.1)
        let update = 0.1 * (0.02 / 0.19) / (0.015 / 0.0975).squareRoot()
        #expect(abs(Double(params[matrix]) - (0.89 * 0.99 - update)) < 1e-6)
        #expect(abs(Double(params[norm]) - (0.9 - update)) < 1e-6)
        #expect(opt.stepCount == 2)
        // Untouched zero weights with zero gradients stay zero.
        #expect(params[matrix + 1] == 0)
    }

    @Test func embeddingsDecayButNormsAndBiasesDoNot() throws {
        let layout = ParameterLayout(tinyConfig(tied: false, attentionBias: true, mlpBias: true))
        let params = FloatBuffer(count: layout.totalCount), grads = FloatBuffer(count: layout.totalCount)
        params.fill(1)
        AdamW(layout: layout, weightDecay: 0.5).step(params: params, grads: grads, lr: 0.1)
        for e in layout.entries {
            #expect(abs(params[e.offset] - (e.decays ? 0.95 : 1)) < 1e-7, "\(e.name)")
            #expect(e.decays == (e.shape.count == 2), "\(e.name): only matrices decay")
        }
        #expect(layout.entries.contains { $0.isBias && !$0.decays })
    }

    @Test func clippingScalesTheNormToMaxNorm() {
        let g = FloatBuffer([3, 0, -4, 0])
        let norm = Optim.clipGradients(g, maxNorm: 1)
        #expect(abs(norm - 5) < 1e-6)
        #expect(abs(g.sumOfSquares().squareRoot() - 1) < 1e-5)
        #expect(abs(g[0] - 0.6) < 1e-6 && abs(g[2] + 0.8) < 1e-6)
        // Under the limit: untouched.
        let small = FloatBuffer([0.3, 0.4])
        #expect(abs(Optim.clipGradients(small, maxNorm: 1) - 0.5) < 1e-6)
        #expect(small.array == [0.3, 0.4])
    }

    @Test func warmupCosineAtChosenSteps() {
        let s = LRSchedule.warmupCosine(peak: 1e-3, warmupSteps: 10, totalSteps: 110, minFraction: 0.1)
        let cases: [(Int, Double)] = [
            (0, 1e-4), (4, 5e-4), (9, 1e-3),
            (10, 1e-4 + 9e-4 * 0.5 * (1 + cos(Double.pi / 100))),  // 9.997779...e-4
            (59, 5.5e-4),  // halfway: min + (peak - min) / 2
            (109, 1e-4), (500, 1e-4),
        ]
        for (step, want) in cases {
            #expect(abs(s.learningRate(at: step) - want) < 1e-12, "step \(step): \(s.learningRate(at: step)) vs \(want)")
        }
        #expect(abs(s.learningRate(at: 10) - 9.99777952e-4) < 1e-11)
    }

    @Test func warmupStableDecayAtChosenSteps() {
        let s = LRSchedule.warmupStableDecay(peak: 1e-3, warmupSteps: 10, totalSteps: 110, decaySteps: 20, minFraction: 0)
        let cases: [(Int, Double)] = [(5, 6e-4), (9, 1e-3), (50, 1e-3), (89, 1e-3), (90, 9.5e-4), (99, 5e-4), (109, 0), (200, 0)]
        for (step, want) in cases {
            #expect(abs(s.learningRate(at: step) - want) < 1e-12, "step \(step): \(s.learningRate(at: step)) vs \(want)")
        }
        #expect(LRSchedule.constant(lr: 3e-4).learningRate(at: 1234) == 3e-4)
    }
}
