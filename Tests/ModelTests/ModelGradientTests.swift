import Foundation
import Model
import Randomness
import Tensor
import Testing

/// The tiny test configuration: two blocks of different shapes, the second with GQA (4 query heads on
/// 2 KV heads) and an attention width (16) unlike the residual width (8).
func tinyConfig(tied: Bool, rope: RopeLayout = .halfSplit, vocab: Int = 17, attentionBias: Bool = false, mlpBias: Bool = false) -> LlamaConfig {
    LlamaConfig(vocabSize: vocab, hidden: 8, headDim: 4,
                blocks: [BlockShape(heads: 2, kvHeads: 2, mlpHidden: 12), BlockShape(heads: 4, kvHeads: 2, mlpHidden: 6)],
                ropeTheta: 10_000, ropeLayout: rope, normEps: 1e-5, tiedEmbeddings: tied, maxSequence: 16,
                attentionBias: attentionBias, mlpBias: mlpBias)
}

func randomTokens(_ n: Int, vocab: Int, _ rng: inout SeededRandom) -> [Int32] {
    (0..<n).map { _ in Int32(rng.next() % UInt64(vocab)) }
}

@Suite struct ModelGradientTests {
    /// Central differences on the whole model's loss for a sample of every tensor's entries.
    /// Weights are drawn large (std 0.4, norm weights 1 ± 0.3) so every gradient is well above the
    /// float32 noise of the loss.
    @Test(arguments: [(false, RopeLayout.halfSplit), (true, .halfSplit), (false, .interleaved), (true, .interleaved)])
    func wholeModelGradientsMatchFiniteDifferences(tied: Bool, rope: RopeLayout) throws {
        let config = tinyConfig(tied: tied, rope: rope)
        let model = try LlamaModel(config: config, seed: 11, initStd: 0.4, threads: 1)
        var rng = SeededRandom(seed: 12)
        for e in model.layout.entries where e.isNorm {
            for j in 0..<e.count { model.params[e.offset + j] = 1 + Float(rng.normal() * 0.3) }
        }
        let b = 2, t = 5
        let tokens = randomTokens(b * t, vocab: config.vocabSize, &rng), targets = randomTokens(b * t, vocab: config.vocabSize, &rng)
        model.zeroGrad()
        model.forward(tokens: tokens, targets: targets, batch: b, seqLen: t)
        model.backward()
        let f = { Double(model.forward(tokens: tokens, targets: targets, batch: b, seqLen: t)) }
        for e in model.layout.entries {
            let picks = e.count <= 24 ? Array(0..<e.count) : (0..<24).map { _ in Int(rng.next() % UInt64(e.count)) }
            let indices = picks.map { e.offset + $0 }
            let fd = numericalGradient(model.params.pointer, indices: indices, h: 1e-2, f)
            let analytic = indices.map { Double(model.grads[$0]) }
            let err = relativeError(fd, analytic)
            #expect(err < 1e-2, "\(e.name): relative error \(err) (tied \(tied), \(rope))")
        }
    }

    /// The model runs either attention implementation (`attentionPath`) to the same loss and
    /// gradients, up to float32 rounding (their arithmetic differs), on every build.
    @Test func bothAttentionPathsGiveTheSameLossAndGradients() throws {
        let config = tinyConfig(tied: false)
        var rng = SeededRandom(seed: 21)
        let b = 3, t = 16
        let tokens = randomTokens(b * t, vocab: config.vocabSize, &rng), targets = randomTokens(b * t, vocab: config.vocabSize, &rng)
        let runs = try CausalAttention.Path.allCases.map { path -> (loss: Float, grads: [Double]) in
            let model = try LlamaModel(config: config, seed: 11, initStd: 0.4, threads: 2)
            model.attentionPath = path
            model.zeroGrad()
            let loss = model.forward(tokens: tokens, targets: targets, batch: b, seqLen: t)
            model.backward()
            return (loss, model.grads.doubles)
        }
        #expect(abs(runs[0].loss - runs[1].loss) < 1e-5)
        #expect(relativeError(runs[0].grads, runs[1].grads) < 1e-4)
    }

    /// A forward that stops after a block (calibration reading that block's inputs) leaves every
    /// activation up to it as the full forward does, bit for bit, and no loss.
    @Test func aForwardThroughOneBlockKeepsItsActivations() throws {
        let config = tinyConfig(tied: false)
        let model = try LlamaModel(config: config, seed: 5, initStd: 0.4, threads: 2)
        var rng = SeededRandom(seed: 6)
        let b = 2, t = 8
        let tokens = randomTokens(b * t, vocab: config.vocabSize, &rng)
        model.forward(tokens: tokens, targets: nil, batch: b, seqLen: t)
        let full = ActivationTap.allCases.map { Array(model.activations($0, block: 0)).map(\.bitPattern) }
        model.forward(tokens: randomTokens(b * t, vocab: config.vocabSize, &rng), targets: nil, batch: b, seqLen: t)
        let partial = tokens.withUnsafeBufferPointer { model.forward(tokens: $0, targets: nil, batch: b, seqLen: t, throughBlock: 0) }
        #expect(partial.isNaN)
        #expect(ActivationTap.allCases.map { Array(model.activations($0, block: 0)).map(\.bitPattern) } == full)
    }

    @Test func gradientsAccumulateAcrossMicroBatches() throws {
        let config = tinyConfig(tied: true)
        let model = try LlamaModel(config: config, seed: 3, initStd: 0.2, threads: 1)
        var rng = SeededRandom(seed: 4)
        let t = 6
        let tok = randomTokens(2 * t, vocab: 17, &rng), tgt = randomTokens(2 * t, vocab: 17, &rng)
        model.zeroGrad()
        model.forward(tokens: tok, targets: tgt, batch: 2, seqLen: t)
        model.backward()
        let whole = model.grads.doubles
        model.zeroGrad()
        for i in 0..<2 {
            let part = Array(i * t..<(i + 1) * t)
            model.forward(tokens: part.map { tok[$0] }, targets: part.map { tgt[$0] }, batch: 1, seqLen: t)
            model.backward(lossScale: 0.5)
        }
        #expect(relativeError(whole, model.grads.doubles) < 1e-5)
    }
}
