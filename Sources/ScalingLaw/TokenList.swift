import Foundation
import LossRecords

/// Token counts given on the command line: a list `1e8,1e9` or a log-spaced range `1e8:1e10:5`
/// (from:to:count), at most `InputLimits.predictionPoints` of them.
public enum TokenList {
    public static func parse(_ text: String, flag: String, allowZero: Bool = false) throws -> [Double] {
        let limit = InputLimits.predictionPoints
        if text.contains(":") {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 3 else {
                throw InputError(flag, "expected a list like 1e8,1e9 or a log-spaced range FROM:TO:COUNT, got '\(OneLine.quoted(text))'")
            }
            let lo = try NumberText.finite(parts[0], flag: flag), hi = try NumberText.finite(parts[1], flag: flag)
            let count = try NumberText.integer(parts[2], flag: flag)
            guard lo > 0, hi > lo else { throw InputError(flag, "a range FROM:TO:COUNT needs 0 < FROM < TO, got '\(OneLine.quoted(text))'") }
            guard count >= 2, count <= limit else {
                throw InputError(flag, "a range takes 2 to \(InputLimits.grouped(limit)) points, got \(count)")
            }
            return SyntheticDesign.logSpaced(lo, hi, count: count)
        }
        // Counted before parsing, so a pasted megabyte of commas costs nothing.
        let items = text.split(separator: ",", omittingEmptySubsequences: false)
        guard items.count <= limit else { throw InputError(flag, "at most \(InputLimits.grouped(limit)) token counts, got \(items.count)") }
        return try items.map { item in
            let v = try NumberText.finite(String(item), flag: flag)
            guard v > 0 || (allowZero && v == 0) else {
                throw InputError(flag, "'\(OneLine.quoted(String(item)))' is not a \(allowZero ? "non-negative" : "positive") token count")
            }
            return v
        }
    }
}
