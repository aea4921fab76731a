import Foundation
import ScalingLaw
import LossRecords
import Testing

/// fit.json fixtures made by the library itself, from the repository's sample records.
enum FitFixture {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static var samplePath: String { root.appendingPathComponent("data/sample-p2.csv").path }

    /// P2 on data/sample-p2.csv with a small bootstrap and a token holdout.
    static let p2: Data = {
        var o = FitOptions()
        o.starts = 2
        o.bootstrap = 6
        let records = try! RecordReader.read(path: samplePath)
        let fit = try! ScalingLawFitter.fit(records.records, law: P2Law(), options: o, holdout: .tokens(fraction: 0.2), file: samplePath)
        return try! FitFile.encode(fit.result)
    }()

    /// A custom law (its expression is re-parsed on reading) with bounds and a fixed parameter.
    static let custom: Data = {
        var o = FitOptions()
        o.starts = 2
        o.bootstrap = 3
        o.overrides = ["alpha": ParameterOverride(bounds: ParameterBound(lower: 0, upper: 1)), "E": ParameterOverride(fixed: 1)]
        let law = try! CustomLaw(expression: "E + A / n^alpha + B / tokens^beta", start: ["A": 400, "B": 400, "alpha": 0.3, "beta": 0.3, "E": 1])
        let records = try! RecordReader.read(path: samplePath)
        return try! FitFile.encode(ScalingLawFitter.fit(records.records, law: law, options: o).result)
    }()

    /// The fit.json object with one change, re-encoded.
    static func edited(_ data: Data = p2, _ change: (inout [String: Any]) -> Void) -> Data {
        var object = try! JSONSerialization.jsonObject(with: data) as! [String: Any]
        change(&object)
        return try! JSONSerialization.data(withJSONObject: object)
    }
}

/// fit.json is read as strictly as records (issue 8): a field predict or plan use that is
/// missing, mistyped, not finite or out of range stops the read with `fit.json: field: problem`.
@Suite struct FitFileTests {
    func problem(_ data: Data) -> String? {
        do {
            _ = try FitFile.decode(data, file: "fit.json")
            Issue.record("accepted")
            return nil
        } catch { return "\(error)" }
    }

    @Test func roundTrips() throws {
        for data in [FitFixture.p2, FitFixture.custom] {
            let (fit, law) = try FitFile.decode(data, file: "fit.json")
            #expect(law.parameterNames == fit.parameterNames)
            #expect(try FitFile.encode(fit) == data)
        }
    }

    /// fit.json written before `options.interval` existed holds pairs-bootstrap samples: it
    /// reads as such, and predict still gives intervals from it.
    @Test func fitsWithoutAnIntervalMethodReadAsPairs() throws {
        let old = FitFixture.edited { var o = $0["options"] as! [String: Any]; o["interval"] = nil; $0["options"] = o }
        let (fit, law) = try FitFile.decode(old, file: "fit.json")
        #expect(fit.options.interval == .pairs)
        let target = PlanTarget(n0: 3e9, rho: 0.25, loss0: 3)
        #expect(try Planner(law: law, fit: fit).predict(target, tokens: [1e9])[0].interval != nil)
        let current = try FitFile.decode(FitFixture.p2, file: "fit.json").fit
        #expect(current.options.interval == FitOptions().interval)
    }

    @Test func anUnknownIntervalMethodIsNamed() throws {
        let bad = FitFixture.edited { var o = $0["options"] as! [String: Any]; o["interval"] = "jackknife"; $0["options"] = o }
        let message = try #require(problem(bad))
        #expect(message.contains("options.interval"), "\(message)")
    }

    static let broken: [(String, String)] = [
        ("params.delta", "fit.json: params.delta: missing"),
        ("ranges", "fit.json: data.ranges.n0: missing; law p2 reads n0, and its fitted range flags extrapolation"),
        ("confidence", "fit.json: options.confidence: expected a level in (0, 1), got 7"),
        ("sample row", "fit.json: bootstrap.samples[1]: 6 numbers for 7 parameters"),
        ("sample count", "fit.json: bootstrap.samples: 5 rows for 6 converged replicates"),
        ("range order", "fit.json: data.ranges.tokens: min 1e+10 above max 1e+08"),
        ("range length", "fit.json: data.ranges.rho: expected [min, max], got 1 numbers"),
        ("rho range", "fit.json: data.ranges.rho: rho must lie in [0, 1)"),
        ("extra param", "fit.json: params.zeta: not a parameter of law p2"),
        ("param type", "fit.json: params.E: expected a number"),
        ("param null", "fit.json: params.E: null, expected a number"),
        ("law", "fit.json: law.name: unknown law 'p9'"),
        ("names", "fit.json: parameter_names: [NC, DC, E, alpha, beta, gamma] but law p2 has [NC, DC, E, alpha, beta, gamma, delta]"),
        ("options", "fit.json: options: missing"),
        ("holdout", "fit.json: holdout: holdout 'tokens=2': the token fraction must be a number in (0, 1)"),
        ("bootstrap", "fit.json: bootstrap.replicates: 6, but options.bootstrap is 7"),
        ("huge bootstrap", "fit.json: options.bootstrap: expected 0 to 100,000 replicates, got 1000000000"),
        ("threads", "fit.json: options.threads: expected 0 (all cores) to 1,024 threads, got -3"),
        ("correlation", "fit.json: correlation[0][1]: expected a correlation in [-1, 1], got 3"),
        ("top level", "fit.json: not a PruneScale fit.json (expected an object at the top level)"),
    ]

    @Test(arguments: broken)
    func brokenFieldsAreNamed(name: String, message: String) {
        let data: Data
        switch name {
        case "params.delta": data = FitFixture.edited { var p = $0["params"] as! [String: Any]; p["delta"] = nil; $0["params"] = p }
        case "ranges": data = FitFixture.edited { var d = $0["data"] as! [String: Any]; d["ranges"] = [String: Any](); $0["data"] = d }
        case "confidence": data = FitFixture.edited { var o = $0["options"] as! [String: Any]; o["confidence"] = 7; $0["options"] = o }
        case "sample row", "sample count":
            data = FitFixture.edited {
                var b = $0["bootstrap"] as! [String: Any]
                var rows = b["samples"] as! [[Double]]
                if name == "sample row" { rows[1].removeLast() } else { rows.removeLast() }
                b["samples"] = rows
                $0["bootstrap"] = b
            }
        case "range order", "range length", "rho range":
            data = FitFixture.edited {
                var d = $0["data"] as! [String: Any]
                var r = d["ranges"] as! [String: [Double]]
                switch name {
                case "range order": r["tokens"] = [1e10, 1e8]
                case "range length": r["rho"] = [0.1]
                default: r["rho"] = [0.1, 1.5]
                }
                d["ranges"] = r
                $0["data"] = d
            }
        case "extra param": data = FitFixture.edited { var p = $0["params"] as! [String: Any]; p["zeta"] = 1; $0["params"] = p }
        case "param type": data = FitFixture.edited { var p = $0["params"] as! [String: Any]; p["E"] = "1.0"; $0["params"] = p }
        case "param null": data = FitFixture.edited { var p = $0["params"] as! [String: Any]; p["E"] = NSNull(); $0["params"] = p }
        case "law": data = FitFixture.edited { $0["law"] = ["name": "p9"] }
        case "names": data = FitFixture.edited { $0["parameter_names"] = ["NC", "DC", "E", "alpha", "beta", "gamma"] }
        case "options": data = FitFixture.edited { $0["options"] = nil }
        case "holdout": data = FitFixture.edited { $0["holdout"] = "tokens=2" }
        case "bootstrap": data = FitFixture.edited { var o = $0["options"] as! [String: Any]; o["bootstrap"] = 7; $0["options"] = o }
        case "huge bootstrap": data = FitFixture.edited { var o = $0["options"] as! [String: Any]; o["bootstrap"] = 1_000_000_000; $0["options"] = o }
        case "threads": data = FitFixture.edited { var o = $0["options"] as! [String: Any]; o["threads"] = -3; $0["options"] = o }
        case "correlation":
            data = FitFixture.edited { var c = $0["correlation"] as! [[Double]]; c[0][1] = 3; $0["correlation"] = c }
        default: data = Data("[1, 2]".utf8)
        }
        let text = problem(data)
        #expect(text?.hasPrefix(message) == true, "\(text ?? "")")
    }

    @Test func truncatedOrHugeFiles() throws {
        let half = FitFixture.p2.prefix(FitFixture.p2.count / 2)
        #expect(problem(half)?.hasPrefix("fit.json: not a PruneScale fit.json (not valid JSON") == true)
        #expect(problem(Data())?.hasPrefix("fit.json: not a PruneScale fit.json") == true)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("FitFileTests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let big = dir.appendingPathComponent("fit.json")
        _ = FileManager.default.createFile(atPath: big.path, contents: nil)
        let handle = try FileHandle(forWritingTo: big)
        try handle.truncate(atOffset: UInt64(InputLimits.fitFileBytes) + 10)  // sparse: no disk used
        try handle.close()
        #expect(throws: DataError(file: big.path, "larger than 256 MiB; not a fit.json this tool wrote")) { try FitFile.read(path: big.path) }
        #expect(throws: DataError.self) { try FitFile.read(path: dir.appendingPathComponent("absent.json").path) }
    }

    /// A fit built in memory gets the same checks when a planner is made from it.
    @Test func plannerChecksInMemoryFits() throws {
        var (fit, law) = try FitFile.decode(FitFixture.p2, file: "fit.json")
        fit.params["delta"] = nil
        #expect(throws: LawError("fit: params.delta: missing")) { try Planner(law: law, fit: fit) }
        fit.params["delta"] = .nan
        #expect(throws: LawError("fit: params.delta: not a finite number")) { try Planner(law: law, fit: fit) }
    }
}

/// The target model: negative and contradictory values are refused with the value named
/// (issue 8: `--n` and `--rho` that disagreed were taken without a word).
@Suite struct PlanTargetTests {
    static let planner: Planner = {
        let (fit, law) = try! FitFile.decode(FitFixture.p2, file: "fit.json")
        return try! Planner(law: law, fit: fit)
    }()

    @Test(arguments: [
        (PlanTarget(n0: -70e9, rho: 0.25, loss0: 1.9), "n0: expected a positive parameter count, got -7e+10"),
        (PlanTarget(n0: 70e9, n: 0, loss0: 1.9), "n: expected a positive parameter count, got 0"),
        (PlanTarget(n0: 70e9, rho: -0.1, loss0: 1.9), "rho: expected a pruning rate in [0, 1), got -0.1"),
        (PlanTarget(n0: 70e9, rho: 0.25, loss0: -1.9), "loss0: expected a positive loss, got -1.9"),
        (PlanTarget(n0: 70e9, n: 80e9, loss0: 1.9), "n: 8e+10 is larger than n0 7e+10; n is the size after pruning"),
        (PlanTarget(n0: 70e9, n: 60e9, rho: 0.25, loss0: 1.9),
         "n, rho: they disagree: n 6e+10 of n0 7e+10 is rho = 0.1429, but rho is 0.25 (n = 5.25e+10); give one of them"),
    ])
    func badTargetsAreRefused(target: PlanTarget, message: String) {
        do {
            _ = try Self.planner.plan(target, criterion: .targetLoss(2.2))
            Issue.record("accepted")
        } catch {
            #expect("\(error)" == message)
        }
        #expect(throws: (any Error).self) { try Self.planner.predict(target, tokens: [1e9]) }
    }

    @Test func consistentNAndRhoWithinRoundingAreTaken() throws {
        // rho 0.25 of 70e9 is 52.5e9; 52.49e9 is rounding, not another model.
        let a = try Self.planner.plan(PlanTarget(n0: 70e9, n: 52.49e9, rho: 0.25, loss0: 1.9), criterion: .targetLoss(2.2))
        #expect(a.tokens != nil)
        #expect(throws: InputError.self) { try Self.planner.plan(PlanTarget(n0: 70e9, n: 52e9, rho: 0.25, loss0: 1.9), criterion: .targetLoss(2.2)) }
    }

    @Test func criteriaAreChecked() {
        let t = PlanTarget(n0: 70e9, rho: 0.25, loss0: 1.9)
        #expect(throws: InputError("targetLoss", "expected a positive loss, got -2")) { try Self.planner.plan(t, criterion: .targetLoss(-2)) }
        #expect(throws: InputError("maxSlope", "expected a positive loss drop per 1e9 tokens, got 0")) { try Self.planner.plan(t, criterion: .maxSlope(0)) }
    }
}
