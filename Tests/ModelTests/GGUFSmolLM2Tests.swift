import Foundation
@testable import Model
import Testing

/// The real model: SmolLM2-135M-Instruct in Q4_1 (token embedding Q8_0, norms F32), located by
/// `smolLM2GGUFPath()` (fetched into the cache if missing).
@Suite(.serialized) struct GGUFSmolLM2Tests {
    static func path() throws -> String {
        let p = try smolLM2GGUFPath()
        try #require(FileManager.default.fileExists(atPath: p), "no SmolLM2 GGUF at \(p) (PRUNESCALE_SMOLLM2_GGUF names another)")
        return p
    }

    static let expectedConfig = LlamaConfig(vocabSize: 49152, hidden: 576, headDim: 64,
                                            blocks: Array(repeating: BlockShape(heads: 9, kvHeads: 3, mlpHidden: 1536), count: 30),
                                            ropeTheta: 100_000, ropeLayout: .halfSplit, normEps: 1e-5, tiedEmbeddings: true, maxSequence: 8192)

    /// Token ids of three sequences: "The capital of France is" (ids from the file's own token
    /// list), the special tokens and the vocabulary's ends, and a spread of ordinary ids.
    static let sequences: [[Int32]] = [
        [504, 3575, 282, 4649, 314, 7042, 28, 1045],
        [1, 0, 2, 49151, 17, 300, 9000, 25000, 40000, 49000, 123, 4567],
        (0..<16).map { Int32((($0 * 7919) + 101) % 49152) },
    ]

    /// Logits against an independent float64 numpy forward of the same file (gguf's reader and
    /// dequantisers, its own q/k unpermutation and rotate-half RoPE): max |difference| ≤ 1e-3 of
    /// the logit range. Then the same with the file's q/k rows kept and interleaved RoPE.
    @Test func logitsMatchAFloat64Reference() throws {
        let path = try Self.path()
        let dir = try checkpointScratchDirectory("gguf-smollm2")
        defer { try? FileManager.default.removeItem(at: dir) }
        let refURL = dir.appendingPathComponent("logits.bin")
        try runGGUFFixture("gguf_llama_reference.py", [path, refURL.path] + Self.sequences.map { $0.map(String.init).joined(separator: ",") })
        let reference = try readFloat64s(refURL)
        let V = Self.expectedConfig.vocabSize
        try #require(reference.count == Self.sequences.map(\.count).reduce(0, +) * V)

        let start = ProcessInfo.processInfo.systemUptime
        let loaded = try GGUFModel.load(path: path)
        let loadSeconds = ProcessInfo.processInfo.systemUptime - start
        #expect(loaded.config == Self.expectedConfig)

        func logits(_ config: LlamaConfig, _ parameters: [Float]) throws -> [Float] {
            let model = try LlamaModel(config: config, parameters: parameters, threads: 1)
            var out: [Float] = []
            for s in Self.sequences {
                model.forward(tokens: s, targets: nil, batch: 1, seqLen: s.count)
                out += model.logits
            }
            return out
        }
        let ours = try logits(loaded.config, loaded.parameters)
        let lo = reference.min()!, hi = reference.max()!
        let diff = zip(ours, reference).map { abs(Double($0) - $1) }.max()!
        print("SmolLM2 GGUF: loaded in \(String(format: "%.1f", loadSeconds)) s; logits max |ours - float64 reference| = \(diff), logit range [\(lo), \(hi)] (\(hi - lo)); ratio \(diff / (hi - lo))")
        #expect(diff <= 1e-3 * (hi - lo), "max |difference| \(diff) exceeds 1e-3 of the logit range \(hi - lo)")
        // The model is the real one: "The capital of France is" → " Paris" (id 7042 in this vocabulary).
        let row = Array(ours[4 * V..<5 * V])
        #expect(row.firstIndex(of: row.max()!) == 7042)

        let interleaved = try GGUFModel.load(loaded.metadata, ropeLayout: .interleaved)
        let other = try logits(interleaved.config, interleaved.parameters)
        let layouts = zip(ours, other).map { Double(abs($0 - $1)) }.max()!
        print("SmolLM2 GGUF: half-split vs interleaved RoPE logits max |difference| = \(layouts)")
        // Float32 rounding only (the attention dot products add a head's coordinates in another
        // order), of the size of our distance from the float64 reference.
        #expect(layouts <= 1e-4 * (hi - lo))
    }

    /// The tokenizer's metadata is there for a BPE tokenizer to be built from.
    @Test func exposesTheTokenizer() throws {
        let file = try GGUFFile(contentsOf: URL(fileURLWithPath: try Self.path()))
        let tokens = try #require(try file.stringArray("tokenizer.ggml.tokens"))
        #expect(tokens.count == 49152 && tokens[504] == "The" && tokens[7042] == "ĠParis")
        #expect(try file.stringArray("tokenizer.ggml.merges")?.count == 48900)
        #expect(try file.int32Array("tokenizer.ggml.token_type")?.count == 49152)
        #expect(try file.int("tokenizer.ggml.bos_token_id") == 1)
        #expect(try file.bool("tokenizer.ggml.add_bos_token") == false)
        #expect(try file.string("tokenizer.ggml.pre") == "smollm")
        #expect(try file.string("tokenizer.ggml.model") == "gpt2")
        #expect(file.version == 3 && file.tensors.count == 272)
        #expect(Set(file.tensors.map(\.type)) == [.q4_1, .q8_0, .f32])
    }

    /// The file cut short at offsets inside each part (magic, header, metadata, the token list,
    /// the tensor infos, the data) is refused in one line naming the copy; the copies live in a
    /// scratch folder, never beside the original.
    @Test func truncatedCopiesAreRefusedInOneLine() throws {
        let path = try Self.path()
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
        let file = try GGUFFile(contentsOf: URL(fileURLWithPath: path))
        let dir = try checkpointScratchDirectory("gguf-truncated")
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        defer { try? source.close() }
        let cuts = [0, 3, 4, 7, 12, 23, 30, 200, 1000, 600_000, file.dataStart - 1000, file.dataStart - 1, file.dataStart,
                    file.dataStart + 100, size / 2, size - 1]
        var reasons = Set<String>()
        for cut in cuts {
            let copy = dir.appendingPathComponent("cut-\(cut).gguf")
            try source.seek(toOffset: 0)
            try source.readData(ofLength: cut).write(to: copy)
            let message = checkpointErrorMessage { _ = try GGUFModel.load(path: copy.path) }
            #expect(message?.hasPrefix(copy.path + ": ") == true && message?.contains("\n") == false, "cut at \(cut): \(message ?? "loaded")")
            if let message { reasons.insert(String(message.dropFirst(copy.path.count + 2).prefix(24))) }
            try FileManager.default.removeItem(at: copy)
        }
        print("SmolLM2 GGUF truncations refused as: \(reasons.sorted())")
    }
}
