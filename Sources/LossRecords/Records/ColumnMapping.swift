import Foundation

/// Which file column holds each canonical column (`run, n0, n, rho, loss0, tokens, loss`), so
/// files with their own naming (`val_loss`, `step_tokens`) can be read without editing them.
public struct ColumnMapping: Sendable, Equatable, CustomStringConvertible {
    /// The canonical column names, in schema order.
    public static let canonicalNames = ["run", "n0", "n", "rho", "loss0", "tokens", "loss"]

    /// canonical -> file column; identity entries are not stored, so `loss=loss` equals `init()`.
    private var renamed: [String: String] = [:]

    /// Every canonical column is read from the file column of the same name.
    public init() {}

    /// Parses `canonical=fileColumn` entries separated by commas, e.g. `loss=val_loss,tokens=step_tokens`.
    /// Throws `LawError` for an unknown canonical name, a malformed entry, a canonical name given
    /// twice, or two canonical columns that would read the same file column.
    public init(parsing text: String) throws {
        let entries = text.split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        // An empty text (an unset option) is the identity; a stray empty entry is not.
        if entries == [""] { return }
        var seen = Set<String>()
        for entry in entries {
            let parts = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw LawError("column mapping '\(text)': '\(entry)' is not of the form canonical=column (e.g. loss=val_loss)")
            }
            let (canonical, column) = (parts[0], parts[1])
            guard Self.canonicalNames.contains(canonical) else {
                throw LawError("column mapping '\(text)': unknown column '\(canonical)'; the canonical columns are \(Self.canonicalNames.joined(separator: ", "))")
            }
            guard seen.insert(canonical).inserted else {
                throw LawError("column mapping '\(text)': '\(canonical)' is mapped twice")
            }
            if canonical != column { renamed[canonical] = column }
        }
        // Two canonical columns fed by one file column would silently duplicate data
        // (e.g. `loss=loss0` while loss0 still reads `loss0`).
        var owner: [String: String] = [:]
        for canonical in Self.canonicalNames {
            let column = fileColumn(for: canonical)
            if let other = owner[column] {
                throw LawError("column mapping '\(text)': '\(other)' and '\(canonical)' would both read column '\(column)'")
            }
            owner[column] = canonical
        }
    }

    /// The file column holding `canonical` (the name itself unless mapped).
    public func fileColumn(for canonical: String) -> String { renamed[canonical] ?? canonical }

    /// Whether `canonical` is read from a differently named column.
    public func isRenamed(_ canonical: String) -> Bool { renamed[canonical] != nil }

    /// The canonical column a file column holds, if any. A file column named like a canonical
    /// column whose data was mapped elsewhere holds nothing (`loss` when `loss=val_loss`).
    public func canonical(forFileColumn column: String) -> String? {
        for name in Self.canonicalNames where fileColumn(for: name) == column { return name }
        return nil
    }

    /// The entry for one column (`loss=val_loss`), for error messages.
    func entry(for canonical: String) -> String { "\(canonical)=\(fileColumn(for: canonical))" }

    /// The non-identity entries in schema order, in the syntax `init(parsing:)` reads.
    public var description: String {
        Self.canonicalNames.filter(isRenamed).map(entry(for:)).joined(separator: ",")
    }
}
