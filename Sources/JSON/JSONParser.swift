import Foundation

/// What is wrong with a JSON text and where. `offset` is the byte index in the buffer the parser
/// was given (nil when the problem has no one place); callers say where in their own terms: "at
/// byte N" of a header, "at column N" of a line.
public struct JSONSyntaxError: Error, Sendable, Equatable {
    public var problem: String
    public var offset: Int?
    /// The key seen twice, when that is the problem (callers word it for their context).
    public var duplicateKey: String?

    public init(_ problem: String, offset: Int? = nil, duplicateKey: String? = nil) {
        self.problem = problem
        self.offset = offset
        self.duplicateKey = duplicateKey
    }

    /// The problem with its place as a byte offset: "expected ':' at byte 12".
    public var message: String { offset.map { "\(problem) at byte \($0)" } ?? problem }
}

/// The package's one JSON parser: strict RFC 8259 over UTF-8 bytes, rejecting what Foundation's
/// `JSONSerialization` silently accepts or hides, which the readers need to say what is wrong:
/// duplicate keys (two tensors with one name), numbers kept as text (exact 64-bit offsets),
/// member order, and the byte where the text goes wrong. Where none of that matters (a file only
/// PruneScale writes, read back whole), `JSONDecoder` is used instead.
public struct JSONParser {
    public struct Options: Sendable {
        /// Accept `NaN`, `Infinity` and `-Infinity` as number literals, as Python's `json` writes
        /// non-finite floats (loss records from notebooks); off for formats that forbid them.
        public var nonFiniteNumbers = false
        /// Deep nesting only comes from garbage; the limit keeps recursion off the stack's edge.
        public var maxDepth = 64
        public init(nonFiniteNumbers: Bool = false) { self.nonFiniteNumbers = nonFiniteNumbers }
    }

    /// One member of a top-level object, with the bytes its value spans (to quote it as written).
    public struct Member: Sendable {
        public var key: String
        public var value: JSONValue
        public var span: Range<Int>
    }

    private let b: UnsafeBufferPointer<UInt8>
    private let end: Int
    private let options: Options
    private var i: Int
    private var depth = 0

    private init(_ b: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int, options: Options) {
        self.b = b
        self.i = start
        self.end = end
        self.options = options
    }

    /// A whole document; the bytes must be valid UTF-8.
    public static func parse(_ bytes: [UInt8], options: Options = Options()) throws(JSONSyntaxError) -> JSONValue {
        guard String(validating: bytes, as: UTF8.self) != nil else { throw JSONSyntaxError("not valid UTF-8") }
        let result: Result<JSONValue, JSONSyntaxError> = bytes.withUnsafeBufferPointer { b in
            Result { () throws(JSONSyntaxError) in try parse(b, from: 0, to: b.count, options: options) }
        }
        return try result.get()
    }

    /// The one value in `b[start..<end]`, surrounded by nothing but whitespace. The caller has
    /// checked the bytes are UTF-8.
    public static func parse(_ b: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int,
                             options: Options = Options()) throws(JSONSyntaxError) -> JSONValue {
        var p = JSONParser(b, from: start, to: end, options: options)
        p.skipSpace()
        let v = try p.value()
        try p.expectEnd("unexpected text after the JSON value")
        return v
    }

    /// The members of the one object in `b[start..<end]` (a JSON Lines record), in order.
    public static func members(_ b: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int,
                               options: Options = Options()) throws(JSONSyntaxError) -> [Member] {
        var p = JSONParser(b, from: start, to: end, options: options)
        p.skipSpace()
        guard p.peek == UInt8(ascii: "{") else { throw p.error("expected '{'") }
        var members: [Member] = []
        try p.objectMembers { key, value, span in members.append(Member(key: key, value: value, span: span)) }
        try p.expectEnd("unexpected text after the object")
        return members
    }

    /// A byte for an error message: 'x' when printable ASCII, else its hex (a raw newline or
    /// control byte would break the one-line message).
    public static func describe(_ byte: UInt8) -> String {
        (0x21...0x7E).contains(byte) ? "'\(Unicode.Scalar(byte))'" : String(format: "byte 0x%02X", byte)
    }

    // MARK: - Grammar

    private var peek: UInt8? { i < end ? b[i] : nil }

    private func error(_ problem: String) -> JSONSyntaxError { JSONSyntaxError(problem, offset: i) }

    private mutating func skipSpace() {
        while i < end, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
    }

    private mutating func expectEnd(_ problem: String) throws(JSONSyntaxError) {
        skipSpace()
        guard i == end else { throw error(problem) }
    }

    private mutating func value() throws(JSONSyntaxError) -> JSONValue {
        guard let c = peek else { throw error("unexpected end of JSON") }
        switch c {
        case UInt8(ascii: "{"):
            var o = JSONObject()
            try objectMembers { key, value, _ in o[key] = value }
            return .object(o)
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "N") where options.nonFiniteNumbers: try literal("NaN"); return .number("NaN")
        case UInt8(ascii: "I") where options.nonFiniteNumbers: try literal("Infinity"); return .number("Infinity")
        case UInt8(ascii: "-") where options.nonFiniteNumbers && i + 1 < end && b[i + 1] == UInt8(ascii: "I"):
            i += 1
            try literal("Infinity")
            return .number("-Infinity")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw error("unexpected character \(Self.describe(c))")
        }
    }

    private mutating func literal(_ word: StaticString) throws(JSONSyntaxError) {
        let n = word.utf8CodeUnitCount
        guard end - i >= n, (0..<n).allSatisfy({ b[i + $0] == word.utf8Start[$0] }) else { throw error("invalid literal") }
        i += n
    }

    private mutating func enter() throws(JSONSyntaxError) {
        depth += 1
        guard depth <= options.maxDepth else { throw error("nested deeper than \(options.maxDepth) levels") }
    }

    /// Reads an object from its '{', handing each member to `member`; duplicate keys are refused.
    private mutating func objectMembers(_ member: (String, JSONValue, Range<Int>) -> Void) throws(JSONSyntaxError) {
        try enter()
        i += 1
        var seen = Set<String>()
        skipSpace()
        if peek == UInt8(ascii: "}") { i += 1; depth -= 1; return }
        while true {
            skipSpace()
            guard peek == UInt8(ascii: "\"") else { throw error("expected a quoted key") }
            let key = try string()
            guard seen.insert(key).inserted else { throw JSONSyntaxError("duplicate key \"\(key)\"", duplicateKey: key) }
            skipSpace()
            guard peek == UInt8(ascii: ":") else { throw error("expected ':'") }
            i += 1
            skipSpace()
            let start = i
            let v = try value()
            member(key, v, start..<i)
            skipSpace()
            guard let c = peek else { throw error("unterminated object") }
            i += 1
            if c == UInt8(ascii: ",") { continue }
            if c == UInt8(ascii: "}") { break }
            i -= 1
            throw error("expected ',' or '}'")
        }
        depth -= 1
    }

    private mutating func array() throws(JSONSyntaxError) -> JSONValue {
        try enter()
        i += 1
        var a: [JSONValue] = []
        skipSpace()
        if peek == UInt8(ascii: "]") { i += 1; depth -= 1; return .array(a) }
        while true {
            skipSpace()
            a.append(try value())
            skipSpace()
            guard let c = peek else { throw error("unterminated array") }
            i += 1
            if c == UInt8(ascii: ",") { continue }
            if c == UInt8(ascii: "]") { break }
            i -= 1
            throw error("expected ',' or ']'")
        }
        depth -= 1
        return .array(a)
    }

    private mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
        guard end - i >= 4 else { throw error("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = b[i]
            let d: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
            default: throw error("bad hex digit in \\u escape")
            }
            v = v << 4 | UInt32(d)
            i += 1
        }
        return v
    }

    /// A string from its opening quote, escapes decoded.
    private mutating func string() throws(JSONSyntaxError) -> String {
        i += 1
        let start = i
        // Most keys and values have no escapes: take them as one slice.
        while i < end, b[i] != UInt8(ascii: "\""), b[i] != UInt8(ascii: "\\"), b[i] >= 0x20 { i += 1 }
        if peek == UInt8(ascii: "\"") {
            i += 1
            return String(decoding: UnsafeBufferPointer(rebasing: b[start..<i - 1]), as: UTF8.self)
        }
        var out = Array(UnsafeBufferPointer(rebasing: b[start..<i]))
        while true {
            guard let c = peek else { throw error("unterminated string") }
            if c == UInt8(ascii: "\"") { i += 1; break }
            guard c >= 0x20 else { throw error("control character in string") }
            guard c == UInt8(ascii: "\\") else { out.append(c); i += 1; continue }
            i += 1
            guard let e = peek else { throw error("unterminated escape") }
            i += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var v = try hex4()
                if (0xD800..<0xDC00).contains(v) {
                    // A high surrogate must be followed by an escaped low one.
                    guard end - i >= 2, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") else {
                        throw error("unpaired surrogate in \\u escape")
                    }
                    i += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw error("unpaired surrogate in \\u escape") }
                    v = 0x10000 + ((v - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let scalar = Unicode.Scalar(v) else { throw error("unpaired surrogate in \\u escape") }
                out.append(contentsOf: String(Character(scalar)).utf8)
            default: throw error("invalid escape '\\' + \(Self.describe(e))")
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private func isDigit(_ k: Int) -> Bool { k < end && b[k] >= UInt8(ascii: "0") && b[k] <= UInt8(ascii: "9") }

    /// RFC 8259's number grammar; the literal is kept as text.
    private mutating func number() throws(JSONSyntaxError) -> JSONValue {
        let start = i
        if b[i] == UInt8(ascii: "-") { i += 1 }
        guard isDigit(i) else { throw error("invalid number") }
        if b[i] == UInt8(ascii: "0") { i += 1 } else { while isDigit(i) { i += 1 } }
        if peek == UInt8(ascii: ".") {
            i += 1
            guard isDigit(i) else { throw error("invalid number") }
            while isDigit(i) { i += 1 }
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            i += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { i += 1 }
            guard isDigit(i) else { throw error("invalid number") }
            while isDigit(i) { i += 1 }
        }
        return .number(String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self))
    }
}
