import Foundation
import TestSupport
import Testing
@testable import TextData

/// Pre-tokenizers on cases worked by hand from the regexes (BPEParityTests checks them against
/// the library at scale; these say what the rules are).
@Suite struct PreTokenizerTests {
    func pieces(_ pre: PreTokenizer, _ text: String) -> [String] { pre.pieces(text).map { String(decoding: $0, as: UTF8.self) } }

    @Test func gpt2LeavesTheLastSpaceOfARunToTheNextWord() {
        // `\s+(?!\S)` gives back one space so ` ?\p{L}+` can take it.
        #expect(pieces(.gpt2, "Hello  world") == ["Hello", " ", " world"])
        #expect(pieces(.gpt2, "  x") == [" ", " x"])
        #expect(pieces(.gpt2, "x  ") == ["x", "  "])  // at the end nothing follows: the run stays whole
        #expect(pieces(.gpt2, "x  \t\n y") == ["x", "  \t\n", " y"])
        // A lone non-space whitespace before a word is `\s+` on its own; only a space joins a word.
        #expect(pieces(.gpt2, "a\n\nb") == ["a", "\n", "\n", "b"])
        #expect(pieces(.gpt2, "a \tb") == ["a", " ", "\t", "b"])
        #expect(pieces(.gpt2, "") == [])
        #expect(pieces(.gpt2, " ") == [" "])
    }

    @Test func gpt2Contractions() {
        #expect(pieces(.gpt2, "I'm") == ["I", "'m"])
        #expect(pieces(.gpt2, "they're we've it'll he'd") == ["they", "'re", " we", "'ve", " it", "'ll", " he", "'d"])
        // Case matters to GPT-2's pattern: 'S is punctuation then a word.
        #expect(pieces(.gpt2, "IT'S") == ["IT", "'", "S"])
        // Punctuation runs are greedy, so an apostrophe after punctuation is part of the run.
        #expect(pieces(.gpt2, "!!'s") == ["!!'", "s"])
        #expect(pieces(.gpt2, " 's") == [" '", "s"])
    }

    @Test func gpt2ClassesOfCharacters() {
        #expect(pieces(.gpt2, "Café 42x ½!") == ["Café", " 42", "x", " ½", "!"])
        #expect(pieces(.gpt2, "e\u{301}") == ["e", "\u{301}"])  // a combining mark is not \p{L}
        #expect(pieces(.gpt2, "日本語 😀😀") == ["日本語", " 😀😀"])
        #expect(pieces(.gpt2, "a\u{3000}b") == ["a", "\u{3000}", "b"])  // only U+0020 joins a word
    }

    @Test func smollmIsolatesEveryDigitBeforeGPT2() {
        #expect(pieces(.smollm, "a 12") == ["a", " ", "1", "2"])  // " 1" cannot form: the space ends its stretch
        #expect(pieces(.smollm, "x1.5e10") == ["x", "1", ".", "5", "e", "1", "0"])
        #expect(pieces(.smollm, "٣٤ ²") == ["٣", "٤", " ", "²"])
        #expect(pieces(PreTokenizer([.digits(individual: false), .byteLevel(addPrefixSpace: false, useRegex: true)]), "ab 123c") == ["ab", " ", "123", "c"])
    }

    @Test func llama3() {
        #expect(pieces(.llama3, "12345") == ["123", "45"])
        #expect(pieces(.llama3, "(word") == ["(word"])  // one non-letter may lead a word
        #expect(pieces(.llama3, "  \n\t x") == ["  \n", "\t", " x"])  // a run ends after its last line break
        #expect(pieces(.llama3, "x \r\n\r\n  y") == ["x", " \r\n\r\n", " ", " y"])
        #expect(pieces(.llama3, "!!\n\n\nx") == ["!!\n\n\n", "x"])
        #expect(pieces(.llama3, "IT'S 'Re") == ["IT", "'S", " '", "Re"])  // contractions ignore case
        #expect(pieces(.llama3, "'ſx") == ["'ſ", "x"])  // ſ folds to s
    }

    @Test func byteLevelPrefixSpaceGoesBeforeEachPieceThatLacksOne() {
        let pre = PreTokenizer([.digits(individual: true), .byteLevel(addPrefixSpace: true, useRegex: true)])
        #expect(pieces(pre, "a1b c") == [" a", " 1", " b", " c"])
        #expect(pieces(pre, " a") == [" a"])
    }

    @Test func invalidUTF8CountsAsPunctuationOneByteAtATime() {
        // As Python's surrogateescape would see it: each bad byte an "other" character. Token files
        // are cut every 4 KB and a chunk may start or end inside a character.
        let text: [UInt8] = [0x61, 0xFF, 0x62, 0x20, 0xE6, 0x97, 0x20, 0x80, 0x21]
        var got: [[UInt8]] = []
        text.withUnsafeBytes { raw in PreTokenizer.gpt2.forEachPiece(raw) { got.append(Array($0)) } }
        #expect(got == [[0x61], [0xFF], [0x62], [0x20, 0xE6, 0x97], [0x20, 0x80, 0x21]])
    }

    @Test func llamaCppNames() {
        #expect(PreTokenizer.llamaCpp("smollm") == .smollm)
        #expect(PreTokenizer.llamaCpp("gpt-2") == .gpt2)
        #expect(PreTokenizer.llamaCpp("llama-bpe") == .llama3)
        #expect(PreTokenizer.llamaCpp("qwen2") == nil)
        #expect(PreTokenizer.smollm.description == "digits-individual,bytelevel+gpt2")
    }
}

/// The BPE mechanics on a vocabulary small enough to work by hand: the 256 byte tokens, then
/// whatever the merges make.
@Suite struct BPETokenizerTests {
    static let bytes = (0..<256).map { String(ByteLevelAlphabet.scalars[$0]) }

    /// Ids 0…255 are the bytes' tokens (minus `missing`), then one per merge, then `added`.
    static func tiny(merges: [String], added: [String] = [], missing: Set<UInt8> = [], pre: PreTokenizer = .gpt2) throws -> BPETokenizer {
        var tokens = bytes.enumerated().map { missing.contains(UInt8($0.offset)) ? "\u{E000}\($0.offset)" : $0.element }
        for m in merges { tokens.append(m.replacingOccurrences(of: " ", with: "")) }
        let special = added.indices.map { tokens.count + $0 }
        tokens += added
        return try BPETokenizer(tokens: tokens, merges: merges, specialTokenIDs: special, preTokenizer: pre)
    }

    func id(_ c: Character) -> UInt16 { UInt16(c.asciiValue!) }

    @Test func lowestRankFirstThenLeftmost() throws {
        // Ranks: "b c" 0, "a b" 1. In "abc" the pair bc wins although ab is further left.
        let t = try Self.tiny(merges: ["b c", "a b"])
        #expect(t.encode("abc") == [id("a"), 256])
        #expect(t.encode("abab") == [257, 257])
        // "aaa" with "a a": the leftmost pair merges first, the last a stays.
        let u = try Self.tiny(merges: ["a a"])
        #expect(u.encode("aaa") == [256, id("a")])
        #expect(u.encode("aaaa") == [256, 256])
    }

    @Test func mergesFormedByAMergeJoinTheQueue() throws {
        // "ab" (rank 0) then "ab c" (rank 1) on "abc"; "c d" (rank 2) loses to "ab c" in "abcd".
        let t = try Self.tiny(merges: ["a b", "ab c", "c d"])
        #expect(t.encode("abc") == [257])
        #expect(t.encode("abcd") == [257, id("d")])
        #expect(t.encode("xcd") == [id("x"), 258])
    }

    @Test func pretokensAreMergedSeparately() throws {
        let t = try Self.tiny(merges: ["a b"])
        #expect(t.encode("a b") == [id("a"), id(" "), id("b")])  // " b" is a pre-token; a and b never meet
        #expect(t.encode("ab ab") == [256, id(" "), 256])
    }

    @Test func addedTokensMatchWholeLeftmostLongest() throws {
        let t = try Self.tiny(merges: ["a b"], added: ["<x>", "<x>y", "ab<"])
        let x = 257 as UInt16, xy = 258 as UInt16, abLt = 259 as UInt16
        #expect(t.encode("q<x>yz") == [id("q"), xy, id("z")])
        #expect(t.encode("<x><x>") == [x, x])
        #expect(t.encode("ab<x>") == [abLt, id("x"), id(">")])  // leftmost wins over longer-but-later
        #expect(t.encode("<x") == [id("<"), id("x")])
        #expect(t.decodeText([xy, 256]) == "<x>yab")
        #expect(t.specialTokenID("<x>y") == xy)
    }

    @Test func bytesWithoutATokenAreDroppedAndTheirNeighboursMayMerge() throws {
        // As `tokenizers` does without an unknown token. 0x04 is punctuation to the pre-tokenizer,
        // so it shares a pre-token with "!"s but not with letters.
        let t = try Self.tiny(merges: ["! !"], missing: [0x04])
        #expect(t.encode("!\u{4}!") == [256])
        #expect(t.encode("a\u{4}b") == [id("a"), id("b")])
        #expect(t.decode(t.encode("!\u{4}!")) == Array("!!".utf8))
    }

    @Test func anyBytesRoundTripWhenTheAlphabetIsComplete() throws {
        let t = try Self.tiny(merges: ["Ġ t", "h e", "Ġt he"])
        let data = (0...255).map { UInt8($0) } + Fixture.bytes(20_000, seed: 5) + Array(" the the\n".utf8)
        #expect(t.decode(t.encode(data)) == data)
        #expect(t.encode(" the") == [258])
        // Ids beyond the vocabulary decode to nothing rather than trap.
        #expect(t.decode([id("a"), 60_000]) == Array("a".utf8))
    }

    @Test func encodeNeverAddsBOSButEncodeInputDoesWhenAsked() throws {
        var tokens = Self.bytes
        tokens.append("<s>")
        let t = try BPETokenizer(tokens: tokens, merges: [], specialTokenIDs: [256], preTokenizer: .gpt2, bos: 256, eos: 256, addsBOS: true)
        #expect(t.encode("hi") == [id("h"), id("i")])
        #expect(t.encodeInput("hi") == [256, id("h"), id("i")])
        let plain = try BPETokenizer(tokens: tokens, merges: [], tokenTypes: Array(repeating: 1, count: 256) + [3], preTokenizer: .gpt2, bos: 256)
        #expect(plain.encodeInput("hi") == [id("h"), id("i")])
        #expect(plain.encode("<s>") == [256])  // type 3 (control) is matched whole
    }

    @Test func nameFollowsEverythingThatChangesIDs() throws {
        let a = try Self.tiny(merges: ["a b"]), b = try Self.tiny(merges: ["a b"])
        #expect(a.name == b.name)
        #expect(a.name != (try Self.tiny(merges: ["b a"])).name)
        #expect(a.name != (try Self.tiny(merges: ["a b"], pre: .smollm)).name)
        #expect(a.name != (try Self.tiny(merges: ["a b"], added: ["<x>"])).name)
        #expect(a.name.hasPrefix("bpe-257-"))
    }

    @Test func cacheSharedAcrossCallsAndThreadsGivesTheSameIDs() async throws {
        let t = try Self.tiny(merges: ["Ġ t", "h e", "Ġt he", "a n", "Ġ an"])
        let text = String(repeating: "the an then a thin ant ", count: 200)
        let once = t.encode(text)
        let results = await withTaskGroup(of: [UInt16].self) { group in
            for _ in 0..<4 { group.addTask { t.encode(text) } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.count == 4 && results.allSatisfy { $0 == once })
    }

    @Test func plainValueErrorsNameTheValue() throws {
        #expect(throws: CorpusError(place: "BPE tokenizer", "merges[0]: 'ab' is not two tokens separated by one space")) {
            try Self.tiny(merges: ["ab"])
        }
        #expect(throws: CorpusError(place: "BPE tokenizer", "merges[0]: the merged token 'ab' is not in the vocabulary")) {
            try BPETokenizer(tokens: Self.bytes, merges: ["a b"], specialTokenIDs: [], preTokenizer: .gpt2)
        }
        let tooMany = Self.bytes + (0..<65_281).map { "t\($0)" }
        #expect(throws: CorpusError(place: "BPE tokenizer", "tokens: 65537 entries; token ids must fit UInt16 (at most 65536 entries)")) {
            try BPETokenizer(tokens: tooMany, merges: [], specialTokenIDs: [], preTokenizer: .gpt2)
        }
        #expect(throws: CorpusError(place: "BPE tokenizer", "tokenTypes: 2 types for 256 tokens")) {
            try BPETokenizer(tokens: Self.bytes, merges: [], tokenTypes: [1, 1], preTokenizer: .gpt2)
        }
        #expect(throws: CorpusError(place: "BPE tokenizer", "pre-tokenizer 'bytelevel+gpt2,digits': a byte-level BPE needs the byte-level step, once and last")) {
            try BPETokenizer(tokens: Self.bytes, merges: [], specialTokenIDs: [], preTokenizer: PreTokenizer([.byteLevel(addPrefixSpace: false, useRegex: true), .digits(individual: false)]))
        }
        #expect(throws: CorpusError(place: "BPE tokenizer", "BOS is to be added but there is no BOS id")) {
            try BPETokenizer(tokens: Self.bytes, merges: [], specialTokenIDs: [], preTokenizer: .gpt2, addsBOS: true)
        }
    }
}
