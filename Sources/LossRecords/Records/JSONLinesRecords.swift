import Foundation
import JSON

/// JSON Lines records: one object per line (read by `JSONParser`, with `NaN`, `Infinity` and
/// `-Infinity` as Python's json module writes them), blank lines skipped; the keys of all objects
/// checked by `RecordColumns`, each record by `RecordBuilder`. A nested object or array is a
/// label's text as written.
enum JSONLinesRecords {
    /// One member of a record: what a canonical column takes from it, and its text as a label.
    struct Field {
        var cell: Cell
        /// nil for null.
        var label: String?
    }

    static func parse(_ b: UnsafeBufferPointer<UInt8>, file: String, columns: ColumnMapping) throws -> RecordSet {
        // Two passes: whole-file column checks (is there a loss key at all?) need every key first.
        var objects: [(line: Int, pairs: [(key: String, value: Field)])] = []
        var keys: [String] = []
        var known = Set<String>()
        var start = 0
        var line = 1
        while start < b.count {
            var end = start
            while end < b.count, b[end] != 0x0A { end += 1 }
            var last = end
            if last > start, b[last - 1] == 0x0D { last -= 1 }
            if !isBlank(b, from: start, to: last) {
                let members: [JSONParser.Member]
                do { members = try JSONParser.members(b, from: start, to: last, options: JSONParser.Options(nonFiniteNumbers: true)) } catch {
                    if let key = error.duplicateKey { throw DataError(file: file, line: line, "key '\(OneLine.quoted(key))' appears twice") }
                    let place = error.offset.map { $0 < last ? "at column \($0 - start + 1)" : "at the end of the line" } ?? ""
                    throw DataError(file: file, line: line, "not a JSON object: \(error.problem)" + (place.isEmpty ? "" : " " + place))
                }
                for m in members where known.insert(m.key).inserted { keys.append(m.key) }
                objects.append((line, members.map { ($0.key, field($0, in: b)) }))
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

extension JSONLinesRecords {
    static func isBlank(_ b: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int) -> Bool {
        b[start..<end].allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }
    }

    static func text(_ span: Range<Int>, in b: UnsafeBufferPointer<UInt8>) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: b[span]), as: UTF8.self)
    }

    /// Numbers stay text until `RecordBuilder` reads them with the same checks as CSV.
    static func field(_ m: JSONParser.Member, in b: UnsafeBufferPointer<UInt8>) -> Field {
        switch m.value {
        case .string(let s): Field(cell: .text(s), label: s)
        case .number(let t): Field(cell: .number(t), label: t)
        case .bool(let v): Field(cell: .other(v ? "true" : "false"), label: v ? "true" : "false")
        case .null: Field(cell: .absent, label: nil)
        case .array, .object:
            Field(cell: .other(text(m.span, in: b)), label: text(m.span, in: b))
        }
    }
}
