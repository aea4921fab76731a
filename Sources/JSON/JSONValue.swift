import Foundation

/// A JSON value as PruneScale's strict readers need it: numbers kept as their literal text (byte
/// offsets beyond 2^53 stay exact), object members in file order (for messages and for writing
/// files other tools diff). `JSONParser` reads it; `serialized` writes it.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// The literal text, so integers stay exact.
    case number(String)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    public static func number(_ n: Int) -> JSONValue { .number(String(n)) }
    /// Swift's shortest round-trip form ("1e-05", "10000.0") is valid JSON and matches Python's repr.
    public static func number(_ d: Double) -> JSONValue { .number(d.description) }

    public var isNull: Bool { if case .null = self { true } else { false } }
    public var string: String? { if case .string(let s) = self { s } else { nil } }
    public var bool: Bool? { if case .bool(let b) = self { b } else { nil } }
    public var array: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
    public var object: JSONObject? { if case .object(let o) = self { o } else { nil } }
    public var double: Double? { if case .number(let t) = self { Double(t) } else { nil } }

    /// Integers written as `12`, or as an integral float (`12.0`, `1e3`) by less careful writers.
    public var int: Int? {
        guard case .number(let t) = self else { return nil }
        if let n = Int(t) { return n }
        guard let d = Double(t), d.rounded() == d, abs(d) < 0x1p53 else { return nil }
        return Int(d)
    }

    /// Short text for error messages.
    public var summary: String {
        let s = serialized()
        return s.count <= 60 ? s : String(s.prefix(57)) + "..."
    }

    /// Compact like the Rust safetensors writer when `indent` is nil; otherwise laid out like
    /// Python's `json.dumps(indent=2)` (what transformers writes for config.json).
    public func serialized(indent: Int? = nil) -> String {
        var out = ""
        write(into: &out, indent: indent, level: 0)
        return out
    }

    private func write(into out: inout String, indent: Int?, level: Int) {
        func newline(_ l: Int) {
            if let indent { out += "\n" + String(repeating: " ", count: indent * l) }
        }
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let t): out += t
        case .string(let s): out += JSONValue.quoted(s)
        case .array(let a):
            guard !a.isEmpty else { out += "[]"; return }
            out += "["
            for (i, v) in a.enumerated() {
                if i > 0 { out += "," }
                newline(level + 1)
                v.write(into: &out, indent: indent, level: level + 1)
            }
            newline(level)
            out += "]"
        case .object(let o):
            guard !o.keys.isEmpty else { out += "{}"; return }
            out += "{"
            for (i, k) in o.keys.enumerated() {
                if i > 0 { out += "," }
                newline(level + 1)
                out += JSONValue.quoted(k) + (indent == nil ? ":" : ": ")
                o.values[k]!.write(into: &out, indent: indent, level: level + 1)
            }
            newline(level)
            out += "}"
        }
    }

    /// `s` as a JSON string literal: quotes, backslashes and control characters escaped, all else
    /// (non-ASCII included) as is. The package's one JSON escaper.
    public static func quoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20:
                let hex = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }
}

/// Object members in file order; keys are unique (the parser rejects duplicates).
public struct JSONObject: Sendable, Equatable {
    public private(set) var keys: [String] = []
    public private(set) var values: [String: JSONValue] = [:]

    public init() {}
    public init(_ pairs: [(String, JSONValue)]) {
        for (k, v) in pairs { self[k] = v }
    }

    public subscript(_ key: String) -> JSONValue? {
        get { values[key] }
        set {
            if values[key] == nil, newValue != nil { keys.append(key) }
            if newValue == nil { keys.removeAll { $0 == key } }
            values[key] = newValue
        }
    }
}
