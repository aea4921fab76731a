import Foundation

/// One canonical value as found in the file, before validation.
enum Cell {
    case absent
    /// A CSV field or a JSON string: trimmed, empty means absent.
    case text(String)
    /// A JSON number literal.
    case number(String)
    /// A JSON value that can never be a number (true, false, an object or array).
    case other(String)
}

/// Validates cells into records and checks run/tokens uniqueness in one pass.
struct RecordBuilder {
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
