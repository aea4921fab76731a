import Foundation
import TestSupport
import Testing
@testable import TextData

/// The acceptance test of the BPE tokenizer: identical ids to the `tokenizers` library. The
/// reference is made by Fixtures/bpe_reference.py from SmolLM2-135M-Instruct's GGUF (its
/// vocabulary and merges rebuilt as a `tokenizers` Tokenizer and saved as tokenizer.json) and from a
/// small BPE it trains in the Llama 3 style. Needs python3 with `tokenizers` and `gguf`
/// (scripts/install-deps) and the GGUF (fetched into the cache; PRUNESCALE_SMOLLM2_GGUF overrides); without
/// them these tests fail, saying so, rather than pass without checking anything.
@Suite struct BPEParityTests {
    /// The user's cache, fetched there through pip's index if missing (a fresh CI machine does).
    static let gguf = Result<String, any Error> { () throws -> String in
        if let path = ProcessInfo.processInfo.environment["PRUNESCALE_SMOLLM2_GGUF"] { return path }
        return try ModelFetcher.fetch(.smollm2, cache: DataCache.defaultDirectory()).file
    }.mapError(BPEReference.error)

    // Made once per test process: the script takes a few seconds, the tokenizers a second each.
    static let smollm2 = gguf.flatMap { BPEReference.make(["smollm2", $0]) }
    static let trained = BPEReference.make(["trained"])
    static let smollm2FromJSON = smollm2.flatMap { ref in
        Result { try BPETokenizer(tokenizerJSON: ref.tokenizerJSON, source: "smollm2/tokenizer.json") }.mapError(BPEReference.error)
    }
    static let smollm2FromValues = smollm2.flatMap { ref in
        Result { () throws -> BPETokenizer in
            let v = ref.values
            guard let pre = PreTokenizer.llamaCpp(v.pre ?? "") else { throw CorpusError(place: "values.json", "pre '\(v.pre ?? "")' unknown") }
            return try BPETokenizer(tokens: v.tokens ?? [], merges: v.merges ?? [], tokenTypes: v.tokenTypes ?? [], preTokenizer: pre,
                                    bos: v.bos, eos: v.eos, addsBOS: v.addBos ?? false)
        }.mapError(BPEReference.error)
    }

    @Test func smollm2FromGGUFValuesMatchesTokenizers() throws {
        let ref = try Self.smollm2.get(), t = try Self.smollm2FromValues.get()
        try ref.expectSameIDs(t)
        #expect(t.vocabSize == 49152)
        #expect(t.bos == 1 && t.eos == 2 && !t.addsBOS)  // SmolLM2's GGUF: add_bos_token false
        #expect(t.specialTokenID("<|im_start|>") == 1 && t.specialTokenID("<|im_end|>") == 2 && t.specialTokenID("<|endoftext|>") == 0)
        #expect(t.preTokenizer == .smollm)
    }

    @Test func smollm2FromTokenizerJSONMatchesTokenizers() throws {
        let ref = try Self.smollm2.get(), t = try Self.smollm2FromJSON.get()
        try ref.expectSameIDs(t)
        // The same vocabulary, merges, added tokens and pre-tokenizer however read: one name.
        #expect(t.name == (try Self.smollm2FromValues.get()).name)
        #expect(t.name.hasPrefix("bpe-49152-") && t.name.count == "bpe-49152-".count + 16)
        #expect(t.vocabSize == 49152 && t.bos == nil && !t.addsBOS)
    }

    @Test func readsTokenizerJSONFromAFile() throws {
        let ref = try Self.smollm2.get()
        let dir = try Fixture.tempDir("bpe")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("tokenizer.json")
        try ref.tokenizerJSON.write(to: url)
        let t = try BPETokenizer(tokenizerJSON: url, bos: "<|im_start|>", eos: "<|im_end|>")
        #expect(t.name == (try Self.smollm2FromJSON.get()).name)
        #expect(t.bos == 1 && t.eos == 2 && !t.addsBOS)
        #expect(t.encode("<|im_start|>user\nHi<|im_end|>") == [1, 4093, 198, 26843, 2])
    }

    /// decode ∘ encode is the identity except for bytes the vocabulary cannot spell, which
    /// `tokenizers` drops too; and for every sample our text is the library's decoded text.
    @Test func decodeInvertsEncode() throws {
        let ref = try Self.smollm2.get(), t = try Self.smollm2FromJSON.get()
        var exact = 0
        for (s, libraryText) in zip(ref.samples, ref.decoded) {
            let back = t.decode(t.encode(s))
            // The library's text replaces invalid UTF-8 (left by a dropped lead byte) as decodeText does.
            #expect(Array(t.decodeText(t.encode(s)).utf8) == Array(libraryText.utf8), "\(s.debugDescription)")
            if libraryText.utf8.elementsEqual(s.utf8) {
                exact += 1
                #expect(back == Array(s.utf8))
            }
        }
        // Only the samples holding 0x04-style controls or plane-4/15 characters lose bytes.
        #expect(exact >= ref.samples.count * 3 / 4, "\(exact) of \(ref.samples.count) round-trip exactly")
        #expect(t.decode(t.encode(ref.big)) == ref.big)
    }

    /// A byte-level BPE trained here with the Llama 3 split, ignore_merges and a BOS template.
    @Test func llama3StyleTokenizerMatchesTokenizers() throws {
        let ref = try Self.trained.get()
        let t = try BPETokenizer(tokenizerJSON: ref.tokenizerJSON, source: "trained/tokenizer.json")
        try ref.expectSameIDs(t)
        #expect(t.preTokenizer == .llama3)
        #expect(t.addsBOS && t.bos.map(Int.init) == ref.values.bos)
        for (s, expected) in zip(ref.samples, ref.idsWithSpecials) {
            #expect(t.encodeInput(s) == expected, "\(s.debugDescription)")
        }
        #expect(t.decode(t.encode(ref.big)) == ref.big)  // its alphabet has all 256 bytes
    }

    @Test(arguments: ["smollm", "gpt2", "gpt2-prefix-space", "digits-contiguous", "llama3", "gpt2-split"])
    func preTokensMatchTokenizers(name: String) throws {
        let ref = try Self.smollm2.get()
        let pre: PreTokenizer = switch name {
        case "smollm": .smollm
        case "gpt2": .gpt2
        case "gpt2-prefix-space": PreTokenizer([.byteLevel(addPrefixSpace: true, useRegex: true)])
        case "digits-contiguous": PreTokenizer([.digits(individual: false), .byteLevel(addPrefixSpace: false, useRegex: true)])
        case "llama3": .llama3
        default: PreTokenizer([.split(.gpt2), .byteLevel(addPrefixSpace: false, useRegex: false)])
        }
        // The library reports pre-tokens in the byte-level alphabet.
        func spelled(_ text: String) -> [String] { pre.pieces(text).map { ByteLevelAlphabet.encode($0) } }
        let expected = try #require(ref.pretokens[name])
        for (s, e) in zip(ref.samples, expected) { #expect(spelled(s) == e, "\(s.debugDescription)") }
        let big = spelled(String(decoding: ref.big, as: UTF8.self))
        let bigExpected = try #require(ref.bigPretokens[name]?.first)
        #expect(big.count == bigExpected.count && big == bigExpected, "first difference at \(firstDifference(big, bigExpected))")
    }

    /// The generated table (UnicodeClasses.swift) is what the installed library does.
    @Test func scalarClassesAreTheLibrarys() throws {
        let dir = try Fixture.tempDir("bpe-classes")
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("classes.json")
        try BPEReference.python(["classes", out.path])
        let ranges = try JSONDecoder().decode([String: [[UInt32]]].self, from: Data(contentsOf: out))
        let table = ScalarClassTable.shared
        for (key, bit) in [("letter", ScalarClass.letter), ("number", ScalarClass.number), ("whitespace", ScalarClass.whitespace), ("numeric", ScalarClass.numeric)] {
            var members = Set<UInt32>()
            for r in try #require(ranges[key]) { for v in r[0]...r[1] { members.insert(v) } }
            let differing = (UInt32(0)..<0x110000).filter { (table[$0] & bit != 0) != members.contains($0) }
            #expect(differing.isEmpty, "\(key): \(differing.count) scalars differ, first U+\(String(differing.first ?? 0, radix: 16, uppercase: true)); regenerate UnicodeClasses.swift")
        }
    }
}

/// What bpe_reference.py wrote, read into memory (its directory is removed at once).
struct BPEReference: Sendable {
    struct Values: Decodable, Sendable {
        var tokens: [String]?
        var merges: [String]?
        var tokenTypes: [Int32]?
        var pre: String?
        var bos: Int?
        var eos: Int?
        var addBos: Bool?
        /// From `check`: whether the library's save of the file it read matches the file (as JSON, and byte for byte).
        var resaveMatches: Bool?
        var difference: String?
        var sameBytes: Bool?
        enum CodingKeys: String, CodingKey {
            case tokens, merges, pre, bos, eos, difference, tokenTypes = "token_types", addBos = "add_bos"
            case resaveMatches = "resave_matches", sameBytes = "same_bytes"
        }
    }

    struct Expected: Decodable, Sendable {
        var samples: [String]
        var ids: [[UInt16]]
        var idsWithSpecials: [[UInt16]]
        var decoded: [String]
        var bigIDs: [UInt16]
        var pretokens: [String: [[String]]]
        var bigPretokens: [String: [[String]]]
        enum CodingKeys: String, CodingKey {
            case samples, ids, decoded, pretokens
            case idsWithSpecials = "ids_with_specials", bigIDs = "big_ids", bigPretokens = "big_pretokens"
        }
    }

    var tokenizerJSON: Data
    var values: Values
    var expected: Expected
    var big: [UInt8]

    var samples: [String] { expected.samples }
    var decoded: [String] { expected.decoded }
    var idsWithSpecials: [[UInt16]] { expected.idsWithSpecials }
    var pretokens: [String: [[String]]] { expected.pretokens }
    var bigPretokens: [String: [[String]]] { expected.bigPretokens }

    static func error(_ e: any Error) -> CorpusError { e as? CorpusError ?? CorpusError(place: "bpe reference", "\(e)") }

    static func make(_ arguments: [String]) -> Result<BPEReference, CorpusError> {
        Result {
            let dir = try Fixture.tempDir("bpe-ref")
            defer { try? FileManager.default.removeItem(at: dir) }
            try python(arguments + [dir.path])
            func read(_ name: String) throws -> Data { try Data(contentsOf: dir.appendingPathComponent(name)) }
            return BPEReference(tokenizerJSON: try read("tokenizer.json"),
                                values: try JSONDecoder().decode(Values.self, from: try read("values.json")),
                                expected: try JSONDecoder().decode(Expected.self, from: try read("expected.json")),
                                big: [UInt8](try read("big.txt")))
        }.mapError(error)
    }

    /// Runs the fixture script; its last error line becomes the error.
    static func python(_ arguments: [String]) throws {
        let python = ProcessInfo.processInfo.environment["PYTHON"] ?? "python3"
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/bpe_reference.py")
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("prunescale-bpe-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: log) }
        let status = try Subprocess.run(URL(fileURLWithPath: "/usr/bin/env"), [python, script.path] + arguments, log: log)
        guard status == 0 else {
            throw CorpusError(place: "bpe_reference.py \(arguments.first ?? "")",
                              "failed (status \(status)): \(Subprocess.lastProblem(in: log)) — needs python3 with: pip install tokenizers gguf (scripts/install-deps)"
                              + (arguments.first == "smollm2" ? ", and the SmolLM2 GGUF (PRUNESCALE_SMOLLM2_GGUF)" : ""))
        }
    }

    /// Every sample and the large text encode to the library's ids.
    func expectSameIDs(_ t: BPETokenizer, sourceLocation: SourceLocation = #_sourceLocation) throws {
        try #require(expected.ids.count == samples.count && samples.count > 400, sourceLocation: sourceLocation)
        var differing = 0
        for (s, ids) in zip(samples, expected.ids) where t.encode(s) != ids {
            differing += 1
            if differing <= 5 { Issue.record("\(s.debugDescription): \(t.encode(s)) ≠ tokenizers' \(ids)", sourceLocation: sourceLocation) }
        }
        #expect(differing == 0, "\(differing) of \(samples.count) samples differ", sourceLocation: sourceLocation)
        let start = Date()
        let bigIDs = t.encode(big)
        let seconds = Date().timeIntervalSince(start)
        #expect(bigIDs.count == expected.bigIDs.count && bigIDs == expected.bigIDs,
                "large text: \(bigIDs.count) ids vs \(expected.bigIDs.count), first difference at \(firstDifference(bigIDs, expected.bigIDs))",
                sourceLocation: sourceLocation)
        print("BPE parity: \(samples.count) samples and \(big.count) bytes → \(bigIDs.count) ids in \(String(format: "%.2f", seconds)) s "
              + "(\(String(format: "%.2f", Double(big.count) / seconds / 1e6)) MB/s, this build)")
    }
}

func firstDifference<T: Equatable>(_ a: [T], _ b: [T]) -> Int {
    (0..<min(a.count, b.count)).first { a[$0] != b[$0] } ?? min(a.count, b.count)
}
