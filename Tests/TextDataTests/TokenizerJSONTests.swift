import Foundation
import Testing
@testable import TextData

/// tokenizer.json files the reader refuses: one line naming the file and the JSON place.
@Suite struct TokenizerJSONTests {
    /// A minimal valid file: the 256 byte tokens, "a b" → "ab", ByteLevel, one special token.
    static func valid() -> [String: Any] {
        var vocab: [String: Any] = [:]
        for b in 0..<256 { vocab[String(ByteLevelAlphabet.scalars[b])] = b }
        vocab["ab"] = 256
        return [
            "version": "1.0", "normalizer": NSNull(), "post_processor": NSNull(),
            "added_tokens": [["id": 257, "content": "<|end|>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true]],
            "pre_tokenizer": ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true],
            "decoder": ["type": "ByteLevel"],
            "model": ["type": "BPE", "dropout": NSNull(), "unk_token": NSNull(), "fuse_unk": false, "byte_fallback": false,
                      "vocab": vocab, "merges": [["a", "b"]]] as [String: Any],
        ]
    }

    static func load(_ json: [String: Any]) throws -> BPETokenizer {
        try BPETokenizer(tokenizerJSON: JSONSerialization.data(withJSONObject: json), source: "t.json")
    }

    /// `edit` applied to a valid file must give exactly `message` (after "t.json: ").
    static func expectError(_ message: String, sourceLocation: SourceLocation = #_sourceLocation, _ edit: (inout [String: Any]) -> Void) {
        var json = valid()
        edit(&json)
        do {
            _ = try load(json)
            Issue.record("accepted; expected \(message)", sourceLocation: sourceLocation)
        } catch let e as CorpusError {
            #expect(e.description == "t.json: \(message)", sourceLocation: sourceLocation)
            #expect(!e.description.contains("\n"), sourceLocation: sourceLocation)
        } catch {
            Issue.record("not a CorpusError: \(error)", sourceLocation: sourceLocation)
        }
    }

    static func setModel(_ json: inout [String: Any], _ key: String, _ value: Any) {
        var model = json["model"] as! [String: Any]
        model[key] = value
        json["model"] = model
    }

    @Test func theValidFileLoads() throws {
        let t = try Self.load(Self.valid())
        #expect(t.vocabSize == 258)
        #expect(t.encode("ab<|end|>") == [256, 257])
        var strings = Self.valid()
        Self.setModel(&strings, "merges", ["a b"])  // the older spelling of merges
        #expect(try Self.load(strings).name == t.name)
    }

    @Test func modelErrors() {
        Self.expectError("model: missing") { $0["model"] = nil }
        Self.expectError("model.type: unsupported 'WordPiece' (only BPE)") { Self.setModel(&$0, "type", "WordPiece") }
        Self.expectError("model.vocab: missing") { Self.setModel(&$0, "vocab", NSNull()) }
        Self.expectError("model.vocab['x']: id 70000 does not fit UInt16 (at most 65535)") {
            var v = ($0["model"] as! [String: Any])["vocab"] as! [String: Any]
            v["x"] = 70000
            Self.setModel(&$0, "vocab", v)
        }
        Self.expectError("model.vocab: id 256 is given to both 'ab' and 'zz'") {
            var v = ($0["model"] as! [String: Any])["vocab"] as! [String: Any]
            v["zz"] = 256
            Self.setModel(&$0, "vocab", v)
        }
        Self.expectError(#"model.merges[0]: expected "a b" or ["a", "b"], found ["a","b","c"]"#) { Self.setModel(&$0, "merges", [["a", "b", "c"]]) }
        Self.expectError(#"model.merges[1]: expected "a b" or ["a", "b"], found 'ab'"#) { Self.setModel(&$0, "merges", ["a b", "ab"]) }
        Self.expectError(#"model.merges[0]: expected "a b" or ["a", "b"], found 7"#) { Self.setModel(&$0, "merges", [7]) }
        Self.expectError("model.merges: expected an array") { Self.setModel(&$0, "merges", "a b") }
        Self.expectError("model.merges[0]: 'Ω' is not in the vocabulary") { Self.setModel(&$0, "merges", [["Ω", "b"]]) }
        Self.expectError("model.merges[0]: the merged token 'ba' is not in the vocabulary") { Self.setModel(&$0, "merges", [["b", "a"]]) }
        Self.expectError("model.byte_fallback: unsupported true") { Self.setModel(&$0, "byte_fallback", true) }
        Self.expectError("model.continuing_subword_prefix: unsupported '##'") { Self.setModel(&$0, "continuing_subword_prefix", "##") }
    }

    @Test func preTokenizerErrors() {
        Self.expectError("pre_tokenizer.pretokenizers[1].type: unsupported 'Metaspace'") {
            $0["pre_tokenizer"] = ["type": "Sequence", "pretokenizers": [["type": "Digits", "individual_digits": true], ["type": "Metaspace"]]]
        }
        Self.expectError("pre_tokenizer: missing (a byte-level BPE needs ByteLevel)") { $0["pre_tokenizer"] = NSNull() }
        Self.expectError("pre_tokenizer.pretokenizers[0]: ByteLevel must be the last step") {
            $0["pre_tokenizer"] = ["type": "Sequence", "pretokenizers": [["type": "ByteLevel"], ["type": "Digits"]]]
        }
        Self.expectError("pre_tokenizer: no ByteLevel step (a byte-level BPE needs one, last)") { $0["pre_tokenizer"] = ["type": "Digits"] }
        Self.expectError(#"pre_tokenizer.pretokenizers[0].pattern.Regex: unsupported '\s+' (only the GPT-2 and Llama 3 regexes)"#) {
            $0["pre_tokenizer"] = ["type": "Sequence", "pretokenizers": [
                ["type": "Split", "pattern": ["Regex": #"\s+"#], "behavior": "Isolated", "invert": false], ["type": "ByteLevel"]]]
        }
        Self.expectError("pre_tokenizer.pretokenizers[0].behavior: unsupported 'Removed' (only Isolated)") {
            $0["pre_tokenizer"] = ["type": "Sequence", "pretokenizers": [
                ["type": "Split", "pattern": ["Regex": PreTokenizer.Pattern.llama3.regex], "behavior": "Removed", "invert": false], ["type": "ByteLevel"]]]
        }
    }

    @Test func otherErrors() throws {
        Self.expectError("normalizer.type: unsupported 'NFC' (no normalizer is supported)") { $0["normalizer"] = ["type": "NFC"] }
        Self.expectError("added_tokens[0].lstrip: unsupported true") {
            $0["added_tokens"] = [["id": 257, "content": "<|end|>", "lstrip": true]]
        }
        Self.expectError("added_tokens[0]: id 70000 does not fit UInt16") { $0["added_tokens"] = [["id": 70000, "content": "<|end|>"]] }
        Self.expectError("decoder.type: unsupported 'WordPiece' (only ByteLevel)") { $0["decoder"] = ["type": "WordPiece"] }
        Self.expectError("post_processor.type: unsupported 'BertProcessing'") { $0["post_processor"] = ["type": "BertProcessing"] }
        #expect(throws: CorpusError.self) { try BPETokenizer(tokenizerJSON: Data("{".utf8), source: "t.json") }
        let missing = URL(fileURLWithPath: "/nonexistent/tokenizer.json")
        #expect { try BPETokenizer(tokenizerJSON: missing) } throws: { ($0 as? CorpusError)?.place == missing.path }
    }

    @Test func bosFromATemplatePostProcessor() throws {
        var json = Self.valid()
        json["post_processor"] = ["type": "Sequence", "processors": [
            ["type": "ByteLevel", "trim_offsets": false],
            ["type": "TemplateProcessing",
             "single": [["SpecialToken": ["id": "<|end|>", "type_id": 0]], ["Sequence": ["id": "A", "type_id": 0]]],
             "special_tokens": ["<|end|>": ["id": "<|end|>", "ids": [257], "tokens": ["<|end|>"]]]],
        ]]
        let t = try Self.load(json)
        #expect(t.addsBOS && t.bos == 257)
        #expect(t.encodeInput("ab") == [257, 256] && t.encode("ab") == [256])
    }
}
