import Foundation

/// Plain text from Debian's `dict-gcide`: the Collaborative International Dictionary of English
/// (Webster's 1913 with WordNet additions) in the form dictd serves. Debian's converter has
/// already dropped GCIDE's SGML tags; what is left of the markup, and what this transform does:
///
/// 1. Entries: the body is cut where `gcide.index` says entries start (its offsets and lengths
///    are dictd base-64 numbers). A stray line between two indexed entries (a few `[1913 Webster]`
///    source lines) stays with the entry before it; text after the last indexed entry is an entry.
/// 2. The `00-database-*` entries (the dictionary's own header: origin, licence, credits) are set
///    aside for `about/` instead of becoming training text.
/// 3. `[code]` stands for a character GCIDE's font had and ASCII lacks (`[=a]` ā, `[e^]` ĕ,
///    `['e]` é, `[ae]` æ, `[deg]` °, `[alpha]` α, ...): every code in `characters` becomes its
///    UTF-8 character. Other bracketed text (`[Obs.]`, `[1913 Webster]`) is text and stays.
/// 4. `{` and `}` around cross-references are dropped, the words kept.
/// 5. The three bytes above 0x7F in the body are Windows-1252 (’ ç ¹) and become UTF-8.
/// 6. Trailing blanks and the blank lines inside an entry (between senses) are dropped, so one
///    blank line always means the next entry; indentation and line breaks are kept.
public enum GCIDEText {
    /// The result: the dictionary's entries and its header, both as UTF-8 text.
    public struct Converted: Sendable {
        public var text: [UInt8]
        public var header: [UInt8]
        public var entries: Int
    }

    /// Where one indexed entry lies in the body, and whether it is header (all headwords `00-…`).
    struct Span: Equatable {
        var offset: Int
        var length: Int
        var header: Bool
    }

    public static func convert(dict: [UInt8], index: String, place: String = "gcide.index") throws -> Converted {
        let spans = try self.spans(index: index, bodyBytes: dict.count, place: place)
        // Entry byte ranges in body order, stray text attached as documented above.
        var pieces: [(range: Range<Int>, header: Bool)] = []
        var end = 0
        for s in spans {
            if end < s.offset, !isBlank(dict[end..<s.offset]) {
                if pieces.isEmpty { pieces.append((end..<s.offset, true)) } else { pieces[pieces.count - 1].range = pieces[pieces.count - 1].range.lowerBound..<s.offset }
            }
            pieces.append((s.offset..<(s.offset + s.length), s.header))
            end = s.offset + s.length
        }
        if end < dict.count, !isBlank(dict[end...]) { pieces.append((end..<dict.count, false)) }

        var text: [UInt8] = [], header: [UInt8] = []
        text.reserveCapacity(dict.count)
        var entries = 0
        dict.withUnsafeBufferPointer { body in
            for p in pieces {
                if p.header {
                    // Kept as written: it is read by people, not trained on.
                    if !header.isEmpty { header.append(newline) }
                    header += dict[p.range]
                    if header.last != newline { header.append(newline) }
                    continue
                }
                let plain = self.plain(UnsafeBufferPointer(rebasing: body[p.range]))
                if !plain.isEmpty {
                    if !text.isEmpty { text.append(newline) }
                    text += plain
                    entries += 1
                }
            }
        }
        return Converted(text: text, header: header, entries: entries)
    }

    /// One entry as plain text: codes replaced, braces dropped, every line right-trimmed, blank
    /// lines dropped, each line ending in a newline.
    public static func plain(_ entry: some Collection<UInt8>) -> [UInt8] {
        Array(entry).withUnsafeBufferPointer { plain($0) }
    }

    static func plain(_ e: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        // Written through a raw buffer with local constants and no captured state: the Training
        // module is unoptimised in debug builds, where appends, globals and closures over 40 MB
        // would take seconds. No input byte becomes more than 3 output bytes.
        let nl = UInt8(ascii: "\n"), sp = UInt8(ascii: " "), ht = UInt8(ascii: "\t"), cr = UInt8(ascii: "\r")
        let open = UInt8(ascii: "["), lbrace = UInt8(ascii: "{"), rbrace = UInt8(ascii: "}")
        return [UInt8](unsafeUninitializedCapacity: 3 * e.count + 1) { out, count in
            var n = 0              // bytes written
            var lineStart = 0      // where the current line starts in `out`
            var ink = -1           // just past the line's last non-blank byte; -1 while it has none
            var i = 0
            while i <= e.count {
                let b = i < e.count ? e[i] : nl  // a last line without its newline ends here too
                if b == nl {
                    if ink >= 0 {
                        n = ink
                        out[n] = nl
                        n += 1
                    } else {
                        n = lineStart
                    }
                    lineStart = n
                    ink = -1
                    i += 1
                } else if b == lbrace || b == rbrace {
                    i += 1
                } else if b == open, let (replacement, used) = character(at: i, in: e) {
                    for r in replacement { out[n] = r; n += 1 }
                    if !replacement.isEmpty, replacement != [sp] { ink = n }
                    i += used
                } else if b >= 0x80 {
                    for r in windows1252(b) { out[n] = r; n += 1 }
                    ink = n
                    i += 1
                } else {
                    out[n] = b
                    n += 1
                    if b != sp, b != ht, b != cr { ink = n }
                    i += 1
                }
            }
            count = n
        }
    }

    /// The character of a `[code]` starting at `i`, and how many bytes the code takes; nil when
    /// the bracket opens ordinary text.
    static func character(at i: Int, in e: UnsafeBufferPointer<UInt8>) -> ([UInt8], Int)? {
        var j = i + 1
        while j < e.count, j - i <= maxCodeLength + 1 {
            let c = e[j]
            if c == closeBracket {
                guard j > i + 1 else { return nil }
                let code = String(decoding: UnsafeBufferPointer(rebasing: e[(i + 1)..<j]), as: UTF8.self)
                return table[code].map { ($0, j - i + 1) }
            }
            if c == openBracket || c == space || c == newline { return nil }
            j += 1
        }
        return nil
    }

    /// The codes and their characters. Vowel marks of Webster's pronunciations: `=` long
    /// (macron), `^` after the letter short (breve), `^` before it circumflex, `'` acute, `` ` ``
    /// grave, `"` diaeresis, `~` tilde, `.` a dot (above a vowel, below a consonant), `*` ring,
    /// `,` cedilla; `add`/`udd` a double dot below. Webster's semi-long vowels (`[-e]`, `[asl]`)
    /// have no Unicode letter and become the plain vowel; so does its barred `th`.
    public static let characters: [String: String] = {
        var t: [String: String] = [
            "=a": "\u{0101}", "=e": "\u{0113}", "=i": "\u{012B}", "=o": "\u{014D}", "=u": "\u{016B}", "=y": "\u{0233}",
            "=A": "\u{0100}", "=E": "\u{0112}", "=I": "\u{012A}", "=O": "\u{014C}", "=U": "\u{016A}",
            "=ae": "\u{01E3}", "=oo": "o\u{035E}o", "imac": "\u{012B}",
            "a^": "\u{0103}", "e^": "\u{0115}", "i^": "\u{012D}", "o^": "\u{014F}", "u^": "\u{016D}", "y^": "y\u{0306}",
            "oo^": "o\u{035D}o",
            "^a": "\u{00E2}", "^e": "\u{00EA}", "^i": "\u{00EE}", "^o": "\u{00F4}", "^u": "\u{00FB}",
            "'a": "\u{00E1}", "'e": "\u{00E9}", "'i": "\u{00ED}", "'o": "\u{00F3}", "'u": "\u{00FA}", "'y": "\u{00FD}",
            "'A": "\u{00C1}", "'E": "\u{00C9}", "'I": "\u{00CD}", "'O": "\u{00D3}", "'U": "\u{00DA}",
            "`a": "\u{00E0}", "`e": "\u{00E8}", "`i": "\u{00EC}", "`o": "\u{00F2}", "`u": "\u{00F9}",
            "\"a": "\u{00E4}", "\"e": "\u{00EB}", "\"i": "\u{00EF}", "\"o": "\u{00F6}", "\"u": "\u{00FC}", "\"y": "\u{00FF}",
            "\"A": "\u{00C4}", "\"E": "\u{00CB}", "\"I": "\u{00CF}", "\"O": "\u{00D6}", "\"U": "\u{00DC}", "aum": "\u{00E4}",
            "~a": "\u{00E3}", "~e": "\u{1EBD}", "~n": "\u{00F1}", "~o": "\u{00F5}", "~u": "\u{0169}", "~N": "\u{00D1}",
            ".a": "\u{0227}", ".e": "\u{0117}", ".o": "\u{022F}", ".u": "u\u{0307}",
            ".d": "\u{1E0D}", ".h": "\u{1E25}", ".m": "\u{1E43}", ".n": "\u{1E47}", ".r": "\u{1E5B}", ".s": "\u{1E63}",
            ".t": "\u{1E6D}", ".z": "\u{1E93}", "dsdot": "\u{1E0D}",
            "*a": "\u{00E5}", "*u": "\u{016F}", "*A": "\u{00C5}", ",c": "\u{00E7}", ",C": "\u{00C7}",
            "add": "a\u{0324}", "udd": "\u{1E73}",
            "asl": "a", "-a": "a", "-e": "e", "-i": "i", "-o": "o", "-u": "u", "th": "th",
            "ae": "\u{00E6}", "AE": "\u{00C6}", "oe": "\u{0153}", "OE": "\u{0152}", "eth": "\u{00F0}", "thorn": "\u{00FE}",
            "yogh": "\u{021D}", "ng": "\u{014B}",
            "deg": "\u{00B0}", "min": "\u{2032}", "sec": "\u{2033}", "sect": "\u{00A7}", "para": "\u{00B6}", "root": "\u{221A}",
            "times": "\u{00D7}", "divby": "\u{00F7}", "div": "\u{00F7}", "flat": "\u{266D}", "sharp": "\u{266F}",
            "dagger": "\u{2020}", "dag": "\u{2020}", "pounds": "\u{00A3}", "middot": "\u{00B7}", "rarr": "\u{2192}",
            "ldqo": "\u{201C}", "rdqo": "\u{201D}", "rsquo": "\u{2019}", "bar": "|", "nbsp": " ",
            // Layout marks: a forced break and a sentence break inside quoted text.
            "break": "", "sb": "",
        ]
        let greek = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu",
                     "nu", "xi", "omicron", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi", "omega"]
        for (k, name) in greek.enumerated() {
            // α = U+03B1 … ω = U+03C9, skipping the final sigma U+03C2; capitals 0x20 lower.
            let lower = 0x03B1 + k + (k >= 17 ? 1 : 0)
            t[name] = String(UnicodeScalar(UInt32(lower))!)
            t[name.prefix(1).uppercased() + name.dropFirst()] = String(UnicodeScalar(UInt32(lower - 0x20))!)
        }
        t["sigmat"] = "\u{03C2}"
        return t
    }()

    static let table: [String: [UInt8]] = characters.mapValues { Array($0.utf8) }
    static let maxCodeLength = characters.keys.map(\.utf8.count).max()!

    /// Windows-1252 for the odd byte above 0x7F (Latin-1 except 0x80–0x9F, of which the
    /// punctuation is mapped; the rest become U+FFFD).
    static func windows1252(_ b: UInt8) -> [UInt8] {
        let punctuation: [UInt8: UInt32] = [0x85: 0x2026, 0x91: 0x2018, 0x92: 0x2019, 0x93: 0x201C, 0x94: 0x201D,
                                             0x96: 0x2013, 0x97: 0x2014]
        let scalar = b >= 0xA0 ? UInt32(b) : (punctuation[b] ?? 0xFFFD)
        return Array(String(UnicodeScalar(scalar)!).utf8)
    }

    /// The indexed entries in body order, checked to lie inside the body without overlapping.
    /// Several headwords may share one entry; it is header when all of them start with `00-`.
    static func spans(index: String, bodyBytes: Int, place: String) throws -> [Span] {
        var byRange: [Int: (length: Int, header: Bool)] = [:]
        var lineNumber = 0
        for line in index.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.isEmpty { continue }
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count >= 3, let offset = base64(fields[1]), let length = base64(fields[2]) else {
                throw CorpusError(place: "\(place):\(lineNumber)", "not a dictd index line (headword TAB offset TAB length)")
            }
            guard offset + length <= bodyBytes, length > 0 else {
                throw CorpusError(place: "\(place):\(lineNumber)", "entry \(offset)+\(length) lies outside the \(bodyBytes)-byte dictionary")
            }
            let isHeader = fields[0].hasPrefix("00-")
            if let seen = byRange[offset] {
                guard seen.length == length else {
                    throw CorpusError(place: "\(place):\(lineNumber)", "entry at \(offset) has two lengths (\(seen.length), \(length))")
                }
                byRange[offset] = (length, seen.header && isHeader)
            } else {
                byRange[offset] = (length, isHeader)
            }
        }
        let spans = byRange.map { Span(offset: $0.key, length: $0.value.length, header: $0.value.header) }.sorted { $0.offset < $1.offset }
        for (a, b) in zip(spans, spans.dropFirst()) where a.offset + a.length > b.offset {
            throw CorpusError(place: place, "entries at \(a.offset) and \(b.offset) overlap")
        }
        guard !spans.isEmpty else { throw CorpusError(place: place, "no entries") }
        return spans
    }

    /// dictd's numbers: base 64, most significant digit first, digits `A–Z a–z 0–9 + /`.
    static func base64(_ s: Substring) -> Int? {
        guard !s.isEmpty, s.utf8.count <= 10 else { return nil }
        var v = 0
        for c in s.utf8 {
            let d: Int
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): d = Int(c) - 65
            case UInt8(ascii: "a")...UInt8(ascii: "z"): d = Int(c) - 97 + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = Int(c) - 48 + 52
            case UInt8(ascii: "+"): d = 62
            case UInt8(ascii: "/"): d = 63
            default: return nil
            }
            v = v * 64 + d
        }
        return v
    }

    static func isBlank(_ bytes: ArraySlice<UInt8>) -> Bool { bytes.allSatisfy { $0 == space || $0 == newline || $0 == tab || $0 == carriageReturn } }

    static let newline = UInt8(ascii: "\n"), space = UInt8(ascii: " "), tab = UInt8(ascii: "\t"), carriageReturn = UInt8(ascii: "\r")
    static let openBracket = UInt8(ascii: "["), closeBracket = UInt8(ascii: "]")
}
