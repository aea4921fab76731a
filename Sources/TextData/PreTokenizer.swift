/// How text is cut into pre-tokens before BPE merges inside each one: a sequence of steps, each
/// cutting the pieces the previous one left, as a `tokenizers` pre-tokenizer `Sequence` does.
/// A byte-level BPE ends with `byteLevel`. SmolLM2 uses `.smollm`: every digit alone, then GPT-2's
/// pattern on the text between digits.
public struct PreTokenizer: Sendable, Equatable, CustomStringConvertible {
    /// The split patterns implemented (by hand, see PreTokenizerScanners).
    public enum Pattern: String, Sendable, CaseIterable {
        case gpt2, llama3

        /// The regex as tokenizer.json spells it.
        public var regex: String {
            switch self {
            case .gpt2: #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
            case .llama3:
                #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
            }
        }
    }

    public enum Step: Sendable, Equatable {
        /// Numeric characters (Unicode's, as Rust's `char::is_numeric`) apart from the rest: each on
        /// its own when `individual`, else in runs.
        case digits(individual: Bool)
        /// Every match of the pattern is a piece.
        case split(Pattern)
        /// GPT-2's byte-level step: a space before each piece that does not start with one when
        /// `addPrefixSpace`, then GPT-2's pattern when `useRegex`. Must come last.
        case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    }

    public let steps: [Step]

    public init(_ steps: [Step]) { self.steps = steps }

    /// GPT-2's own: the byte-level step with its pattern.
    public static let gpt2 = PreTokenizer([.byteLevel(addPrefixSpace: false, useRegex: true)])
    /// SmolLM's (and StarCoder's): each digit alone, then GPT-2's pattern between them.
    public static let smollm = PreTokenizer([.digits(individual: true), .byteLevel(addPrefixSpace: false, useRegex: true)])
    /// Llama 3's: its own pattern, then the byte-level step without one.
    public static let llama3 = PreTokenizer([.split(.llama3), .byteLevel(addPrefixSpace: false, useRegex: false)])

    /// The pre-tokenizer a GGUF's `tokenizer.ggml.pre` names (llama.cpp's names), for those
    /// implemented here; nil for others. (For `llama-bpe` the BPE also needs `ignoreMerges`.)
    public static func llamaCpp(_ name: String) -> PreTokenizer? {
        switch name {
        case "gpt-2": .gpt2
        case "smollm": .smollm
        case "llama-bpe": .llama3
        default: nil
        }
    }

    /// Canonical spelling of the steps; part of what a BPE tokenizer's name hashes.
    public var description: String {
        steps.map { step in
            switch step {
            case .digits(let individual): individual ? "digits-individual" : "digits"
            case .split(let pattern): "split-\(pattern.rawValue)"
            case .byteLevel(let prefix, let regex): "bytelevel" + (prefix ? "+prefix-space" : "") + (regex ? "+gpt2" : "")
            }
        }.joined(separator: ",")
    }

    /// The pre-tokens of `text`, as bytes (for tests and inspection).
    public func pieces(_ text: String) -> [[UInt8]] {
        var out: [[UInt8]] = []
        Array(text.utf8).withUnsafeBytes { raw in forEachPiece(raw) { out.append(Array($0)) } }
        return out
    }

    /// Calls `body` with each pre-token of `text` in order. A piece is a slice of `text`, or of a
    /// scratch copy when the byte-level step prefixes a space; it is valid only during the call.
    func forEachPiece(_ text: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void) {
        guard let base = text.baseAddress, text.count > 0 else { return }
        apply(0, base.assumingMemoryBound(to: UInt8.self), text.count, body)
    }

    private func apply(_ k: Int, _ p: UnsafePointer<UInt8>, _ n: Int, _ body: (UnsafeRawBufferPointer) -> Void) {
        guard k < steps.count else { return body(UnsafeRawBufferPointer(start: p, count: n)) }
        switch steps[k] {
        case .digits(let individual):
            PreTokenizerScanners.digits(p, n, individual: individual) { a, b in apply(k + 1, p + a, b - a, body) }
        case .split(let pattern):
            split(pattern, k, p, n, body)
        case .byteLevel(let addPrefixSpace, let useRegex):
            if addPrefixSpace && p[0] != 0x20 {
                withUnsafeTemporaryAllocation(of: UInt8.self, capacity: n + 1) { buffer in
                    buffer[0] = 0x20
                    _ = UnsafeMutableBufferPointer(rebasing: buffer[1...]).initialize(from: UnsafeBufferPointer(start: p, count: n))
                    let q = UnsafePointer(buffer.baseAddress!)
                    if useRegex { split(.gpt2, k, q, n + 1, body) } else { apply(k + 1, q, n + 1, body) }
                }
            } else if useRegex {
                split(.gpt2, k, p, n, body)
            } else {
                apply(k + 1, p, n, body)
            }
        }
    }

    private func split(_ pattern: Pattern, _ k: Int, _ p: UnsafePointer<UInt8>, _ n: Int, _ body: (UnsafeRawBufferPointer) -> Void) {
        switch pattern {
        case .gpt2: PreTokenizerScanners.gpt2(p, n) { a, b in apply(k + 1, p + a, b - a, body) }
        case .llama3: PreTokenizerScanners.llama3(p, n) { a, b in apply(k + 1, p + a, b - a, body) }
        }
    }
}
