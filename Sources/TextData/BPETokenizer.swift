import Foundation

/// A GPT-2-style byte-level BPE (SmolLM2, GPT-2, Llama 3): added tokens matched whole, then the
/// pre-tokenizer, then each pre-token's bytes merged by rank. Encodes exactly as the `tokenizers`
/// library does (BPEParityTests check it against the library on SmolLM2's vocabulary).
///
/// Build it from a GGUF's values (`init(tokens:merges:tokenTypes:…)`) or from a Hugging Face
/// `tokenizer.json` (`init(tokenizerJSON:)`, in TokenizerJSON.swift); write it back out as one with
/// `tokenizerJSON()` (TokenizerJSONWriter.swift).
///
/// `encode` never adds BOS: token files are raw text cut into chunks, and a BOS in the middle of
/// text would be wrong. `encodeInput` adds it when the model asks (`addsBOS`).
///
/// Not exactly invertible for every input: bytes whose one-byte token the vocabulary lacks are
/// dropped (or become `unk`), as in the library; SmolLM2 lacks 0x04, 0x06, 0x13, 0x14, 0x16, 0x1D,
/// 0xC0, 0xC1, 0xF1, 0xF2 and 0xF5…0xFF. Other text round-trips through `decode`.
public struct BPETokenizer: Tokenizer {
    /// `bpe-<vocabulary size>-<16 hex digits>`, the hex a SHA-256 of the vocabulary, merges, added
    /// tokens, BPE options and pre-tokenizer: whatever changes a single id changes the name.
    public let name: String
    public let vocabSize: Int
    public let preTokenizer: PreTokenizer
    public let bos: UInt16?
    public let eos: UInt16?
    /// Whether the model expects BOS first in its input (GGUF `tokenizer.ggml.add_bos_token`, or a
    /// tokenizer.json post-processor that starts with a special token).
    public let addsBOS: Bool

    private let encoder: BPEEncoder
    private let specialIDs: [String: UInt16]
    /// Token id → its bytes: `decodeBytes[decodeOffsets[id] ..< decodeOffsets[id + 1]]`.
    private let decodeBytes: [UInt8]
    private let decodeOffsets: [Int32]
    /// What it was made from, kept for `tokenizerJSON()`; encoding never reads it.
    let definition: Definition

    /// From a GGUF's tokenizer values (`tokenizer.ggml.model` "gpt2"): `tokens` and `merges` ("a b",
    /// in the byte-level alphabet) as stored; `tokenTypes` marks the tokens matched whole in text
    /// (3 control, 4 user-defined); `preTokenizer` from `tokenizer.ggml.pre` (see
    /// `PreTokenizer.llamaCpp`); `ignoreMerges` for Llama 3. The GGUF's `unknown_token_id` is not
    /// used: the library's SmolLM2 tokenizer has no unknown token and drops bytes it cannot spell.
    public init(tokens: [String], merges: [String], tokenTypes: [Int32], preTokenizer: PreTokenizer,
                bos: Int? = nil, eos: Int? = nil, addsBOS: Bool = false, ignoreMerges: Bool = false) throws {
        guard tokenTypes.count == tokens.count else {
            throw CorpusError(place: Self.valuesPlace, "tokenTypes: \(tokenTypes.count) types for \(tokens.count) tokens")
        }
        let special = tokenTypes.indices.filter { tokenTypes[$0] == 3 || tokenTypes[$0] == 4 }
        try self.init(tokens: tokens, merges: merges, specialTokenIDs: special, preTokenizer: preTokenizer,
                      bos: bos, eos: eos, addsBOS: addsBOS, ignoreMerges: ignoreMerges)
    }

    /// As above, naming the tokens matched whole by id.
    public init(tokens: [String], merges: [String], specialTokenIDs: [Int], preTokenizer: PreTokenizer,
                bos: Int? = nil, eos: Int? = nil, addsBOS: Bool = false, ignoreMerges: Bool = false) throws {
        var pairs: [(String, String)] = []
        pairs.reserveCapacity(merges.count)
        for (i, m) in merges.enumerated() {
            // Byte-level tokens never hold a real space (it is spelled "Ġ"), so one space separates.
            let parts = m.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw CorpusError(place: Self.valuesPlace, "merges[\(i)]: '\(m)' is not two tokens separated by one space")
            }
            pairs.append((String(parts[0]), String(parts[1])))
        }
        var added: [(id: Int, content: String)] = []
        for id in specialTokenIDs {
            guard tokens.indices.contains(id) else {
                throw CorpusError(place: Self.valuesPlace, "specialTokenIDs: \(id) is not a token id (0..<\(tokens.count))")
            }
            added.append((id, tokens[id]))
        }
        try self.init(Definition(vocabulary: tokens, merges: pairs, added: added, preTokenizer: preTokenizer,
                                 bos: bos, eos: eos, addsBOS: addsBOS, ignoreMerges: ignoreMerges),
                      names: Names(source: Self.valuesPlace, vocabulary: "tokens", merges: "merges", added: "specialTokenIDs"))
    }

    static let valuesPlace = "BPE tokenizer"

    /// Everything a BPE tokenizer is made of, however it was read.
    struct Definition {
        /// Token strings in the byte-level alphabet, by id; nil for an unused id.
        var vocabulary: [String?]
        /// In rank order.
        var merges: [(String, String)]
        /// Tokens matched whole in text (they decode to their content).
        var added: [(id: Int, content: String)]
        var unknown: String? = nil
        var fuseUnknown = false
        var preTokenizer: PreTokenizer
        var bos: Int? = nil
        var eos: Int? = nil
        var addsBOS = false
        var ignoreMerges = false
    }

    /// How errors name the source and its parts.
    struct Names {
        var source: String
        var vocabulary: String
        var merges: String
        var added: String
    }

    init(_ d: Definition, names: Names) throws {
        func fail(_ message: String) -> CorpusError { CorpusError(place: names.source, message) }
        let limit = Int(UInt16.max) + 1
        guard d.vocabulary.count <= limit else {
            throw fail("\(names.vocabulary): \(d.vocabulary.count) entries; token ids must fit UInt16 (at most \(limit) entries)")
        }
        let steps = d.preTokenizer.steps
        guard let last = steps.last, case .byteLevel = last,
              steps.dropLast().allSatisfy({ if case .byteLevel = $0 { false } else { true } }) else {
            throw fail("pre-tokenizer '\(d.preTokenizer)': a byte-level BPE needs the byte-level step, once and last")
        }

        // Keyed by UTF-8 bytes, not String: Swift's String equality is canonical equivalence, and
        // two tokens may differ only in how an accent is composed.
        var ids: [[UInt8]: Int32] = [:]
        ids.reserveCapacity(d.vocabulary.count)
        for (i, t) in d.vocabulary.enumerated() {
            guard let t else { continue }
            if let j = ids.updateValue(Int32(i), forKey: Array(t.utf8)) { throw fail("\(names.vocabulary)[\(i)]: '\(t)' is also token \(j)") }
        }
        var vocabSize = d.vocabulary.count
        var addedTokens: [(id: UInt16, content: String)] = []
        for (k, a) in d.added.enumerated() {
            guard a.id >= 0 && a.id < limit else { throw fail("\(names.added)[\(k)]: id \(a.id) does not fit UInt16") }
            guard !a.content.isEmpty else { throw fail("\(names.added)[\(k)]: empty token") }
            if let twin = addedTokens.first(where: { $0.content.utf8.elementsEqual(a.content.utf8) }) {
                throw fail("\(names.added)[\(k)]: '\(a.content)' is already added as id \(twin.id)")
            }
            vocabSize = max(vocabSize, a.id + 1)
            addedTokens.append((UInt16(a.id), a.content))
        }

        var merges: [UInt32: UInt64] = [:]
        merges.reserveCapacity(d.merges.count)
        for (rank, (a, b)) in d.merges.enumerated() {
            let ua = Array(a.utf8), ub = Array(b.utf8)
            guard let l = ids[ua] else { throw fail("\(names.merges)[\(rank)]: '\(a)' is not in the vocabulary") }
            guard let r = ids[ub] else { throw fail("\(names.merges)[\(rank)]: '\(b)' is not in the vocabulary") }
            guard let m = ids[ua + ub] else { throw fail("\(names.merges)[\(rank)]: the merged token '\(a + b)' is not in the vocabulary") }
            // A pair listed twice keeps its later rank, as the library's merge map does.
            merges[BPEModel.key(l, r)] = UInt64(rank) << 32 | UInt64(m)
        }
        let byteIDs = (0..<256).map { ids[Array(String(ByteLevelAlphabet.scalars[$0]).utf8)] ?? -1 }
        var unknown: Int32 = -1
        if let u = d.unknown {
            guard let id = ids[Array(u.utf8)] else { throw fail("unknown token '\(u)' is not in the vocabulary") }
            unknown = id
        }
        var whole: [[UInt8]: UInt16]? = nil
        if d.ignoreMerges {
            // Only tokens spelled wholly in the alphabet: the library looks the pre-token up by its spelling.
            var table: [[UInt8]: UInt16] = [:]
            for (i, t) in d.vocabulary.enumerated() {
                if let t, let b = ByteLevelAlphabet.bytes(spelledBy: t) { table[b] = UInt16(i) }
            }
            whole = table
        }
        for (label, id) in [("bos", d.bos), ("eos", d.eos)] {
            if let id, !(0..<vocabSize).contains(id) { throw fail("\(label) id \(id) is outside the vocabulary (0..<\(vocabSize))") }
        }
        if d.addsBOS && d.bos == nil { throw fail("BOS is to be added but there is no BOS id") }

        // Decoding: a vocabulary token's bytes, or an added token's own text.
        var spelled = [[UInt8]?](repeating: nil, count: vocabSize)
        for (i, t) in d.vocabulary.enumerated() { if let t { spelled[i] = ByteLevelAlphabet.decode(t) } }
        for a in addedTokens { spelled[Int(a.id)] = Array(a.content.utf8) }
        var bytes: [UInt8] = [], offsets: [Int32] = [0]
        for s in spelled {
            bytes += s ?? []
            offsets.append(Int32(bytes.count))
        }

        // The name: a digest of everything that decides ids, lengths first so no two differ only in where one ends.
        var h = SHA256()
        func field(_ s: String) { h.update("\(s.utf8.count):"); h.update(s) }
        field("prunescale-bpe-1")
        field(d.preTokenizer.description)
        field("unknown=\(d.unknown ?? "-") fuse=\(d.fuseUnknown) ignore-merges=\(d.ignoreMerges)")
        field("vocabulary \(d.vocabulary.count)")
        for t in d.vocabulary { field(t ?? "\u{0}absent") }
        field("merges \(d.merges.count)")
        for (a, b) in d.merges { field(a); field(b) }
        field("added \(addedTokens.count)")
        for a in addedTokens.sorted(by: { $0.id < $1.id }) { field("\(a.id)"); field(a.content) }

        self.name = "bpe-\(vocabSize)-\(h.finalizeHex().prefix(16))"
        self.vocabSize = vocabSize
        self.preTokenizer = d.preTokenizer
        self.bos = d.bos.map { UInt16($0) }
        self.eos = d.eos.map { UInt16($0) }
        self.addsBOS = d.addsBOS
        self.encoder = BPEEncoder(specials: SpecialTokenMatcher(addedTokens), preTokenizer: d.preTokenizer,
                                  model: BPEModel(byteIDs: byteIDs, unknown: unknown, fuseUnknown: d.fuseUnknown, merges: merges, wholeTokens: whole))
        self.specialIDs = Dictionary(addedTokens.map { ($0.content, $0.id) }, uniquingKeysWith: { a, _ in a })
        self.decodeBytes = bytes
        self.decodeOffsets = offsets
        self.definition = d
    }

    /// The id of an added token by its text (`"<|im_end|>"`).
    public func specialTokenID(_ content: String) -> UInt16? { specialIDs[content] }

    public func encode(_ bytes: UnsafeRawBufferPointer) -> [UInt16] { encoder.encode(bytes) }

    public var endOfText: UInt16? { eos }

    /// One model input: BOS first when the model asks for it, then the text's tokens.
    public func encodeInput(_ text: String) -> [UInt16] {
        (addsBOS ? [bos!] : []) + encode(text)
    }

    /// Each token's bytes; added tokens give their text; ids outside the vocabulary give nothing.
    public func decode(_ tokens: UnsafeBufferPointer<UInt16>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(tokens.count * 4)
        decodeBytes.withUnsafeBufferPointer { all in
            for t in tokens where Int(t) < vocabSize {
                out.append(contentsOf: all[Int(decodeOffsets[Int(t)])..<Int(decodeOffsets[Int(t) + 1])])
            }
        }
        return out
    }
}

/// The encoding pipeline behind one reference, so the per-piece closures capture a single pointer
/// rather than copying the tokenizer (copying it retained a dozen arrays per pre-token).
final class BPEEncoder: Sendable {
    let specials: SpecialTokenMatcher
    let preTokenizer: PreTokenizer
    let model: BPEModel
    let cache = PieceCache()

    init(specials: SpecialTokenMatcher, preTokenizer: PreTokenizer, model: BPEModel) {
        self.specials = specials
        self.preTokenizer = preTokenizer
        self.model = model
    }

    func encode(_ bytes: UnsafeRawBufferPointer) -> [UInt16] {
        var out: [UInt16] = []
        out.reserveCapacity(bytes.count / 3 + 8)
        var scratch = BPEScratch()
        specials.forEachSegment(bytes, text: { segment in
            preTokenizer.forEachPiece(segment) { piece in encodePiece(piece, &scratch, &out) }
        }, special: { out.append($0) })
        return out
    }

    private func encodePiece(_ piece: UnsafeRawBufferPointer, _ scratch: inout BPEScratch, _ out: inout [UInt16]) {
        guard piece.count > 1 else { return model.encode(piece, &scratch, into: &out) }
        let hash = PieceCache.hash(piece)
        if cache.lookup(piece, hash: hash, into: &out) { return }
        let start = out.count
        model.encode(piece, &scratch, into: &out)
        cache.insert(piece, hash: hash, ids: out[start...])
    }
}
