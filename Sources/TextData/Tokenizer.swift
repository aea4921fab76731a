/// Turns text bytes into token ids and back. Ids are `UInt16` because that is how token files
/// store them (a BPE of up to 65,536 entries fits the same files and the same sampler).
public protocol Tokenizer: Sendable {
    /// Identifies the tokenizer in cache keys and sidecars; change it whenever the mapping changes.
    var name: String { get }
    var vocabSize: Int { get }
    func encode(_ bytes: UnsafeRawBufferPointer) -> [UInt16]
    func decode(_ tokens: UnsafeBufferPointer<UInt16>) -> [UInt8]
    /// A prompt as the model expects it (BPE models may want BOS first); corpus text uses `encode`.
    func encodeInput(_ text: String) -> [UInt16]
    /// The token after which generation stops (nil: none; bytes have none).
    var endOfText: UInt16? { get }
}

extension Tokenizer {
    public func encodeInput(_ text: String) -> [UInt16] { encode(text) }
    public var endOfText: UInt16? { nil }
    public func encode(_ bytes: [UInt8]) -> [UInt16] { bytes.withUnsafeBytes { encode($0) } }
    public func encode(_ text: String) -> [UInt16] { encode(Array(text.utf8)) }
    public func decode(_ tokens: [UInt16]) -> [UInt8] { tokens.withUnsafeBufferPointer { decode($0) } }
    /// Text for display; invalid UTF-8 (a window cut mid-character) becomes U+FFFD.
    public func decodeText(_ tokens: [UInt16]) -> String { String(decoding: decode(tokens), as: UTF8.self) }
}

/// One token per byte (vocab 256): no training, no unknown tokens, any input round-trips exactly.
public struct ByteTokenizer: Tokenizer, Equatable {
    public init() {}
    public var name: String { "byte" }
    public var vocabSize: Int { 256 }

    public func encode(_ bytes: UnsafeRawBufferPointer) -> [UInt16] {
        [UInt16](unsafeUninitializedCapacity: bytes.count) { out, n in
            for i in 0..<bytes.count { out[i] = UInt16(bytes[i]) }
            n = bytes.count
        }
    }

    /// Ids ≥ 256 cannot come from this tokenizer; they are dropped rather than trapping, so
    /// decoding a sample from a model with a larger head still shows something.
    public func decode(_ tokens: UnsafeBufferPointer<UInt16>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(tokens.count)
        for t in tokens where t < 256 { out.append(UInt8(t)) }
        return out
    }
}

/// Tokenizers by the name recorded in sidecars and accepted on the command line. A BPE is not
/// here: it is made from its model's files (`BPETokenizer(tokenizerJSON:)`, or the GGUF's values),
/// and its name (`bpe-<vocab>-<hash>`) identifies those files rather than finds them.
public enum Tokenizers {
    public static let names = ["byte"]
    public static func named(_ name: String) throws -> any Tokenizer {
        switch name.lowercased() {
        case "byte", "bytes": return ByteTokenizer()
        default: throw CorpusError(place: "--tokenizer", "unknown tokenizer '\(name)' (known: \(names.joined(separator: ", ")))")
        }
    }
}
