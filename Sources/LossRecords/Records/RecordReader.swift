import Foundation

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
        let bytes = try RecordFile.bytes(path)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw DataError(file: path, line: RecordFile.firstInvalidUTF8Line(bytes), "not valid UTF-8 text")
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
            case .csv: return try CSVRecords.parse(bytes, file: file, columns: columns)
            case .jsonl: return try JSONLinesRecords.parse(bytes, file: file, columns: columns)
            }
        }
    }
}
