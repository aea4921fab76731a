import Foundation
import TestSupport
import Testing
@testable import TextData

@Suite struct ModelSourceTests {
    /// A checkpoint folder carries its BPE as tokenizer.json + tokenizer_config.json and reopens
    /// with the same tokenizer: same name, same ids, and the same BOS/EOS (generation stops at EOS).
    @Test(arguments: [false, true])
    func aSavedTokenizerReopensWithItsSpecialTokens(addsBOS: Bool) throws {
        let dir = try Fixture.tempDir("model-source")
        defer { try? FileManager.default.removeItem(at: dir) }
        let bpe = try BPETokenizer(tokens: ["<s>", "</s>", "a", "b", "ab", "Ġ", "Ġab"], merges: ["a b", "Ġ ab"], tokenTypes: [3, 3, 1, 1, 1, 1, 1],
                                   preTokenizer: .gpt2, bos: 0, eos: 1, addsBOS: addsBOS)
        for (name, data) in try TrainingData.tokenizerFiles(bpe) { try data.write(to: dir.appendingPathComponent(name)) }
        let back = try #require(try TrainingData.tokenizer(for: .checkpoint(dir)) as? BPETokenizer)
        #expect(back.name == bpe.name && back.bos == 0 && back.eos == 1 && back.addsBOS == addsBOS && back.endOfText == 1)
        #expect(back.encodeInput("ab ab</s>") == bpe.encodeInput("ab ab</s>"))
        #expect(bpe.encodeInput("ab ab") == (addsBOS ? [0] : []) + [4, 6])
        #expect(try TrainingData.tokenizerFiles(ByteTokenizer()).isEmpty)
        #expect(try TrainingData.tokenizer(for: .checkpoint(dir.appendingPathComponent("none"))) is ByteTokenizer)
    }

    @Test func whatIsNotAModelIsOneLine() throws {
        let dir = try Fixture.tempDir("model-source-bad")
        defer { try? FileManager.default.removeItem(at: dir) }
        let text = dir.appendingPathComponent("notes.txt")
        try Data("x".utf8).write(to: text)
        for (reference, fragment) in [(text.path, "a file, but not a .gguf model"), ("gpt-17", "not a known model name (smollm2)"),
                                      (dir.appendingPathComponent("missing.gguf").path, "no such checkpoint folder or .gguf file")] {
            #expect(throws: (any Error).self) { try ModelSource.resolve(reference, cache: dir) }
            do { _ = try ModelSource.resolve(reference, cache: dir) } catch { #expect("\(error)".contains(fragment), "\(error)") }
        }
        let folder = try ModelSource.resolve(dir.path, cache: dir)
        guard case .checkpoint(let url) = folder else { Issue.record("\(folder)"); return }
        #expect(url.standardizedFileURL.path == dir.standardizedFileURL.path)
    }
}
