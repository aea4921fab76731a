import Foundation
import Fuzzing
import ScalingLaw
import LossRecords
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Mutation fuzzing of the planner's readers: loss records (CSV and JSON Lines) and fit.json.
/// Every input must either be read, with every value the schema requires finite and in range, or
/// be refused with a one-line error starting with the file name; never a crash, a hang or an
/// unbounded allocation. The default counts keep each test under 10 s in a debug build; a long
/// run by hand: `PRUNESCALE_FUZZ_COUNT=200000 swift test --filter ReaderFuzzTests`
/// (`PRUNESCALE_FUZZ_SEED=N` draws another stream; a failure names its seed and index).
@Suite struct ReaderFuzzTests {
    static var seed: UInt64 { ProcessInfo.processInfo.environment["PRUNESCALE_FUZZ_SEED"].flatMap { UInt64($0) } ?? 0 }

    /// Runs `body` on `count` inputs, flagging slow inputs and peak memory growth; `body` says
    /// whether the reader accepted the input (the summary line counts them).
    static func fuzz(_ mutator: Mutator, count: Int, name: String, _ body: (Data, Int) throws -> Bool) rethrows {
        let before = peakResidentMB()
        var slowest = (index: -1, seconds: 0.0)
        var accepted = 0
        let start = Date()
        for i in 0..<count {
            let t = Date()
            if try body(mutator.input(i, seed: seed), i) { accepted += 1 }
            let dt = Date().timeIntervalSince(t)
            if dt > slowest.seconds { slowest = (i, dt) }
        }
        let grew = peakResidentMB() - before
        #expect(slowest.seconds < 2, "\(name): input \(slowest.index) (seed \(seed)) took \(slowest.seconds) s")
        #expect(grew < 1024, "\(name): peak memory grew by \(grew) MB")
        print("fuzz \(name): \(count) inputs (seed \(seed)), \(accepted) accepted, in \(String(format: "%.1f", Date().timeIntervalSince(start))) s; slowest #\(slowest.index) \(String(format: "%.3f", slowest.seconds)) s; peak RSS +\(grew) MB")
    }

    static func peakResidentMB() -> Int {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Int(usage.ru_maxrss) / 1024  // kilobytes on Linux
    }

    /// The error is one line and starts with the file name.
    static func checkError(_ error: any Error, file: String, input i: Int, _ name: String) {
        let text = "\(error)"
        #expect(!text.contains("\n") && !text.contains("\r"), "\(name) #\(i) (seed \(seed)): message of several lines: \(text)")
        #expect(text.hasPrefix(file + ":"), "\(name) #\(i) (seed \(seed)): message does not start with the file: \(text)")
        #expect(text.count < 2_000, "\(name) #\(i): a \(text.count)-character message")
    }

    // MARK: records

    static let sampleCSV = try! Data(contentsOf: URL(fileURLWithPath: FitFixture.samplePath))

    /// The sample's first runs as JSON Lines, as a Python script would write them.
    static let sampleJSONL: Data = {
        let records = try! RecordReader.read(path: FitFixture.samplePath).records.prefix(60)
        let lines = records.map { r in
            "{\"run\": \"\(r.run)\", \"n0\": \(r.n0!), \"n\": \(r.n!), \"rho\": \(r.rho!), \"loss0\": \(r.loss0!), \"tokens\": \(r.tokens!), \"loss\": \(r.loss)}"
        }
        return Data((lines.joined(separator: "\n") + "\n").utf8)
    }()

    static let csvSeeds: [Data] = [
        sampleCSV,
        Data("""
            \u{FEFF}# exported from a notebook
            ,run,n0,rho,loss0,tokens,loss,method,"note, with comma"
            0,"a ""quoted"" run",1e9,0.25,2.1,0,2.9,wanda,"two
            lines"
            1,b,8e9,0.35,1.8,2e8,2.0,,x\r
            2,b,8e9,0.35,1.8,4e8,1.9,sparsegpt,\t y \t

            """.utf8),
        Data("n,tokens,loss\n1e8,2e9,3.1\n2e8,4e9,2.9\n4e8,8e9,2.7\n".utf8),
    ]

    static let csvDictionary = [",", "\"", "\"\"", "\n", "\r\n", "\r", "#", "\u{FEFF}", " ", "\t", "run", "n0", "n", "rho", "loss0", "tokens",
                                "loss", "method", "nan", "inf", "-inf", "1e308", "1e-320", "-0", "0x10", ".5", "5.", "+5", "\u{0}", "ÿ", "\u{2028}"]

    static let jsonlSeeds: [Data] = [
        sampleJSONL,
        Data("""
            {"run": "a\\u00e9\\n", "n0": 1e9, "rho": 0.25, "loss0": null, "tokens": 0, "loss": 2.9, "cfg": {"lr": [1, 2]}, "ok": true}
            {"run": "a\\u00e9\\n", "n0": "1e9", "rho": "0.25", "tokens": 1e8, "loss": "2.5", "cfg": null, "ok": false}

            {"run": 7, "n0": 8e9, "n": 6e9, "tokens": 2e8, "loss": NaN, "x": "\\ud83d\\ude00"}
            {"loss": 1.5, "tokens": Infinity}
            """.utf8),
    ]

    static let jsonlDictionary = ["{", "}", "[", "]", ":", ",", "\"", "\\", "\\u0000", "\\ud800", "\\n", "null", "true", "false", "NaN", "Infinity",
                                  "-Infinity", "\"run\"", "\"n0\"", "\"n\"", "\"rho\"", "\"loss0\"", "\"tokens\"", "\"loss\"", "1e999", "-1", "0x10",
                                  "\n", "\r\n", " ", "{}", "[[[[", "\u{0}"]

    /// Accepted records hold only what the schema allows.
    static func checkRecords(_ set: RecordSet, input i: Int, _ name: String) {
        for r in set.records {
            let problem: String? =
                !(r.loss > 0 && r.loss.isFinite) ? "loss \(r.loss)"
                : r.n0.map { !($0 > 0 && $0.isFinite) } == true ? "n0 \(r.n0!)"
                : r.n.map { !($0 > 0 && $0.isFinite) } == true ? "n \(r.n!)"
                : r.loss0.map { !($0 > 0 && $0.isFinite) } == true ? "loss0 \(r.loss0!)"
                : r.rho.map { !($0 >= 0 && $0 < 1) } == true ? "rho \(r.rho!)"
                : r.tokens.map { !($0 >= 0 && $0.isFinite) } == true ? "tokens \(r.tokens!)"
                : (r.n != nil && r.n0 != nil && r.n! > r.n0! * (1 + 1e-12)) ? "n \(r.n!) > n0 \(r.n0!)"
                : r.run.isEmpty ? "empty run" : nil
            if let problem {
                Issue.record("\(name) #\(i) (seed \(seed)): accepted a record with \(problem) at \(r.source?.description ?? "?")")
                return
            }
        }
    }

    static func fuzzRecords(seeds: [Data], dictionary: [String], format: RecordFormat, file: String, defaultCount: Int) {
        let mutator = Mutator(seeds: seeds, dictionary: dictionary)
        let name = "records-\(format.rawValue)"
        fuzz(mutator, count: Mutator.count(default: defaultCount), name: name) { data, i in
            // Invalid UTF-8 is the file reader's first check; parse takes text, so decode leniently too.
            guard let text = String(data: data, encoding: .utf8) else { return false }
            do {
                checkRecords(try RecordReader.parse(text: text, file: file, format: format), input: i, name)
                return true
            } catch let error as DataError {
                checkError(error, file: file, input: i, name)
            } catch {
                Issue.record("\(name) #\(i) (seed \(seed)): not a DataError: \(error)")
            }
            return false
        }
    }

    @Test func csvRecords() {
        Self.fuzzRecords(seeds: Self.csvSeeds, dictionary: Self.csvDictionary, format: .csv, file: "fuzz.csv", defaultCount: 3_000)
    }

    @Test func jsonLinesRecords() {
        Self.fuzzRecords(seeds: Self.jsonlSeeds, dictionary: Self.jsonlDictionary, format: .jsonl, file: "fuzz.jsonl", defaultCount: 3_000)
    }

    /// Bytes that are not UTF-8 go through the file reader, which names the line.
    @Test func recordFilesWithAnyBytes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("fuzz.csv").path
        let mutator = Mutator(seeds: Self.csvSeeds, dictionary: Self.csvDictionary)
        Self.fuzz(mutator, count: Mutator.count(default: 500), name: "record files") { data, i in
            try! data.write(to: URL(fileURLWithPath: path))
            do {
                Self.checkRecords(try RecordReader.read(path: path), input: i, "record files")
                return true
            } catch {
                Self.checkError(error, file: path, input: i, "record files")
                return false
            }
        }
    }

    // MARK: fit.json

    static let fitDictionary = ["{", "}", "[", "]", ":", ",", "\"", "null", "true", "false", "1e999", "-1e999", "1e-320", "-1", "0", "7",
                                "1000000000", "9223372036854775808", "[]", "{}", "\"\"", "\"params\"", "\"options\"", "\"confidence\"",
                                "\"bootstrap\"", "\"samples\"", "\"ranges\"", "\"data\"", "\"law\"", "\"name\"", "\"expression\"", "\"custom\"",
                                "\"p2\"", "\"chinchilla\"", "\"parameter_names\"", "\"tokens\"", "\"n0\"", "\"rho\"", "\"holdout\"",
                                "\"tokens=0.2\"", "\"starts\"", "\"grid\"", "\"bounds\"", "\"fixed\"", "\"delta\"", "\"E\"", "\"alpha\"",
                                "((((((((", "^", "\\u0000", "\\n"]

    @Test func fitFiles() {
        let mutator = Mutator(seeds: [FitFixture.p2, FitFixture.custom], dictionary: Self.fitDictionary)
        Self.fuzz(mutator, count: Mutator.count(default: 2_000), name: "fit.json") { data, i in
            let fit: FitResult, law: any Law
            do { (fit, law) = try FitFile.decode(data, file: "fit.json") } catch let error as DataError {
                Self.checkError(error, file: "fit.json", input: i, "fit.json")
                return false
            } catch {
                Issue.record("fit.json #\(i) (seed \(Self.seed)): not a DataError: \(error)")
                return false
            }
            Self.checkAcceptedFit(fit, law: law, input: i)
            return true
        }
    }

    /// What predict and plan use is finite and in range, and they run on it without NaN output.
    static func checkAcceptedFit(_ fit: FitResult, law: any Law, input i: Int) {
        let name = "fit.json #\(i) (seed \(seed))"
        #expect(fit.parameterVector.allSatisfy { $0.isFinite }, "\(name): parameters \(fit.parameterVector)")
        #expect(fit.options.confidence > 0 && fit.options.confidence < 1, "\(name): confidence \(fit.options.confidence)")
        #expect(fit.bootstrap?.samples.allSatisfy { $0.count == law.parameterCount && $0.allSatisfy(\.isFinite) } ?? true, "\(name): samples")
        #expect(fit.data.ranges.values.allSatisfy { $0.count == 2 && $0[0] <= $0[1] && $0.allSatisfy(\.isFinite) }, "\(name): ranges")
        #expect(law.variables.allSatisfy { fit.data.ranges[$0.rawValue] != nil }, "\(name): a range is missing")
        guard let planner = try? Planner(law: law, fit: fit) else {
            Issue.record("\(name): accepted by the reader but refused by the planner")
            return
        }
        // A target inside the fitted ranges, as far as the law reads them.
        func mid(_ v: Variable, _ fallback: Double) -> Double? {
            guard law.variables.contains(v) else { return nil }
            return fit.data.ranges[v.rawValue].map { ($0[0] + $0[1]) / 2 } ?? fallback
        }
        let target = PlanTarget(n0: mid(.n0, 1e9), n: law.variables.contains(.n) && !law.variables.contains(.n0) ? mid(.n, 1e9) : nil,
                                rho: law.variables.contains(.n0) ? mid(.rho, 0.2) : nil, loss0: mid(.loss0, 2))
        do {
            let plan = try planner.plan(target, criterion: .maxSlope(0.01))
            _ = try JSONEncoder().encode(plan)
            _ = try JSONEncoder().encode(try planner.predict(target, tokens: [1e8, 1e10]))
        } catch let e as LawError {
            #expect(!e.description.contains("\n"), "\(name): \(e)")
        } catch let e as InputError {
            #expect(!e.description.contains("\n"), "\(name): \(e)")
        } catch {
            Issue.record("\(name): planning failed with \(error)")
        }
    }
}
