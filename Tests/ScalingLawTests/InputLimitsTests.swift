import Foundation
import ScalingLaw
import LossRecords
import Testing

/// Every count and size the planner takes is checked against a limit before any work, with one
/// line naming the value at fault (issue 8: these crashed, aborted on allocation or hung).
@Suite struct InputLimitsTests {
    static func options(_ change: (inout FitOptions) -> Void) -> FitOptions {
        var o = FitOptions()
        change(&o)
        return o
    }

    static let outOfLimits: [(String, String, FitOptions)] = [
        ("bootstrap", "expected 0 to 100,000 replicates, got 1000000000", options { $0.bootstrap = 1_000_000_000 }),
        ("bootstrap", "expected 0 to 100,000 replicates, got -1", options { $0.bootstrap = -1 }),
        ("starts", "expected 1 to 100,000 starting points, got 0", options { $0.starts = 0 }),
        ("starts", "expected 1 to 100,000 starting points, got 100001", options { $0.starts = 100_001 }),
        ("confidence", "expected a level in (0, 1), got 7", options { $0.confidence = 7 }),
        ("confidence", "expected a level in (0, 1), got nan", options { $0.confidence = .nan }),
        ("huberDelta", "expected a positive number, got 0", options { $0.huberDelta = 0 }),
        ("huberDelta", "expected a positive number, got inf", options { $0.huberDelta = .infinity }),
        ("maxIterations", "expected 1 to 100,000 iterations, got 1000000000", options { $0.maxIterations = 1_000_000_000 }),
        ("threads", "expected 0 (all cores) to 1,024 threads, got 100000", options { $0.threads = 100_000 }),
        ("grid", "alpha has 1001 levels; give 1 to 1,000", options { $0.overrides = ["alpha": ParameterOverride(gridLevels: (0...1000).map(Double.init))] }),
        ("grid", "the full factorial has 1e+18 points; at most 1e+15",
         options { for p in ["NC", "DC", "E", "alpha", "beta", "gamma"] { $0.overrides[p] = ParameterOverride(gridLevels: (1...1000).map(Double.init)) } }),
        ("bounds", "alpha: lower bound 1 is not below upper bound 0", options { $0.overrides = ["alpha": ParameterOverride(bounds: ParameterBound(lower: 1, upper: 0))] }),
    ]

    @Test(arguments: outOfLimits)
    func fitOptionsOutsideTheirLimits(flag: String, problem: String, options o: FitOptions) throws {
        #expect(throws: InputError(flag, problem)) { try o.validate() }
        // The fitter refuses before allocating anything.
        let records = Synthetic.records(law: P2Law(), params: [500, 2000, 1, 0.3, 0.35, -0.8, 0.05], design: SyntheticDesign())
        #expect(throws: InputError(flag, problem)) { try ScalingLawFitter.fit(records, law: P2Law(), options: o) }
    }

    @Test func limitsAreInclusive() throws {
        #expect(throws: Never.self) { try Self.options { $0.bootstrap = 100_000; $0.starts = 100_000; $0.threads = 1_024 }.validate() }
    }

    /// A factorial past Int.max used to overflow while counting its points; now the 1e15 cap
    /// holds it, and one at the cap is thinned without trouble.
    @Test func largeGridsAreThinnedWithoutOverflow() throws {
        let records = Synthetic.records(law: ChinchillaLaw(), params: [1.69, 406.4, 410.7, 0.34, 0.28], design: SyntheticDesign())
        var o = FitOptions()
        o.design = .grid
        o.starts = 3
        o.maxIterations = 5
        for p in ["A", "B", "alpha", "beta", "E"] { o.overrides[p] = ParameterOverride(gridLevels: (1...1000).map { Double($0) / 1000 }) }
        let fit = try ScalingLawFitter.fit(records, law: ChinchillaLaw(), options: o)
        #expect(fit.result.starts.requested == 3)
    }

    @Test(arguments: [
        ("1e8:1e10:100000000", "--tokens: a range takes 2 to 100,000 points, got 100000000"),
        ("1e8:1e10:1000000000000", "--tokens: a range takes 2 to 100,000 points, got 1000000000000"),
        ("1e8:1e10:1", "--tokens: a range takes 2 to 100,000 points, got 1"),
        ("1e8:1e10:99999999999999999999999", "--tokens: 99999999999999999999999 is out of range"),
        ("1e8:inf:5", "--tokens: 'inf' is not a finite number"),
        ("1e10:1e8:5", "--tokens: a range FROM:TO:COUNT needs 0 < FROM < TO, got '1e10:1e8:5'"),
        ("1e8:1e10:5:6", "--tokens: expected a list like 1e8,1e9 or a log-spaced range FROM:TO:COUNT, got '1e8:1e10:5:6'"),
        ("1e8,0x10", "--tokens: '0x10' is not a decimal number"),
        ("1e8,-5", "--tokens: '-5' is not a positive token count"),
        ("1e8,nan", "--tokens: 'nan' is NaN, not a number"),
    ])
    func tokenListsAreBounded(text: String, message: String) {
        do {
            let list = try TokenList.parse(text, flag: "--tokens")
            Issue.record("accepted \(list.count) token counts")
        } catch {
            #expect("\(error)" == message)
        }
    }

    @Test func tokenListsAtTheLimit() throws {
        #expect(try TokenList.parse("1e8:1e10:100000", flag: "--tokens").count == 100_000)
        let many = Array(repeating: "1e9", count: 100_001).joined(separator: ",")
        #expect(throws: InputError("--tokens", "at most 100,000 token counts, got 100001")) { try TokenList.parse(many, flag: "--tokens") }
    }

    @Test func planner_refusesTooManyPredictionPoints() throws {
        let planner = try PlannerTests.fittedPlanner()
        let target = PlanTarget(n0: 1e9, rho: 0.2, loss0: 2)
        #expect(throws: InputError("tokens", "at most 100,000 token counts, got 100001")) {
            try planner.predict(target, tokens: [Double](repeating: 1e9, count: 100_001))
        }
        #expect(throws: InputError("tokens", "expected positive token counts, got nan")) { try planner.predict(target, tokens: [.nan]) }
    }

    // MARK: simulate

    static let p2 = [500.0, 2000, 1, 0.3, 0.35, -0.8, 0.05]

    @Test(arguments: [
        (SyntheticDesign(n0: [1e9, 1e9]), "n0: 1e+09 is given twice"),
        (SyntheticDesign(rho: [0.2, 0.2]), "rho: 0.2 is given twice"),
        (SyntheticDesign(tokens: [1e8, 1e8]), "tokens: 1e+08 is given twice"),
        (SyntheticDesign(n0: [1e9, 1.0001e9]), "n0: 1000000000.0 and 1000100000.0 give the same run name 'n0=1e+09 rho=0.15' (3 significant digits)"),
        (SyntheticDesign(n0: [-1e9]), "n0: expected positive parameter counts, got -1e+09"),
        (SyntheticDesign(rho: [1]), "rho: expected pruning rates in [0, 1), got 1"),
        (SyntheticDesign(loss0: [2, 2]), "loss0: needs one value per n0 (3), got 2"),
        (SyntheticDesign(noise: -1), "noise: expected a relative noise of 0 or more, got -1"),
        (SyntheticDesign(noise: 5, seed: 3), "noise: a draw gave loss"),
        (SyntheticDesign(n0: (1...1000).map { Double($0) * 1e9 }, rho: (0..<10).map { Double($0) / 10 },
                         tokens: SyntheticDesign.logSpaced(1e8, 1e10, count: 101)),
         "n0, rho, tokens: 1000 × 10 × 101 = 1.01e+06 records; at most 1,000,000"),
    ])
    func simulateWritesOnlyWhatTheReaderAccepts(design: SyntheticDesign, message: String) {
        do {
            let records = try Synthetic.checkedRecords(law: P2Law(), params: Self.p2, design: design)
            Issue.record("wrote \(records.count) records")
        } catch {
            #expect("\(error)".hasPrefix(message), "\(error)")
        }
    }

    @Test func simulatedRecordsReadBack() throws {
        let records = try Synthetic.checkedRecords(law: P2Law(), params: Self.p2, design: SyntheticDesign(noise: 0.01, seed: 2))
        let text = RecordWriter.csv(RecordSet(file: "s.csv", records: records))
        #expect(try RecordReader.parse(text: text, file: "s.csv", format: .csv).records.count == records.count)
    }

    // MARK: custom expressions

    @Test func expressionsAreBounded() {
        let deep = String(repeating: "(", count: 5_000) + "A" + String(repeating: ")", count: 5_000)
        #expect(throws: LawError.self) { try CustomLaw(expression: deep) }
        let nested = String(repeating: "(", count: 150) + "A" + String(repeating: ")", count: 150)
        do { _ = try CustomLaw(expression: nested) } catch { #expect("\(error)".contains("nested more than 100 levels deep")) }
        let long = (0..<300).map { "A\($0)" }.joined(separator: "+")
        do { _ = try CustomLaw(expression: long) } catch { #expect("\(error)".contains("characters; a law takes at most 1000"), "\(error)") }
        #expect(throws: Never.self) { try CustomLaw(expression: String(repeating: "-", count: 90) + "A * n") }
    }

    /// A start a decade either side of a subnormal value has a zero lower end; the log-scale
    /// range used to trap on it.
    @Test func extremeStartValuesDoNotTrap() throws {
        // Subnormals written as bit patterns: their decimal literals warn that they underflow.
        for s in [Double.leastNonzeroMagnitude, Double(bitPattern: 2024), 1e308, -1e308, -Double.leastNonzeroMagnitude] {
            let law = try CustomLaw(expression: "E + A / n^alpha", start: ["A": s])
            #expect(law.startRanges.allSatisfy { $0.lower <= $0.upper && $0.lower.isFinite && $0.upper.isFinite })
        }
    }
}
