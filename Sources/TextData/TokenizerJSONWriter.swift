import Foundation

/// Writing a `BPETokenizer` as a Hugging Face `tokenizer.json`, so that a checkpoint folder carries
/// its tokenizer for us (`init(tokenizerJSON:)`) and for HF tools. The layout is that of the
/// `tokenizers` library's own save (0.23): its fields in its order, two-space indentation, the
/// vocabulary by id, merges as ["a", "b"] pairs (the form it writes; "a b" would break on a token
/// holding a space). Built from the tokenizer's values alone, so one tokenizer always gives the same
/// bytes.
extension BPETokenizer {
    /// The file's bytes. Throws (one line, naming the token) when `tokenizers` would read the file
    /// into different ids: added tokens it would renumber, or a BOS with no text to name it by.
    public func tokenizerJSON() throws -> Data {
        let d = definition
        let added = try libraryOrderedAddedTokens()
        var bosTemplate: JSONNode = .null
        if addsBOS, let bos {
            guard let text = added.first(where: { $0.id == Int(bos) })?.content
                    ?? (Int(bos) < d.vocabulary.count ? d.vocabulary[Int(bos)] : nil) else {
                throw writeError("BOS id \(bos) has no token text, which the post-processor needs to name it")
            }
            bosTemplate = Self.bosTemplate(text, id: Int(bos))
        }

        var vocab: [(String, JSONNode)] = []
        vocab.reserveCapacity(d.vocabulary.count)
        for (id, token) in d.vocabulary.enumerated() { if let token { vocab.append((token, .int(id))) } }
        let model: JSONNode = .object([
            ("type", .string("BPE")),
            ("dropout", .null),
            ("unk_token", d.unknown.map { .string($0) } ?? .null),
            ("continuing_subword_prefix", .null),
            ("end_of_word_suffix", .null),
            ("fuse_unk", .bool(d.fuseUnknown)),
            ("byte_fallback", .bool(false)),
            ("ignore_merges", .bool(d.ignoreMerges)),
            ("vocab", .object(vocab)),
            ("merges", .array(d.merges.map { .array([.string($0.0), .string($0.1)]) })),
        ])
        let root: JSONNode = .object([
            ("version", .string("1.0")),
            ("truncation", .null),
            ("padding", .null),
            ("added_tokens", .array(added.map { a in
                .object([("id", .int(a.id)), ("content", .string(a.content)), ("single_word", .bool(false)), ("lstrip", .bool(false)),
                         ("rstrip", .bool(false)), ("normalized", .bool(false)), ("special", .bool(true))])
            })),
            ("normalizer", .null),
            ("pre_tokenizer", Self.preTokenizerNode(preTokenizer)),
            // No ByteLevel post-processor: it changes only offsets, which we do not produce.
            ("post_processor", bosTemplate),
            // The library's defaults; a ByteLevel decoder ignores these three options.
            ("decoder", Self.byteLevelNode(addPrefixSpace: true, useRegex: true)),
            ("model", model),
        ])
        var out: [UInt8] = []
        out.reserveCapacity(64 * (d.vocabulary.count + d.merges.count) + 4096)
        root.write(into: &out, level: 0)
        return Data(out)
    }

    private func writeError(_ message: String) -> CorpusError {
        CorpusError(place: "tokenizer.json of \(name)", message)
    }

    /// The added tokens by id, once checked that `tokenizers` would give each the same id. The
    /// library does not take an added token's id from the file: a token whose text is in the
    /// vocabulary gets that entry's id, any other the next id after the vocabulary and the added
    /// tokens before it, counting vocabulary entries (so a gap in the ids shifts them).
    private func libraryOrderedAddedTokens() throws -> [(id: Int, content: String)] {
        let d = definition
        // Equal ids keep their given order, so the error below names them the same way every time.
        let added = d.added.enumerated().sorted { ($0.element.id, $0.offset) < ($1.element.id, $1.offset) }.map(\.element)
        guard !added.isEmpty else { return added }
        // By UTF-8 bytes, as the tokenizer itself keys them (String equality is canonical equivalence).
        var vocabularyIDs: [[UInt8]: Int] = [:]
        vocabularyIDs.reserveCapacity(d.vocabulary.count)
        for (id, token) in d.vocabulary.enumerated() { if let token { vocabularyIDs[Array(token.utf8)] = id } }
        var next = vocabularyIDs.count
        for (k, a) in added.enumerated() {
            let shown = a.content.debugDescription
            if k > 0, added[k - 1].id == a.id {
                throw writeError("added tokens \(added[k - 1].content.debugDescription) and \(shown) share id \(a.id); tokenizers gives each its own")
            }
            if let id = vocabularyIDs[Array(a.content.utf8)] {
                guard id == a.id else {
                    throw writeError("added token \(shown) has id \(a.id) but is the vocabulary's token \(id); tokenizers would give it \(id)")
                }
                continue
            }
            if a.id < d.vocabulary.count, let other = d.vocabulary[a.id] {
                throw writeError("added token \(shown) has id \(a.id), the vocabulary's \(other.debugDescription); tokenizers would give it another id")
            }
            guard vocabularyIDs.count == d.vocabulary.count else {
                let gap = d.vocabulary.firstIndex(where: { $0 == nil })!
                throw writeError("added token \(shown) is outside a vocabulary with a gap at id \(gap); tokenizers would number it from \(vocabularyIDs.count)")
            }
            guard a.id == next else {
                throw writeError("added token \(shown) has id \(a.id); tokenizers would give it \(next) (the next id after the vocabulary and the added tokens before it)")
            }
            next += 1
        }
        return added
    }

    private static func preTokenizerNode(_ p: PreTokenizer) -> JSONNode {
        let steps: [JSONNode] = p.steps.map { step in
            switch step {
            case .digits(let individual):
                .object([("type", .string("Digits")), ("individual_digits", .bool(individual))])
            case .split(let pattern):
                .object([("type", .string("Split")), ("pattern", .object([("Regex", .string(pattern.regex))])),
                         ("behavior", .string("Isolated")), ("invert", .bool(false))])
            case .byteLevel(let addPrefixSpace, let useRegex):
                byteLevelNode(addPrefixSpace: addPrefixSpace, useRegex: useRegex)
            }
        }
        // GPT-2's lone ByteLevel is written bare, as the library saves it.
        return steps.count == 1 ? steps[0] : .object([("type", .string("Sequence")), ("pretokenizers", .array(steps))])
    }

    /// trim_offsets matters only to offsets; true is the library's default.
    private static func byteLevelNode(addPrefixSpace: Bool, useRegex: Bool) -> JSONNode {
        .object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(addPrefixSpace)),
                 ("trim_offsets", .bool(true)), ("use_regex", .bool(useRegex))])
    }

    /// BOS before the text, and before each text of a pair (the second one's type 1), as Llama 3's file has it.
    private static func bosTemplate(_ text: String, id: Int) -> JSONNode {
        func special(_ type: Int) -> JSONNode {
            .object([("SpecialToken", .object([("id", .string(text)), ("type_id", .int(type))]))])
        }
        func sequence(_ name: String, _ type: Int) -> JSONNode {
            .object([("Sequence", .object([("id", .string(name)), ("type_id", .int(type))]))])
        }
        return .object([
            ("type", .string("TemplateProcessing")),
            ("single", .array([special(0), sequence("A", 0)])),
            ("pair", .array([special(0), sequence("A", 0), special(1), sequence("B", 1)])),
            ("special_tokens", .object([(text, .object([("id", .string(text)), ("ids", .array([.int(id)])),
                                                        ("tokens", .array([.string(text)]))]))])),
        ])
    }
}

/// A JSON value whose objects keep their members in the order given (and may hold keys that Swift
/// would call equal but differ in bytes), printed as serde_json's pretty printer does.
private enum JSONNode {
    case null
    case bool(Bool)
    case int(Int)
    case string(String)
    case array([JSONNode])
    case object([(String, JSONNode)])

    func write(into out: inout [UInt8], level: Int) {
        func indent(_ l: Int) {
            out.append(0x0A)
            out.append(contentsOf: repeatElement(0x20, count: 2 * l))
        }
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .int(let n): out.append(contentsOf: String(n).utf8)
        case .string(let s): Self.quote(s, into: &out)
        case .array(let items):
            guard !items.isEmpty else { out.append(contentsOf: "[]".utf8); return }
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                indent(level + 1)
                item.write(into: &out, level: level + 1)
            }
            indent(level)
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            guard !members.isEmpty else { out.append(contentsOf: "{}".utf8); return }
            out.append(UInt8(ascii: "{"))
            for (i, (key, value)) in members.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                indent(level + 1)
                Self.quote(key, into: &out)
                out += [UInt8(ascii: ":"), 0x20]
                value.write(into: &out, level: level + 1)
            }
            indent(level)
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Escapes only what JSON requires (quote, backslash, controls below 0x20), as serde_json does;
    /// everything else stays raw UTF-8.
    static func quote(_ s: String, into out: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        out.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out += [0x5C, UInt8(ascii: "\"")]
            case 0x5C: out += [0x5C, 0x5C]
            case 0x08: out += [0x5C, UInt8(ascii: "b")]
            case 0x09: out += [0x5C, UInt8(ascii: "t")]
            case 0x0A: out += [0x5C, UInt8(ascii: "n")]
            case 0x0C: out += [0x5C, UInt8(ascii: "f")]
            case 0x0D: out += [0x5C, UInt8(ascii: "r")]
            case 0..<0x20: out += [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 0xF)]]
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
