import Foundation

/// CSV records (RFC 4180, plus CRLF or CR line ends, blank lines, `#` comment lines and trimmed
/// unquoted fields), the header checked by `RecordColumns`, each record by `RecordBuilder`.
enum CSVRecords {
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>, file: String, columns: ColumnMapping) throws -> RecordSet {
        var header: [String]?
        var headerLine = 1
        var roles: [RecordColumns.Role] = []
        var builder: RecordBuilder?
        var cells = [Cell](repeating: .absent, count: Canonical.count)
        var labels: [(String, String)] = []

        try scan(bytes, file: file) { line, fields in
            guard let header else {
                header = fields
                headerLine = line
                let layout = try RecordColumns.layout(fields, file: file, line: line, columns: columns, isHeader: true)
                roles = layout.roles
                builder = RecordBuilder(file: file, mapping: columns, hasRunColumn: layout.hasRun, labelColumns: layout.labels)
                return
            }
            guard fields.count == header.count else {
                throw DataError(file: file, line: line, "expected \(header.count) fields, found \(fields.count)")
            }
            for c in cells.indices { cells[c] = .absent }
            labels.removeAll(keepingCapacity: true)
            for (index, field) in fields.enumerated() {
                switch roles[index] {
                case .canonical(let c): cells[c] = .text(field)
                case .label(let name): if !field.isEmpty { labels.append((name, field)) }
                case .ignored: break
                }
            }
            // In place through the optional: a copy would make every append copy the records.
            try builder!.add(line: line, cells: cells, labels: labels)
        }
        guard let builder else { throw DataError(file: file, "the file is empty: no header line") }
        guard !builder.records.isEmpty else { throw DataError(file: file, line: headerLine, "no records after the header") }
        return builder.recordSet
    }

    /// Calls `row` with each record's first physical line and its fields.
    private static func scan(_ b: UnsafeBufferPointer<UInt8>, file: String, row: (Int, [String]) throws -> Void) throws {
        let (comma, quote, lf, cr, space, tab, hash): (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0x2C, 0x22, 0x0A, 0x0D, 0x20, 0x09, 0x23)
        let n = b.count
        var i = 0
        var line = 1
        var fields: [String] = []
        var unescaped: [UInt8] = []

        /// The index just past the line end at or after `j` (CRLF, LF or CR).
        func pastLineEnd(_ j: Int) -> Int {
            var k = j
            while k < n, b[k] != lf, b[k] != cr { k += 1 }
            if k < n { k += (b[k] == cr && k + 1 < n && b[k + 1] == lf) ? 2 : 1 }
            return k
        }

        while i < n {
            // At the start of a physical line: skip blank and comment lines.
            var j = i
            while j < n, b[j] == space || b[j] == tab { j += 1 }
            if j == n { break }
            if b[j] == lf || b[j] == cr || b[i] == hash {
                i = pastLineEnd(j)
                line += 1
                continue
            }
            let start = line
            fields.removeAll(keepingCapacity: true)
            while true {
                var k = i
                while k < n, b[k] == space || b[k] == tab { k += 1 }
                if k < n, b[k] == quote {
                    let fieldLine = line
                    k += 1
                    unescaped.removeAll(keepingCapacity: true)
                    var segment = k
                    while true {
                        guard k < n else { throw DataError(file: file, line: fieldLine, "a quoted field starting here is never closed") }
                        let c = b[k]
                        if c == quote {
                            unescaped.append(contentsOf: UnsafeBufferPointer(rebasing: b[segment..<k]))
                            if k + 1 < n, b[k + 1] == quote {  // "" is a literal quote
                                unescaped.append(quote)
                                k += 2
                                segment = k
                                continue
                            }
                            k += 1
                            break
                        }
                        // Newlines inside quotes still advance the physical line count.
                        if c == lf || (c == cr && !(k + 1 < n && b[k + 1] == lf)) { line += 1 }
                        k += 1
                    }
                    fields.append(String(decoding: unescaped, as: UTF8.self))
                    while k < n, b[k] == space || b[k] == tab { k += 1 }
                    if k < n, b[k] != comma, b[k] != lf, b[k] != cr {
                        let rest = String(decoding: UnsafeBufferPointer(rebasing: b[k..<min(n, k + 20)]), as: UTF8.self)
                        throw DataError(file: file, line: line, "text after a closing quote ('\(rest.prefix { $0 != "\n" && $0 != "\r" })'); a quote inside a field must be doubled")
                    }
                    i = k
                } else {
                    var e = k
                    while e < n, b[e] != comma, b[e] != lf, b[e] != cr { e += 1 }
                    var t = e
                    while t > k, b[t - 1] == space || b[t - 1] == tab { t -= 1 }
                    fields.append(String(decoding: UnsafeBufferPointer(rebasing: b[k..<t]), as: UTF8.self))
                    i = e
                }
                if i < n, b[i] == comma {
                    i += 1
                    continue
                }
                if i < n {  // a line end: CRLF, LF or CR
                    i += (b[i] == cr && i + 1 < n && b[i + 1] == lf) ? 2 : 1
                    line += 1
                }
                break
            }
            try row(start, fields)
        }
    }
}
