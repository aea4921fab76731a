import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A loss-record file format.
public enum RecordFormat: String, Sendable {
    case csv, jsonl

    /// The format a file name implies: `.jsonl`, `.ndjson` and `.json` are JSON Lines, anything else CSV.
    public init(path: String) {
        switch (path as NSString).pathExtension.lowercased() {
        case "jsonl", "ndjson", "json": self = .jsonl
        default: self = .csv
        }
    }
}

/// The one reader of loss-record files. Every problem is a `DataError` at `file:line`.
///
/// Schema: the columns `run, n0, n, rho, loss0, tokens, loss` (renamed by a `ColumnMapping`), of
/// which only `loss` is required; every other column is kept as a string label. Per record:
/// - an empty cell (CSV) or a missing/null value (JSON) leaves that variable absent, except
///   `loss`; an empty label is left out of `labels` rather than stored as "";
/// - numbers must be finite, with `n0, n, loss0, loss > 0`, `n <= n0`, `rho` in [0, 1) and
///   `tokens >= 0`;
/// - `rho` absent with `n0` and `n` given becomes `1 - n/n0`; `n` absent with `n0` and `rho`
///   given becomes `(1 - rho) n0`. When all three are given they are not cross-checked, since
///   `rho` may count a subset of the parameters;
/// - without a `run` column, the run id is built from the record's given `n0`, `n`, `rho`,
///   `loss0` and its labels in column order, as `n0=1000000000 n=750000000 rho=0.25 method=wanda`
///   (only values present; `all` when there are none), so each distinct pruned model is one run;
/// - a run may have one record per `tokens` value.
///
/// CSV follows RFC 4180 (quoted fields may hold commas, doubled quotes and newlines) and also
/// accepts CRLF or CR line ends, a UTF-8 byte-order mark, blank lines and `#` comment lines;
/// unquoted fields are trimmed of spaces and tabs; columns with an empty header name (a pandas
/// index) are ignored. A record's line is the physical line where it starts.
public enum RecordReader {
    /// Reads a file; the format comes from its extension unless given.
    public static func read(path: String, columns: ColumnMapping = ColumnMapping(), format: RecordFormat? = nil) throws -> RecordSet {
        let bytes = try readBytes(path)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw DataError(file: path, line: firstInvalidUTF8Line(bytes), "not valid UTF-8 text")
        }
        return try parse(text: text, file: path, format: format ?? RecordFormat(path: path), columns: columns)
    }

    /// Parses file contents; `file` is only used to name records and errors.
    public static func parse(text: String, file: String, format: RecordFormat, columns: ColumnMapping = ColumnMapping()) throws -> RecordSet {
        var text = text
        return try text.withUTF8 { all in
            // Spreadsheet exports often start with a byte-order mark, which would stick to the first column name.
            let bom = all.count >= 3 && all[0] == 0xEF && all[1] == 0xBB && all[2] == 0xBF
            let bytes = UnsafeBufferPointer(rebasing: all[(bom ? 3 : 0)...])
            switch format {
            case .csv: return try parseCSV(bytes, file: file, columns: columns)
            case .jsonl: return try parseJSONLines(bytes, file: file, columns: columns)
            }
        }
    }

    // MARK: - CSV

    private static func parseCSV(_ bytes: UnsafeBufferPointer<UInt8>, file: String, columns: ColumnMapping) throws -> RecordSet {
        var header: [String]?
        var headerLine = 1
        var roles: [ColumnRole] = []
        var builder: RecordBuilder?
        var cells = [Cell](repeating: .absent, count: Canonical.count)
        var labels: [(String, String)] = []

        try scanCSV(bytes, file: file) { line, fields in
            guard let header else {
                header = fields
                headerLine = line
                let layout = try layoutColumns(fields, file: file, line: line, columns: columns, isHeader: true)
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
    private static func scanCSV(_ b: UnsafeBufferPointer<UInt8>, file: String, row: (Int, [String]) throws -> Void) throws {
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

    // MARK: - JSON Lines

    private static func parseJSONLines(_ b: UnsafeBufferPointer<UInt8>, file: String, columns: ColumnMapping) throws -> RecordSet {
        // Two passes: whole-file column checks (is there a loss key at all?) need every key first.
        var objects: [(line: Int, pairs: [(String, JSONValue)])] = []
        var keys: [String] = []
        var known = Set<String>()
        var start = 0
        var line = 1
        while start < b.count {
            var end = start
            while end < b.count, b[end] != 0x0A { end += 1 }
            var last = end
            if last > start, b[last - 1] == 0x0D { last -= 1 }
            var parser = JSONObjectParser(b: b, i: start, end: last)
            if !parser.isBlank {
                let pairs: [(String, JSONValue)]
                do { pairs = try parser.object() } catch {
                    throw DataError(file: file, line: line, "not a JSON object: \(error.message)")
                }
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

        let layout = try layoutColumns(keys, file: file, line: firstLine, columns: columns, isHeader: false)
        var builder = RecordBuilder(file: file, mapping: columns, hasRunColumn: layout.hasRun, labelColumns: layout.labels)
        var role: [String: ColumnRole] = [:]
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

    // MARK: - Columns

    private enum ColumnRole {
        case canonical(Int)
        case label(String)
        case ignored
    }

    /// What each file column holds, after checking the header against the mapping.
    private static func layoutColumns(_ names: [String], file: String, line: Int, columns: ColumnMapping, isHeader: Bool)
        throws -> (roles: [ColumnRole], labels: [String], hasRun: Bool)
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
        var roles: [ColumnRole] = []
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

    // MARK: - Files

    private static func readBytes(_ path: String) throws -> [UInt8] {
        func failure() -> DataError { DataError(file: path, "cannot read: \(String(cString: strerror(errno)))") }
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw failure() }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var info = stat()
        let limit = InputLimits.recordFileBytes
        if fstat(fd, &info) == 0, info.st_size > 0 {
            guard info.st_size <= limit else { throw tooLarge(path, Int(info.st_size)) }
            bytes.reserveCapacity(Int(info.st_size))
        }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let got = chunk.withUnsafeMutableBytes { systemRead(fd, $0.baseAddress, $0.count) }
            if got < 0 {
                if errno == EINTR { continue }
                throw failure()  // e.g. EISDIR for a directory
            }
            if got == 0 { return bytes }
            // A pipe or a growing file has no size up front.
            guard bytes.count + got <= limit else { throw tooLarge(path, bytes.count + got) }
            bytes.append(contentsOf: chunk[0..<got])
        }
    }

    private static func tooLarge(_ path: String, _ size: Int) -> DataError {
        DataError(file: path, "the file has \(size >> 20) MiB or more; records files are read whole, up to \(InputLimits.recordFileBytes >> 20) MiB (split it, or drop unused columns)")
    }

    /// `read(2)`; a bare `read` here would resolve to `RecordReader.read(path:)`.
    private static func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
        #if canImport(Glibc)
        return Glibc.read(fd, buffer, count)
        #else
        return Darwin.read(fd, buffer, count)
        #endif
    }

    private static func firstInvalidUTF8Line(_ bytes: [UInt8]) -> Int? {
        for (index, line) in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated()
        where String(validating: line, as: UTF8.self) == nil {
            return index + 1
        }
        return nil
    }
}

// MARK: - Records

/// Indices of the canonical columns in a record's cells.
private enum Canonical {
    static let names = ColumnMapping.canonicalNames
    static let count = names.count
    static let run = 0, n0 = 1, n = 2, rho = 3, loss0 = 4, tokens = 5, loss = 6
}

/// One canonical value as found in the file, before validation.
private enum Cell {
    case absent
    /// A CSV field or a JSON string: trimmed, empty means absent.
    case text(String)
    /// A JSON number literal.
    case number(String)
    /// A JSON value that can never be a number (true, false, an object or array).
    case other(String)
}

/// Validates cells into records and checks run/tokens uniqueness in one pass.
private struct RecordBuilder {
    let file: String
    let mapping: ColumnMapping
    let hasRunColumn: Bool
    let labelColumns: [String]
    private(set) var records: [LossRecord] = []
    /// First line of each (run, tokens), to name both lines of a duplicate.
    private var firstLine: [RunPoint: Int] = [:]

    private struct RunPoint: Hashable {
        var run: String
        var tokens: Double?
    }

    init(file: String, mapping: ColumnMapping, hasRunColumn: Bool, labelColumns: [String]) {
        self.file = file
        self.mapping = mapping
        self.hasRunColumn = hasRunColumn
        self.labelColumns = labelColumns
    }

    var recordSet: RecordSet { RecordSet(file: file, records: records, labelColumns: labelColumns) }

    /// `column 'tokens'`, or `column 'step_tokens' (tokens)` when mapped, so the user finds it in the file.
    private func column(_ c: Int) -> String {
        let canonical = Canonical.names[c]
        let name = mapping.fileColumn(for: canonical)
        return name == canonical ? "column '\(name)'" : "column '\(name)' (\(canonical))"
    }

    mutating func add(line: Int, cells: [Cell], labels: [(String, String)]) throws {
        func fail(_ message: String) -> DataError { DataError(file: file, line: line, message) }

        /// The value and its text as written (errors quote the file, not a reformatted number).
        func number(_ c: Int) throws -> (value: Double, text: String)? {
            let text: String
            switch cells[c] {
            case .absent: return nil
            case .text(let s):
                // Unquoted CSV fields arrive trimmed; only pay for Foundation's trim when needed.
                let edges = [s.utf8.first, s.utf8.last]
                text = edges.contains { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }
                    ? s.trimmingCharacters(in: .whitespacesAndNewlines) : s
                if text.isEmpty { return nil }
            case .number(let s): text = s
            case .other(let s): throw fail("\(column(c)): '\(OneLine.quoted(s))' is not a number")
            }
            // Decimal only: Double(String) would also take 0x10 or stop at a NUL.
            let quoted = OneLine.quoted(text)
            switch NumberText.read(text) {
            case .value(let x): return (x, quoted)
            case .nan: throw fail("\(column(c)): '\(quoted)' is NaN")
            case .infinity, .overflow: throw fail("\(column(c)): '\(quoted)' is not finite")
            case .notANumber: throw fail("\(column(c)): '\(quoted)' is not a number")
            }
        }
        func positive(_ c: Int, _ v: (value: Double, text: String)?) throws {
            if let v, !(v.value > 0) { throw fail("\(column(c)): \(v.text) is not positive") }
        }

        let n0 = try number(Canonical.n0)
        var n = try number(Canonical.n)
        var rho = try number(Canonical.rho)
        let loss0 = try number(Canonical.loss0)
        let tokens = try number(Canonical.tokens)
        guard let loss = try number(Canonical.loss) else {
            throw fail("\(column(Canonical.loss)) is empty; every record needs a loss")
        }
        try positive(Canonical.n0, n0)
        try positive(Canonical.n, n)
        try positive(Canonical.loss0, loss0)
        try positive(Canonical.loss, loss)
        if let rho, !(rho.value >= 0 && rho.value < 1) { throw fail("\(column(Canonical.rho)): \(rho.text) is outside [0, 1)") }
        if let tokens, tokens.value < 0 { throw fail("\(column(Canonical.tokens)): \(tokens.text) is negative") }
        if let n, let n0, n.value > n0.value {
            throw fail("\(column(Canonical.n)): \(n.text) is larger than n0 (\(n0.text)); n is the size after pruning")
        }

        var labelMap: [String: String] = [:]
        for (name, value) in labels { labelMap[name] = value }

        let run: String
        if hasRunColumn {
            switch cells[Canonical.run] {
            case .text(let s) where !s.isEmpty: run = s
            case .number(let s), .other(let s): run = s
            default: throw fail("\(column(Canonical.run)) is empty")
            }
        } else {
            // Given values only: derived ones are redundant and could differ in the last bit.
            var parts: [String] = []
            for (c, v) in [(Canonical.n0, n0), (Canonical.n, n), (Canonical.rho, rho), (Canonical.loss0, loss0)] {
                if let v { parts.append("\(Canonical.names[c])=\(RecordWriter.number(v.value))") }
            }
            for (name, value) in labels { parts.append("\(name)=\(value)") }
            run = parts.isEmpty ? "all" : parts.joined(separator: " ")
        }

        if rho == nil, let n0, let nn = n { rho = (1 - nn.value / n0.value, "") }
        if n == nil, let n0, let r = rho { n = ((1 - r.value) * n0.value, "") }

        let key = RunPoint(run: run, tokens: tokens?.value)
        if let earlier = firstLine.updateValue(line, forKey: key) {
            let at = tokens.map { "at tokens \($0.text)" } ?? "without tokens"
            throw fail("run '\(OneLine.quoted(run))' has two records \(at) (lines \(earlier) and \(line))")
        }
        records.append(LossRecord(run: run, n0: n0?.value, n: n?.value, rho: rho?.value, loss0: loss0?.value,
                                  tokens: tokens?.value, loss: loss.value, labels: labelMap,
                                  source: SourceLocation(file: file, line: line)))
    }
}

// MARK: - JSON

private enum JSONValue {
    case string(String)
    /// The literal text (parsed later, with the same checks as CSV; also `NaN`/`Infinity` as Python writes them).
    case number(String)
    case bool(Bool)
    case null
    /// An object or array, as its text.
    case nested(String)

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

private struct JSONSyntaxError: Error {
    var message: String
}

/// A parser for one flat JSON object on one line; nested values are kept as text.
private struct JSONObjectParser {
    let b: UnsafeBufferPointer<UInt8>
    var i: Int
    let end: Int
    private let lineStart: Int

    init(b: UnsafeBufferPointer<UInt8>, i: Int, end: Int) {
        self.b = b
        self.i = i
        self.end = end
        lineStart = i
    }

    var isBlank: Bool {
        var k = i
        while k < end, Self.isSpace(b[k]) { k += 1 }
        return k == end
    }

    private static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0D || c == 0x0A }

    private var peek: UInt8? { i < end ? b[i] : nil }

    private func failure(_ what: String) -> JSONSyntaxError {
        JSONSyntaxError(message: i < end ? "\(what) at column \(i - lineStart + 1)" : "\(what) at the end of the line")
    }

    private mutating func skipSpace() {
        while i < end, Self.isSpace(b[i]) { i += 1 }
    }

    private func text(_ from: Int, _ to: Int) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: b[from..<to]), as: UTF8.self)
    }

    mutating func object() throws(JSONSyntaxError) -> [(String, JSONValue)] {
        skipSpace()
        guard peek == UInt8(ascii: "{") else { throw failure("expected '{'") }
        i += 1
        var pairs: [(String, JSONValue)] = []
        skipSpace()
        if peek == UInt8(ascii: "}") {
            i += 1
        } else {
            while true {
                skipSpace()
                guard peek == UInt8(ascii: "\"") else { throw failure("expected a key in double quotes") }
                let key = try string()
                skipSpace()
                guard peek == UInt8(ascii: ":") else { throw failure("expected ':' after key \"\(key)\"") }
                i += 1
                skipSpace()
                pairs.append((key, try value()))
                skipSpace()
                if peek == UInt8(ascii: ",") {
                    i += 1
                    continue
                }
                if peek == UInt8(ascii: "}") {
                    i += 1
                    break
                }
                throw failure("expected ',' or '}'")
            }
        }
        skipSpace()
        guard i == end else { throw failure("unexpected text after the object") }
        return pairs
    }

    private mutating func value() throws(JSONSyntaxError) -> JSONValue {
        guard let c = peek else { throw failure("expected a value") }
        switch c {
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "{"), UInt8(ascii: "["): return .nested(try nested())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "N"): try literal("NaN"); return .number("NaN")
        case UInt8(ascii: "I"): try literal("Infinity"); return .number("Infinity")
        case UInt8(ascii: "-") where i + 1 < end && b[i + 1] == UInt8(ascii: "I"):
            i += 1
            try literal("Infinity")
            return .number("-Infinity")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            let start = i
            while i < end, Self.isNumberByte(b[i]) { i += 1 }
            let s = text(start, i)
            guard NumberText.read(s) != .notANumber else {
                i = start
                throw failure("malformed number '\(OneLine.quoted(s))'")
            }
            return .number(s)
        default:
            throw failure("expected a value")
        }
    }

    private static func isNumberByte(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: ".") || c == UInt8(ascii: "-")
            || c == UInt8(ascii: "+") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E")
    }

    private mutating func literal(_ word: StaticString) throws(JSONSyntaxError) {
        let count = word.utf8CodeUnitCount
        let matches = i + count <= end && (0..<count).allSatisfy { b[i + $0] == word.utf8Start[$0] }
        guard matches else { throw failure("expected a value") }
        i += count
    }

    /// A string starting at the opening quote, escapes decoded.
    private mutating func string() throws(JSONSyntaxError) -> String {
        i += 1
        let start = i
        // Fast path: most keys and labels have no escapes.
        while i < end, b[i] != UInt8(ascii: "\""), b[i] != UInt8(ascii: "\\"), b[i] >= 0x20 { i += 1 }
        if i < end, b[i] == UInt8(ascii: "\"") {
            i += 1
            return text(start, i - 1)
        }
        var out = Array(UnsafeBufferPointer(rebasing: b[start..<i]))
        while true {
            guard i < end else { throw failure("unterminated string") }
            let c = b[i]
            if c == UInt8(ascii: "\"") {
                i += 1
                return String(decoding: out, as: UTF8.self)
            }
            if c < 0x20 { throw failure("control character in a string") }
            if c != UInt8(ascii: "\\") {
                out.append(c)
                i += 1
                continue
            }
            i += 1
            guard let e = peek else { throw failure("unterminated string") }
            i += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800..<0xDC00).contains(scalar) {  // a UTF-16 surrogate pair
                    guard i + 1 < end, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") else { throw failure("unpaired surrogate") }
                    i += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw failure("unpaired surrogate") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let u = Unicode.Scalar(scalar) else { throw failure("invalid \\u escape") }
                out.append(contentsOf: String(u).utf8)
            default:
                i -= 1
                throw failure("invalid escape")
            }
        }
    }

    private mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
        guard i + 4 <= end else { throw failure("invalid \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = b[i]
            let d: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
            default: throw failure("invalid \\u escape")
            }
            v = v << 4 | UInt32(d)
            i += 1
        }
        return v
    }

    /// An object or array as raw text; only brackets outside strings count.
    private mutating func nested() throws(JSONSyntaxError) -> String {
        let start = i
        var depth = 0
        var inString = false
        while i < end {
            let c = b[i]
            i += 1
            if inString {
                if c == UInt8(ascii: "\\") { i += 1 } else if c == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch c {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if depth == 0 { return text(start, i) }
            default: break
            }
        }
        throw failure("unterminated object or array")
    }
}
