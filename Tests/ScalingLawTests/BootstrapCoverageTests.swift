import Foundation
import ScalingLaw
import LossRecords
import Testing

/// A 90 % cluster-bootstrap interval should contain the true parameter in about 90 % of
/// independent datasets. Chinchilla with 12 runs keeps this fast enough to repeat many times.
@Suite struct BootstrapCoverageTests {
    @Test func intervalsCoverTheTruthAtAboutTheirNominalRate() throws {
        let truth = [1.69, 406.4, 410.7, 0.34, 0.28]
        let seeds = 60
        var covered = [Int](repeating: 0, count: truth.count)
        for seed in 0..<seeds {
            let design = SyntheticDesign(n0: SyntheticDesign.logSpaced(5e7, 5e10, count: 12), rho: [0],
                                         tokens: SyntheticDesign.logSpaced(1e8, 1e11, count: 10), noise: 0.01, seed: UInt64(seed))
            let records = Synthetic.records(law: ChinchillaLaw(), params: truth, design: design)
            var o = FitOptions()
            o.starts = 1
            o.overrides = Dictionary(uniqueKeysWithValues: zip(ChinchillaLaw().parameterNames, truth.map { ParameterOverride(start: $0) }))
            o.bootstrap = 150
            o.confidence = 0.9
            o.seed = UInt64(1000 + seed)
            let fit = try ScalingLawFitter.fit(records, law: ChinchillaLaw(), options: o)
            for (j, e) in fit.result.estimates.enumerated() {
                let iv = try #require(e.interval)
                if iv[0] <= truth[j] && truth[j] <= iv[1] { covered[j] += 1 }
            }
        }
        for (j, c) in covered.enumerated() {
            let rate = Double(c) / Double(seeds)
            // Binomial sd at 0.9 over 60 datasets is ~0.04; percentile intervals from 12
            // clusters run a little narrow, so allow a modest shortfall.
            #expect(rate >= 0.75 && rate <= 0.99, "\(ChinchillaLaw().parameterNames[j]): coverage \(rate) for a nominal 0.9")
        }
    }
}
