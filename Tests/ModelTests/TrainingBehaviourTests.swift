import Foundation
import Model
import Randomness
import Tensor
import Testing

@Suite struct TrainingBehaviourTests {
    @Test func lossAtInitialisationIsNearLogVocab() throws {
        let config = LlamaConfig.uniform(vocabSize: 64, hidden: 32, layers: 2, heads: 4, kvHeads: 2, mlpHidden: 64, maxSequence: 32)
        let model = try LlamaModel(config: config, seed: 1, threads: 1)
        var rng = SeededRandom(seed: 2)
        let loss = model.forward(tokens: randomTokens(64, vocab: 64, &rng), targets: randomTokens(64, vocab: 64, &rng), batch: 4, seqLen: 16)
        #expect(abs(Double(loss) - log(64.0)) / log(64.0) < 0.02, "loss \(loss) vs ln 64 = \(log(64.0))")
    }

    @Test func evalForwardGivesTheSameLogitsWithoutTargets() throws {
        let model = try LlamaModel(config: tinyConfig(tied: false), seed: 5, threads: 1)
        var rng = SeededRandom(seed: 6)
        let tok = randomTokens(8, vocab: 17, &rng)
        let loss = model.forward(tokens: tok, targets: tok, batch: 2, seqLen: 4)
        let withTargets = Array(model.logits)
        #expect(model.forward(tokens: tok, targets: nil, batch: 2, seqLen: 4).isNaN)
        #expect(Array(model.logits) == withTargets)
        #expect(withTargets.count == 8 * 17 && loss.isFinite)
        #expect(model.positionLosses.isEmpty)
    }

    /// A small model memorises one batch of random tokens.
    @Test func overfitsOneBatch() throws {
        let config = LlamaConfig(vocabSize: 17, hidden: 16, headDim: 4,
                                 blocks: [BlockShape(heads: 4, kvHeads: 2, mlpHidden: 32), BlockShape(heads: 2, kvHeads: 1, mlpHidden: 24)],
                                 maxSequence: 16)
        let model = try LlamaModel(config: config, seed: 7, threads: 1)
        var rng = SeededRandom(seed: 8)
        let tok = randomTokens(16, vocab: 17, &rng), tgt = randomTokens(16, vocab: 17, &rng)
        let opt = AdamW(model: model, weightDecay: 0)
        var first: Float = 0, loss: Float = 0
        for step in 0..<300 {
            model.zeroGrad()
            loss = model.forward(tokens: tok, targets: tgt, batch: 2, seqLen: 8)
            if step == 0 { first = loss }
            model.backward()
            model.clipGradients(maxNorm: 1)
            opt.step(model, lr: 1e-2)
        }
        #expect(first > 2.5)
        #expect(loss < 0.1, "loss after 300 steps: \(loss)")
    }

    /// 2:4 masks on every block matrix: masked weights start, stay and train at exactly zero.
    @Test func maskedWeightsStayExactlyZero() throws {
        let config = tinyConfig(tied: false)
        let model = try LlamaModel(config: config, seed: 9, threads: 1)
        var rng = SeededRandom(seed: 10)
        var mask = [Float](repeating: 1, count: model.layout.totalCount)
        var masked = 0
        for e in model.layout.entries where e.name.hasPrefix("model.layers.") && e.role == .matrix {
            for group in stride(from: 0, to: e.count, by: 4) {
                // Drop two of every four consecutive weights (along the input dimension).
                let first = Int(rng.next() % 4), second = (first + 1 + Int(rng.next() % 3)) % 4
                mask[e.offset + group + first] = 0
                mask[e.offset + group + second] = 0
                masked += 2
            }
        }
        let before = model.nonZeroCounts
        model.setMask(mask)
        let after = model.nonZeroCounts
        #expect(before.nonEmbedding - after.nonEmbedding == masked)
        #expect(after.total == ParameterCounts(config).total - masked)

        let start = model.params.array
        let opt = AdamW(model: model, weightDecay: 0.1)
        let tok = randomTokens(10, vocab: 17, &rng), tgt = randomTokens(10, vocab: 17, &rng)
        for _ in 0..<40 {
            model.zeroGrad()
            model.forward(tokens: tok, targets: tgt, batch: 2, seqLen: 5)
            model.backward()
            for i in mask.indices where mask[i] == 0 { #expect(model.grads[i] == 0) }
            model.clipGradients(maxNorm: 1)
            opt.step(model, lr: 1e-2)
        }
        let end = model.params.array
        var changed = 0
        for i in mask.indices {
            if mask[i] == 0 {
                #expect(end[i] == 0 && opt.m[i] == 0 && opt.v[i] == 0)
            } else if end[i] != start[i] {
                changed += 1
            }
        }
        #expect(changed > mask.count / 2, "unmasked weights must train")
        #expect(model.nonZeroCounts == after)

        // A weight written behind the model's back is masked again by the next forward.
        let name = "model.layers.0.mlp.gate_proj.weight"
        let e = model.layout[name]!
        let i = (e.offset..<(e.offset + e.count)).first { mask[$0] == 0 }!
        let ref = model.forward(tokens: tok, targets: tgt, batch: 2, seqLen: 5)
        model.params[i] = 5
        #expect(model.forward(tokens: tok, targets: tgt, batch: 2, seqLen: 5) == ref)
        #expect(model.params[i] == 0)
    }

    @Test func perTensorMaskLeavesOtherTensorsAlone() throws {
        let model = try LlamaModel(config: tinyConfig(tied: true), seed: 1, threads: 1)
        let name = "model.layers.1.self_attn.o_proj.weight"
        let e = model.layout[name]!
        model.setMask([Float](repeating: 0, count: e.count), for: name)
        #expect(model.tensor(name).allSatisfy { $0 == 0 })
        #expect(model.nonZeroCounts.total == model.layout.totalCount - e.count)
        #expect(model.nonZeroCounts.perBlock[0] == ParameterCounts(model.config).perBlock[0])
    }

    /// Same seed, one thread: bit-identical losses and weights. The kernels split work so that no
    /// reduction depends on the thread count, so two threads give the same bits too.
    @Test func trainingIsDeterministic() throws {
        func run(threads: Int) throws -> ([Float], [Float]) {
            let model = try LlamaModel(config: tinyConfig(tied: false, rope: .interleaved), seed: 21, threads: threads)
            let opt = AdamW(model: model, weightDecay: 0.1)
            var rng = SeededRandom(seed: 22)
            var losses: [Float] = []
            for step in 0..<8 {
                let tok = randomTokens(3 * 6, vocab: 17, &rng), tgt = randomTokens(3 * 6, vocab: 17, &rng)
                model.zeroGrad()
                losses.append(model.forward(tokens: tok, targets: tgt, batch: 3, seqLen: 6))
                model.backward()
                model.clipGradients(maxNorm: 0.5)
                opt.step(model, lr: Float(LRSchedule.warmupCosine(peak: 1e-2, warmupSteps: 2, totalSteps: 8, minFraction: 0.1).learningRate(at: step)))
            }
            return (losses, model.params.array)
        }
        let a = try run(threads: 1), b = try run(threads: 1), c = try run(threads: 2)
        #expect(a.0 == b.0 && a.1 == b.1)
        #expect(a.0 == c.0 && a.1 == c.1)
        #expect(a.0.last! < a.0.first!)
    }

    @Test func initialisationFollowsTheDocumentedRule() throws {
        let model = try LlamaModel(config: tinyConfig(tied: false, attentionBias: true, mlpBias: true), seed: 4, threads: 1)
        #expect(model.layout.entries.filter(\.isBias).count == 4)
        for e in model.layout.entries {
            let w = model.tensor(e.name).map(Double.init)
            if e.isNorm {
                #expect(w.allSatisfy { $0 == 1 })
            } else if e.isBias {
                #expect(w.allSatisfy { $0 == 0 }, "\(e.name): biases start at zero, as in Hugging Face")
            } else {
                let std = (w.map { $0 * $0 }.reduce(0, +) / Double(w.count)).squareRoot()
                #expect(std > 0.012 && std < 0.03, "\(e.name) std \(std)")
            }
        }
        let again = try LlamaModel(config: tinyConfig(tied: false, attentionBias: true, mlpBias: true), seed: 4, threads: 1)
        #expect(again.params.array == model.params.array)
    }
}
