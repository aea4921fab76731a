import Foundation
import JSON

/// Writes records in the schema `RecordReader` reads, so derived or cleaned data can be saved and
/// read back unchanged.
public enum RecordWriter {
    /// CSV with header `run,n0,n,rho,loss0,tokens,loss` followed by the label columns.
    ///
    /// A numeric column is written only if some record has it (absent values as empty cells);
    /// `run` and `loss` always. Numbers are written in a form that reads back bit-exactly.
    /// Label columns are `labelColumns` then any other label keys (sorted); a label named like a
    /// schema column is skipped, since the reader would take it for that column.
    public static func csv(_ set: RecordSet) -> String {
        let numeric: [(String, (LossRecord) -> Double?)] = [
            ("n0", \.n0), ("n", \.n), ("rho", \.rho), ("loss0", \.loss0), ("tokens", \.tokens),
        ]
        let present = numeric.filter { column in set.records.contains { column.1($0) != nil } }
        var labels = set.labelColumns.filter { !ColumnMapping.canonicalNames.contains($0) }
        let listed = Set(labels)
        labels += Set(set.records.flatMap(\.labels.keys))
            .subtracting(listed).filter { !ColumnMapping.canonicalNames.contains($0) }.sorted()

        var out = (["run"] + present.map(\.0) + ["loss"] + labels).map(escape).joined(separator: ",")
        out += "\n"
        for r in set.records {
            var fields = [escape(r.run)]
            for column in present { fields.append(column.1(r).map(number) ?? "") }
            fields.append(number(r.loss))
            for label in labels { fields.append(escape(r.labels[label] ?? "")) }
            out += fields.joined(separator: ",")
            out += "\n"
        }
        return out
    }

    /// JSON Lines: one object per record with the schema keys a record has (numbers written as
    /// in the CSV, so they read back bit-exactly) and its labels as strings.
    public static func jsonl(_ set: RecordSet) -> String {
        var out = ""
        for r in set.records {
            var fields = ["\"run\": \(JSONValue.quoted(r.run))"]
            for (key, value) in [("n0", r.n0), ("n", r.n), ("rho", r.rho), ("loss0", r.loss0), ("tokens", r.tokens)] {
                if let value { fields.append("\"\(key)\": \(number(value))") }
            }
            fields.append("\"loss\": \(number(r.loss))")
            for key in r.labels.keys.sorted() where !ColumnMapping.canonicalNames.contains(key) {
                fields.append("\(JSONValue.quoted(key)): \(JSONValue.quoted(r.labels[key]!))")
            }
            out += "{" + fields.joined(separator: ", ") + "}\n"
        }
        return out
    }

    /// Shortest text that reads back to the same Double: integers without `.0` (sizes and token
    /// counts stay readable), everything else via Swift's round-trip-exact description.
    static func number(_ x: Double) -> String {
        if x == x.rounded(), abs(x) < 9.007_199_254_740_992e15, !(x == 0 && x.sign == .minus) {
            return String(Int64(x))
        }
        return "\(x)"
    }

    /// RFC 4180 quoting, also for fields the reader would otherwise change: leading or trailing
    /// whitespace (unquoted fields are trimmed) or a leading `#` (a comment when it starts a line).
    static func escape(_ field: String) -> String {
        // Bytes, not Characters: "\r\n" is one Character and equals neither "\r" nor "\n".
        let needsQuotes = field.utf8.contains { $0 == 0x2C || $0 == 0x22 || $0 == 0x0A || $0 == 0x0D }
            || field.first == "#"
            || field.first.map(\.isWhitespace) == true || field.last.map(\.isWhitespace) == true
        guard needsQuotes else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
