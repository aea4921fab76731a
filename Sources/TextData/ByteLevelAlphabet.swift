/// GPT-2's byte-level alphabet: every byte has a printable stand-in character, so a vocabulary of
/// byte strings can be written as ordinary text (a space is "Ġ", a newline "Ċ"). Bytes that print
/// as themselves (`!`…`~`, `¡`…`¬`, `®`…`ÿ`) keep their code point; the other 68 take U+0100 onward,
/// in byte order.
enum ByteLevelAlphabet {
    /// The stand-in for each byte.
    static let scalars: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: "\0", count: 256)
        var next: UInt32 = 0x100
        for b in 0..<256 {
            if printsAsItself(UInt8(b)) {
                table[b] = Unicode.Scalar(UInt8(b))
            } else {
                table[b] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    static func printsAsItself(_ b: UInt8) -> Bool {
        (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
    }

    /// The byte a stand-in character means, or nil for a character outside the alphabet.
    static func byte(for s: Unicode.Scalar) -> UInt8? {
        let v = s.value
        if v < 256 { return printsAsItself(UInt8(v)) ? UInt8(v) : nil }
        guard v < 0x100 + 68 else { return nil }
        return inverse[Int(v - 0x100)]
    }

    private static let inverse: [UInt8] = (0..<256).map(UInt8.init).filter { !printsAsItself($0) }

    /// Bytes as their byte-level text (how vocabularies spell tokens).
    static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(scalars[Int(b)]) }
        return String(s)
    }

    /// The bytes `text` spells when every character is in the alphabet, else nil.
    static func bytes(spelledBy text: String) -> [UInt8]? {
        var out: [UInt8] = []
        for s in text.unicodeScalars {
            guard let b = byte(for: s) else { return nil }
            out.append(b)
        }
        return out
    }

    /// A vocabulary entry's bytes. A character outside the alphabet stands for its own UTF-8, as the
    /// `tokenizers` byte-level decoder reads it (only hand-added entries have such characters).
    static func decode(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for s in text.unicodeScalars {
            if let b = byte(for: s) { out.append(b) } else { out.append(contentsOf: Array(String(s).utf8)) }
        }
        return out
    }
}
