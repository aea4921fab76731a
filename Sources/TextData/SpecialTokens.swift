import Foundation

/// Finds added (special and control) tokens in raw text before anything else looks at it, so
/// `<|im_start|>` is one token and never pre-tokenized or merged. Matching is leftmost-longest
/// over the exact bytes, as the `tokenizers` library's added vocabulary matches.
struct SpecialTokenMatcher: Sendable {
    private struct Candidate: Sendable {
        var bytes: [UInt8]
        var id: UInt16
    }

    /// By first byte, longest first.
    private let candidates: [[Candidate]]
    private let isEmpty: Bool

    /// `tokens`: id and non-empty content of each added token.
    init(_ tokens: [(id: UInt16, content: String)]) {
        var table = [[Candidate]](repeating: [], count: 256)
        for t in tokens {
            let bytes = Array(t.content.utf8)
            table[Int(bytes[0])].append(Candidate(bytes: bytes, id: t.id))
        }
        for i in table.indices { table[i].sort { $0.bytes.count > $1.bytes.count } }
        candidates = table
        isEmpty = tokens.isEmpty
    }

    /// Calls `text` for each stretch between added tokens (never empty) and `special` for each
    /// added token, in order.
    func forEachSegment(_ bytes: UnsafeRawBufferPointer, text: (UnsafeRawBufferPointer) -> Void, special: (UInt16) -> Void) {
        guard !isEmpty, let base = bytes.baseAddress else {
            if bytes.count > 0 { text(bytes) }
            return
        }
        let n = bytes.count
        var i = 0, start = 0
        scan: while i < n {
            for c in candidates[Int(bytes[i])] where c.bytes.count <= n - i {
                let same = c.bytes.withUnsafeBytes { memcmp($0.baseAddress!, base + i, c.bytes.count) == 0 }
                guard same else { continue }
                if start < i { text(UnsafeRawBufferPointer(rebasing: bytes[start..<i])) }
                special(c.id)
                i += c.bytes.count
                start = i
                continue scan
            }
            i += 1
        }
        if start < n { text(UnsafeRawBufferPointer(rebasing: bytes[start..<n])) }
    }
}
