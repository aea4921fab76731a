import Foundation
@testable import Reports
import ScalingLaw
import LossRecords
import Testing

/// Undefined metrics in the reports: "n/a" with the reason in summary.md and the figures, empty
/// cells in CSVs; never "nan" (issue 8).
@Suite struct UndefinedMetricReportTests {
    static func report() -> FitReport {
        var report = ReportFixture.report(plan: nil)
        let m = report.fit.metrics
        report.fit.metrics = FitMetrics(count: m.count, r2: nil, rmse: m.rmse, mape: m.mape, huber: m.huber, asd: nil, asdLog: nil,
                                        undefined: ["r2": "the observed loss is constant", "asd": "every run has a single point",
                                                    "asd_log": "every run has a single point"])
        let h = report.fit.holdoutMetrics!
        report.fit.holdoutMetrics = FitMetrics(count: h.count, r2: h.r2, rmse: h.rmse, mape: h.mape, huber: h.huber, asd: nil, asdLog: h.asdLog,
                                               undefined: ["asd": "no run has two checkpoints at different token counts"])
        return report
    }

    @Test func summarySaysNotApplicableAndWhy() {
        let md = ReportWriter.markdownSummary(Self.report())
        #expect(md.contains("| R² | n/a | "))
        #expect(md.contains("| ASD | n/a | n/a |"))
        #expect(md.contains("- R² n/a: the observed loss is constant\n"))
        #expect(md.contains("- ASD n/a: every run has a single point\n"))
        #expect(md.contains("- ASD (log tokens) n/a: every run has a single point\n"))
        #expect(md.contains("- Held out: ASD n/a: no run has two checkpoints at different token counts\n"))
        #expect(!md.lowercased().contains("nan"))
    }

    @Test func figuresSayNotApplicable() {
        let report = Self.report()
        for svg in [Figures.lossVersusTokens(report), Figures.predictedVersusObserved(report)] {
            #expect(svg.contains("R² n/a"))
            #expect(!svg.contains("nan"))
        }
    }

    @Test func csvCellsOfNonNumbersAreEmpty() {
        #expect(CSVTable.number(.nan) == "")
        #expect(CSVTable.number(.infinity) == "")
        #expect(CSVTable.number(nil) == "")
        #expect(CSVTable.number(2.5) == "2.5")
    }
}
