@testable import Experiments
import Foundation
import Model
import Persistence
import Testing
import TextData

/// How a plan resolves its bases' tokenizers: one spec's bases must read text alike.
@Suite struct BaseResolutionTests {
    static func checkpoint(_ dir: URL, vocab: Int, tokenizer: BPETokenizer?) throws {
        let config = LlamaConfig(vocabSize: vocab, hidden: 8, headDim: 4, blocks: [BlockShape(heads: 2, kvHeads: 1, mlpHidden: 16)], maxSequence: 32)
        try Checkpoint.save(config: config, parameters: [Float](repeating: 0.01, count: ParameterLayout(config).totalCount), to: dir) { staging in
            if let tokenizer { try AtomicFile.write(try tokenizer.tokenizerJSON(), to: staging.appendingPathComponent(ModelSource.tokenizerFileName)) }
        }
    }

    @Test func basesWithDifferentTokenizersAreRefusedAndAlikeOnesShareOne() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("prunescale-bases-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let bpe = try BPETokenizer(tokens: ["a", "b", "ab", "Ġ"], merges: ["a b"], tokenTypes: [1, 1, 1, 1], preTokenizer: .gpt2)
        try Self.checkpoint(dir.appendingPathComponent("bytes"), vocab: 256, tokenizer: nil)
        try Self.checkpoint(dir.appendingPathComponent("bpe"), vocab: 4, tokenizer: bpe)
        try Self.checkpoint(dir.appendingPathComponent("bpe2"), vocab: 4, tokenizer: bpe)
        func spec(_ bases: [String]) throws -> ExperimentSpec {
            try ExperimentSpec.parse("""
                name: t
                output: \(dir.path)/run
                bases: [\(bases.map { "{checkpoint: \(dir.path)/\($0)}" }.joined(separator: ", "))]
                posttrain: {tokens: 1000}
                """, file: "t.yaml")
        }
        do {
            _ = try ExperimentRunner.plan(try spec(["bytes", "bpe"]), cache: dir.appendingPathComponent("cache"))
            Issue.record("bases with different tokenizers were accepted")
        } catch let e as ExperimentSpecError {
            #expect(e.description.contains("bases 'bytes' and 'bpe' read text with different tokenizers (byte, \(bpe.name))"), "\(e)")
        }
        let plan = try ExperimentRunner.plan(try spec(["bpe", "bpe2"]), cache: dir.appendingPathComponent("cache"))
        #expect(plan.tokenizer.name == bpe.name)
        #expect(try ExperimentRunner.plan(try spec(["bytes"]), cache: dir.appendingPathComponent("cache")).tokenizer.name == "byte")
    }
}
