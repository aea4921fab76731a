import Foundation
import LossRecords
import TestSupport
import Testing

/// The record reader's rules, each with the exact `file:line: problem` a user would see.
@Suite struct RecordReaderTests {
    static let header = "run,n0,n,rho,loss0,tokens,loss"

    func csv(_ text: String, columns: ColumnMapping = ColumnMapping()) throws -> RecordSet {
        try RecordReader.parse(text: text, file: "t.csv", format: .csv, columns: columns)
    }

    func jsonl(_ text: String, columns: ColumnMapping = ColumnMapping()) throws -> RecordSet {
        try RecordReader.parse(text: text, file: "t.jsonl", format: .jsonl, columns: columns)
    }

    /// The data error a parse throws, or nil (recorded as a test failure) when it succeeds.
    func failure(_ body: () throws -> RecordSet, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> DataError? {
        do {
            let set = try body()
            Issue.record("expected an error, got \(set.records.count) records", sourceLocation: sourceLocation)
        } catch let error as DataError {
            return error
        } catch {
            Issue.record("expected a DataError, got \(error)", sourceLocation: sourceLocation)
        }
        return nil
    }

    func withoutSources(_ records: [LossRecord]) -> [LossRecord] {
        records.map { var r = $0; r.source = nil; return r }
    }


    // MARK: - Basic reading

    @Test func readsCSVWithLabelsAndSources() throws {
        let set = try csv("""
            run,n0,n,rho,loss0,tokens,loss,method,family
            a,1e9,7.5e8,0.25,2.1,0,2.9,wanda,llama
            a,1000000000,750000000,0.25,2.1,1e8,2.5,wanda,llama
            b,8e9,6e9,0.25,1.8,2e8,2.0,sparsegpt,
            """)
        #expect(set.file == "t.csv")
        #expect(set.records.count == 3)
        #expect(set.runs == ["a", "b"])
        #expect(set.labelColumns == ["method", "family"])
        #expect(set.variables == Set(Variable.allCases))
        let r = set.records[1]
        #expect(r.run == "a" && r.n0 == 1e9 && r.n == 7.5e8 && r.rho == 0.25 && r.loss0 == 2.1 && r.tokens == 1e8 && r.loss == 2.5)
        #expect(r.labels == ["method": "wanda", "family": "llama"])
        // An empty label is absent, like an empty number.
        #expect(set.records[2].labels == ["method": "sparsegpt"])
        #expect(set.records.map(\.source) == [2, 3, 4].map { LossRecords.SourceLocation(file: "t.csv", line: $0) })
    }

    @Test func readsFilesAndInfersFormatFromExtension() throws {
        let dir = try Fixture.tempDir("records")
        defer { try? FileManager.default.removeItem(at: dir) }
        let csvPath = dir.appendingPathComponent("r.csv").path
        try "run,tokens,loss\na,1,2.5\n".write(toFile: csvPath, atomically: true, encoding: .utf8)
        #expect(try RecordReader.read(path: csvPath).records.first?.source == LossRecords.SourceLocation(file: csvPath, line: 2))

        for ext in ["jsonl", "ndjson", "json", "JSONL"] {
            let path = dir.appendingPathComponent("r.\(ext)").path
            try #"{"run": "a", "tokens": 1, "loss": 2.5}"#.write(toFile: path, atomically: true, encoding: .utf8)
            #expect(try RecordReader.read(path: path).records.map(\.loss) == [2.5])
        }
        #expect(RecordFormat(path: "x.txt") == .csv)
        // An explicit format wins over the extension.
        let odd = dir.appendingPathComponent("r.txt").path
        try #"{"loss": 3}"#.write(toFile: odd, atomically: true, encoding: .utf8)
        #expect(try RecordReader.read(path: odd, format: .jsonl).records.map(\.loss) == [3])
    }

    @Test func unreadableFiles() throws {
        let dir = try Fixture.tempDir("records")
        defer { try? FileManager.default.removeItem(at: dir) }
        let missing = dir.appendingPathComponent("nope.csv").path
        let e1 = failure { try RecordReader.read(path: missing) }
        #expect(e1?.description.hasPrefix("\(missing): cannot read: ") == true)
        #expect(e1?.line == nil)
        let e2 = failure { try RecordReader.read(path: dir.path) }
        #expect(e2?.description.hasPrefix("\(dir.path): cannot read: ") == true)

        let latin1 = dir.appendingPathComponent("latin1.csv").path
        try Data("run,loss,method\na,2,ok\nb,2,".utf8 + [0xE9] + Data("\n".utf8)).write(to: URL(fileURLWithPath: latin1))
        #expect(failure { try RecordReader.read(path: latin1) }?.description == "\(latin1):3: not valid UTF-8 text")
    }

    @Test func emptyFileOrNoRecords() {
        #expect(failure { try csv("") }?.description == "t.csv: the file is empty: no header line")
        #expect(failure { try csv("\n  \n# only a comment\n") }?.description == "t.csv: the file is empty: no header line")
        #expect(failure { try csv("run,loss\n\n") }?.description == "t.csv:1: no records after the header")
        #expect(failure { try jsonl("\n\n") }?.description == "t.jsonl: the file has no records")
    }

    // MARK: - Columns and mapping

    @Test func lossColumnIsRequired() {
        let e = failure { try csv("run,tokens,val_loss\na,1,2\n") }
        #expect(e?.line == 1)
        #expect(e?.message.contains("column 'loss' is missing") == true)
        #expect(e?.message.contains("run, tokens, val_loss") == true)

        let mapped = failure { try csv("run,tokens,loss\na,1,2\n", columns: try ColumnMapping(parsing: "loss=val_loss")) }
        #expect(mapped?.line == 1)
        #expect(mapped?.message.contains("column 'val_loss'") == true)
        #expect(mapped?.message.contains("loss=val_loss") == true)

        #expect(failure { try jsonl(#"{"run": "a", "val": 2}"#) }?.message.contains("column 'loss' is missing") == true)
    }

    @Test func mappedColumnMustExist() throws {
        let columns = try ColumnMapping(parsing: "loss=val_loss, tokens=step_tokens")
        let e = failure { try csv("run,tokens,val_loss\na,1,2\n", columns: columns) }
        #expect(e?.description.hasPrefix("t.csv:1: column 'step_tokens' (mapping tokens=step_tokens) is not in the header") == true)

        let set = try csv("run,step_tokens,val_loss,loss,tokens\na,10,2.5,9,99\n", columns: columns)
        // The file's own `loss`/`tokens` columns are shadowed by the mapping, not labels.
        #expect(set.records[0].tokens == 10 && set.records[0].loss == 2.5)
        #expect(set.labelColumns.isEmpty && set.records[0].labels.isEmpty)

        let j = try jsonl(#"{"run": "a", "step_tokens": 10, "val_loss": 2.5}"#, columns: columns)
        #expect(j.records[0].tokens == 10 && j.records[0].loss == 2.5)
        #expect(failure { try jsonl(#"{"run": "a", "tokens": 10, "val_loss": 2.5}"#, columns: columns) }?.message
            .contains("column 'step_tokens' (mapping tokens=step_tokens) is not in any record") == true)
    }

    @Test func columnMappingParsing() throws {
        let m = try ColumnMapping(parsing: " loss = val_loss ,tokens=step_tokens")
        #expect(m.fileColumn(for: "loss") == "val_loss")
        #expect(m.fileColumn(for: "tokens") == "step_tokens")
        #expect(m.fileColumn(for: "n0") == "n0")
        #expect(m.description == "tokens=step_tokens,loss=val_loss")
        #expect(try ColumnMapping(parsing: m.description) == m)
        #expect(try ColumnMapping(parsing: "") == ColumnMapping())
        #expect(try ColumnMapping(parsing: "loss=loss") == ColumnMapping())
        // Swapping two columns is fine; feeding two from one is not.
        #expect(try ColumnMapping(parsing: "loss=loss0,loss0=loss").fileColumn(for: "loss0") == "loss")

        func message(_ text: String) -> String? {
            do { _ = try ColumnMapping(parsing: text); return nil } catch { return "\(error)" }
        }
        #expect(message("los=val_loss")?.contains("unknown column 'los'") == true)
        #expect(message("los=val_loss")?.contains("run, n0, n, rho, loss0, tokens, loss") == true)
        #expect(message("loss")?.contains("not of the form canonical=column") == true)
        #expect(message("loss=")?.contains("not of the form") == true)
        #expect(message("loss=a,,tokens=b")?.contains("not of the form") == true)
        #expect(message("loss=a,loss=b")?.contains("'loss' is mapped twice") == true)
        #expect(message("loss=loss0")?.contains("'loss0' and 'loss' would both read column 'loss0'") == true)
        #expect(throws: LawError.self) { try ColumnMapping(parsing: "steps=x") }
    }

    @Test func headerProblems() throws {
        #expect(failure { try csv("run,loss,run\na,2,b\n") }?.description == "t.csv:1: column 'run' appears twice in the header")
        // A pandas index column has an empty name and is ignored.
        let set = try csv(",run,tokens,loss\n0,a,1,2\n1,a,2,1.5\n")
        #expect(set.records.map(\.run) == ["a", "a"] && set.labelColumns.isEmpty)
        // A byte-order mark does not stick to the first column name.
        #expect(try csv("\u{FEFF}loss,tokens\n2,1\n").records.first?.loss == 2)
    }

    // MARK: - Rows and cells

    @Test func fieldCountMustMatchHeader() {
        let e = failure { try csv("\(Self.header)\na,1e9,7e8,0.3,2,1,2.5\nb,1e9,7e8,0.3,2,2.5\n") }
        #expect(e?.description == "t.csv:3: expected 7 fields, found 6")
        #expect(failure { try csv("run,loss\na,2,\n") }?.description == "t.csv:2: expected 2 fields, found 3")
    }

    @Test(arguments: [
        ("abc", "column 'tokens': 'abc' is not a number"),
        ("1e9x", "column 'tokens': '1e9x' is not a number"),
        ("nan", "column 'tokens': 'nan' is NaN"),
        ("NaN", "column 'tokens': 'NaN' is NaN"),
        ("inf", "column 'tokens': 'inf' is not finite"),
        ("-Infinity", "column 'tokens': '-Infinity' is not finite"),
        ("1e999", "column 'tokens': '1e999' is not finite"),
    ])
    func numericCellsMustBeFiniteNumbers(cell: String, message: String) {
        #expect(failure { try csv("run,tokens,loss\na,1,2\na,\(cell),2\n") }?.description == "t.csv:3: \(message)")
        #expect(failure { try jsonl("{\"loss\": 2}\n{\"tokens\": \"\(cell)\", \"loss\": 2}") }?.description == "t.jsonl:2: \(message)")
    }

    /// Only decimals are numbers: Double(String) alone took hex and stopped at a NUL (issue 8).
    @Test(arguments: [
        ("2\u{0}.847", "column 'loss': '2\\0.847' is not a number"),
        ("0x10", "column 'loss': '0x10' is not a number"),
        ("0x1.6p1", "column 'loss': '0x1.6p1' is not a number"),
        ("1_000", "column 'loss': '1_000' is not a number"),
        ("1e", "column 'loss': '1e' is not a number"),
        ("--2", "column 'loss': '--2' is not a number"),
        ("2.5.1", "column 'loss': '2.5.1' is not a number"),
        ("٣", "column 'loss': '٣' is not a number"),
        ("Infinity", "column 'loss': 'Infinity' is not finite"),
        ("-nan", "column 'loss': '-nan' is NaN"),
    ])
    func onlyDecimalNumbersAreRead(cell: String, message: String) {
        #expect(failure { try csv("run,tokens,loss\na,1,2\na,2,\(cell)\n") }?.description == "t.csv:3: \(message)")
        // JSON writes the NUL as an escape; the reader decodes it to the same text.
        let json = cell.replacingOccurrences(of: "\u{0}", with: "\\u0000")
        #expect(failure { try jsonl("{\"tokens\": 1, \"loss\": 2}\n{\"tokens\": 2, \"loss\": \"\(json)\"}") }?.description == "t.jsonl:2: \(message)")
    }

    @Test func decimalFormsAreAllRead() throws {
        let set = try csv("run,tokens,loss\na,1,2.5\na,2,.5\na,3,5.\na,4,+5\na,5,1E+0\na,6,25e-1\n")
        #expect(set.records.map(\.loss) == [2.5, 0.5, 5, 5, 1, 2.5])
        #expect(try jsonl("{\"tokens\": -0, \"loss\": 1.5e0}").records.map(\.loss) == [1.5])
    }

    /// A message quotes what the file holds, but stays one line and short.
    @Test func messagesStayOneLine() {
        let cell = "\"2\n\r\t" + String(repeating: "9", count: 500) + "x\""
        let e = failure { try csv("run,tokens,loss\na,1,\(cell)\n") }
        let text = e?.description ?? ""
        #expect(!text.contains("\n") && !text.contains("\r") && text.hasPrefix("t.csv:2: column 'loss': '2\\n\\r\\t999"), "\(text)")
        #expect(text.count < 150, "\(text.count) characters")
        let key = failure { try jsonl("{\"a\\nb\": 1, \"a\\nb\": 2, \"loss\": 1}") }?.description ?? ""
        #expect(key == "t.jsonl:1: key 'a\\nb' appears twice")
    }

    @Test func errorsNameTheFileColumnWhenMapped() throws {
        let e = failure { try csv("step,val_loss\nabc,2\n", columns: try ColumnMapping(parsing: "tokens=step,loss=val_loss")) }
        #expect(e?.description == "t.csv:2: column 'step' (tokens): 'abc' is not a number")
    }

    @Test func emptyCellsAreAbsentExceptLoss() throws {
        let set = try csv("run,n0,tokens,loss\na, ,1,2\na,1e9,,3\n")
        #expect(set.records[0].n0 == nil && set.records[0].tokens == 1)
        #expect(set.records[1].n0 == 1e9 && set.records[1].tokens == nil)
        #expect(set.variables.isEmpty)
        #expect(failure { try csv("run,tokens,loss\na,1,\n") }?.description == "t.csv:2: column 'loss' is empty; every record needs a loss")
        #expect(failure { try jsonl(#"{"loss": 2}"# + "\n" + #"{"loss": null}"#) }?.description
            == "t.jsonl:2: column 'loss' is empty; every record needs a loss")
        #expect(failure { try csv("run,tokens,loss\n,1,2\n") }?.description == "t.csv:2: column 'run' is empty")
    }

    @Test(arguments: [
        ("a,1e9,7e8,,2,-5,2.5", "column 'tokens': -5 is negative"),
        ("a,1e9,,1,2,5,2.5", "column 'rho': 1 is outside [0, 1)"),
        ("a,1e9,,1.5,2,5,2.5", "column 'rho': 1.5 is outside [0, 1)"),
        ("a,1e9,,-0.1,2,5,2.5", "column 'rho': -0.1 is outside [0, 1)"),
        ("a,0,,,2,5,2.5", "column 'n0': 0 is not positive"),
        ("a,1e9,-1,,2,5,2.5", "column 'n': -1 is not positive"),
        ("a,1e9,2e9,,2,5,2.5", "column 'n': 2e9 is larger than n0 (1e9); n is the size after pruning"),
        ("a,1e9,7e8,,0,5,2.5", "column 'loss0': 0 is not positive"),
        ("a,1e9,7e8,,2,5,-2.5", "column 'loss': -2.5 is not positive"),
    ])
    func valuesOutOfRange(row: String, message: String) {
        #expect(failure { try csv("\(Self.header)\n\(row)\n") }?.description == "t.csv:2: \(message)")
    }

    @Test func rhoAndNAreDerived() throws {
        let set = try csv("run,n0,n,tokens,loss\na,1e9,7.5e8,1,2\n")
        #expect(set.records[0].rho == 1 - 7.5e8 / 1e9)
        #expect(set.variables == [.n0, .n, .rho, .tokens])

        let fromRho = try csv("run,n0,rho,tokens,loss\na,1e9,0.3,1,2\n")
        #expect(fromRho.records[0].n == (1 - 0.3) * 1e9)
        #expect(fromRho.variables == [.n0, .n, .rho, .tokens])

        // Given values are kept as they are, not recomputed.
        let given = try csv("run,n0,n,rho,tokens,loss\na,1e9,7e8,0.25,1,2\n")
        #expect(given.records[0].rho == 0.25 && given.records[0].n == 7e8)

        // Derivation is per record: a record lacking n0 stays without rho.
        let partial = try csv("run,n0,n,tokens,loss\na,1e9,7e8,1,2\nb,,7e8,1,2\n")
        #expect(partial.records[1].rho == nil && !partial.variables.contains(.rho))
    }

    @Test func runIdsAreBuiltWithoutARunColumn() throws {
        let set = try csv("""
            n0,n,loss0,method,tokens,loss
            1e9,7.5e8,2.1,wanda,0,3
            1000000000,750000000,2.1,wanda,1e8,2.5
            1e9,7.5e8,2.1,sparsegpt,0,2.8
            1e9,5e8,2.1,wanda,0,3.5
            """)
        #expect(set.runs == [
            "n0=1000000000 n=750000000 loss0=2.1 method=wanda",
            "n0=1000000000 n=750000000 loss0=2.1 method=sparsegpt",
            "n0=1000000000 n=500000000 loss0=2.1 method=wanda",
        ])
        #expect(set.records[0].run == set.records[1].run)
        #expect(try csv("tokens,loss\n1,3\n2,2.5\n").runs == ["all"])
    }

    @Test func duplicateRunAndTokensNamesBothLines() {
        let e = failure { try csv("run,tokens,loss\na,1e8,3\nb,1e8,3\n\na,100000000,2.9\n") }
        #expect(e?.description == "t.csv:5: run 'a' has two records at tokens 100000000 (lines 2 and 5)")
        let noTokens = failure { try csv("n0,loss\n1e9,3\n1e9,2.9\n") }
        #expect(noTokens?.description == "t.csv:3: run 'n0=1000000000' has two records without tokens (lines 2 and 3)")
    }

    // MARK: - CSV syntax

    @Test func blankLinesCommentsAndCRLF() throws {
        let text = "# produced by sweep.py\r\n\r\nrun,tokens,loss\r\n# a comment row\r\na,1,3\r\n   \r\na,2,2.5\r\nb,1,2.9"
        let set = try csv(text)
        #expect(set.records.map(\.loss) == [3, 2.5, 2.9])
        #expect(set.records.map { $0.source!.line } == [5, 7, 8])
        #expect(set.records.map(\.run) == ["a", "a", "b"])  // no stray "\r"
        // Old Mac line ends too.
        #expect(try csv("run,tokens,loss\ra,1,3\ra,2,2\r").records.map { $0.source!.line } == [2, 3])
    }

    @Test func quotedFields() throws {
        let text = [
            #"run,tokens,loss,note"#,
            #""a,1",1,3,"says ""hi""""#,
            #""a,1",2,2.5,"two"#,
            #"lines, and ""quotes""""#,
            #" "b" , "3" ,2,  padded  "#,
            #""c",1,"2.25","""#,
        ].joined(separator: "\n")
        let set = try csv(text)
        #expect(set.records.map(\.run) == ["a,1", "a,1", "b", "c"])
        #expect(set.records[0].labels["note"] == "says \"hi\"")
        #expect(set.records[1].labels["note"] == "two\nlines, and \"quotes\"")
        #expect(set.records[2].tokens == 3 && set.records[2].labels["note"] == "padded")
        #expect(set.records[3].loss == 2.25 && set.records[3].labels["note"] == nil)
        // A record's line is where it starts; lines after a multi-line field keep counting.
        #expect(set.records.map { $0.source!.line } == [2, 3, 5, 6])
    }

    @Test func malformedQuotes() {
        #expect(failure { try csv("run,loss\na,2\n\"b,3\nc,4\n") }?.description == "t.csv:3: a quoted field starting here is never closed")
        let e = failure { try csv("run,loss\n\"a\"x,2\n") }
        #expect(e?.line == 2)
        #expect(e?.message.contains("text after a closing quote") == true)
    }

    // MARK: - JSON Lines

    @Test func readsJSONLines() throws {
        let text = """
            {"run": "a", "n0": 1e9, "rho": "0.25", "loss0": null, "tokens": 0, "loss": 3, "method": "wanda", "seed": 7}

            {"loss": 2.5, "tokens": "1e8", "run": "a", "seed": 7, "method": "wanda", "ok": true, "cfg": {"lr": [1, 2]}}\r
            { "run" : "b" , "n0" : 2E9 , "n" : 1.5e9 , "loss": "2.0", "method": "caf\\u00e9 \\ud83d\\ude00\\n\\"q\\"" }
            """
        let set = try jsonl(text)
        #expect(set.records.count == 3)
        #expect(set.records.map { $0.source!.line } == [1, 3, 4])
        #expect(set.labelColumns == ["method", "seed", "ok", "cfg"])
        let (a0, a1, b) = (set.records[0], set.records[1], set.records[2])
        #expect(a0.n0 == 1e9 && a0.rho == 0.25 && a0.n == 7.5e8 && a0.loss0 == nil && a0.tokens == 0 && a0.loss == 3)
        #expect(a0.labels == ["method": "wanda", "seed": "7"])
        #expect(a1.tokens == 1e8 && a1.n0 == nil)
        #expect(a1.labels == ["method": "wanda", "seed": "7", "ok": "true", "cfg": #"{"lr": [1, 2]}"#])
        #expect(b.n0 == 2e9 && b.n == 1.5e9 && b.rho == 0.25 && b.loss == 2)
        #expect(b.labels["method"] == "café 😀\n\"q\"")
        #expect(set.runs == ["a", "b"])
    }

    @Test func jsonNonNumbersAndPythonNaN() {
        #expect(failure { try jsonl(#"{"loss": NaN}"#) }?.description == "t.jsonl:1: column 'loss': 'NaN' is NaN")
        #expect(failure { try jsonl(#"{"loss": -Infinity}"#) }?.description == "t.jsonl:1: column 'loss': '-Infinity' is not finite")
        #expect(failure { try jsonl(#"{"loss": true}"#) }?.description == "t.jsonl:1: column 'loss': 'true' is not a number")
        #expect(failure { try jsonl(#"{"loss": [2]}"#) }?.description == "t.jsonl:1: column 'loss': '[2]' is not a number")
    }

    @Test(arguments: [
        "[1, 2]",
        "loss,tokens",
        #"{"loss": 2"#,
        #"{"loss" 2}"#,
        #"{loss: 2}"#,
        #"{"loss": 2,}"#,
        #"{"loss": 2} {"loss": 3}"#,
        #"{"loss": 2e}"#,
        #"{"loss": "2}"#,
        #"{"loss": 2, "m": "\x"}"#,
        #"{"loss": 2, "m": "\ud83d"}"#,
        #"{"loss": 2, "m": {"a": 1}"#,
        #"{"loss": tru}"#,
    ])
    func malformedJSONLine(line: String) {
        let e = failure { try jsonl(#"{"loss": 1}"# + "\n\n" + line + "\n" + #"{"loss": 1}"#) }
        #expect(e?.description.hasPrefix("t.jsonl:3: not a JSON object: ") == true, "\(String(describing: e))")
    }

    @Test func jsonDuplicateKey() {
        #expect(failure { try jsonl(#"{"loss": 2, "loss": 3}"#) }?.description == "t.jsonl:1: key 'loss' appears twice")
    }

    // MARK: - Law requirements

    @Test func requiringReportsMissingAndEmptyColumns() throws {
        let set = try csv("run,n,tokens,loss\na,7e8,1,3\na,7e8,2,2.5\n")
        #expect(throws: DataError(file: "t.csv", line: 1, "column 'n0' is missing; law p2 needs n0, rho, loss0, tokens (have: n, tokens, loss)")) {
            try set.requiring([.n0, .rho, .loss0, .tokens], law: "p2")
        }
        #expect(try set.requiring([.n, .tokens], law: "chinchilla") == set)

        let holes = try csv("run,n0,n,loss0,tokens,loss\na,1e9,7e8,2,1,3\nb,1e9,,2,1,3\n")
        #expect(holes.variables == [.n0, .loss0, .tokens])
        #expect(throws: DataError(file: "t.csv", line: 3, "column 'rho' is empty; law p2 needs it")) {
            try holes.requiring([.n0, .rho, .loss0, .tokens], law: "p2")
        }
        let rhoMissing = failure { try csv("run,n0,tokens,loss\na,1e9,1,3\n").requiring([.rho], law: "p2") }
        #expect(rhoMissing?.message.hasSuffix("; rho is also derived from n0 and n") == true)
    }

    // MARK: - Writing

    @Test func writerRoundTripsBitExactly() throws {
        let awkward = [0.1 + 0.2, 1e-300, 123_456_789_012_345_680, 2.0 / 3, Double.leastNonzeroMagnitude, 1e22, 0.25]
        var text = "\(Self.header),method,note\n"
        for (i, x) in awkward.enumerated() {
            let n0 = 1 + x * 1e3
            // rho is left out so it is derived, and the derived value must survive the trip too.
            text += "r\(i),\(n0),\(0.7 * n0),,\(1 + x),\(x),\(2 + x),m\(i),\"a, \"\"b\"\"\nc\"\n"
        }
        text += "\"#x\",,,,,,3,,\" padded \"\n"
        let first = try csv(text)
        let written = RecordWriter.csv(first)
        let second = try csv(written)
        #expect(withoutSources(second.records) == withoutSources(first.records))
        #expect(second.labelColumns == first.labelColumns)
        #expect(second.variables == first.variables)
        #expect(written.hasPrefix("run,n0,n,rho,loss0,tokens,loss,method,note\n"))
        #expect(written.contains("\"#x\""))

        let fromJSON = try jsonl(#"{"n0": 8e9, "rho": 0.1, "loss0": 1.8, "tokens": 3e10, "loss": 2.0000000000000004, "seed": 3}"#)
        let back = try csv(RecordWriter.csv(fromJSON))
        #expect(withoutSources(back.records) == withoutSources(fromJSON.records))
    }

    @Test func writerWritesOnlyPresentColumns() throws {
        let set = RecordSet(file: "x", records: [
            LossRecord(run: "a", tokens: 1, loss: 3, labels: ["seed": "1"]),
            LossRecord(run: "a", tokens: 2, loss: -0.0, labels: ["extra": "y"]),
        ], labelColumns: ["seed"])
        #expect(RecordWriter.csv(set) == "run,tokens,loss,seed,extra\na,1,3,1,\na,2,-0.0,,y\n")
    }

    // MARK: - Size

    @Test func reads20kRowsWithUniqueRuns() throws {
        var text = "\(Self.header),method\n"
        text.reserveCapacity(20_000 * 60)
        for i in 0..<20_000 {
            let run = i / 10, step = i % 10
            text += "run\(run),1e9,\(1e9 - Double(run % 7) * 1e8),,2.1,\(Double(step) * 1e7),\(3 - Double(step) * 0.01),m\(run % 3)\n"
        }
        let clock = ContinuousClock()
        var set: RecordSet?
        let elapsed = try clock.measure { set = try csv(text) }
        #expect(set?.records.count == 20_000)
        #expect(set?.runs.count == 2_000)
        #expect(set?.records.last?.source?.line == 20_001)
        #expect(set?.variables == Set(Variable.allCases))
        // Generous: a quadratic reader takes far longer even in debug builds.
        #expect(elapsed < .seconds(20))
    }
}
