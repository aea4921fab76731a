import Foundation
import ScalingLaw
import LossRecords
import Testing

@Suite struct FitBehaviourTests {
    static let p2Truth = [500.0, 2000, 1.0, 0.3, 0.35, -0.8, 0.05]
    static func paperRecords(noise: Double = 0, seed: UInt64 = 0) -> [LossRecord] {
        Synthetic.records(law: P2Law(), params: p2Truth, design: SyntheticDesign(noise: noise, seed: seed))
    }

    @Test func tokenHoldoutKeepsTheLastFifthOfEveryRun() throws {
        let records = Self.paperRecords()
        let fit = try ScalingLawFitter.fit(records, law: P2Law(), options: FitOptions(), holdout: .tokens(fraction: 0.2))
        #expect(fit.result.data.heldOut == 9 * 4)
        #expect(fit.result.data.fitted == 9 * 16)
        for run in Set(records.map(\.run)) {
            let rows = fit.rows.filter { $0.record.run == run }
            let maxFitted = rows.filter { $0.role == .fit }.map { $0.record.tokens! }.max()!
            let held = rows.filter { $0.role == .holdout }.map { $0.record.tokens! }
            #expect(held.count == 4)
            #expect(held.allSatisfy { $0 > maxFitted })
        }
        let hm = try #require(fit.result.holdoutMetrics)
        #expect(hm.count == 36)
        #expect(hm.rmse! < 1e-6, "noise-free data: the law extrapolates exactly")
    }

    @Test func sizeAndRateHoldoutsSetAsideTheLargest() throws {
        let records = Self.paperRecords(noise: 0.002, seed: 3)
        let bySize = try ScalingLawFitter.fit(records, law: P2Law(), options: FitOptions(), holdout: .n0(nil))
        #expect(bySize.rows.filter { $0.role == .holdout }.allSatisfy { $0.record.n0 == 8e9 })
        #expect(bySize.result.data.heldOut == 60)
        #expect(bySize.result.data.ranges["n0"] == [1e9, 3e9])
        let byRate = try ScalingLawFitter.fit(records, law: P2Law(), options: FitOptions(), holdout: .rho(nil))
        #expect(byRate.rows.filter { $0.role == .holdout }.allSatisfy { $0.record.rho == 0.35 })
        #expect(byRate.rows.filter { $0.role == .fit }.allSatisfy { $0.record.rho! < 0.35 })
        #expect(byRate.result.holdoutMetrics?.count == 60)
        let explicit = try ScalingLawFitter.fit(records, law: P2Law(), options: FitOptions(), holdout: .rho(0.25))
        #expect(explicit.rows.filter { $0.role == .holdout }.allSatisfy { $0.record.rho == 0.25 })
    }

    @Test func holdoutsParseAndRejectNonsense() throws {
        #expect(try Holdout(parsing: "tokens=0.2") == .tokens(fraction: 0.2))
        #expect(try Holdout(parsing: "n0=max") == .n0(nil))
        #expect(try Holdout(parsing: "rho=0.35") == .rho(0.35))
        for bad in ["tokens=1.5", "size=max", "rho", "n0=big"] {
            #expect(throws: LawError.self) { try Holdout(parsing: bad) }
        }
        #expect(throws: LawError.self) { try ScalingLawFitter.fit(Self.paperRecords(), law: P2Law(), holdout: .rho(0.5)) }
    }

    @Test func sameSeedSameNumbersWhateverTheThreads() throws {
        let records = Self.paperRecords(noise: 0.002, seed: 11)
        var o = FitOptions()
        o.starts = 6
        o.bootstrap = 20
        o.seed = 42
        o.threads = 1
        let one = try ScalingLawFitter.fit(records, law: P2Law(), options: o)
        o.threads = 2
        let two = try ScalingLawFitter.fit(records, law: P2Law(), options: o)
        var r1 = one.result, r2 = two.result
        r1.options.threads = 0
        r2.options.threads = 0
        #expect(r1 == r2)
        o.seed = 43
        let other = try ScalingLawFitter.fit(records, law: P2Law(), options: o)
        #expect(other.result.bootstrap!.samples != one.result.bootstrap!.samples)
    }

    @Test func huberInLogSpaceShrugsOffOutliers() throws {
        // Hoffmann et al.'s protocol: Huber (delta 1e-3) on log L from a grid of starts.
        let truth = [1.69, 406.4, 410.7, 0.34, 0.28]
        var records = Synthetic.records(law: ChinchillaLaw(), params: truth, design: FitRecoveryTests.wide)
        for i in stride(from: 5, to: records.count, by: 37) { records[i].loss *= 1.3 }
        var o = FitOptions()
        o.objective = .huber
        o.huberDelta = 1e-3
        o.space = .log
        o.design = .grid
        o.starts = 32
        let robust = try ScalingLawFitter.fit(records, law: ChinchillaLaw(), options: o).result.parameterVector
        let plain = try ScalingLawFitter.fit(records, law: ChinchillaLaw(), options: FitOptions()).result.parameterVector
        let robustError = zip(robust, truth).map { abs($0 - $1) / $1 }.max()!
        let plainError = zip(plain, truth).map { abs($0 - $1) / $1 }.max()!
        // Huber bounds each outlier's pull at delta without removing it, so the truth is not
        // recovered exactly; it must still be far closer than least squares gets.
        #expect(robustError < 0.01, "Huber fit off by \(robustError)")
        #expect(plainError > 10 * robustError, "least squares should be dragged by the outliers (\(plainError) vs \(robustError))")
    }

    @Test func fixedParametersStayAndBoundsAreReported() throws {
        let records = Self.paperRecords()
        var o = FitOptions()
        o.overrides = ["delta": ParameterOverride(fixed: 0.05)]
        let fixed = try ScalingLawFitter.fit(records, law: P2Law(), options: o)
        #expect(fixed.result.params["delta"] == 0.05)
        #expect(fixed.result.estimates.first { $0.name == "delta" }!.fixed)
        var b = FitOptions()
        b.overrides = ["beta": ParameterOverride(bounds: ParameterBound(lower: 0.5, upper: 1.0))]
        let bounded = try ScalingLawFitter.fit(records, law: P2Law(), options: b)
        #expect(bounded.result.params["beta"]! >= 0.5)
        #expect(bounded.result.warnings.contains { $0.contains("beta") && $0.contains("bound") })
        var bad = FitOptions()
        bad.overrides = ["zeta": ParameterOverride(fixed: 1)]
        #expect(throws: LawError.self) { try ScalingLawFitter.fit(records, law: P2Law(), options: bad) }
    }

    @Test func weakIdentifiabilityIsReported() throws {
        // The brief's case: three sizes, three rates, 20 checkpoints, 0.2 % noise. NC/N0^alpha
        // and E trade off; the fit must say so rather than report a confident alpha.
        let fit = try ScalingLawFitter.fit(Self.paperRecords(noise: 0.002, seed: 1), law: P2Law(), options: FitOptions())
        #expect(fit.result.warnings.contains { $0.contains("correlated") || $0.contains("not pinned") || $0.contains("singular") },
                "warnings: \(fit.result.warnings)")
    }

    @Test func zeroTokenRecordsAreExcludedAndCounted() throws {
        var records = Self.paperRecords()
        records.append(LossRecord(run: records[0].run, n0: 1e9, n: 0.85e9, rho: 0.15, loss0: records[0].loss0, tokens: 0, loss: 4.0))
        let fit = try ScalingLawFitter.fit(records, law: P2Law())
        #expect(fit.result.data.excluded == 1)
        #expect(fit.rows.last!.role == .excluded)
        #expect(fit.result.warnings.contains { $0.contains("left out") })
    }

    @Test func metricsFollowTheirDefinitions() {
        let recs = [
            LossRecord(run: "a", tokens: 1, loss: 3), LossRecord(run: "a", tokens: 2, loss: 2),
            LossRecord(run: "a", tokens: 4, loss: 1.5), LossRecord(run: "b", tokens: 1, loss: 2.5),
            LossRecord(run: "b", tokens: 3, loss: 2.0),
        ]
        let fitted = [2.9, 2.1, 1.5, 2.5, 1.9]
        let m = Metrics.compute(records: recs, fitted: fitted, huberDelta: 0.05)
        // slopes: a: data -1, law -0.8 -> 0.2; data -0.25, law -0.3 -> 0.05; b: data -0.25, law -0.3 -> 0.05
        #expect(abs(m.asd! - (0.2 + 0.05 + 0.05) / 3) < 1e-12)
        let l2 = Foundation.log(2.0), l3 = Foundation.log(3.0)
        #expect(abs(m.asdLog! - (0.2 / l2 + 0.1 / l2 + 0.1 / l3) / 3) < 1e-12)
        let r = zip(recs, fitted).map { $0.loss - $1 }
        #expect(abs(m.rmse! - (r.map { $0 * $0 }.reduce(0, +) / 5).squareRoot()) < 1e-12)
        // Huber: |r| = 0.1 > 0.05 -> 0.05 (0.1 - 0.025) = 0.00375 for three residuals, 0 for two.
        #expect(abs(m.huber! - 3 * 0.00375 / 5) < 1e-12)
        #expect(abs(m.mape! - 100 * (0.1 / 3 + 0.1 / 2 + 0 + 0 + 0.1 / 2) / 5) < 1e-12)
    }
}

@Suite struct CustomLawEdgeTests {
    /// A P2-form custom law on data with unpruned (rho = 0) records: its gamma-derivative there is
    /// 0 * inf. The fit must still give finite standard errors for every parameter.
    @Test func unprunedRecordsDoNotPoisonTheCovariance() throws {
        let truth = [500.0, 2000, 1.0, 0.3, 0.35, -0.8, 0.05]
        let design = SyntheticDesign(n0: [2e8, 1e9, 5e9, 2e10], rho: [0, 0.1, 0.2, 0.35], noise: 0.002, seed: 4)
        let records = Synthetic.records(law: P2Law(), params: truth, design: design)
        let law = try CustomLaw(expression: "L0 + (1/rho)^gamma * (1/n0)^delta * (NC/n0^alpha + DC/tokens^beta + E)",
                                parameters: ["NC", "DC", "E", "alpha", "beta", "gamma", "delta"],
                                start: Dictionary(uniqueKeysWithValues: zip(["NC", "DC", "E", "alpha", "beta", "gamma", "delta"], P2Law().defaultStart)))
        let fit = try ScalingLawFitter.fit(records, law: law, options: FitOptions())
        #expect(fit.result.estimates.allSatisfy { $0.stderr?.isFinite == true }, "\(fit.result.estimates)")
        #expect(abs(fit.result.params["gamma"]! + 0.8) < 0.05)
    }
}

/// Two models pruned "at 0.35" land a few parameters apart; `rho=max` holds both out.
@Suite struct RateHoldoutTests {
    @Test func ratesWithinOneHundredthAreOneLevel() throws {
        let records = [(0.3505, "a"), (0.3499, "b"), (0.25, "a"), (0.2502, "b"), (0.3395, "c")].map {
            LossRecord(run: "\($0.1)-\($0.0)", n0: 1e6, rho: $0.0, loss0: 2, tokens: 1e5, loss: 2.5)
        }
        #expect(try Holdout.rho(nil).heldOut(records) == [true, true, false, false, false])
        #expect(try Holdout.rho(0.25).heldOut(records) == [false, false, true, true, false])
        // Sizes stay exact.
        let sized = ([1e6, 1e6 + 1, 2e6] as [Double]).map { LossRecord(run: "\($0)", n0: $0, rho: 0.2, loss0: 2, tokens: 1e5, loss: 2.5) }
        #expect(try Holdout.n0(nil).heldOut(sized) == [false, false, true])
    }
}
