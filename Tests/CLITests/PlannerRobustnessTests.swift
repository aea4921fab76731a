import Foundation
import ScalingLaw
import LossRecords
import TestSupport
import Testing

/// Issue 8, "nothing silently wrong", on the planner's commands: every example that crashed,
/// hung, aborted on allocation or printed `nan` with exit 0 now either works or stops with one
/// line naming the flag or file, quickly and without a signal.
@Suite(.serialized) struct PlannerRobustnessTests {
    struct Outcome {
        var status: Int32
        var signalled: Bool
        var stdout: String
        var stderr: String
        var seconds: Double
    }

    /// Runs the binary, killing it after `timeout` seconds (the old code hung on some inputs).
    static func run(_ args: [String], timeout: Double = 60) throws -> Outcome {
        let p = Process()
        p.executableURL = CLI.binary
        p.arguments = args
        // Files rather than pipes: a full pipe would block the child while we wait.
        let dir = try Fixture.tempDir("cli")
        let outURL = dir.appendingPathComponent("out"), errURL = dir.appendingPathComponent("err")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        p.standardOutput = try FileHandle(forWritingTo: outURL)
        p.standardError = try FileHandle(forWritingTo: errURL)
        let start = Date()
        try p.run()
        while p.isRunning, Date().timeIntervalSince(start) < timeout { usleep(20_000) }
        if p.isRunning { p.terminate() }
        p.waitUntilExit()
        return Outcome(status: p.terminationStatus, signalled: p.terminationReason == .uncaughtSignal,
                       stdout: (try? String(contentsOf: outURL, encoding: .utf8)) ?? "",
                       stderr: (try? String(contentsOf: errURL, encoding: .utf8)) ?? "", seconds: Date().timeIntervalSince(start))
    }

    /// The run failed cleanly with exactly one line on stderr containing `expected`.
    static func expectOneLineError(_ r: Outcome, _ expected: String, within seconds: Double = 30,
                                   sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        #expect(!r.signalled, "killed by a signal (status \(r.status)); stderr: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.status != 0, "exit 0; stdout: \(r.stdout.prefix(300))", sourceLocation: sourceLocation)
        let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: true)
        #expect(lines.count == 1, "stderr: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.contains(expected), "stderr: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stdout.isEmpty, "stdout: \(r.stdout.prefix(300))", sourceLocation: sourceLocation)
        #expect(r.seconds < seconds, "took \(r.seconds) s", sourceLocation: sourceLocation)
    }

    static let sample = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("data/sample-p2.csv").path

    /// A fit.json of the sample records (with bootstrap samples), optionally edited.
    static func fitFile(in dir: URL, edit: ((inout [String: Any]) -> Void)? = nil) throws -> URL {
        let out = dir.appendingPathComponent("fit")
        let r = try run(["fit", "--data", sample, "--starts", "2", "--bootstrap", "10", "--out", out.path])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let url = out.appendingPathComponent("fit.json")
        if let edit {
            var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
            edit(&object)
            try JSONSerialization.data(withJSONObject: object).write(to: url)
        }
        return url
    }

    static let target = ["--n0", "70e9", "--rho", "0.25", "--loss0", "1.9"]

    // MARK: 1. sizes

    @Test func confidenceOutsideZeroOneInFitJSON() throws {
        let fit = try Self.fitFile(in: try Fixture.tempDir("cli")) { o in
            var options = o["options"] as! [String: Any]
            options["confidence"] = 7
            o["options"] = options
        }
        Self.expectOneLineError(try Self.run(["plan", "--fit", fit.path] + Self.target + ["--target-loss", "2.2"]),
                                "fit.json: options.confidence: expected a level in (0, 1), got 7")
        Self.expectOneLineError(try Self.run(["predict", "--fit", fit.path] + Self.target + ["--tokens", "1e9"]),
                                "fit.json: options.confidence: expected a level in (0, 1), got 7")
    }

    @Test(arguments: [
        (["--tokens", "1e8:1e10:1000000000000"], "--tokens: a range takes 2 to 100,000 points, got 1000000000000"),
        (["--tokens", "1e8:1e10:100000000"], "--tokens: a range takes 2 to 100,000 points, got 100000000"),
        (["--tokens", "-1e8,1e9"], "--tokens: '-1e8' is not a positive token count"),
        (["--tokens", "0x10"], "--tokens: '0x10' is not a decimal number"),
    ])
    func predictTokenListsAreBounded(args: [String], message: String) throws {
        let fit = try Self.fitFile(in: try Fixture.tempDir("cli"))
        Self.expectOneLineError(try Self.run(["predict", "--fit", fit.path] + Self.target + args, timeout: 30), message, within: 10)
    }

    @Test(arguments: [
        (["--bootstrap", "1000000000"], "--bootstrap: expected 0 to 100,000 replicates, got 1000000000"),
        (["--bootstrap", "-5"], "--bootstrap: expected 0 to 100,000 replicates, got -5"),
        (["--bootstrap", "1e3"], "--bootstrap: '1e3' is not a whole number"),
        (["--starts", "0"], "--starts: expected 1 to 100,000 starting points, got 0"),
        (["--max-iterations", "99999999999999999999"], "--max-iterations: 99999999999999999999 is out of range"),
        (["--threads", "100000"], "--threads: expected 0 (all cores) to 1,024 threads, got 100000"),
        (["--confidence", "1"], "--confidence: expected a level in (0, 1), got 1"),
        (["--huber-delta", "-1e-3"], "--huber-delta: expected a positive number, got -0.001"),
        (["--huber-delta", "nan"], "--huber-delta: 'nan' is NaN, not a number"),
        (["--seed", "-1"], "--seed: expected a whole number from 0 to"),
        (["--design", "grid", "--grid", "NC=" + (1...1001).map(String.init).joined(separator: ":")], "--grid: NC has 1001 levels; give 1 to 1,000"),
        (["--fix", "delta=0,delta=1"], "--fix: delta is given twice"),
        (["--start", "E=0x10"], "--start: E=0x10 is not a decimal number"),
        (["--holdout", "tokens=0x0.3"], "holdout 'tokens=0x0.3': the token fraction must be a number in (0, 1)"),
    ])
    func fitSizesAreBounded(args: [String], message: String) throws {
        let out = try Fixture.tempDir("cli").appendingPathComponent("fit")
        let r = try Self.run(["fit", "--data", Self.sample, "--out", out.path] + args, timeout: 30)
        Self.expectOneLineError(r, message, within: 10)
        #expect(!FileManager.default.fileExists(atPath: out.path))
    }

    @Test func simulateSizesAreBounded() throws {
        let base = ["simulate", "--law", "p2", "--set", "NC=500,DC=2000,E=1,alpha=0.3,beta=0.35,gamma=-0.8,delta=0.05"]
        Self.expectOneLineError(try Self.run(base + ["--n0", "1e9,1e9"]), "--n0: 1e+09 is given twice")
        Self.expectOneLineError(try Self.run(base + ["--n0", "-1e9"]), "--n0: expected positive parameter counts, got -1e+09")
        Self.expectOneLineError(try Self.run(base + ["--n0", (1...20).map { "\($0)e9" }.joined(separator: ","), "--tokens", "1e8:1e10:100000"]),
                                "--n0, --rho, --tokens: 20 × 3 × 100000 = 6e+06 records; at most 1,000,000")
        Self.expectOneLineError(try Self.run(base + ["--tokens", "1e8:1e10:1000000000"]), "--tokens: a range takes 2 to 100,000 points")
        Self.expectOneLineError(try Self.run(base + ["--noise", "3"]), "--noise: a draw gave loss")
        Self.expectOneLineError(try Self.run(base + ["--set", "NC=1"]), "--set: lacks DC, E, alpha, beta, gamma, delta")
    }

    // MARK: 2. undefined metrics

    /// One model per row, as published Chinchilla-style tables are: ASD is undefined.
    static let chinchillaTable = """
        n,tokens,loss
        1e8,2e9,3.1
        2e8,4e9,2.9
        4e8,8e9,2.7
        8e8,1.6e10,2.55
        1.6e9,3.2e10,2.42
        3.2e9,6.4e10,2.33
        6.4e9,1.28e11,2.25

        """

    @Test func singlePointRunsFitWithASDNotApplicable() throws {
        let dir = try Fixture.tempDir("cli")
        let csv = dir.appendingPathComponent("table.csv")
        try Self.chinchillaTable.write(to: csv, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("fit")
        let json = try Self.run(["fit", "--data", csv.path, "--law", "chinchilla", "--starts", "4", "--format", "json", "--out", out.path])
        #expect(json.status == 0, "stderr: \(json.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let metrics = try #require(object["metrics"] as? [String: Any])
        #expect(metrics["asd"] is NSNull && metrics["asd_log"] is NSNull)
        #expect(metrics["r2"] is Double)
        #expect((metrics["undefined"] as? [String: String])?["asd"] == "every run has a single point")
        let summary = try String(contentsOf: out.appendingPathComponent("summary.md"), encoding: .utf8)
        #expect(summary.contains("- ASD n/a: every run has a single point"))
        #expect(!summary.contains("nan"))

        let text = try Self.run(["fit", "--data", csv.path, "--law", "chinchilla", "--starts", "4"])
        #expect(text.status == 0, "stderr: \(text.stderr)")
        #expect(text.stdout.contains("ASD n/a: every run has a single point"))
        #expect(!text.stdout.contains("nan"))

        // The fit is still one predict and plan read.
        let predict = try Self.run(["predict", "--fit", out.appendingPathComponent("fit.json").path, "--n", "1e10", "--tokens", "1e11", "--format", "json"])
        #expect(predict.status == 0, "stderr: \(predict.stderr)")

        // compare: n/a in the table, null in JSON, an empty cell in the CSV; ranks last by ASD.
        let cmpOut = dir.appendingPathComponent("cmp")
        let cmp = try Self.run(["compare", "--data", csv.path, "--laws", "chinchilla", "--starts", "4", "--rank-by", "asd", "--out", cmpOut.path])
        #expect(cmp.status == 0, "stderr: \(cmp.stderr)")
        #expect(cmp.stdout.contains("n/a") && cmp.stdout.contains("chinchilla: ASD n/a: every run has a single point"))
        #expect(!cmp.stdout.contains("nan"))
        let table = try String(contentsOf: cmpOut.appendingPathComponent("comparison.csv"), encoding: .utf8).split(separator: "\n")
        let header = table[0].split(separator: ",", omittingEmptySubsequences: false)
        let row = table[1].split(separator: ",", omittingEmptySubsequences: false)
        let asd = try #require(header.firstIndex(of: "asd"))
        let r2 = try #require(header.firstIndex(of: "r2"))
        #expect(row[asd] == "" && !row[r2].isEmpty)
    }

    @Test func constantLossFitsWithR2NotApplicable() throws {
        let dir = try Fixture.tempDir("cli")
        let csv = dir.appendingPathComponent("flat.csv")
        try "run,tokens,loss\na,1e8,2\na,2e8,2\na,3e8,2\nb,1e8,2\nb,2e8,2\nb,3e8,2\n".write(to: csv, atomically: true, encoding: .utf8)
        let args = ["fit", "--data", csv.path, "--law", "custom", "--expression", "E + B/tokens^beta", "--start", "B=1,beta=0.3,E=2", "--starts", "2"]
        let json = try Self.run(args + ["--format", "json"])
        #expect(json.status == 0, "stderr: \(json.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect((object["metrics"] as? [String: Any])?["r2"] is NSNull)
        let text = try Self.run(args)
        #expect(text.status == 0)
        #expect(text.stdout.contains("R² n/a: the observed loss is constant"))
        #expect(!text.stdout.contains("nan"))
    }

    // MARK: 3. numbers in records

    @Test(arguments: [
        ("2\u{0}.847", "records.csv:3: column 'loss': '2\\0.847' is not a number"),
        ("0x10", "records.csv:3: column 'loss': '0x10' is not a number"),
        ("0x1.6p1", "records.csv:3: column 'loss': '0x1.6p1' is not a number"),
        ("inf", "records.csv:3: column 'loss': 'inf' is not finite"),
    ])
    func recordNumbersAreDecimalOnly(cell: String, message: String) throws {
        let dir = try Fixture.tempDir("cli")
        let csv = dir.appendingPathComponent("records.csv")
        try Data("n,tokens,loss\n1e8,2e9,3.1\n2e8,4e9,\(cell)\n4e8,8e9,2.7\n".utf8).write(to: csv)
        Self.expectOneLineError(try Self.run(["fit", "--data", csv.path, "--law", "chinchilla"]), message)
    }

    // MARK: 4. fit.json checked like records

    @Test func fitJSONFieldsAreChecked() throws {
        let dir = try Fixture.tempDir("cli")
        let noDelta = try Self.fitFile(in: dir.appendingPathComponent("a")) { o in
            var params = o["params"] as! [String: Any]
            params["delta"] = nil
            o["params"] = params
        }
        Self.expectOneLineError(try Self.run(["plan", "--fit", noDelta.path] + Self.target + ["--target-loss", "2.2"]), "fit.json: params.delta: missing")
        Self.expectOneLineError(try Self.run(["predict", "--fit", noDelta.path] + Self.target + ["--tokens", "1e9"]), "fit.json: params.delta: missing")

        let noRanges = try Self.fitFile(in: dir.appendingPathComponent("b")) { o in
            var data = o["data"] as! [String: Any]
            data["ranges"] = [String: Any]()
            o["data"] = data
        }
        Self.expectOneLineError(try Self.run(["plan", "--fit", noRanges.path] + Self.target + ["--target-loss", "2.2"]),
                                "fit.json: data.ranges.n0: missing; law p2 reads n0, and its fitted range flags extrapolation")
    }

    // MARK: 5. target flags

    @Test(arguments: [
        (["--n0", "-70e9", "--rho", "0.25"], "--n0: expected a positive parameter count, got -7e+10"),
        (["--n0", "70e9", "--rho", "-0.25"], "--rho: expected a pruning rate in [0, 1), got -0.25"),
        (["--n0", "70e9", "--n", "60e9", "--rho", "0.25"],
         "--n, --rho: they disagree: --n 6e+10 of --n0 7e+10 is rho = 0.1429, but --rho is 0.25 (n = 5.25e+10); give one of them"),
        (["--n0", "70e9", "--n", "80e9"], "--n: 8e+10 is larger than --n0 7e+10"),
        (["--n0", "0x10", "--rho", "0.25"], "--n0: '0x10' is not a decimal number"),
        (["--n0", "nan", "--rho", "0.25"], "--n0: 'nan' is NaN, not a number"),
    ])
    func targetFlagsAreChecked(args: [String], message: String) throws {
        let fit = try Self.fitFile(in: try Fixture.tempDir("cli"))
        Self.expectOneLineError(try Self.run(["plan", "--fit", fit.path, "--loss0", "1.9", "--target-loss", "2.2"] + args), message)
        Self.expectOneLineError(try Self.run(["predict", "--fit", fit.path, "--loss0", "1.9", "--tokens", "1e9"] + args), message)
    }

    @Test func planCriteriaAreOneLineErrors() throws {
        let fit = try Self.fitFile(in: try Fixture.tempDir("cli"))
        Self.expectOneLineError(try Self.run(["plan", "--fit", fit.path] + Self.target), "give exactly one criterion")
        Self.expectOneLineError(try Self.run(["plan", "--fit", fit.path] + Self.target + ["--target-loss", "-2"]), "--target-loss: expected a positive loss, got -2")
        Self.expectOneLineError(try Self.run(["plan", "--fit", fit.path] + Self.target + ["--recovery", "0.5"]), "--recovery: needs --loss-pruned")
        // Consistent n and rho (within rounding) are taken.
        let ok = try Self.run(["plan", "--fit", fit.path, "--n0", "70e9", "--n", "52.5e9", "--rho", "0.25", "--loss0", "1.9", "--target-loss", "2.2"])
        #expect(ok.status == 0, "stderr: \(ok.stderr)")
    }

    @Test func helpDocumentsTheLimits() throws {
        let fit = try Self.run(["fit", "--help"])
        for limit in ["0 to 100,000", "1 to 100,000", "at most 1,024", "in (0, 1)", "1,000 levels"] {
            #expect(fit.stdout.contains(limit), "fit --help lacks '\(limit)'")
        }
        #expect(try Self.run(["predict", "--help"]).stdout.contains("at most 100,000"))
        #expect(try Self.run(["simulate", "--help"]).stdout.contains("1,000,000 records"))
    }
}
