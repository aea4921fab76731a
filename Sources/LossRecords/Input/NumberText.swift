import Foundation

/// The one way the planner reads a number from text (records, flags, name=value lists): decimal
/// only. `Double(String)` alone also takes `0x10`, `0x1.6p1`, `nan` and `inf`, and the C parser
/// under it stops at a NUL, so `2\0.847` read as 2.
public enum NumberText {
    public enum Reading: Equatable, Sendable {
        /// A finite number.
        case value(Double)
        /// A well-formed decimal too large for a Double (`1e999`).
        case overflow
        /// `nan`, `NaN` (a sign allowed).
        case nan
        /// `inf`, `Infinity` and the like (a sign allowed).
        case infinity
        /// Anything else.
        case notANumber
    }

    /// Grammar: `[+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?`, nothing around it.
    public static func read(_ text: String) -> Reading {
        var text = text
        return text.withUTF8 { read($0) }
    }

    static func read(_ b: UnsafeBufferPointer<UInt8>) -> Reading {
        let n = b.count
        var i = 0
        func isDigit(_ k: Int) -> Bool { k < n && b[k] >= 0x30 && b[k] <= 0x39 }
        if i < n, b[i] == 0x2B || b[i] == 0x2D { i += 1 }
        var digits = 0
        while isDigit(i) { i += 1; digits += 1 }
        if i < n, b[i] == 0x2E {
            i += 1
            while isDigit(i) { i += 1; digits += 1 }
        }
        guard digits > 0 else { return special(b) }
        if i < n, b[i] == 0x65 || b[i] == 0x45 {
            i += 1
            if i < n, b[i] == 0x2B || b[i] == 0x2D { i += 1 }
            guard isDigit(i) else { return .notANumber }
            while isDigit(i) { i += 1 }
        }
        guard i == n else { return .notANumber }
        // Only well-formed ASCII decimals reach Double(), which parses them exactly.
        guard let x = Double(String(decoding: b, as: UTF8.self)) else { return .notANumber }
        return x.isFinite ? .value(x) : .overflow
    }

    private static func special(_ b: UnsafeBufferPointer<UInt8>) -> Reading {
        guard b.count <= 10 else { return .notANumber }
        var word = String(decoding: b, as: UTF8.self).lowercased()
        if word.hasPrefix("+") || word.hasPrefix("-") { word.removeFirst() }
        switch word {
        case "nan": return .nan
        case "inf", "infinity": return .infinity
        default: return .notANumber
        }
    }

    /// A finite decimal, or an `InputError` naming `flag` (and `name` in a name=value list).
    public static func finite(_ text: String, flag: String, name: String? = nil) throws -> Double {
        let what = name.map { "\($0)=\(OneLine.quoted(text))" } ?? "'\(OneLine.quoted(text))'"
        switch read(text.trimmingCharacters(in: .whitespaces)) {
        case .value(let x): return x
        case .overflow, .infinity: throw InputError(flag, "\(what) is not a finite number")
        case .nan: throw InputError(flag, "\(what) is NaN, not a number")
        case .notANumber: throw InputError(flag, "\(what) is not a decimal number")
        }
    }

    /// A whole number written in decimal digits (a sign allowed), or an `InputError`.
    public static func integer(_ text: String, flag: String) throws -> Int {
        let t = text.trimmingCharacters(in: .whitespaces)
        let body = t.first == "+" || t.first == "-" ? t.dropFirst() : Substring(t)
        guard !body.isEmpty, body.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            throw InputError(flag, "'\(OneLine.quoted(text))' is not a whole number")
        }
        guard let v = Int(t) else { throw InputError(flag, "\(OneLine.quoted(text)) is out of range") }
        return v
    }

    /// `%g` with 4 significant digits, as messages show numbers (`-7e+10`).
    public static func short(_ x: Double) -> String { String(format: "%.4g", x) }
}
