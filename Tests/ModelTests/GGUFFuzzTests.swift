import Foundation
import Fuzzing
@testable import Model
import Testing

/// The GGUF reader and the GGUF → model conversion on mutated files (see `fuzzReader`).
@Suite struct GGUFFuzzTests {
    /// A complete small llama (Q8_0 embedding, Q4_1 and F32 projections, a tokenizer), so many
    /// mutants still load; and a file of every metadata type and every readable tensor type, so
    /// mutants reach each dequantiser.
    static func seeds() -> [Data] {
        let c = LlamaConfig(vocabSize: 8, hidden: 32, headDim: 16, blocks: [BlockShape(heads: 2, kvHeads: 1, mlpHidden: 32)],
                            ropeTheta: 10_000, normEps: 1e-5, tiedEmbeddings: true, maxSequence: 16)
        let llama = GGUFBuilder.llama(c, storage: { $0.hasSuffix("attn_v.weight") ? .f32 : $0.hasSuffix("ffn_up.weight") ? .q8_0 : .q4_1 },
                                      tokens: (0..<8).map { "tok\($0)" }).builder
        var untied = GGUFBuilder.llama(LlamaConfig(vocabSize: 4, hidden: 32, headDim: 8, blocks: [BlockShape(heads: 4, kvHeads: 2, mlpHidden: 32)],
                                                   maxSequence: 8)).builder
        untied.version = 2
        var every = GGUFReaderTests.richFile(alignment: 16)
        every.add("q4k", dims: [256], type: .q4_K, data: (0..<144).map { UInt8(truncatingIfNeeded: $0 &* 37) })
        every.add("q5k", dims: [256], type: .q5_K, data: (0..<176).map { UInt8(truncatingIfNeeded: $0 &* 53) })
        every.add("q6k", dims: [256], type: .q6_K, data: (0..<210).map { UInt8(truncatingIfNeeded: $0 &* 71) })
        every.add("q40", dims: [32], type: .q4_0, data: [0x00, 0x3C] + (0..<16).map { UInt8($0 * 17) })
        every.add("bf", dims: [2], type: .bf16, data: [0x80, 0x3F, 0x00, 0xC0])
        every.add("q2k", dims: [256], type: .q2_K, data: [UInt8](repeating: 1, count: 84))
        return [llama.encode(), untied.encode(), every.encode()]
    }

    static let dictionary = [
        "GGUF", "general.architecture", "general.alignment", "llama", "llama.block_count", "llama.embedding_length",
        "llama.attention.head_count", "llama.attention.head_count_kv", "llama.feed_forward_length", "llama.context_length",
        "llama.rope.dimension_count", "llama.expert_count", "token_embd.weight", "output.weight", "blk.0.attn_q.weight",
        "blk.1.ffn_up.weight", "tokenizer.ggml.tokens",
    ]

    /// Every mutant parses or is refused in one line naming the file; what parses never places
    /// tensor data outside the file (so reading cannot allocate beyond its size) and every
    /// readable tensor converts; the model conversion loads or refuses in one line too.
    @Test func mutatedFilesLoadOrFailInOneLine() {
        let mutator = Mutator(seeds: Self.seeds(), dictionary: Self.dictionary)
        var parsed = 0, loaded = 0
        fuzzReader(mutator, count: Mutator.count(default: 4000), prefix: "fuzz.gguf: ") { i, input in
            let file = try GGUFFile(data: input, source: "fuzz.gguf")
            parsed += 1
            for t in file.tensors {
                #expect(file.dataStart + t.offset + t.byteCount <= input.count, "fuzz input \(i): tensor \(t.name) lies beyond the file")
                if GGUFQuant.readable.contains(t.type) { #expect(try file.floats(t.name).count == t.count) }
            }
            for k in file.keys {
                _ = try? file.string(k); _ = try? file.int(k); _ = try? file.float(k); _ = try? file.bool(k)
                _ = try? file.stringArray(k); _ = try? file.int32Array(k); _ = try? file.intArray(k); _ = try? file.floatArray(k)
            }
            _ = try GGUFModel.load(file)
            loaded += 1
        }
        if Mutator.count(default: 0) > 10_000 { print("fuzz.gguf: \(parsed) mutants parsed, \(loaded) loaded as models") }
        #expect(parsed > 0 && loaded > 0, "mutants parsed: \(parsed), loaded: \(loaded): the seeds or mutations are too destructive to test acceptance")
    }

    @Test func seedsAreValid() throws {
        let seeds = Self.seeds()
        for s in seeds.prefix(2) { _ = try GGUFModel.load(try GGUFFile(data: s, source: "seed")) }
        let every = try GGUFFile(data: seeds[2], source: "seed")
        #expect(every.tensors.filter { GGUFQuant.readable.contains($0.type) }.map(\.type).count >= 8)
    }
}
