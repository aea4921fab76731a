import Foundation
import Persistence

/// Reading a Hugging Face `tokenizer.json` into a `BPETokenizer`: a BPE model (vocab, merges as
/// "a b" or ["a", "b"]), added tokens, no normalizer, and a pre-tokenizer built from ByteLevel,
/// Digits, Split (GPT-2's or Llama 3's regex, Isolated) and Sequence. Anything else is refused
/// with one line naming the file and the JSON place, rather than tokenized differently.
extension BPETokenizer {
    /// `bos`/`eos`: the text of those tokens (tokenizer_config.json keeps them, not tokenizer.json);
    /// BOS is also read from a post-processor that puts a special token first, which sets `addsBOS`.
    public init(tokenizerJSON url: URL, bos: String? = nil, eos: String? = nil) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw CorpusError(place: url.path, "cannot read: \(FileError.words(error))") }
        try self.init(tokenizerJSON: data, source: url.path, bos: bos, eos: eos)
    }

    /// As above, from the file's contents; `source` names it in errors.
    public init(tokenizerJSON data: Data, source: String, bos: String? = nil, eos: String? = nil) throws {
        let r = TokenizerJSONReader(source: source)
        let root: [String: Any]
        do {
            guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else { throw r.fail("", "not a JSON object") }
            root = object
        } catch let e as CorpusError { throw e } catch {
            throw CorpusError(place: source, "not JSON (\(error.localizedDescription))")
        }
        if let n = root["normalizer"], !(n is NSNull) {
            throw r.fail("normalizer.type", "unsupported '\((n as? [String: Any])?["type"] as? String ?? "?")' (no normalizer is supported)")
        }
        var d = try r.model(root["model"])
        d.added = try r.addedTokens(root["added_tokens"])
        d.preTokenizer = try r.preTokenizer(root["pre_tokenizer"])
        if let bosToken = try r.postProcessorBOS(root["post_processor"], "post_processor") {
            d.addsBOS = true
            d.bos = try r.id(of: bosToken, in: d, "post_processor")
        }
        if let bos {
            let id = try r.id(of: bos, in: d, "bos")
            if let b = d.bos, b != id { throw r.fail("bos", "'\(bos)' is id \(id) but the post-processor adds id \(b)") }
            d.bos = id
        }
        if let eos { d.eos = try r.id(of: eos, in: d, "eos") }
        if let decoder = root["decoder"], !(decoder is NSNull) {
            let type = try r.string(r.object(decoder, "decoder")["type"], "decoder.type")
            guard type == "ByteLevel" else { throw r.fail("decoder.type", "unsupported '\(type)' (only ByteLevel)") }
        }
        try self.init(d, names: Names(source: source, vocabulary: "model.vocab", merges: "model.merges", added: "added_tokens"))
    }
}

/// The JSON walk, with errors as `<file>: <json place>: <problem>`.
struct TokenizerJSONReader {
    let source: String

    func fail(_ path: String, _ message: String) -> CorpusError {
        CorpusError(place: source, path.isEmpty ? message : "\(path): \(message)")
    }

    func object(_ v: Any?, _ path: String) throws -> [String: Any] {
        guard let v, !(v is NSNull) else { throw fail(path, "missing") }
        guard let o = v as? [String: Any] else { throw fail(path, "expected an object") }
        return o
    }

    func array(_ v: Any?, _ path: String) throws -> [Any] {
        guard let v, !(v is NSNull) else { throw fail(path, "missing") }
        guard let a = v as? [Any] else { throw fail(path, "expected an array") }
        return a
    }

    func string(_ v: Any?, _ path: String) throws -> String {
        guard let v, !(v is NSNull) else { throw fail(path, "missing") }
        guard let s = v as? String else { throw fail(path, "expected a string") }
        return s
    }

    func int(_ v: Any?, _ path: String) throws -> Int {
        guard let v, !(v is NSNull) else { throw fail(path, "missing") }
        guard let n = v as? NSNumber, let i = Int(exactly: n.doubleValue) else { throw fail(path, "expected an integer") }
        return i
    }

    /// An optional flag: absent or null gives `default`.
    func bool(_ v: Any?, _ path: String, default value: Bool) throws -> Bool {
        guard let v, !(v is NSNull) else { return value }
        guard let b = v as? Bool else { throw fail(path, "expected true or false") }
        return b
    }

    /// A setting this reader does not implement: fine when absent, null or `neutral`.
    func refuse(_ v: Any?, _ path: String, unless neutral: (Any) -> Bool = { _ in false }) throws {
        guard let v, !(v is NSNull), !neutral(v) else { return }
        throw fail(path, "unsupported \(describe(v))")
    }

    func describe(_ v: Any) -> String {
        if let s = v as? String { return "'\(s)'" }
        if let data = try? JSONSerialization.data(withJSONObject: v, options: [.fragmentsAllowed, .sortedKeys]),
           let text = String(data: data, encoding: .utf8) { return String(text.prefix(80)) }
        return "\(v)"
    }

    func model(_ v: Any?) throws -> BPETokenizer.Definition {
        let m = try object(v, "model")
        let type = try string(m["type"], "model.type")
        guard type == "BPE" else { throw fail("model.type", "unsupported '\(type)' (only BPE)") }
        try refuse(m["dropout"], "model.dropout")
        try refuse(m["byte_fallback"], "model.byte_fallback") { ($0 as? Bool) == false }
        try refuse(m["continuing_subword_prefix"], "model.continuing_subword_prefix") { ($0 as? String) == "" }
        try refuse(m["end_of_word_suffix"], "model.end_of_word_suffix") { ($0 as? String) == "" }

        let vocab = try object(m["vocab"], "model.vocab")
        var byID: [Int: String] = [:]
        var top = -1
        for (token, value) in vocab {
            let path = "model.vocab['\(token)']"
            let id = try int(value, path)
            guard id >= 0 else { throw fail(path, "negative id \(id)") }
            guard id <= Int(UInt16.max) else { throw fail(path, "id \(id) does not fit UInt16 (at most \(UInt16.max))") }
            if let other = byID.updateValue(token, forKey: id) {
                throw fail("model.vocab", "id \(id) is given to both '\(min(other, token))' and '\(max(other, token))'")
            }
            top = max(top, id)
        }
        var vocabulary = [String?](repeating: nil, count: top + 1)
        for (id, token) in byID { vocabulary[id] = token }

        let list = try array(m["merges"], "model.merges")
        var merges: [(String, String)] = []
        merges.reserveCapacity(list.count)
        for (i, item) in list.enumerated() {
            // Older files write "a b"; newer ones ["a", "b"] (which allows spaces inside tokens).
            if let s = item as? String {
                let parts = s.split(separator: " ", omittingEmptySubsequences: false)
                if parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty {
                    merges.append((String(parts[0]), String(parts[1])))
                    continue
                }
            } else if let pair = item as? [Any], pair.count == 2, let a = pair[0] as? String, let b = pair[1] as? String, !a.isEmpty, !b.isEmpty {
                merges.append((a, b))
                continue
            }
            throw fail("model.merges[\(i)]", "expected \"a b\" or [\"a\", \"b\"], found \(describe(item))")
        }
        var unknown: String? = nil
        if let u = m["unk_token"], !(u is NSNull) { unknown = try string(u, "model.unk_token") }
        return BPETokenizer.Definition(vocabulary: vocabulary, merges: merges, added: [], unknown: unknown,
                                       fuseUnknown: try bool(m["fuse_unk"], "model.fuse_unk", default: false),
                                       preTokenizer: PreTokenizer([]),
                                       ignoreMerges: try bool(m["ignore_merges"], "model.ignore_merges", default: false))
    }

    func addedTokens(_ v: Any?) throws -> [(id: Int, content: String)] {
        guard let v, !(v is NSNull) else { return [] }
        var out: [(id: Int, content: String)] = []
        for (k, item) in try array(v, "added_tokens").enumerated() {
            let path = "added_tokens[\(k)]"
            let t = try object(item, path)
            // These change where a token matches (word boundaries, eating spaces); not implemented.
            for flag in ["single_word", "lstrip", "rstrip"] {
                if try bool(t[flag], "\(path).\(flag)", default: false) { throw fail("\(path).\(flag)", "unsupported true") }
            }
            out.append((try int(t["id"], "\(path).id"), try string(t["content"], "\(path).content")))
        }
        return out
    }

    func preTokenizer(_ v: Any?) throws -> PreTokenizer {
        guard let v, !(v is NSNull) else { throw fail("pre_tokenizer", "missing (a byte-level BPE needs ByteLevel)") }
        let steps = try self.steps(v, "pre_tokenizer")
        guard let byteLevel = steps.firstIndex(where: { if case .byteLevel = $0.step { true } else { false } }) else {
            throw fail("pre_tokenizer", "no ByteLevel step (a byte-level BPE needs one, last)")
        }
        guard byteLevel == steps.count - 1 else { throw fail(steps[byteLevel].path, "ByteLevel must be the last step") }
        return PreTokenizer(steps.map(\.step))
    }

    private func steps(_ v: Any, _ path: String) throws -> [(step: PreTokenizer.Step, path: String)] {
        let o = try object(v, path)
        let type = try string(o["type"], "\(path).type")
        switch type {
        case "Sequence":
            var out: [(step: PreTokenizer.Step, path: String)] = []
            for (i, item) in try array(o["pretokenizers"], "\(path).pretokenizers").enumerated() {
                out += try steps(item, "\(path).pretokenizers[\(i)]")
            }
            return out
        case "ByteLevel":
            // The library's defaults when a key is absent.
            return [(.byteLevel(addPrefixSpace: try bool(o["add_prefix_space"], "\(path).add_prefix_space", default: true),
                                useRegex: try bool(o["use_regex"], "\(path).use_regex", default: true)), path)]
        case "Digits":
            return [(.digits(individual: try bool(o["individual_digits"], "\(path).individual_digits", default: false)), path)]
        case "Split":
            let pattern = try object(o["pattern"], "\(path).pattern")
            guard let regex = pattern["Regex"] as? String else {
                throw fail("\(path).pattern", "unsupported \(describe(pattern)) (only the GPT-2 and Llama 3 regexes)")
            }
            guard let known = PreTokenizer.Pattern.allCases.first(where: { $0.regex == regex }) else {
                throw fail("\(path).pattern.Regex", "unsupported '\(regex)' (only the GPT-2 and Llama 3 regexes)")
            }
            let behavior = try string(o["behavior"], "\(path).behavior")
            guard behavior == "Isolated" else { throw fail("\(path).behavior", "unsupported '\(behavior)' (only Isolated)") }
            if try bool(o["invert"], "\(path).invert", default: false) { throw fail("\(path).invert", "unsupported true") }
            return [(.split(known), path)]
        default:
            throw fail("\(path).type", "unsupported '\(type)'")
        }
    }

    /// The token a post-processor puts first, if any. `ByteLevel` changes only offsets; a
    /// `TemplateProcessing` may put one special token before the text and nothing after it.
    func postProcessorBOS(_ v: Any?, _ path: String) throws -> String? {
        guard let v, !(v is NSNull) else { return nil }
        let o = try object(v, path)
        let type = try string(o["type"], "\(path).type")
        switch type {
        case "ByteLevel":
            return nil
        case "Sequence":
            var bos: String? = nil
            for (i, item) in try array(o["processors"], "\(path).processors").enumerated() {
                if let b = try postProcessorBOS(item, "\(path).processors[\(i)]") {
                    guard bos == nil else { throw fail("\(path).processors[\(i)]", "a second BOS template") }
                    bos = b
                }
            }
            return bos
        case "TemplateProcessing":
            let single = try array(o["single"], "\(path).single")
            let isText = { (item: Any) -> Bool in ((item as? [String: Any])?["Sequence"] as? [String: Any])?["id"] as? String == "A" }
            if single.count == 1 && isText(single[0]) { return nil }
            guard single.count == 2, isText(single[1]),
                  let first = (single[0] as? [String: Any])?["SpecialToken"] as? [String: Any], let token = first["id"] as? String else {
                throw fail("\(path).single", "unsupported template \(describe(single)) (only '$A' or '<special> $A')")
            }
            let specials = try object(o["special_tokens"], "\(path).special_tokens")
            let entry = try object(specials[token], "\(path).special_tokens['\(token)']")
            let ids = try array(entry["ids"], "\(path).special_tokens['\(token)'].ids")
            guard ids.count == 1 else { throw fail("\(path).special_tokens['\(token)'].ids", "expected one id, found \(ids.count)") }
            return token
        default:
            throw fail("\(path).type", "unsupported '\(type)'")
        }
    }

    /// An added token's id by its text, else a vocabulary token's.
    func id(of token: String, in d: BPETokenizer.Definition, _ path: String) throws -> Int {
        if let a = d.added.first(where: { $0.content == token }) { return a.id }
        if let i = d.vocabulary.firstIndex(where: { $0 == token }) { return i }
        throw fail(path, "'\(token)' is neither an added token nor in the vocabulary")
    }
}
