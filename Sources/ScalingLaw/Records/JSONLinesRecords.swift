import Foundation

/// JSON Lines records: one flat object per line (read by `RecordJSON`), blank lines skipped; the
/// keys of all objects checked by `RecordColumns`, each record by `RecordBuilder`.
enum JSONLinesRecords {
    static func parse(_ b: UnsafeBufferPointer<UInt8>, file: String, columns: ColumnMapping) throws -> RecordSet {
        // Two passes: whole-file column checks (is there a loss key at all?) need every key first.
        var objects: [(line: Int, pairs: [(key: String, value: RecordJSON.Value)])] = []
        var keys: [String] = []
        var known = Set<String>()
        var start = 0
        var line = 1
        while start < b.count {
            var end = start
            while end < b.count, b[end] != 0x0A { end += 1 }
            var last = end
            if last > start, b[last - 1] == 0x0D { last -= 1 }
            let pairs: [(key: String, value: RecordJSON.Value)]?
            do { pairs = try RecordJSON.object(in: UnsafeBufferPointer(rebasing: b[start..<last])) } catch {
                throw DataError(file: file, line: line, "not a JSON object: \(error.message)")
            }
            if let pairs {
                var inObject = Set<String>()
                for (key, _) in pairs {
                    guard inObject.insert(key).inserted else { throw DataError(file: file, line: line, "key '\(OneLine.quoted(key))' appears twice") }
                    if known.insert(key).inserted { keys.append(key) }
                }
                objects.append((line, pairs))
            }
            start = end + 1
            line += 1
        }
        guard let firstLine = objects.first?.line else { throw DataError(file: file, "the file has no records") }

        let layout = try RecordColumns.layout(keys, file: file, line: firstLine, columns: columns, isHeader: false)
        var builder = RecordBuilder(file: file, mapping: columns, hasRunColumn: layout.hasRun, labelColumns: layout.labels)
        var role: [String: RecordColumns.Role] = [:]
        for (key, r) in zip(keys, layout.roles) { role[key] = r }
        var cells = [Cell](repeating: .absent, count: Canonical.count)
        var labelValue: [String: String] = [:]
        var labels: [(String, String)] = []
        for (line, pairs) in objects {
            for c in cells.indices { cells[c] = .absent }
            labelValue.removeAll(keepingCapacity: true)
            for (key, value) in pairs {
                switch role[key]! {
                case .canonical(let c): cells[c] = value.cell
                case .label(let name): if let s = value.label, !s.isEmpty { labelValue[name] = s }
                case .ignored: break
                }
            }
            // Labels in first-appearance order, whatever each object's key order, so run ids agree.
            labels.removeAll(keepingCapacity: true)
            for name in layout.labels { if let s = labelValue[name] { labels.append((name, s)) } }
            try builder.add(line: line, cells: cells, labels: labels)
        }
        return builder.recordSet
    }
}

extension RecordJSON.Value {
    /// What a canonical column takes from the value: numbers stay text until `RecordBuilder`
    /// reads them with the same checks as CSV.
    var cell: Cell {
        switch self {
        case .string(let s): .text(s)
        case .number(let s): .number(s)
        case .bool(let b): .other(b ? "true" : "false")
        case .null: .absent
        case .nested(let s): .other(s)
        }
    }

    /// A label's text; nil for null.
    var label: String? {
        switch self {
        case .string(let s), .number(let s), .nested(let s): s
        case .bool(let b): b ? "true" : "false"
        case .null: nil
        }
    }
}
