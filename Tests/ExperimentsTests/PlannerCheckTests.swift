@testable import Experiments
import Foundation
import ScalingLaw
import LossRecords
import Testing

@Suite struct PlannerCheckTests {
    @Test func crossingInterpolatesInLogTokens() {
        let curve: [(tokens: Double, loss: Double)] = [(1e3, 3.0), (1e4, 2.0), (1e5, 1.5)]
        #expect(PlannerCheck.crossing(curve, 2.5).map { abs($0 - Foundation.sqrt(1e7)) < 1e-6 } == true)
        #expect(PlannerCheck.crossing(curve, 2.0).map { abs($0 - 1e4) < 1e-6 } == true)
        #expect(PlannerCheck.crossing(curve, 3.5) == 1e3)
        #expect(PlannerCheck.crossing(curve, 1.0) == nil)
    }

    /// On records of a known P2 law (0.05 % noise), the plan made without the largest base meets
    /// its curve. Only the error is asserted: the interval is the law's (parameter uncertainty),
    /// while the curve crosses its target at a noisy checkpoint, and where the curve is flat a
    /// small noise in loss is a large one in tokens.
    @Test func onRecordsOfTheLawThePlanComesTrue() throws {
        let truth = [500, 2000, 1, 0.3, 0.35, -0.8, 0.05]
        // Fitted on three sizes, planned for a fourth: with two fitted sizes NC, alpha and E are
        // not identified (alpha -> 0, NC ~ -E along a flat valley), and where along it a fit
        // stops, not the data, would decide the plan.
        let records = Synthetic.records(law: P2Law(), params: truth,
                                        design: SyntheticDesign(n0: [1e9, 3e9, 8e9, 2e10], rho: [0.15, 0.25, 0.35], noise: 0.0005, seed: 3))
        var options = FitOptions()
        options.starts = 8
        options.bootstrap = 0
        let rows = PlannerCheck.rows(family: "f", records: records, law: P2Law(), options: options)
        // Two targets per curve of the largest base: its middle evaluation and its last.
        #expect(rows.count == 6)
        #expect(rows.filter { $0.at == .last }.count == 3)
        for r in rows {
            #expect(r.n0 == 2e10)
            let e = try #require(r.errorPercent, "\(r.error ?? "")")
            #expect(abs(e) < 10, "\(r.run): planned \(r.planned?.tokens ?? .nan) vs actual \(r.actualTokens)")
        }
        // Two sizes cannot test a plan for a third.
        #expect(PlannerCheck.rows(family: "f", records: records.filter { ($0.n0 ?? 0) < 5e9 }, law: P2Law(), options: options).isEmpty)
    }
}

@Suite struct NotebookPathTests {
    @Test func theReportIsNamedRelativeToTheNotebook() {
        let u = { URL(fileURLWithPath: $0) }
        #expect(NotebookExport.relativePath(from: u("/r/notebooks-export"), to: u("/r/out/q/report")) == "../out/q/report")
        #expect(NotebookExport.relativePath(from: u("/r/a"), to: u("/r/a/report")) == "report")
        #expect(NotebookExport.relativePath(from: u("/x/n"), to: u("/y/report")) == "/y/report")
    }
}
