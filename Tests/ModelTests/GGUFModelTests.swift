import Foundation
@testable import Model
import Testing

/// GGUF → (LlamaConfig, parameters) on synthetic llama files whose weights are known exactly.
@Suite struct GGUFModelTests {
    static func config(tied: Bool) -> LlamaConfig {
        LlamaConfig(vocabSize: 40, hidden: 32, headDim: 8, blocks: Array(repeating: BlockShape(heads: 4, kvHeads: 2, mlpHidden: 64), count: 2),
                    ropeTheta: 100_000, normEps: 1e-5, tiedEmbeddings: tied, maxSequence: 64)
    }

    /// Mixed storage: the embedding Q8_0, q and gate Q4_1 (so the q rows are unpermuted after
    /// dequantising), the rest F32.
    static func storage(_ name: String) -> GGUFBuilder.Storage {
        name == "token_embd.weight" ? .q8_0 : name.hasSuffix("attn_q.weight") || name.hasSuffix("ffn_gate.weight") ? .q4_1 : .f32
    }

    @Test(arguments: [false, true])
    func loadsTheWeightsItWasBuiltFrom(tied: Bool) throws {
        let c = Self.config(tied: tied)
        let (g, expected) = GGUFBuilder.llama(c, storage: Self.storage, tokens: (0..<40).map { "t\($0)" })
        let file = try GGUFFile(data: g.encode(), source: "m.gguf")
        let loaded = try GGUFModel.load(file)
        #expect(loaded.config == c)
        #expect(loaded.parameters.map(\.bitPattern) == expected.map(\.bitPattern))
        #expect(file[tied ? "token_embd.weight" : "output.weight"] != nil)
        #expect(try file.stringArray("tokenizer.ggml.tokens")?.count == 40)
        #expect(try file.int32Array("tokenizer.ggml.token_type")?.prefix(4) == [3, 3, 3, 1])
    }

    /// A pruned model: per-block head counts and MLP widths as metadata arrays.
    @Test func perBlockShapesComeFromArrays() throws {
        var c = Self.config(tied: false)
        c.blocks[1] = BlockShape(heads: 2, kvHeads: 1, mlpHidden: 32)
        let (g, expected) = GGUFBuilder.llama(c, storage: Self.storage)
        let loaded = try GGUFModel.load(try GGUFFile(data: g.encode(), source: "m.gguf"))
        #expect(loaded.config == c)
        #expect(loaded.parameters == expected)
    }

    /// The two ways to run the file compute the same function: q/k rows unpermuted with
    /// Hugging Face's rotate-half RoPE, or as stored with interleaved RoPE.
    @Test func halfSplitAndInterleavedGiveTheSameLogits() throws {
        let c = Self.config(tied: true)
        let file = try GGUFFile(data: GGUFBuilder.llama(c, seed: 3, storage: Self.storage).builder.encode(), source: "m.gguf")
        let half = try GGUFModel.load(file)
        let inter = try GGUFModel.load(file, ropeLayout: .interleaved)
        #expect(inter.config.ropeLayout == .interleaved && half.config.ropeLayout == .halfSplit)
        #expect(inter.parameters != half.parameters, "the q/k rows differ in order")
        let tokens: [Int32] = (0..<24).map { Int32(($0 * 7 + 3) % 40) }
        func logits(_ m: (config: LlamaConfig, parameters: [Float])) throws -> [Float] {
            let model = try LlamaModel(config: m.config, parameters: m.parameters, threads: 1)
            model.forward(tokens: tokens, targets: nil, batch: 2, seqLen: 12)
            return Array(model.logits)
        }
        let a = try logits(half), b = try logits(inter)
        let range = Double(a.max()! - a.min()!)
        let diff = zip(a, b).map { Double(abs($0 - $1)) }.max()!
        // Not bit-identical: the attention dot products add the head's coordinates in another order.
        #expect(range > 1 && diff <= 1e-5 * range, "max |difference| \(diff) over a logit range of \(range)")
    }

    /// What a GGUF loads as saves as an ordinary Hugging Face checkpoint and reads back the same.
    @Test func savesAsAHuggingFaceCheckpoint() throws {
        let c = Self.config(tied: false)
        let loaded = try GGUFModel.load(try GGUFFile(data: GGUFBuilder.llama(c, storage: Self.storage).builder.encode(), source: "m.gguf"))
        let dir = try checkpointScratchDirectory("gguf-hf")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Checkpoint.save(config: loaded.config, parameters: loaded.parameters, to: dir)
        let again = try Checkpoint.load(from: dir)
        #expect(again.config == loaded.config && again.parameters == loaded.parameters)
        let json = try String(contentsOf: dir.appendingPathComponent("config.json"), encoding: .utf8)
        // The float32 metadata read as the decimals they were written from.
        #expect(loaded.config.normEps == 1e-5 && loaded.config.ropeTheta == 100_000)
        #expect(!json.contains("prunescale_rope_layout") && json.contains("\"rms_norm_eps\": 1e-05"), "\(json)")
    }

    /// `maxSequence` is the file's context length up to the cap.
    @Test func contextLengthIsCapped() throws {
        var g = GGUFBuilder.llama(Self.config(tied: true)).builder
        #expect(try GGUFModel.config(GGUFFile(data: g.encode(), source: "m.gguf")).maxSequence == 64)
        g.set("llama.context_length", .uint64(1 << 40))
        #expect(try GGUFModel.config(GGUFFile(data: g.encode(), source: "m.gguf")).maxSequence == GGUFModel.maxSequenceCap)
    }

    static func error(_ edit: (inout GGUFBuilder) -> Void) -> String? {
        var g = GGUFBuilder.llama(config(tied: false), storage: storage).builder
        edit(&g)
        return checkpointErrorMessage { _ = try GGUFModel.load(try GGUFFile(data: g.encode(), source: "m.gguf")) }
    }

    @Test func refusesWhatItCannotRunInOneLine() {
        func tensor(_ name: String, _ g: inout GGUFBuilder) -> Int { g.tensors.firstIndex { $0.name == name }! }
        let cases: [(String, (inout GGUFBuilder) -> Void)] = [
            ("m.gguf: general.architecture \"qwen2\" is not supported (only llama)", { $0.set("general.architecture", .string("qwen2")) }),
            ("m.gguf: no general.architecture in the metadata (not a model file?)", { $0.metadata.removeAll { $0.key == "general.architecture" } }),
            ("m.gguf: missing metadata llama.embedding_length", { $0.metadata.removeAll { $0.key == "llama.embedding_length" } }),
            ("m.gguf: llama.expert_count is 8: mixture-of-experts models are not supported", { $0.set("llama.expert_count", .uint32(8)) }),
            ("m.gguf: llama.rope.scaling.type \"yarn\" is not supported (only plain RoPE)", { $0.set("llama.rope.scaling.type", .string("yarn")) }),
            ("m.gguf: llama.rope.dimension_count 4 is not the head width 8: partial rotary embeddings are not supported", { $0.set("llama.rope.dimension_count", .uint32(4)) }),
            ("m.gguf: llama.block_count is 1000000000000 but the file has 21 tensors (each block has 9)", { $0.set("llama.block_count", .uint64(1_000_000_000_000)) }),
            ("m.gguf: llama.attention.head_count lists 1 values for 2 blocks", { $0.set("llama.attention.head_count", .array(.uint32([4]))) }),
            ("m.gguf: metadata \"llama.block_count\" is string \"2\", not an integer", { $0.set("llama.block_count", .string("2")) }),
            ("m.gguf: llama.vocab_size is 41 but token_embd.weight has 40 rows", { $0.set("llama.vocab_size", .uint32(41)) }),
            ("m.gguf: tokenizer.ggml.tokens has 41 tokens but token_embd.weight has only 40 rows",
             { $0.set("tokenizer.ggml.tokens", .array(.string((0..<41).map { "t\($0)" }))) }),
            ("m.gguf: model config: block 0: 3 heads are not a multiple of 2 KV heads", { g in
                g.set("llama.attention.head_count", .uint32(3)); g.set("llama.attention.key_length", .uint32(8)) }),
            ("m.gguf: missing tensor blk.1.ffn_up.weight that the GGUF metadata calls for", { $0.tensors.removeAll { $0.name == "blk.1.ffn_up.weight" } }),
            ("m.gguf: tensor blk.0.attn_k.weight has dims [32, 8] but the GGUF metadata implies [32, 16]", { g in
                let i = tensor("blk.0.attn_k.weight", &g); g.tensors[i].dims = [32, 8]; g.tensors[i].data.removeLast(4 * 32 * 8) }),
            ("m.gguf: unexpected tensor rope_freqs.weight that the GGUF metadata does not call for", { g in
                g.add("rope_freqs.weight", dims: [4], type: .f32, data: GGUFBuilder.f32([1, 1, 1, 1])) }),
            ("m.gguf: unexpected tensor blk.0.attn_q.bias and 1 more that the GGUF metadata does not call for", { g in
                g.add("blk.0.attn_q.bias", dims: [32], type: .f32, data: GGUFBuilder.f32(.init(repeating: 0, count: 32)))
                g.add("blk.01.attn_norm.weight", dims: [32], type: .f32, data: GGUFBuilder.f32(.init(repeating: 0, count: 32))) }),
            ("m.gguf: non-finite weights in tensor blk.1.ffn_norm.weight (first at index 2)", { g in
                let i = tensor("blk.1.ffn_norm.weight", &g); g.tensors[i].data.replaceSubrange(8..<12, with: GGUFBuilder.f32([.nan])) }),
            ("m.gguf: tensor \"blk.0.ffn_up.weight\": ggml type Q5_1 cannot be converted to float (PruneScale reads F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K)", { g in
                let i = tensor("blk.0.ffn_up.weight", &g); g.tensors[i].type = .q5_1; g.tensors[i].data = [UInt8](repeating: 0, count: 64 * 24) }),
        ]
        for (expected, edit) in cases {
            #expect(Self.error(edit) == expected)
        }
    }
}
