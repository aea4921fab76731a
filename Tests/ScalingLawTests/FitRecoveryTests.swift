import Foundation
import ScalingLaw
import LossRecords
import Testing

/// Noise-free data drawn from a known law must give back its parameters: the independent check
/// a fitter can be held to. Designs vary every input the law reads, over wide ranges.
@Suite struct FitRecoveryTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var law: any Law
        var truth: [Double]
        var design: SyntheticDesign
        var testDescription: String { law.name }
    }

    static let wide = SyntheticDesign(n0: [2e8, 1e9, 5e9, 2e10, 7e10], rho: [0.1, 0.2, 0.3, 0.45],
                                      tokens: SyntheticDesign.logSpaced(1e7, 3e10, count: 12))

    static let cases: [Case] = [
        Case(law: P2Law(), truth: [500, 2000, 1.0, 0.3, 0.35, -0.8, 0.05], design: wide),
        Case(law: P2NoDeltaLaw(), truth: [200, 900, 0.3, 0.25, 0.33, -0.7], design: wide),
        Case(law: P2AdditiveLaw(), truth: [30, 600, 0.05, 0.15, 0.3, 1.2], design: wide),
        Case(law: P2CountsLaw(), truth: [400, 700, 1.6, 0.32, 0.3, 1.5], design: wide),
        Case(law: ChinchillaLaw(), truth: [1.69, 406.4, 410.7, 0.34, 0.28], design: wide),
        Case(law: SparsityLaw(), truth: [300, 1.5, 200, 0.3, 2e6, 0.25, 1.2], design: wide),
    ]

    @Test(arguments: cases)
    func recoversKnownParameters(c: Case) throws {
        let records = Synthetic.records(law: c.law, params: c.truth, design: c.design)
        var options = FitOptions()
        options.starts = 32
        let fit = try ScalingLawFitter.fit(records, law: c.law, options: options)
        let got = fit.result.parameterVector
        for j in c.truth.indices {
            let rel = abs(got[j] - c.truth[j]) / abs(c.truth[j])
            #expect(rel < 1e-6, "\(c.law.name).\(c.law.parameterNames[j]): got \(got[j]), truth \(c.truth[j]) (rel \(rel))")
        }
        #expect(fit.result.metrics.r2! > 1 - 1e-12)
        #expect(fit.result.starts.reachedBest >= 1)
    }
}
