import Foundation

/// Indices of the canonical columns in a record's cells.
enum Canonical {
    static let names = ColumnMapping.canonicalNames
    static let count = names.count
    static let run = 0, n0 = 1, n = 2, rho = 3, loss0 = 4, tokens = 5, loss = 6
}

/// Which file column (a CSV header name, a JSON key) holds what, checked against the mapping.
enum RecordColumns {
    enum Role {
        case canonical(Int)
        case label(String)
        case ignored
    }

    /// What each file column holds, after checking the header against the mapping.
    static func layout(_ names: [String], file: String, line: Int, columns: ColumnMapping, isHeader: Bool)
        throws -> (roles: [Role], labels: [String], hasRun: Bool)
    {
        var seen = Set<String>()
        for name in names where !name.isEmpty {
            guard seen.insert(name).inserted else { throw DataError(file: file, line: line, "column '\(OneLine.quoted(name))' appears twice in the header") }
        }
        let listing = names.filter { !$0.isEmpty }.prefix(20).map { OneLine.quoted($0, limit: 40) }.joined(separator: ", ") + (names.count > 20 ? ", ..." : "")
        let place = isHeader ? "in the header" : "in any record"
        for (c, canonical) in Canonical.names.enumerated() {
            let column = columns.fileColumn(for: canonical)
            guard !seen.contains(column) else { continue }
            if columns.isRenamed(canonical) {
                throw DataError(file: file, line: line, "column '\(column)' (mapping \(columns.entry(for: canonical))) is not \(place); columns: \(listing)")
            }
            if c == Canonical.loss {
                throw DataError(file: file, line: line, "column 'loss' is missing; every record needs a loss (map another column with loss=NAME); columns: \(listing)")
            }
        }
        var roles: [Role] = []
        var labels: [String] = []
        for name in names {
            if let canonical = columns.canonical(forFileColumn: name) {
                roles.append(.canonical(Canonical.names.firstIndex(of: canonical)!))
            } else if name.isEmpty || Canonical.names.contains(name) {
                // Unnamed (an index), or a schema name whose data the mapping takes from elsewhere.
                roles.append(.ignored)
            } else {
                roles.append(.label(name))
                labels.append(name)
            }
        }
        return (roles, labels, seen.contains(columns.fileColumn(for: "run")))
    }
}
