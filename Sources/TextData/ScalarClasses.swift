/// What the pre-tokenizers need to know about a character: the regex classes `\p{L}`, `\p{N}`, `\s`
/// and the Digits pre-tokenizer's "numeric", as bits. A scalar with none of them (punctuation,
/// symbols, marks, controls) is "other".
enum ScalarClass {
    static let letter: UInt8 = 1
    static let number: UInt8 = 2
    static let whitespace: UInt8 = 4
    static let numeric: UInt8 = 8
}

/// Class bits for every scalar, looked up by code point (1.1 MB, built once from the generated
/// ranges in UnicodeClasses.swift).
final class ScalarClassTable: @unchecked Sendable {
    // Sendable: written only in init, read-only after; the shared instance lives for the process.
    static let shared = ScalarClassTable()
    private let bits: UnsafeMutablePointer<UInt8>

    private init() {
        bits = .allocate(capacity: 0x110000)
        bits.initialize(repeating: 0, count: 0x110000)
        for (ranges, bit) in [(UnicodeClassRanges.letter, ScalarClass.letter), (UnicodeClassRanges.number, ScalarClass.number),
                              (UnicodeClassRanges.whitespace, ScalarClass.whitespace), (UnicodeClassRanges.numeric, ScalarClass.numeric)] {
            for r in stride(from: 0, to: ranges.count, by: 2) {
                for v in ranges[r]...ranges[r + 1] { bits[Int(v)] |= bit }
            }
        }
    }

    subscript(_ scalar: UInt32) -> UInt8 { bits[Int(scalar)] }

    /// The class bits and byte length of the character starting at `i` (`i < end`). Text is read
    /// as UTF-8; a byte that does not begin a well-formed sequence counts as a one-byte "other"
    /// character, as a lone surrogate would in Python's surrogateescape decoding. (Token files are
    /// cut into chunks at byte boundaries, so a chunk can start or end inside a character.)
    @inline(__always)
    func classify(_ p: UnsafePointer<UInt8>, _ i: Int, _ end: Int) -> (bits: UInt8, length: Int) {
        let b0 = p[i]
        if b0 < 0x80 { return (bits[Int(b0)], 1) }
        @inline(__always) func continuation(_ k: Int, _ lo: UInt8 = 0x80, _ hi: UInt8 = 0xBF) -> UInt32? {
            guard k < end else { return nil }
            let b = p[k]
            return b >= lo && b <= hi ? UInt32(b & 0x3F) : nil
        }
        switch b0 {
        case 0xC2...0xDF:
            guard let c1 = continuation(i + 1) else { return (0, 1) }
            return (bits[Int(UInt32(b0 & 0x1F) << 6 | c1)], 2)
        case 0xE0...0xEF:
            // E0 would be overlong below A0; ED above 9F would be a surrogate.
            guard let c1 = continuation(i + 1, b0 == 0xE0 ? 0xA0 : 0x80, b0 == 0xED ? 0x9F : 0xBF),
                  let c2 = continuation(i + 2) else { return (0, 1) }
            return (bits[Int(UInt32(b0 & 0x0F) << 12 | c1 << 6 | c2)], 3)
        case 0xF0...0xF4:
            // F0 would be overlong below 90; F4 above 8F would pass U+10FFFF.
            guard let c1 = continuation(i + 1, b0 == 0xF0 ? 0x90 : 0x80, b0 == 0xF4 ? 0x8F : 0xBF),
                  let c2 = continuation(i + 2), let c3 = continuation(i + 3) else { return (0, 1) }
            return (bits[Int(UInt32(b0 & 0x07) << 18 | c1 << 12 | c2 << 6 | c3)], 4)
        default:
            return (0, 1)
        }
    }
}
