import Foundation
import Model
import Testing

/// Nothing silently wrong (issue 8): non-finite weights, and configs too large for the machine or
/// for `Int`, are refused up front in one line naming the file.
@Suite struct CheckpointRobustnessTests {
    static let config = LlamaConfig.uniform(vocabSize: 64, hidden: 16, layers: 2, heads: 4, kvHeads: 2, mlpHidden: 24)

    /// Saves `config` with one value replaced, then returns load's error.
    func loadError(setting name: String, index: Int, to value: Float) throws -> (dir: URL, message: String?) {
        let dir = try checkpointScratchDirectory("nonfinite")
        let layout = ParameterLayout(Self.config)
        var p = (0..<layout.totalCount).map { Float($0 % 7) * 0.01 }
        p[layout[name]!.offset + index] = value
        try Checkpoint.save(config: Self.config, parameters: p, to: dir)
        return (dir, checkpointErrorMessage { _ = try Checkpoint.load(from: dir) })
    }

    @Test(arguments: [Float.nan, .infinity, -.infinity])
    func nonFiniteWeightsAreNamedAtLoad(value: Float) throws {
        let r = try loadError(setting: "model.layers.1.mlp.up_proj.weight", index: 7, to: value)
        defer { try? FileManager.default.removeItem(at: r.dir) }
        #expect(r.message == "\(r.dir.path)/model.safetensors: non-finite weights in tensor model.layers.1.mlp.up_proj.weight (first at index 7)")
    }

    /// F64 values beyond Float's range would become infinite on conversion: refused the same way.
    @Test func f64BeyondFloatRangeIsNonFinite() throws {
        let dir = try checkpointScratchDirectory("nonfinite64")
        defer { try? FileManager.default.removeItem(at: dir) }
        let c = LlamaConfig(vocabSize: 2, hidden: 2, headDim: 2, blocks: [])
        try Checkpoint.save(config: c, parameters: Array(repeating: 0.5, count: ParameterLayout(c).totalCount), to: dir)
        let header = #"{"lm_head.weight":{"dtype":"F64","shape":[2,2],"data_offsets":[0,32]},"model.embed_tokens.weight":{"dtype":"F64","shape":[2,2],"data_offsets":[32,64]},"model.norm.weight":{"dtype":"F64","shape":[2],"data_offsets":[64,80]}}"#
        let values: [Double] = [1, 2, 3, 4, 1, 1e300, 1, 1, 1, 1]
        try rawSafeTensors(header, checkpointLittleEndian(values.map(\.bitPattern))).write(to: dir.appendingPathComponent("model.safetensors"))
        #expect(checkpointErrorMessage { _ = try Checkpoint.load(from: dir) }
            == "\(dir.path)/model.safetensors: non-finite weights in tensor model.embed_tokens.weight (first at index 1)")
    }

    /// Masks hold exactly 0 and 1: NaN and other values are named.
    @Test(arguments: [Float.nan, 0.5, .infinity])
    func masksHoldOnlyZeroAndOne(value: Float) throws {
        let dir = try checkpointScratchDirectory("mask")
        defer { try? FileManager.default.removeItem(at: dir) }
        let layout = ParameterLayout(Self.config)
        var mask = [Float](repeating: 1, count: layout.totalCount)
        let e = layout["model.layers.0.self_attn.q_proj.weight"]!
        mask[e.offset] = 0
        mask[e.offset + 3] = value
        try MaskFile.save(mask, layout: layout, to: dir)
        let message = checkpointErrorMessage { _ = try MaskFile.load(from: dir, layout: layout) }
        #expect(message?.hasPrefix("\(dir.path)/mask.safetensors: mask model.layers.0.self_attn.q_proj.weight holds ") == true, "\(message ?? "loaded")")
        #expect(message?.contains("\n") == false)
    }

    /// A config.json of a 10^12-parameter model is refused from its fields alone: no array of its
    /// layers, no parameter buffer.
    @Test func aTrillionParameterConfigIsRefusedBeforeAllocating() throws {
        let big = editedConfig(["hidden_size": "16384", "intermediate_size": "53248", "num_attention_heads": "128",
                                "num_key_value_heads": "8", "head_dim": "128", "num_hidden_layers": "320", "vocab_size": "128256"])
        let message = checkpointErrorMessage { _ = try HFConfig.decode(big, source: "big/config.json") }
        #expect(message?.hasPrefix("big/config.json: a model of 1.02e+12 parameters") == true, "\(message ?? "decoded")")
        #expect(message?.contains("more than this machine's") == true)

        // Through Checkpoint.load, with weights that are not even there: config.json decides first.
        let dir = try checkpointScratchDirectory("big")
        defer { try? FileManager.default.removeItem(at: dir) }
        try big.write(to: dir.appendingPathComponent("config.json"))
        try rawSafeTensors("{}").write(to: dir.appendingPathComponent("model.safetensors"))
        let loadMessage = checkpointErrorMessage { _ = try Checkpoint.load(from: dir) }
        #expect(loadMessage?.hasPrefix("\(dir.path)/config.json: a model of 1.02e+12 parameters") == true, "\(loadMessage ?? "loaded")")
    }

    /// Counts at Int's limits are refused in words instead of trapping (overflow) or crashing
    /// (an array of 2^63 layers).
    @Test(arguments: [
        ["num_hidden_layers": "9223372036854775807"],
        ["hidden_size": "9007199254740992", "head_dim": "16"],
        ["intermediate_size": "4611686018427387904"],
        ["vocab_size": "9223372036854775807"],
        ["max_position_embeddings": "9223372036854775807"],
        ["num_attention_heads": "4611686018427387904", "num_key_value_heads": "2"],
        ["prunescale_blocks": #"[{"heads": 4, "kv_heads": 2, "mlp_hidden": 9223372036854775807}, {"heads": 4, "kv_heads": 2, "mlp_hidden": 96}]"#],
    ])
    func hugeCountsAreRefusedInOneLine(edits: [String: String]) throws {
        let message = checkpointErrorMessage { _ = try HFConfig.decode(editedConfig(edits), source: "c/config.json") }
        #expect(message?.hasPrefix("c/config.json: ") == true, "\(message ?? "decoded")")
        #expect(message?.contains("more than this machine's") == true, "\(message ?? "decoded")")
        #expect(message?.contains("\n") == false)
    }

    @Test(arguments: ["rope_theta", "rms_norm_eps"])
    func nonFiniteFloatsAreRefused(key: String) throws {
        let message = checkpointErrorMessage { _ = try HFConfig.decode(editedConfig([key: "1e400"]), source: "c/config.json") }
        #expect(message == "c/config.json: model config: normEps and ropeTheta must be finite, got \(key == "rms_norm_eps" ? "inf" : "1e-06") and \(key == "rope_theta" ? "inf" : "10000.0")")
    }

    /// The footprint's parameter count is the layout's, and the activations grow with the batch.
    @Test func footprintMatchesTheLayout() throws {
        for c in [Self.config, LlamaConfig.uniform(vocabSize: 256, hidden: 160, layers: 5, heads: 10, kvHeads: 2, mlpHidden: 432, tiedEmbeddings: true, attentionBias: true, mlpBias: true)] {
            let f = ModelFootprint(c)
            #expect(f.parameters == Double(ParameterLayout(c).totalCount))
            #expect(f.trainingBytes(batch: 16, sequence: 256) > f.inferenceBytes(batch: 16, sequence: 256))
            #expect(f.inferenceBytes(batch: 2, sequence: 64) < f.inferenceBytes(batch: 4, sequence: 64))
        }
    }
}
