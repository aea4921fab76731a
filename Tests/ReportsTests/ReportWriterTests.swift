import Foundation
@testable import Reports
import ScalingLaw
import LossRecords
import TestSupport
import Testing

@Suite struct PredictionsCSVTests {
    @Test func headerIsTidyWithSortedLabelUnion() {
        let csv = ReportWriter.predictionsCSV(ReportFixture.rows())
        let header = csv.split(separator: "\n").first.map(String.init)
        #expect(header == "run,n0,n,rho,loss0,tokens,observed,fitted,residual,split,family,method")
    }

    @Test func rowCarriesRecordFitAndRole() throws {
        let rows = ReportFixture.rows()
        let lines = ReportWriter.predictionsCSV(rows).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        #expect(lines.count == rows.count + 1)

        // Row 1 is the excluded tokens = 0 checkpoint; row 2 the first fitted one.
        let excluded = lines[1]
        #expect(excluded[0] == "1B-rho0.15")
        #expect(excluded[5] == "0")
        #expect(excluded[7] == "")  // not a number: an empty cell, like an absent value
        #expect(excluded[9] == "excluded")

        let r = rows[1]
        let line = lines[2]
        #expect(line.count == 12)
        #expect(line[0] == "1B-rho0.15")
        #expect(line[1] == "1000000000")
        #expect(Double(line[2]) == r.record.n)
        #expect(Double(line[3]) == 0.15)
        #expect(Double(line[5]) == 1e8)
        #expect(Double(line[6]) == r.record.loss)
        #expect(Double(line[7]) == r.fitted)
        #expect(Double(line[8]) == r.record.loss - r.fitted)
        #expect(line[9] == "fit")
        #expect(line[10] == "")         // no family label on this run
        #expect(line[11] == "depth")
        // Held-out checkpoints are the last two of each run.
        #expect(lines[8][9] == "holdout")
    }

    @Test func absentValuesAreEmptyAndCollidingLabelsRenamed() {
        let row = PredictionRow(record: LossRecord(run: "r,1", tokens: 5, loss: 2.5, labels: ["split": "a"]), fitted: 2.25, role: .fit)
        let csv = ReportWriter.predictionsCSV([row])
        #expect(csv == "run,n0,n,rho,loss0,tokens,observed,fitted,residual,split,label_split\n\"r,1\",,,,,5,2.5,2.25,0.25,fit,a\n")
    }
}

@Suite struct MarkdownSummaryTests {
    @Test func namesParametersMetricsAndPlan() {
        let report = ReportFixture.report()
        let md = ReportWriter.markdownSummary(report)
        #expect(md.hasPrefix("# Fit report: p2\n"))
        #expect(md.contains(P2Law().formula))
        for name in P2Law().parameterNames {
            #expect(md.contains("| \(name) | "), "parameter \(name) missing")
        }
        #expect(md.contains("| NC | 500 | "))
        #expect(!md.contains("Note"))  // the column appears only when some parameter is fixed
        #expect(md.contains("| gamma | -0.8 | "))
        #expect(md.contains("95% interval"))
        #expect(md.contains("| Metric | Fit | Held out |"))
        let r2 = Format.metric(report.fit.metrics.r2, 5)
        let heldRMSE = Format.metric(report.fit.holdoutMetrics!.rmse, 4)
        #expect(md.contains("| R² | \(r2) | "))
        #expect(md.contains(heldRMSE))
        #expect(md.contains("`tokens=0.25`"))
        #expect(md.contains("NC–alpha (r = 0.9700)"))
        #expect(md.contains("- NC and alpha are strongly correlated"))
        #expect(md.contains("197 of 200 replicates"))
        #expect(md.contains("## Plan"))
        #expect(md.contains("| Criterion | target loss 2.3 |"))
        #expect(md.contains("](figures/loss-vs-tokens.svg)"))
        #expect(md.contains("](figures/predicted-vs-observed.svg)"))
        #expect(md.contains("](figures/plan.svg)"))
    }

    @Test func withoutPlanOrHoldout() {
        var report = ReportFixture.report(plan: nil)
        report.fit.holdoutMetrics = nil
        report.fit.holdout = nil
        report.fit.warnings = []
        report.fit.estimates[2] = ParameterEstimate(name: "E", value: 1, fixed: true)
        let md = ReportWriter.markdownSummary(report)
        #expect(md.contains("| Parameter | Value | Std. error | 95% interval | Note |\n|---|---:|---:|---:|---:|\n"))
        #expect(md.contains("| E | 1 | — | — | fixed |"))
        #expect(!md.contains("## Plan"))
        #expect(!md.contains("plan.svg"))
        #expect(md.contains("| Metric | Fit |\n"))
        #expect(md.contains("## Warnings\n\nNone."))
    }
}

@Suite struct ReportWriterTests {
    static func listing(_ dir: URL) -> [String] {
        let e = FileManager.default.enumerator(atPath: dir.path)
        return (e?.allObjects as? [String] ?? []).sorted()
    }


    @Test func writesExactlyTheExpectedFiles() throws {
        let dir = try Fixture.tempDir("reports")
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("run1")
        let report = ReportFixture.report()
        let written = try ReportWriter.write(report, to: out)
        let expected = ["figures", "figures/loss-vs-tokens.svg", "figures/plan.svg", "figures/predicted-vs-observed.svg",
                        "predictions.csv", "summary.md"]
        #expect(Self.listing(out) == expected)
        #expect(written.map { $0.path.replacingOccurrences(of: out.path + "/", with: "") }
            == ["predictions.csv", "summary.md", "figures/loss-vs-tokens.svg", "figures/predicted-vs-observed.svg", "figures/plan.svg"])
        #expect(try String(contentsOf: out.appendingPathComponent("predictions.csv"), encoding: .utf8)
            == ReportWriter.predictionsCSV(report.rows))

        // Writing again over an existing report replaces files in place and leaves no temporaries.
        var noPlan = report
        noPlan.plan = nil
        let second = try ReportWriter.write(noPlan, to: out)
        #expect(second.count == 4)
        #expect(Self.listing(out) == expected)  // the old plan.svg is not ours to delete
        #expect(!Self.listing(out).contains { $0.contains(".tmp") || $0.hasPrefix(".") || $0.contains("/.") })
        let md = try String(contentsOf: out.appendingPathComponent("summary.md"), encoding: .utf8)
        #expect(!md.contains("## Plan"))
    }
}
