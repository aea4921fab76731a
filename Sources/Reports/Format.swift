import Foundation

/// Number formatting for people (reports and figures); CSV uses the round-trip exact `CSVTable.number`.
enum Format {
    /// `digits` significant digits, trailing zeros dropped, exponents written `2.1e9` rather than `2.1e+09`.
    static func significant(_ x: Double, _ digits: Int = 4) -> String {
        guard x.isFinite else { return x.isNaN ? "nan" : (x > 0 ? "inf" : "-inf") }
        let s = String(format: "%.\(max(digits, 1))g", x)
        guard let e = s.firstIndex(of: "e") else { return s }
        let mantissa = s[..<e]
        var exponent = s[s.index(after: e)...]
        let negative = exponent.first == "-"
        exponent = exponent.drop { $0 == "+" || $0 == "-" || $0 == "0" }
        return mantissa + "e" + (negative ? "-" : "") + (exponent.isEmpty ? "0" : exponent)
    }

    /// A metric: "n/a" when undefined (the reason is printed beside the table).
    static func metric(_ x: Double?, _ digits: Int = 4) -> String { x.map { significant($0, digits) } ?? "n/a" }

    static func optional(_ x: Double?, _ digits: Int = 4) -> String { x.map { significant($0, digits) } ?? "—" }

    static func interval(_ v: [Double]?, _ digits: Int = 4) -> String {
        guard let v, v.count == 2 else { return "—" }
        return "[\(significant(v[0], digits)), \(significant(v[1], digits))]"
    }

    /// A confidence level as a percentage label: 0.95 -> "95%".
    static func percent(_ level: Double) -> String { significant(level * 100, 3) + "%" }
}
