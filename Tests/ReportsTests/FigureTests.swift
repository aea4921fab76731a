import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import Reports
import ScalingLaw
import LossRecords
import Testing

/// A parsed SVG: failing to parse is the well-formedness check.
struct ParsedSVG {
    let root: XMLElement
    let elements: [XMLElement]

    init(_ text: String) throws {
        let doc = try XMLDocument(xmlString: text, options: [])
        root = try #require(doc.rootElement())
        var all: [XMLElement] = []
        func walk(_ e: XMLElement) {
            all.append(e)
            for c in e.children ?? [] { if let c = c as? XMLElement { walk(c) } }
        }
        walk(root)
        elements = all
    }

    /// Looked up through `attributes`: swift-corelibs-foundation's `attribute(forName:)` returns nil
    /// for every attribute once the document has a default namespace, as SVG does.
    func attribute(_ e: XMLElement, _ name: String) -> String? {
        e.attributes?.first { $0.name == name }?.stringValue
    }

    /// Elements whose class list contains every one of `classes`.
    func withClass(_ classes: String...) -> [XMLElement] {
        elements.filter { e in
            let have = Set((attribute(e, "class") ?? "").split(separator: " ").map(String.init))
            return classes.allSatisfy(have.contains)
        }
    }

    /// Centre of a circle or square marker.
    func centre(_ e: XMLElement) -> (Double, Double)? {
        let v = { (name: String) in self.attribute(e, name).flatMap(Double.init) }
        if let cx = v("cx"), let cy = v("cy") { return (cx, cy) }
        if let x = v("x"), let y = v("y"), let w = v("width"), let h = v("height") { return (x + w / 2, y + h / 2) }
        return nil
    }

    var texts: [String] { elements.filter { $0.name == "text" }.compactMap(\.stringValue) }
}

@Suite struct FigureTests {
    @Test func lossVersusTokensHasOneCurvePerRunAndHeldOutMarkers() throws {
        let report = ReportFixture.report()
        let svg = try ParsedSVG(Figures.lossVersusTokens(report))
        #expect(svg.root.name == "svg")
        #expect(svg.attribute(svg.root, "width") == "800")
        #expect(svg.attribute(svg.root, "height") == "500")

        let curves = svg.withClass("curve")
        let runs = Set(report.rows.map(\.record.run))
        #expect(curves.count == 9)
        #expect(Set(curves.compactMap { svg.attribute($0, "data-run") }) == runs)
        #expect(svg.withClass("point", "holdout").count == 18)
        #expect(svg.withClass("point", "holdout").allSatisfy { svg.attribute($0, "fill") == "white" })
        #expect(svg.withClass("point", "fit").count == 54)
        // The tokens = 0 checkpoint cannot sit on a log axis.
        #expect(svg.withClass("point", "excluded").isEmpty)
        #expect(svg.texts.contains("held out"))
        #expect(svg.texts.contains("1B-rho0.15"))
        #expect(svg.texts.contains { $0.hasPrefix("p2 law") && $0.contains("R² = ") })
        #expect(svg.texts.contains("1e9"))
    }

    @Test func curvesAreTheLawThroughTheRunsPoints() throws {
        // Observed = law + at most 0.004, so each curve must start on its run's first marker.
        let svg = try ParsedSVG(Figures.lossVersusTokens(ReportFixture.report()))
        for curve in svg.withClass("curve") {
            let run = try #require(svg.attribute(curve, "data-run"))
            let d = try #require(svg.attribute(curve, "d"))
            let start = d.dropFirst().split(separator: "L")[0].split(separator: ",").compactMap { Double($0) }
            let first = try #require(svg.withClass("point", "fit").first { svg.attribute($0, "data-run") == run })
            let (cx, cy) = try #require(svg.centre(first))
            #expect(Swift.abs(start[0] - cx) < 0.02, "run \(run)")
            #expect(Swift.abs(start[1] - cy) < 4, "run \(run)")
        }
    }

    @Test func legendCapsRunsAtTwelve() throws {
        let svg = try ParsedSVG(Figures.lossVersusTokens(ReportFixture.report(extraRuns: 6)))
        #expect(svg.withClass("curve").count == 15)
        #expect(svg.texts.contains("+3 more runs"))
        #expect(!svg.texts.contains("extra-3"))
        #expect(svg.texts.contains("extra-2"))
    }

    @Test func textIsEscaped() throws {
        var report = ReportFixture.report()
        for i in report.rows.indices where report.rows[i].record.run == "1B-rho0.15" {
            report.rows[i].record.run = "a<b> & \"c\" 'd'"
        }
        let svg = try ParsedSVG(Figures.lossVersusTokens(report))
        #expect(svg.withClass("curve").contains { svg.attribute($0, "data-run") == "a<b> & \"c\" 'd'" })
        #expect(svg.texts.contains("a<b> & \"c\" 'd'"))
    }

    @Test func predictedVersusObservedIsSquareWithDiagonal() throws {
        let report = ReportFixture.report()
        let svg = try ParsedSVG(Figures.predictedVersusObserved(report))
        #expect(svg.withClass("point", "fit").count == 54)
        #expect(svg.withClass("point", "holdout").count == 18)
        #expect(svg.withClass("diagonal").count == 1)
        #expect(svg.texts.contains { $0.contains("RMSE \(Format.metric(report.fit.metrics.rmse, 3))") })
        let x = svg.withClass("tick", "x").compactMap(\.stringValue)
        let y = svg.withClass("tick", "y").compactMap(\.stringValue)
        #expect(!x.isEmpty)
        #expect(x == y)
        let clip = try #require(svg.elements.first { $0.name == "clipPath" }?.children?.first as? XMLElement)
        #expect(svg.attribute(clip, "width") == svg.attribute(clip, "height"))
    }

    @Test func planShowsBudgetIntervalTargetAndFloor() throws {
        let plan = ReportFixture.plan()
        let svg = try ParsedSVG(Figures.plan(plan))
        for cls in ["curve", "curve-interval", "budget", "budget-interval", "target", "floor", "budget-point"] {
            #expect(svg.withClass(cls).count == 1, "\(cls)")
        }
        #expect(svg.texts.contains("target 2.3"))
        #expect(svg.texts.contains { $0.hasPrefix("budget ") && $0.hasSuffix(" tokens") })
        #expect(svg.texts.contains { $0.contains("Post-train the 3B model") })
        #expect(svg.withClass("notice").isEmpty)
    }

    @Test func unreachablePlanSaysSo() throws {
        let svg = try ParsedSVG(Figures.plan(ReportFixture.plan(reachable: false)))
        #expect(svg.withClass("notice").contains { ($0.stringValue ?? "").hasPrefix("Not reachable") })
        #expect(svg.withClass("budget").isEmpty)
        #expect(svg.withClass("budget-interval").isEmpty)
        #expect(svg.withClass("curve").count == 1)
        #expect(svg.withClass("floor").count == 1)
    }

    @Test func targetLineFollowsThePlansTargetLoss() throws {
        var plan = ReportFixture.plan()
        plan.targetLoss = 2.1
        let withTarget = try ParsedSVG(Figures.plan(plan))
        #expect(withTarget.withClass("target").count == 1)
        #expect(Figures.plan(plan).contains("target 2.1"))
        plan.targetLoss = nil  // the slope criterion names no loss
        let without = try ParsedSVG(Figures.plan(plan))
        #expect(without.withClass("target").isEmpty)
    }

    /// Writes the figures for eyeballing when REPORT_CHECK_DIR is set (render with rsvg-convert).
    @Test func writeFiguresForInspection() throws {
        guard let dir = ProcessInfo.processInfo.environment["REPORT_CHECK_DIR"] else { return }
        let url = URL(fileURLWithPath: dir)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        let report = ReportFixture.report()
        try Figures.lossVersusTokens(report).write(to: url.appendingPathComponent("loss-vs-tokens.svg"), atomically: true, encoding: .utf8)
        try Figures.lossVersusTokens(ReportFixture.report(extraRuns: 6))
            .write(to: url.appendingPathComponent("loss-vs-tokens-15.svg"), atomically: true, encoding: .utf8)
        try Figures.predictedVersusObserved(report).write(to: url.appendingPathComponent("predicted-vs-observed.svg"), atomically: true, encoding: .utf8)
        try Figures.plan(report.plan!).write(to: url.appendingPathComponent("plan.svg"), atomically: true, encoding: .utf8)
        try Figures.plan(ReportFixture.plan(reachable: false))
            .write(to: url.appendingPathComponent("plan-unreachable.svg"), atomically: true, encoding: .utf8)
        try ReportWriter.markdownSummary(report).write(to: url.appendingPathComponent("summary.md"), atomically: true, encoding: .utf8)
    }
}

@Suite struct AxisTests {
    @Test func logTicksAreDecades() {
        let major = Axis.logTicks(3e7, 2e10).filter(\.major)
        #expect(major.map(\.value) == [1e8, 1e9, 1e10])
        #expect(major.map(\.label) == ["1e8", "1e9", "1e10"])
        // Minor gridlines at 2..9 x each decade, inside the range only.
        let minor = Axis.logTicks(3e7, 2e10).filter { !$0.major }
        #expect(minor.first?.value == 3e7)
        #expect(minor.last?.value == 2e10)
        #expect(minor.allSatisfy { $0.label.isEmpty })
    }

    @Test func narrowLogRangesFallBackToMultiples() {
        #expect(Axis.logTicks(1.5e9, 8e9).filter(\.major).map(\.label) == ["2e9", "5e9"])
        #expect(Axis.logTicks(3.1e9, 4.9e9).filter(\.major).map(\.label) == ["3.5e9", "4e9", "4.5e9"])
        #expect(Axis.logTicks(0.3, 40).filter(\.major).map(\.label) == ["1", "10"])
        // Many decades: every other one labelled.
        let wide = Axis.logTicks(1, 1e12).filter(\.major).map(\.label)
        #expect(wide == ["1", "100", "1e4", "1e6", "1e8", "1e10", "1e12"])
    }

    @Test func linearTicksAreNiceAndClean() {
        #expect(Axis.linearTicks(2.13, 2.71).map(\.label) == ["2.2", "2.3", "2.4", "2.5", "2.6", "2.7"])
        #expect(Axis.linearTicks(0, 1).map(\.label) == ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"])
        #expect(Axis.linearTicks(-3, 17).map(\.value) == [0, 5, 10, 15])
        #expect(Axis.linearTicks(1e9, 5e9).map(\.label) == ["1e9", "2e9", "3e9", "4e9", "5e9"])
    }

    @Test func degenerateDomainsStillDraw() {
        let flat = Axis(.linear, label: "", spanning: [2, 2])
        #expect(flat.lower < 2 && flat.upper > 2)
        let empty = Axis(.log10, label: "", spanning: [0, -1, .nan])
        #expect(empty.lower == 1 && empty.upper == 10)
        #expect(empty.fraction(0) == nil)
    }

    @Test func formatsForPeople() {
        #expect(Format.significant(2.1e9, 3) == "2.1e9")
        #expect(Format.significant(1.5e-7, 3) == "1.5e-7")
        #expect(Format.significant(500, 6) == "500")
        #expect(Format.significant(-0.8, 6) == "-0.8")
        #expect(coord(12.5) == "12.5")
        #expect(coord(12.0) == "12")
        #expect(coord(3.14159) == "3.14")
    }
}
