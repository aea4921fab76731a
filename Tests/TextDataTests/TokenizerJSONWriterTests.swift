import Foundation
import TestSupport
import Testing
@testable import TextData

/// `BPETokenizer.tokenizerJSON()`: read back by us, the file is the same tokenizer (name, ids); read
/// by the `tokenizers` library, it gives our ids, and the library saves what it read as we wrote it.
/// The tokenizers are BPEParityTests' references (made once per process); the library's reading of
/// each written file is one `bpe_reference.py check` run, under a second.
@Suite struct TokenizerJSONWriterTests {
    @Test func smollm2FromGGUFValues() throws {
        let ref = try BPEParityTests.smollm2.get()
        try Self.expectFaithful(try BPEParityTests.smollm2FromValues.get(), reference: ref)
    }

    /// Llama 3 style: its split, ignore_merges, a BOS template.
    @Test func llama3StyleTrained() throws {
        let ref = try BPEParityTests.trained.get()
        let t = try BPETokenizer(tokenizerJSON: ref.tokenizerJSON, source: "trained/tokenizer.json")
        #expect(t.addsBOS)
        try Self.expectFaithful(t, reference: ref)
    }

    /// What the references lack: an unknown token (fused), bytes without a token, a lone ByteLevel
    /// with a prefix space, an added token outside the vocabulary, BOS added.
    @Test func unknownTokenPrefixSpaceAndAddedTokens() throws {
        let t = try Self.handmade()
        // " zq", " 日" (E6 97 A5), "😀" (F0 9F 98 80): 'z', 'q' and 0xF0 have no token.
        let unk = Self.id(t, "<unk>")
        #expect(t.encode("zq 日😀") == [Self.id(t, "Ġ"), unk, Self.id(t, "ĠæĹ"), Self.id(t, "¥"), unk] + ["Ł", "ĺ", "Ģ"].map { Self.id(t, $0) })
        #expect(t.encodeInput("<|endoftext|>the<|im_start|>") == [Self.id(t, "<|endoftext|>"), Self.id(t, "<|endoftext|>"), Self.id(t, "Ġthe"), UInt16(t.vocabSize - 1)])
        try Self.expectFaithful(t, reference: nil)
    }

    @Test func contents() throws {
        let t = try Self.handmade()
        let json = try #require(try JSONSerialization.jsonObject(with: t.tokenizerJSON()) as? [String: Any])
        let model = try #require(json["model"] as? [String: Any])
        #expect(model["type"] as? String == "BPE" && model["unk_token"] as? String == "<unk>")
        #expect(model["fuse_unk"] as? Bool == true && model["ignore_merges"] as? Bool == false)
        #expect((model["merges"] as? [[String]])?.first == ["Ġ", "t"])
        #expect((model["vocab"] as? [String: Int])?["Ġthe"] == Int(Self.id(t, "Ġthe")))
        let added = try #require(json["added_tokens"] as? [[String: Any]])
        #expect(added.map { $0["content"] as? String } == ["<unk>", "<|endoftext|>", "<|im_start|>"])
        #expect(added.allSatisfy { $0["special"] as? Bool == true && $0["normalized"] as? Bool == false && $0["lstrip"] as? Bool == false })
        #expect(json["normalizer"] is NSNull)
        let pre = try #require(json["pre_tokenizer"] as? [String: Any])
        #expect(pre["type"] as? String == "ByteLevel" && pre["add_prefix_space"] as? Bool == true && pre["use_regex"] as? Bool == true)
        let post = try #require(json["post_processor"] as? [String: Any])
        #expect(post["type"] as? String == "TemplateProcessing")
        #expect((post["special_tokens"] as? [String: [String: Any]])?["<|endoftext|>"]?["ids"] as? [Int] == [Int(t.bos!)])
        #expect((json["decoder"] as? [String: Any])?["type"] as? String == "ByteLevel")

        // Without BOS there is no post-processor; SmolLM2 has two steps, so a Sequence.
        let smol = try JSONSerialization.jsonObject(with: BPEParityTests.smollm2FromValues.get().tokenizerJSON()) as? [String: Any]
        #expect(smol?["post_processor"] is NSNull)
        let steps = (smol?["pre_tokenizer"] as? [String: Any])?["pretokenizers"] as? [[String: Any]]
        #expect(steps?.map { $0["type"] as? String } == ["Digits", "ByteLevel"])
    }

    /// A gap in the vocabulary is fine on its own (a tokenizer.json may have one): no token has the id.
    @Test func aVocabularyGap() throws {
        var d = Self.tiny()
        d.vocabulary.insert(nil, at: 256)
        let t = try BPETokenizer(d, names: Self.names)
        #expect(t.encode("abc") == [257, 99])
        try Self.expectFaithful(t, reference: nil)
    }

    /// Tokenizers the file cannot express, because `tokenizers` numbers added tokens itself.
    @Test func whatCannotBeWritten() throws {
        func expectError(_ message: String, sourceLocation: SourceLocation = #_sourceLocation, _ edit: (inout BPETokenizer.Definition) -> Void) throws {
            var d = Self.tiny()
            edit(&d)
            let t = try BPETokenizer(d, names: Self.names)
            do {
                _ = try t.tokenizerJSON()
                Issue.record("written; expected \(message)", sourceLocation: sourceLocation)
            } catch let e as CorpusError {
                #expect(e.description == "tokenizer.json of \(t.name): \(message)", sourceLocation: sourceLocation)
            }
        }
        try expectError(#"added tokens "<b>" and "<a>" share id 257; tokenizers gives each its own"#) {
            $0.added = [(257, "<b>"), (257, "<a>")]
        }
        try expectError(#"added token "ab" has id 257 but is the vocabulary's token 256; tokenizers would give it 256"#) {
            $0.added = [(257, "ab")]
        }
        try expectError(#"added token "<a>" has id 256, the vocabulary's "ab"; tokenizers would give it another id"#) {
            $0.added = [(256, "<a>")]
        }
        try expectError(#"added token "<b>" has id 259; tokenizers would give it 258 (the next id after the vocabulary and the added tokens before it)"#) {
            $0.added = [(257, "<a>"), (259, "<b>")]
        }
        try expectError(#"added token "<a>" is outside a vocabulary with a gap at id 256; tokenizers would number it from 257"#) {
            $0.vocabulary.insert(nil, at: 256)
            $0.added = [(258, "<a>")]
        }
        try expectError("BOS id 256 has no token text, which the post-processor needs to name it") {
            $0.vocabulary.insert(nil, at: 256)
            $0.bos = 256
            $0.addsBOS = true
        }
    }

    // MARK: - Helpers

    static let names = BPETokenizer.Names(source: "test", vocabulary: "vocabulary", merges: "merges", added: "added")

    /// The 256 byte tokens and "ab" (id 256) from one merge.
    static func tiny() -> BPETokenizer.Definition {
        BPETokenizer.Definition(vocabulary: (0..<256).map { String(ByteLevelAlphabet.scalars[$0]) } + ["ab"], merges: [("a", "b")],
                                added: [], preTokenizer: .gpt2)
    }

    static func id(_ t: BPETokenizer, _ token: String) -> UInt16 {
        UInt16(t.definition.vocabulary.firstIndex(of: token)!)
    }

    /// No token for 'q', 'u', 'z' or the lead bytes of 4-byte characters (0xF0…0xFF), so "quick" in
    /// the samples has two unknown bytes in a row; a few merges. The added tokens are ones the samples hold.
    static func handmade() throws -> BPETokenizer {
        let missing = Set<Int>([0x71, 0x75, 0x7A] + Array(0xF0...0xFF))
        var vocabulary = (0..<256).filter { !missing.contains($0) }.map { String(ByteLevelAlphabet.scalars[$0]) }
        vocabulary += ["<unk>", "<|endoftext|>"]
        let merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a"), ("e", "r"), ("Ġ", "æ"), ("Ġæ", "Ĺ")]
        vocabulary += merges.map { $0.0 + $0.1 }
        let d = BPETokenizer.Definition(
            vocabulary: vocabulary, merges: merges,
            added: [(vocabulary.count, "<|im_start|>"), (vocabulary.firstIndex(of: "<|endoftext|>")!, "<|endoftext|>"), (vocabulary.firstIndex(of: "<unk>")!, "<unk>")],
            unknown: "<unk>", fuseUnknown: true, preTokenizer: PreTokenizer([.byteLevel(addPrefixSpace: true, useRegex: true)]),
            bos: vocabulary.firstIndex(of: "<|endoftext|>"), addsBOS: true)
        return try BPETokenizer(d, names: names)
    }

    /// Same bytes every time; read back, the same tokenizer writing the same bytes; read by the
    /// library, our ids on every sample and the large text (with and without BOS), and saved by it
    /// as written. With a reference, the library's ids on our file are those on its own.
    static func expectFaithful(_ t: BPETokenizer, reference: BPEReference?, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let start = Date()
        let json = try t.tokenizerJSON()
        let seconds = Date().timeIntervalSince(start)
        #expect(try t.tokenizerJSON() == json, "two writes differ", sourceLocation: sourceLocation)

        let back = try BPETokenizer(tokenizerJSON: json, source: "written tokenizer.json")
        #expect(back.name == t.name, sourceLocation: sourceLocation)
        #expect(back.addsBOS == t.addsBOS && back.bos == (t.addsBOS ? t.bos : nil), sourceLocation: sourceLocation)
        #expect(try back.tokenizerJSON() == json, "the tokenizer read back writes other bytes", sourceLocation: sourceLocation)

        let dir = try Fixture.tempDir("bpe-written")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("tokenizer.json")
        try json.write(to: file)
        let library = try BPEReference.make(["check", file.path]).get()
        try library.expectSameIDs(t, sourceLocation: sourceLocation)
        try library.expectSameIDs(back, sourceLocation: sourceLocation)
        var differing = 0
        for (s, ids) in zip(library.samples, library.idsWithSpecials) where t.encodeInput(s) != ids { differing += 1 }
        #expect(differing == 0, "with specials: \(differing) of \(library.samples.count) samples differ", sourceLocation: sourceLocation)
        #expect(library.values.resaveMatches == true, "the library saves it otherwise: \(library.values.difference ?? "?")",
                sourceLocation: sourceLocation)
        print("tokenizer.json of \(t.name): \(json.count) bytes in \(String(format: "%.2f", seconds)) s; "
              + "the library's save of it is \(library.values.sameBytes == true ? "identical" : "different") byte for byte")

        if let reference {
            #expect(library.samples == reference.samples && library.expected.ids == reference.expected.ids, sourceLocation: sourceLocation)
            #expect(library.idsWithSpecials == reference.idsWithSpecials && library.expected.bigIDs == reference.expected.bigIDs,
                    sourceLocation: sourceLocation)
        }
    }
}
