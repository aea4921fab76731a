import Foundation

/// A small RFC 4180 CSV writer: fields with a comma, quote or newline are quoted, quotes doubled.
public struct CSVTable: Sendable {
    public var header: [String]
    public private(set) var rows: [[String]] = []

    public init(header: [String]) { self.header = header }

    public mutating func append(_ row: [String]) {
        precondition(row.count == header.count, "CSV row has \(row.count) fields, header has \(header.count)")
        rows.append(row)
    }

    public static func escape(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    public var text: String {
        var out = header.map(Self.escape).joined(separator: ",") + "\n"
        for r in rows { out += r.map(Self.escape).joined(separator: ",") + "\n" }
        return out
    }

    /// Shortest text that reads back to the same Double (Swift's description is round-trip exact).
    /// A value that is not a number (the law at a record it cannot evaluate, an undefined metric)
    /// is an empty cell, like an absent one: pandas reads it as NaN, the records reader as absent,
    /// and no reader mistakes it for a number.
    public static func number(_ x: Double?) -> String {
        guard let x, x.isFinite else { return "" }
        if x == x.rounded(), abs(x) < 1e15 { return String(Int64(x)) }
        return "\(x)"
    }
}
