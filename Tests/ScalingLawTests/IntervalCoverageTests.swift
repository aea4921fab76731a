import Foundation
import ScalingLaw
import LossRecords
import Testing

/// A 95 % interval must hold the truth in 95 % of data sets (issue 14). Each test draws 200 data
/// sets from the sample's true P2 law, fits each with the default interval method and checks every
/// parameter, the predicted loss and the planner's token interval at a point inside the fitted
/// range, at the largest fitted model and far beyond it (`CoveragePoint.issue14`). The accepted
/// band is the nominal rate ± 3 binomial standard errors: 0.904–0.996 with 200 data sets.
/// Numbers for every method and design: README, "Intervals"; `benchmarks/coverage`.
@Suite(.serialized) struct IntervalCoverageTests {
    static let seeds = 200
    /// Fewer replicates than a real fit would use, to keep the suite quick; coverage is measured
    /// with the same number, so the check stays honest (fewer replicates make the endpoints
    /// noisier, which can only cost coverage).
    static let replicates = 100

    static func check(_ design: SyntheticDesign, _ what: String, method: IntervalMethod = FitOptions().interval) {
        var setup = CoverageSetup(method: method, design: design, seeds: seeds, replicates: replicates)
        setup.threads = 0
        let r = Coverage.run(setup)
        let se = (0.95 * 0.05 / Double(seeds)).squareRoot()
        let band = (0.95 - 3 * se)...(0.95 + 3 * se)
        #expect(r.failures == 0, "\(what): \(r.failures) fits failed")
        for (name, c) in r.parameters {
            #expect(band.contains(r.rate(c)), "\(what), \(method.rawValue): parameter \(name) coverage \(r.rate(c))")
        }
        for (label, c) in r.predictions {
            #expect(band.contains(r.rate(c)), "\(what), \(method.rawValue): predicted loss \(label) coverage \(r.rate(c))")
        }
        for (label, c) in r.plans {
            #expect(band.contains(r.rate(c)), "\(what), \(method.rawValue): planner tokens \(label) coverage \(r.rate(c))")
        }
    }

    /// Replicates are seeded one by one: the thread count changes nothing.
    @Test(arguments: IntervalMethod.allCases)
    func sameSeedSameSamples(method: IntervalMethod) throws {
        let records = Synthetic.records(law: P2Law(), params: CoverageSetup.sampleTruth, design: SyntheticDesign(noise: 0.002, seed: 7, correlation: 0.3))
        var o = FitOptions()
        o.starts = 2
        o.bootstrap = 12
        o.interval = method
        o.seed = 3
        o.threads = 1
        let one = try ScalingLawFitter.fit(records, law: P2Law(), options: o).result
        o.threads = 2
        let two = try ScalingLawFitter.fit(records, law: P2Law(), options: o).result
        #expect(one.bootstrap == two.bootstrap)
        #expect(one.bootstrap?.samples.count == 12)
        #expect(one.estimates == two.estimates)
    }

    /// The correlated-noise options leave the default draws as they were: data/sample-p2.csv is
    /// drawn again exactly; with them, neighbouring checkpoints' noise is correlated as asked.
    @Test func syntheticNoiseOptions() throws {
        let truth = CoverageSetup.sampleTruth
        let sample = try RecordReader.read(path: FitFixture.samplePath).records
        let drawn = Synthetic.records(law: P2Law(), params: truth, design: SyntheticDesign(noise: 0.002, seed: 1))
        #expect(sample.count == drawn.count)
        for (a, b) in zip(sample, drawn) { #expect(abs(a.loss - b.loss) <= 1e-12 * b.loss) }

        let design = SyntheticDesign(n0: SyntheticDesign.logSpaced(1e9, 8e9, count: 20), rho: [0.1, 0.2, 0.3], noise: 0.002, seed: 2, correlation: 0.8)
        let exact = Synthetic.records(law: P2Law(), params: truth, design: SyntheticDesign(n0: design.n0, rho: design.rho))
        let z = zip(Synthetic.records(law: P2Law(), params: truth, design: design), exact).map { ($0.loss / $1.loss - 1) / 0.002 }
        var lagged = 0.0, squares = 0.0
        for i in z.indices where i % design.tokens.count != 0 {
            lagged += z[i] * z[i - 1]
            squares += z[i - 1] * z[i - 1]
        }
        #expect(abs(lagged / squares - 0.8) < 0.08, "lag-1 correlation \(lagged / squares)")
    }

    /// The sample's design: 3 sizes × 3 rates, independent 0.2 % noise.
    @Test func nineRunsIndependentNoise() {
        Self.check(SyntheticDesign(noise: 0.002), "9 runs, iid noise")
    }

    /// The same runs with checkpoints correlated along each run (AR(1), phi = 0.5).
    @Test func nineRunsCorrelatedNoise() {
        Self.check(SyntheticDesign(noise: 0.002, correlation: 0.5), "9 runs, AR(1) 0.5")
    }

    /// 5 sizes × 6 rates over the same ranges, correlated checkpoints.
    @Test func thirtyRunsCorrelatedNoise() {
        Self.check(SyntheticDesign(n0: [1e9, 1.7e9, 3e9, 5e9, 8e9], rho: [0.1, 0.15, 0.2, 0.25, 0.3, 0.35], noise: 0.002, correlation: 0.5),
                   "30 runs, AR(1) 0.5")
    }
}
