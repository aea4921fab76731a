import Foundation

/// A strict reader for one flat JSON object on one line, as JSON Lines records are written
/// (plus `NaN`, `Infinity` and `-Infinity`, which Python's json module writes). Nested objects
/// and arrays are kept as their text. It depends on nothing but `NumberText` (which numbers are
/// well-formed) and `OneLine` (quoting in messages).
enum RecordJSON {
    enum Value {
        case string(String)
        /// The literal text (parsed later, with the same checks as CSV; also `NaN`/`Infinity` as Python writes them).
        case number(String)
        case bool(Bool)
        case null
        /// An object or array, as its text.
        case nested(String)
    }

    /// What is wrong and where: `expected ',' or '}' at column 12`.
    struct SyntaxError: Error {
        var message: String
    }

    /// The object's key-value pairs in the order written (repeated keys kept); nil when the line
    /// holds only white space. `line` excludes its line end.
    static func object(in line: UnsafeBufferPointer<UInt8>) throws(SyntaxError) -> [(key: String, value: Value)]? {
        var parser = LineParser(b: line)
        return parser.isBlank ? nil : try parser.object()
    }
}

/// A recursive-descent parser over one line's bytes; `i` is the next byte to read.
private struct LineParser {
    typealias Value = RecordJSON.Value
    typealias SyntaxError = RecordJSON.SyntaxError

    let b: UnsafeBufferPointer<UInt8>
    var i = 0
    let end: Int

    init(b: UnsafeBufferPointer<UInt8>) {
        self.b = b
        end = b.count
    }

    var isBlank: Bool {
        var k = i
        while k < end, Self.isSpace(b[k]) { k += 1 }
        return k == end
    }

    private static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0D || c == 0x0A }

    private var peek: UInt8? { i < end ? b[i] : nil }

    private func failure(_ what: String) -> SyntaxError {
        SyntaxError(message: i < end ? "\(what) at column \(i + 1)" : "\(what) at the end of the line")
    }

    private mutating func skipSpace() {
        while i < end, Self.isSpace(b[i]) { i += 1 }
    }

    private func text(_ from: Int, _ to: Int) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: b[from..<to]), as: UTF8.self)
    }

    mutating func object() throws(SyntaxError) -> [(key: String, value: Value)] {
        skipSpace()
        guard peek == UInt8(ascii: "{") else { throw failure("expected '{'") }
        i += 1
        var pairs: [(key: String, value: Value)] = []
        skipSpace()
        if peek == UInt8(ascii: "}") {
            i += 1
        } else {
            while true {
                skipSpace()
                guard peek == UInt8(ascii: "\"") else { throw failure("expected a key in double quotes") }
                let key = try string()
                skipSpace()
                guard peek == UInt8(ascii: ":") else { throw failure("expected ':' after key \"\(key)\"") }
                i += 1
                skipSpace()
                pairs.append((key, try value()))
                skipSpace()
                if peek == UInt8(ascii: ",") {
                    i += 1
                    continue
                }
                if peek == UInt8(ascii: "}") {
                    i += 1
                    break
                }
                throw failure("expected ',' or '}'")
            }
        }
        skipSpace()
        guard i == end else { throw failure("unexpected text after the object") }
        return pairs
    }

    private mutating func value() throws(SyntaxError) -> Value {
        guard let c = peek else { throw failure("expected a value") }
        switch c {
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "{"), UInt8(ascii: "["): return .nested(try nested())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "N"): try literal("NaN"); return .number("NaN")
        case UInt8(ascii: "I"): try literal("Infinity"); return .number("Infinity")
        case UInt8(ascii: "-") where i + 1 < end && b[i + 1] == UInt8(ascii: "I"):
            i += 1
            try literal("Infinity")
            return .number("-Infinity")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            let start = i
            while i < end, Self.isNumberByte(b[i]) { i += 1 }
            let s = text(start, i)
            guard NumberText.read(s) != .notANumber else {
                i = start
                throw failure("malformed number '\(OneLine.quoted(s))'")
            }
            return .number(s)
        default:
            throw failure("expected a value")
        }
    }

    private static func isNumberByte(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: ".") || c == UInt8(ascii: "-")
            || c == UInt8(ascii: "+") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E")
    }

    private mutating func literal(_ word: StaticString) throws(SyntaxError) {
        let count = word.utf8CodeUnitCount
        let matches = i + count <= end && (0..<count).allSatisfy { b[i + $0] == word.utf8Start[$0] }
        guard matches else { throw failure("expected a value") }
        i += count
    }

    /// A string starting at the opening quote, escapes decoded.
    private mutating func string() throws(SyntaxError) -> String {
        i += 1
        let start = i
        // Fast path: most keys and labels have no escapes.
        while i < end, b[i] != UInt8(ascii: "\""), b[i] != UInt8(ascii: "\\"), b[i] >= 0x20 { i += 1 }
        if i < end, b[i] == UInt8(ascii: "\"") {
            i += 1
            return text(start, i - 1)
        }
        var out = Array(UnsafeBufferPointer(rebasing: b[start..<i]))
        while true {
            guard i < end else { throw failure("unterminated string") }
            let c = b[i]
            if c == UInt8(ascii: "\"") {
                i += 1
                return String(decoding: out, as: UTF8.self)
            }
            if c < 0x20 { throw failure("control character in a string") }
            if c != UInt8(ascii: "\\") {
                out.append(c)
                i += 1
                continue
            }
            i += 1
            guard let e = peek else { throw failure("unterminated string") }
            i += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800..<0xDC00).contains(scalar) {  // a UTF-16 surrogate pair
                    guard i + 1 < end, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") else { throw failure("unpaired surrogate") }
                    i += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw failure("unpaired surrogate") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let u = Unicode.Scalar(scalar) else { throw failure("invalid \\u escape") }
                out.append(contentsOf: String(u).utf8)
            default:
                i -= 1
                throw failure("invalid escape")
            }
        }
    }

    private mutating func hex4() throws(SyntaxError) -> UInt32 {
        guard i + 4 <= end else { throw failure("invalid \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = b[i]
            let d: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
            default: throw failure("invalid \\u escape")
            }
            v = v << 4 | UInt32(d)
            i += 1
        }
        return v
    }

    /// An object or array as raw text; only brackets outside strings count.
    private mutating func nested() throws(SyntaxError) -> String {
        let start = i
        var depth = 0
        var inString = false
        while i < end {
            let c = b[i]
            i += 1
            if inString {
                if c == UInt8(ascii: "\\") { i += 1 } else if c == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch c {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if depth == 0 { return text(start, i) }
            default: break
            }
        }
        throw failure("unterminated object or array")
    }
}
