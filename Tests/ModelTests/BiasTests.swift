import Foundation
import Model
import Randomness
import Tensor
import Testing

/// The optional o_proj / down_proj biases (FLAP's bias compensation): layout and counts, forward and
/// backward, config JSON, and checkpoints that transformers' Llama (q/k/v/gate/up biases too) opens.
@Suite struct BiasTests {
    /// Sets every bias of `model` to normal(0, `std`) values (they start at zero, which would hide
    /// a bias missing from the forward).
    static func randomizeBiases(_ model: LlamaModel, seed: UInt64, std: Double = 0.5) {
        var rng = SeededRandom(seed: seed)
        for e in model.layout.entries where e.isBias {
            for j in 0..<e.count { model.params[e.offset + j] = Float(rng.normal() * std) }
        }
    }

    // MARK: Layout and counts

    @Test func eachBiasFollowsItsWeight() throws {
        let config = tinyConfig(tied: false, attentionBias: true, mlpBias: true)
        let layout = ParameterLayout(config)
        let names = layout.entries.map(\.name)
        for i in config.blocks.indices {
            for module in ["self_attn.o_proj", "mlp.down_proj"] {
                let w = try #require(names.firstIndex(of: "model.layers.\(i).\(module).weight"))
                #expect(names[w + 1] == "model.layers.\(i).\(module).bias")
                let bias = try #require(layout["model.layers.\(i).\(module).bias"])
                #expect(bias.shape == [config.hidden] && bias.isBias && !bias.decays && !bias.isNorm)
            }
        }
        let attentionOnly = ParameterLayout(tinyConfig(tied: false, attentionBias: true))
        #expect(attentionOnly["model.layers.1.self_attn.o_proj.bias"] != nil && attentionOnly["model.layers.1.mlp.down_proj.bias"] == nil)
        let mlpOnly = ParameterLayout(tinyConfig(tied: false, mlpBias: true))
        #expect(mlpOnly["model.layers.1.self_attn.o_proj.bias"] == nil && mlpOnly["model.layers.1.mlp.down_proj.bias"] != nil)
        // The model builds: its fused q/k/v and gate/up products check that those stay adjacent.
        _ = try LlamaModel(config: config, seed: 1, threads: 1)
    }

    @Test func parameterCountsIncludeTheBiases() throws {
        let c = LlamaConfig.uniform(vocabSize: 256, hidden: 128, layers: 4, heads: 4, mlpHidden: 384, attentionBias: true, mlpBias: true)
        let perBlock = 2 * 128 + 4 * 128 * 128 + 3 * 384 * 128 + 2 * 128
        let counts = ParameterCounts(c)
        #expect(counts.perBlock == [Int](repeating: perBlock, count: 4))
        #expect(counts.nonEmbedding == 4 * perBlock + 128)
        #expect(counts.total == counts.nonEmbedding + 2 * 256 * 128)
        #expect(ParameterLayout(c).totalCount == counts.total)
        // One flag, per-block shapes, tied head.
        let mlpOnly = tinyConfig(tied: true, mlpBias: true)
        #expect(ParameterCounts(mlpOnly).perBlock == ParameterCounts(tinyConfig(tied: true)).perBlock.map { $0 + 8 })
        #expect(ParameterCounts(mlpOnly).total == ParameterLayout(mlpOnly).totalCount)

        // Non-zero counts see a bias once it holds values (they start at zero).
        let model = try LlamaModel(config: tinyConfig(tied: false, attentionBias: true, mlpBias: true), seed: 2, threads: 1)
        let before = model.nonZeroCounts
        #expect(before.perBlock == ParameterCounts(model.config).perBlock.map { $0 - 16 })
        let bias = try #require(model.layout["model.layers.1.mlp.down_proj.bias"])
        for j in 0..<3 { model.params[bias.offset + j] = 0.5 }
        let after = model.nonZeroCounts
        #expect(after.perBlock == [before.perBlock[0], before.perBlock[1] + 3])
        #expect(after.nonEmbedding == before.nonEmbedding + 3 && after.total == before.total + 3)
    }

    // MARK: Forward and backward

    /// Central differences on the whole model's loss, with non-zero biases, for every tensor (a
    /// bias changes every gradient upstream of it, not only its own).
    @Test(arguments: [(true, false), (false, true), (true, true)])
    func gradientsWithBiasesMatchFiniteDifferences(attentionBias: Bool, mlpBias: Bool) throws {
        let config = tinyConfig(tied: false, attentionBias: attentionBias, mlpBias: mlpBias)
        let model = try LlamaModel(config: config, seed: 31, initStd: 0.4, threads: 1)
        var rng = SeededRandom(seed: 32)
        for e in model.layout.entries where e.isNorm {
            for j in 0..<e.count { model.params[e.offset + j] = 1 + Float(rng.normal() * 0.3) }
        }
        Self.randomizeBiases(model, seed: 33)
        let b = 2, t = 5
        let tokens = randomTokens(b * t, vocab: config.vocabSize, &rng), targets = randomTokens(b * t, vocab: config.vocabSize, &rng)
        model.zeroGrad()
        model.forward(tokens: tokens, targets: targets, batch: b, seqLen: t)
        model.backward()
        let f = { Double(model.forward(tokens: tokens, targets: targets, batch: b, seqLen: t)) }
        var biases = 0
        for e in model.layout.entries {
            let picks = e.count <= 24 ? Array(0..<e.count) : (0..<24).map { _ in Int(rng.next() % UInt64(e.count)) }
            let indices = picks.map { e.offset + $0 }
            let fd = numericalGradient(model.params.pointer, indices: indices, h: 1e-2, f)
            let analytic = indices.map { Double(model.grads[$0]) }
            let err = relativeError(fd, analytic)
            #expect(err < 1e-2, "\(e.name): relative error \(err)")
            if e.isBias {
                biases += 1
                #expect(analytic.contains { abs($0) > 1e-3 }, "\(e.name): gradient should not vanish")
            }
        }
        #expect(biases == config.blocks.count * ((attentionBias ? 1 : 0) + (mlpBias ? 1 : 0)))
    }

    /// Adding a zero bias changes no bit: same logits, loss and gradients as the model without biases.
    @Test func zeroBiasesGiveBitIdenticalResults() throws {
        let plain = tinyConfig(tied: true, rope: .interleaved)
        let biased = tinyConfig(tied: true, rope: .interleaved, attentionBias: true, mlpBias: true)
        let a = try LlamaModel(config: plain, seed: 41, initStd: 0.3, threads: 1)
        let layout = ParameterLayout(biased)
        var weights = [Float](repeating: 0, count: layout.totalCount)
        for e in layout.entries where !e.isBias {
            weights.replaceSubrange(e.offset..<(e.offset + e.count), with: a.tensor(e.name))
        }
        let b = try LlamaModel(config: biased, parameters: weights, threads: 1)
        var rng = SeededRandom(seed: 42)
        let tok = randomTokens(12, vocab: 17, &rng), tgt = randomTokens(12, vocab: 17, &rng)
        a.zeroGrad()
        b.zeroGrad()
        let la = a.forward(tokens: tok, targets: tgt, batch: 2, seqLen: 6)
        let lb = b.forward(tokens: tok, targets: tgt, batch: 2, seqLen: 6)
        #expect(la.bitPattern == lb.bitPattern)
        #expect(Array(a.logits).map(\.bitPattern) == Array(b.logits).map(\.bitPattern))
        a.backward()
        b.backward()
        for e in a.layout.entries {
            #expect(a.gradient(e.name).map(\.bitPattern) == b.gradient(e.name).map(\.bitPattern), "\(e.name)")
        }
    }

    /// The bias kernels split work by rows (forward) and column blocks (backward) but never change
    /// a sum's order: one and two threads give the same bits, accumulation included. The shapes are
    /// big enough that both kernels really use two workers (128 columns, 256 rows).
    @Test func biasesAreDeterministicAcrossThreadCounts() throws {
        let config = LlamaConfig(vocabSize: 32, hidden: 128, headDim: 32,
                                 blocks: [BlockShape(heads: 4, kvHeads: 2, mlpHidden: 64), BlockShape(heads: 2, kvHeads: 1, mlpHidden: 40)],
                                 maxSequence: 64, attentionBias: true, mlpBias: true)
        func run(threads: Int) throws -> ([Float], [Float]) {
            let model = try LlamaModel(config: config, seed: 51, initStd: 0.1, threads: threads)
            Self.randomizeBiases(model, seed: 52)
            var rng = SeededRandom(seed: 53)
            var losses: [Float] = []
            model.zeroGrad()
            for _ in 0..<2 {
                let tok = randomTokens(4 * 64, vocab: 32, &rng), tgt = randomTokens(4 * 64, vocab: 32, &rng)
                losses.append(model.forward(tokens: tok, targets: tgt, batch: 4, seqLen: 64))
                model.backward(lossScale: 0.5)
            }
            return (losses, model.grads.array)
        }
        let one = try run(threads: 1), two = try run(threads: 2)
        #expect(one.0.map(\.bitPattern) == two.0.map(\.bitPattern))
        #expect(one.1.map(\.bitPattern) == two.1.map(\.bitPattern))
    }

    // MARK: Config JSON

    /// `LlamaConfig` as JSON written before the bias flags existed still decodes, as no biases.
    @Test func configJSONWithoutBiasKeysDecodes() throws {
        let old = #"{"vocabSize":17,"hidden":8,"headDim":4,"blocks":[{"heads":2,"kvHeads":2,"mlpHidden":12},{"heads":4,"kvHeads":2,"mlpHidden":6}],"ropeTheta":10000,"ropeLayout":"half-split","normEps":1e-05,"tiedEmbeddings":false,"maxSequence":16}"#
        #expect(try JSONDecoder().decode(LlamaConfig.self, from: Data(old.utf8)) == tinyConfig(tied: false))
        let biased = tinyConfig(tied: false, attentionBias: true, mlpBias: false)
        let data = try JSONEncoder().encode(biased)
        #expect(String(decoding: data, as: UTF8.self).contains(#""attentionBias":true"#))
        #expect(try JSONDecoder().decode(LlamaConfig.self, from: data) == biased)
    }

    // MARK: Checkpoints

    static var biasedConfigs: [LlamaConfig] {
        let both = LlamaConfig.uniform(vocabSize: 64, hidden: 32, layers: 2, heads: 4, kvHeads: 2, mlpHidden: 48, attentionBias: true, mlpBias: true)
        var attentionPruned = both
        attentionPruned.tiedEmbeddings = true
        attentionPruned.mlpBias = false
        attentionPruned.blocks[1] = BlockShape(heads: 2, kvHeads: 1, mlpHidden: 20)
        var mlpPruned = attentionPruned
        mlpPruned.attentionBias = false
        mlpPruned.mlpBias = true
        mlpPruned.ropeLayout = .interleaved
        return [both, attentionPruned, mlpPruned]
    }

    /// Names and shapes transformers' Llama expects for `config`: ours, plus after each q/k/v
    /// (gate/up) weight its bias when the flag asks for one.
    static func transformersTensors(_ config: LlamaConfig) -> [(name: String, shape: [Int])] {
        var out: [(name: String, shape: [Int])] = []
        for e in ParameterLayout(config).entries {
            out.append((e.name, e.shape))
            let attention = ["q_proj", "k_proj", "v_proj"].contains { e.name.hasSuffix("self_attn.\($0).weight") }
            let mlp = ["gate_proj", "up_proj"].contains { e.name.hasSuffix("mlp.\($0).weight") }
            if (attention && config.attentionBias) || (mlp && config.mlpBias) {
                out.append((String(e.name.dropLast("weight".count)) + "bias", [e.shape[0]]))
            }
        }
        return out
    }

    @Test(arguments: biasedConfigs) func checkpointRoundTripWithBiases(config: LlamaConfig) throws {
        let dir = try checkpointScratchDirectory("bias")
        defer { try? FileManager.default.removeItem(at: dir) }
        let layout = ParameterLayout(config)
        let parameters = checkpointTestParameters(layout.totalCount, seed: 3)
        try Checkpoint.save(config: config, parameters: parameters, to: dir)
        let loaded = try Checkpoint.load(from: dir)
        #expect(loaded.config == config)
        #expect(loaded.parameters.map(\.bitPattern) == parameters.map(\.bitPattern))

        let text = try String(contentsOf: dir.appendingPathComponent("config.json"), encoding: .utf8)
        #expect(text.contains(#""attention_bias": \#(config.attentionBias),"#) && text.contains(#""mlp_bias": \#(config.mlpBias),"#))
        let file = try SafeTensors(contentsOf: dir.appendingPathComponent("model.safetensors"))
        let expected = Self.transformersTensors(config)
        #expect(file.tensors.map(\.name) == expected.map(\.name))
        #expect(file.tensors.map(\.shape) == expected.map(\.shape))
        for t in file.tensors where layout[t.name] == nil {
            #expect(try file.floats(t.name).allSatisfy { $0 == 0 }, "\(t.name) must be written as zeros")
        }
    }

    /// Saves `biasedConfigs[0]`, rewrites model.safetensors through `edit` (return nil to drop a
    /// tensor), and returns load's error message (nil: it loaded, with the saved parameters).
    func loadAfterEditing(_ edit: (String, [Int], [Float]) -> (shape: [Int], values: [Float])?) throws -> String? {
        let config = Self.biasedConfigs[0]
        let dir = try checkpointScratchDirectory("bias")
        defer { try? FileManager.default.removeItem(at: dir) }
        let parameters = checkpointTestParameters(ParameterLayout(config).totalCount, seed: 4)
        try Checkpoint.save(config: config, parameters: parameters, to: dir)
        let url = dir.appendingPathComponent("model.safetensors")
        let file = try SafeTensors(contentsOf: url)
        var values: [Float] = []
        var entries: [SafeTensors.Entry] = []
        for t in file.tensors {
            guard let edited = edit(t.name, t.shape, try file.floats(t.name)) else { continue }
            entries.append(SafeTensors.Entry(name: t.name, shape: edited.shape, offset: values.count))
            values += edited.values
        }
        try SafeTensors.write(entries, from: values, metadata: ["format": "pt"], to: url)
        return checkpointErrorMessage {
            let loaded = try Checkpoint.load(from: dir)
            #expect(loaded.parameters.map(\.bitPattern) == parameters.map(\.bitPattern))
        }
    }

    @Test func extraBiasesLoadOnlyWhenZero() throws {
        let suffix = "; PruneScale supports biases only on o_proj and down_proj"
        let nonZero = try loadAfterEditing { name, shape, v in
            var values = v
            if name == "model.layers.1.self_attn.q_proj.bias" { values[3] = 1e-3 }
            return (shape, values)
        }
        #expect(nonZero?.hasSuffix("model.safetensors: q_proj.bias of block 1 is not zero" + suffix) == true, "\(nonZero ?? "loaded")")
        #expect(nonZero?.contains("\n") == false)
        let nan = try loadAfterEditing { name, shape, v in
            name == "model.layers.0.mlp.gate_proj.bias" ? (shape, v.map { _ in .nan }) : (shape, v)
        }
        #expect(nan?.hasSuffix("model.safetensors: gate_proj.bias of block 0 is not zero" + suffix) == true, "\(nan ?? "loaded")")
        let wrongShape = try loadAfterEditing { name, shape, v in
            name == "model.layers.0.self_attn.v_proj.bias" ? ([shape[0] + 1], v + [0]) : (shape, v)
        }
        #expect(wrongShape?.contains("tensor model.layers.0.self_attn.v_proj.bias has shape [17] but config.json implies [16]") == true,
                "\(wrongShape ?? "loaded")")
        // Negative zeros are zeros; and a file with only our biases (no q/k/v/gate/up ones) loads too.
        #expect(try loadAfterEditing { name, shape, v in name.hasSuffix("k_proj.bias") ? (shape, v.map { _ in -0.0 }) : (shape, v) } == nil)
        #expect(try loadAfterEditing { name, shape, v in
            ["q_proj", "k_proj", "v_proj", "gate_proj", "up_proj"].contains { name.hasSuffix("\($0).bias") } ? nil : (shape, v)
        } == nil)
        // The biases the engine keeps are required like any weight.
        let missing = try loadAfterEditing { name, shape, v in name == "model.layers.1.mlp.down_proj.bias" ? nil : (shape, v) }
        #expect(missing?.contains("missing tensor model.layers.1.mlp.down_proj.bias that config.json calls for") == true, "\(missing ?? "loaded")")
    }
}
