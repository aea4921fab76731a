import Foundation
import Model
import Testing

/// A fresh directory under the system temporary directory, removed by the caller's `defer`.
func checkpointScratchDirectory(_ label: String) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("prunescale-\(label)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

/// Parameters with awkward bit patterns (signed zeros, subnormals, the largest finite float) to
/// prove the round trip is bit-exact, not merely equal. No NaN: `load` refuses non-finite weights.
func checkpointTestParameters(_ count: Int, seed: UInt32 = 1) -> [Float] {
    var state = seed &* 2_654_435_761
    return (0..<count).map { i in
        state = state &* 1_664_525 &+ 1_013_904_223
        switch i % 97 {
        case 5: return -0.0
        case 11: return .leastNonzeroMagnitude
        case 13: return -.greatestFiniteMagnitude
        default: return Float(bitPattern: 0x3C00_0000 | (state >> 9)) * (state & 1 == 0 ? 1 : -1)
        }
    }
}

@Suite struct CheckpointTests {
    static var configs: [LlamaConfig] {
        let uniform = LlamaConfig.uniform(vocabSize: 256, hidden: 32, layers: 2, heads: 4, kvHeads: 2, mlpHidden: 48)
        var pruned = LlamaConfig.uniform(vocabSize: 64, hidden: 32, layers: 3, heads: 4, kvHeads: 2, mlpHidden: 48, tiedEmbeddings: true)
        pruned.blocks[1] = BlockShape(heads: 2, kvHeads: 1, mlpHidden: 20)
        pruned.blocks[2] = BlockShape(heads: 4, kvHeads: 4, mlpHidden: 8)
        var interleaved = pruned
        interleaved.tiedEmbeddings = false
        interleaved.ropeLayout = .interleaved
        interleaved.ropeTheta = 500_000
        interleaved.normEps = 1e-6
        interleaved.maxSequence = 128
        var tiedUniform = uniform
        tiedUniform.tiedEmbeddings = true
        return [uniform, tiedUniform, pruned, interleaved]
    }

    @Test(arguments: configs) func roundTripIsBitExact(config: LlamaConfig) throws {
        let dir = try checkpointScratchDirectory("ckpt")
        defer { try? FileManager.default.removeItem(at: dir) }
        let target = dir.appendingPathComponent("nested/model")
        let parameters = checkpointTestParameters(ParameterLayout(config).totalCount)
        try Checkpoint.save(config: config, parameters: parameters, to: target, metadata: ["step": "100", "tokens": "12800"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: target.path).sorted() == ["config.json", "model.safetensors"])

        let loaded = try Checkpoint.load(from: target)
        #expect(loaded.config == config)
        #expect(loaded.parameters.map(\.bitPattern) == parameters.map(\.bitPattern))
        #expect(loaded.metadata == ["step": "100", "tokens": "12800", "format": "pt"])
        // Names and shapes are the layout's, so other tools find every tensor.
        let file = try SafeTensors(contentsOf: target.appendingPathComponent("model.safetensors"))
        #expect(file.tensors.map(\.name) == ParameterLayout(config).entries.map(\.name))
        #expect(file.tensors.map(\.shape) == ParameterLayout(config).entries.map(\.shape))
    }

    @Test func overwritingReplacesFilesAndKeepsOthers() throws {
        let dir = try checkpointScratchDirectory("ckpt")
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = Self.configs[0]
        let n = ParameterLayout(config).totalCount
        try Data("resume state".utf8).write(to: dir.appendingPathComponent("optimizer.bin"))
        try Checkpoint.save(config: config, parameters: checkpointTestParameters(n, seed: 1), to: dir, metadata: ["format": "custom"])
        try Checkpoint.save(config: config, parameters: checkpointTestParameters(n, seed: 2), to: dir)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["config.json", "model.safetensors", "optimizer.bin"],
                "no temporary files left, unrelated files kept")
        let loaded = try Checkpoint.load(from: dir)
        #expect(loaded.parameters.map(\.bitPattern) == checkpointTestParameters(n, seed: 2).map(\.bitPattern))
        #expect(loaded.metadata == ["format": "pt"])
        #expect(checkpointErrorMessage { try Checkpoint.save(config: config, parameters: [1, 2, 3], to: dir) }?.contains("cannot save 3 parameters") == true)
    }

    /// Saves `config` in a fresh directory, lets `edit` break it, and returns load's error message.
    func loadError(_ config: LlamaConfig, _ edit: (URL) throws -> Void) throws -> String? {
        let dir = try checkpointScratchDirectory("ckpt")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Checkpoint.save(config: config, parameters: checkpointTestParameters(ParameterLayout(config).totalCount), to: dir)
        try edit(dir)
        return checkpointErrorMessage { _ = try Checkpoint.load(from: dir) }
    }

    /// Rewrites model.safetensors with the given tensors (name, shape, values) in F32.
    func writeTensors(_ tensors: [(String, [Int], [Float])], in dir: URL) throws {
        var values: [Float] = []
        var entries: [SafeTensors.Entry] = []
        for (name, shape, v) in tensors {
            entries.append(SafeTensors.Entry(name: name, shape: shape, offset: values.count))
            values += v
        }
        try SafeTensors.write(entries, from: values, metadata: ["format": "pt"], to: dir.appendingPathComponent("model.safetensors"))
    }

    /// The saved tensors of a checkpoint directory, as (name, shape, values).
    func tensors(in dir: URL) throws -> [(String, [Int], [Float])] {
        let file = try SafeTensors(contentsOf: dir.appendingPathComponent("model.safetensors"))
        return try file.tensors.map { ($0.name, $0.shape, try file.floats($0.name)) }
    }

    @Test func wrongShapeNamesTheTensor() throws {
        let config = Self.configs[0]
        var wider = config
        wider.blocks[1].mlpHidden = 50
        let message = try loadError(config) { dir in
            try HFConfig.encode(wider).write(to: dir.appendingPathComponent("config.json"))
        }
        #expect(message?.hasSuffix("model.safetensors: tensor model.layers.1.mlp.gate_proj.weight has shape [48, 32] but config.json implies [50, 32]") == true,
                "\(message ?? "loaded")")
    }

    @Test func missingAndUnexpectedTensorsAreNamed() throws {
        let config = Self.configs[0]
        let missing = try loadError(config) { dir in
            try writeTensors(try tensors(in: dir).filter { $0.0 != "model.layers.1.self_attn.v_proj.weight" }, in: dir)
        }
        #expect(missing?.contains("missing tensor model.layers.1.self_attn.v_proj.weight that config.json calls for") == true, "\(missing ?? "loaded")")
        let extra = try loadError(config) { dir in
            try writeTensors(try tensors(in: dir) + [("model.layers.0.self_attn.q_proj.bias", [32], [Float](repeating: 0, count: 32))], in: dir)
        }
        #expect(extra?.contains("unexpected tensor model.layers.0.self_attn.q_proj.bias") == true, "\(extra ?? "loaded")")
        // Old transformers versions saved the RoPE frequencies; they carry no weights.
        let invFreq = try loadError(config) { dir in
            try writeTensors(try tensors(in: dir) + [("model.layers.0.self_attn.rotary_emb.inv_freq", [4], [1, 2, 3, 4])], in: dir)
        }
        #expect(invFreq == nil)
    }

    @Test func tiedHeadIsToleratedOnlyWhenEqualToTheEmbedding() throws {
        let config = Self.configs[1]
        #expect(config.tiedEmbeddings)
        let equal = try loadError(config) { dir in
            let t = try tensors(in: dir)
            try writeTensors(t + [("lm_head.weight", t[0].1, t[0].2)], in: dir)
        }
        #expect(equal == nil, "\(equal ?? "")")
        let differs = try loadError(config) { dir in
            let t = try tensors(in: dir)
            try writeTensors(t + [("lm_head.weight", t[0].1, t[0].2.map { $0 + 1 })], in: dir)
        }
        #expect(differs?.contains("lm_head.weight differs from model.embed_tokens.weight") == true, "\(differs ?? "loaded")")
        // Untied: a missing head is missing.
        let untied = try loadError(Self.configs[0]) { dir in
            try writeTensors(try tensors(in: dir).filter { $0.0 != "lm_head.weight" }, in: dir)
        }
        #expect(untied?.contains("missing tensor lm_head.weight") == true)
    }

    @Test func damagedFilesGiveOneLineErrors() throws {
        let config = Self.configs[2]
        let truncated = try loadError(config) { dir in
            let url = dir.appendingPathComponent("model.safetensors")
            let data = try Data(contentsOf: url)
            try data.prefix(data.count / 2).write(to: url)
        }
        #expect(truncated?.contains("model.safetensors: truncated: header says") == true, "\(truncated ?? "loaded")")
        let corrupt = try loadError(config) { dir in
            let url = dir.appendingPathComponent("model.safetensors")
            var data = try Data(contentsOf: url)
            data[8] = UInt8(ascii: "x")
            try data.write(to: url)
        }
        #expect(corrupt?.contains("model.safetensors: corrupt header: malformed JSON") == true, "\(corrupt ?? "loaded")")
        let badConfig = try loadError(config) { dir in
            try Data("{\"model_type\": \"llama\"".utf8).write(to: dir.appendingPathComponent("config.json"))
        }
        #expect(badConfig?.contains("config.json: malformed JSON") == true, "\(badConfig ?? "loaded")")
        for message in [truncated, corrupt, badConfig] { #expect(message?.contains("\n") == false) }
    }

    @Test func explainsWhatIsNotACheckpoint() throws {
        let dir = try checkpointScratchDirectory("ckpt")
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(checkpointErrorMessage { _ = try Checkpoint.load(from: dir.appendingPathComponent("absent")) }?.contains("no such checkpoint directory") == true)
        #expect(checkpointErrorMessage { _ = try Checkpoint.load(from: dir) }?.contains("no model.safetensors") == true)
        try Data("{}".utf8).write(to: dir.appendingPathComponent("model.safetensors.index.json"))
        // A shard index stands in for model.safetensors (ShardedCheckpointTests covers the rest).
        #expect(checkpointErrorMessage { _ = try Checkpoint.load(from: dir) }?.hasSuffix("no config.json beside model.safetensors.index.json") == true)
        try FileManager.default.removeItem(at: dir.appendingPathComponent("model.safetensors.index.json"))
        try Checkpoint.save(config: Self.configs[0], parameters: checkpointTestParameters(ParameterLayout(Self.configs[0]).totalCount), to: dir)
        try FileManager.default.removeItem(at: dir.appendingPathComponent("config.json"))
        #expect(checkpointErrorMessage { _ = try Checkpoint.load(from: dir) }?.contains("no config.json") == true)
    }
}

@Suite struct MaskFileTests {
    @Test func masksRoundTripAndAreValidated() throws {
        let c = tinyConfig(tied: false)
        let layout = ParameterLayout(c)
        var mask = [Float](repeating: 1, count: layout.totalCount)
        let q = layout["model.layers.1.self_attn.q_proj.weight"]!
        for k in stride(from: q.offset, to: q.offset + q.count, by: 2) { mask[k] = 0 }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("prunescale-mask-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try MaskFile.save(mask, layout: layout, to: dir)
        let file = try SafeTensors(contentsOf: dir.appendingPathComponent(MaskFile.fileName))
        #expect(file.tensors.map(\.name) == [q.name], "only masked tensors are stored")
        #expect(try MaskFile.load(from: dir, layout: layout) == mask)
        // A mask for another model's shapes is refused with the file named.
        let other = ParameterLayout(LlamaConfig.uniform(vocabSize: 17, hidden: 8, layers: 2, heads: 1, mlpHidden: 6))
        #expect(throws: ModelError.self) { try MaskFile.load(from: dir, layout: other) }
        // No zeros: the file goes away.
        try MaskFile.save([], layout: layout, to: dir)
        #expect(try MaskFile.load(from: dir, layout: layout) == nil)
    }
}
