import Foundation
import ScalingLaw
import LossRecords

/// The report's figures, as SVG text.
public enum Figures {
    /// Runs beyond this many share the legend's last line ("+k more runs"); their data is still drawn.
    static let legendRuns = 12
    /// Points per fitted curve: smooth at 800 px without bloating the file.
    static let curvePoints = 64

    /// Loss against post-training tokens (log x), one colour per run: observed checkpoints as
    /// markers (held-out ones hollow) and the fitted law evaluated along each run's token range.
    public static func lossVersusTokens(_ report: FitReport) -> String {
        let params = report.fit.parameterVector
        let runs = groupedByRun(report.rows)

        var curves: [(run: String, points: [ChartPoint])] = []
        for (run, rows) in runs {
            // Excluded records are ones the law cannot use; they do not set the curve's range.
            let usable = rows.filter { $0.role != .excluded && placeable($0.record.tokens) }
            guard let first = usable.first else { curves.append((run, [])); continue }
            let tokens = usable.compactMap(\.record.tokens)
            let grid = logSpaced(tokens.min()!, tokens.max()!, count: curvePoints)
            let base = first.record.point
            curves.append((run, grid.map { ChartPoint($0, report.law.value(params, at: base.with(.tokens, $0))) }))
        }

        let observed = report.rows.filter { placeable($0.record.tokens) && $0.record.loss.isFinite }
        let curveValues = curves.flatMap(\.points)
        let x = Axis(.log10, label: "post-training tokens",
                     spanning: observed.compactMap(\.record.tokens) + curveValues.map(\.x))
        let y = Axis(.linear, label: "loss", spanning: observed.map(\.record.loss) + curveValues.map(\.y).filter(\.isFinite))

        let m = report.fit.metrics
        var subtitle = "Fitted on \(m.count) records: R² \(Format.metric(m.r2, 4)), RMSE \(Format.metric(m.rmse, 3))"
        if let h = report.fit.holdoutMetrics {
            let proto = report.fit.holdout.map { ", \($0)" } ?? ""
            subtitle += "\nHeld out (\(h.count) records\(proto)): R² \(Format.metric(h.r2, 4)), RMSE \(Format.metric(h.rmse, 3))"
        }
        var chart = SVGChart(title: "\(report.law.name) law: loss vs tokens (R² = \(Format.metric(m.r2, 4)))",
                             subtitle: subtitle, x: x, y: y)

        for (i, curve) in curves.enumerated() where !curve.points.isEmpty {
            chart.line(curve.points, Stroke(Palette.color(i), width: 1.8, opacity: 0.9),
                       attributes: [("class", "curve"), ("data-run", curve.run)])
        }
        // Fitted points first so held-out ones (the interesting ones) sit on top.
        for role in [RecordRole.fit, .excluded, .holdout] {
            for (i, (run, rows)) in runs.enumerated() {
                let points = rows.filter { $0.role == role && placeable($0.record.tokens) && $0.record.loss.isFinite }
                    .map { ChartPoint($0.record.tokens!, $0.record.loss) }
                guard !points.isEmpty else { continue }
                let color = role == .excluded ? Palette.grey : Palette.color(i)
                chart.scatter(points, shape: role == .excluded ? .diamond : shape(i), fill: role == .fit ? .filled : .hollow,
                              color: color, radius: role == .excluded ? 3.5 : 4,
                              attributes: [("class", "point \(role.rawValue)"), ("data-run", run)])
            }
        }

        for (i, (run, _)) in runs.prefix(legendRuns).enumerated() {
            chart.legend.append(LegendEntry(run, .lineAndMarker(Stroke(Palette.color(i), width: 2), shape(i))))
        }
        if runs.count > legendRuns {
            chart.legend.append(LegendEntry("+\(runs.count - legendRuns) more runs", .none))
        }
        chart.legend.append(LegendEntry("fitted law", .line(Stroke(Palette.grey, width: 1.8))))
        let roles = Set(observed.map(\.role))
        if roles.contains(.holdout) {
            chart.legend.append(LegendEntry("used in fit", .marker(.circle, .filled, Palette.grey)))
            chart.legend.append(LegendEntry("held out", .marker(.circle, .hollow, Palette.grey)))
        }
        if roles.contains(.excluded) {
            chart.legend.append(LegendEntry("excluded", .marker(.diamond, .hollow, Palette.grey)))
        }
        return chart.render()
    }

    /// The law's value against the observed loss for every record it could evaluate, on equal axes
    /// with the line y = x.
    public static func predictedVersusObserved(_ report: FitReport) -> String {
        let rows = report.rows.filter { $0.role != .excluded && $0.record.loss.isFinite && $0.fitted.isFinite }
        let values = rows.flatMap { [$0.record.loss, $0.fitted] }
        let probe = Axis(.linear, label: "", spanning: values, padding: 0.05)
        let x = Axis(.linear, label: "observed loss", lower: probe.lower, upper: probe.upper)
        let y = Axis(.linear, label: "predicted loss", lower: probe.lower, upper: probe.upper)

        let m = report.fit.metrics
        var title = "Predicted vs observed loss (RMSE \(Format.metric(m.rmse, 3))"
        if let h = report.fit.holdoutMetrics { title += ", held out \(Format.metric(h.rmse, 3))" }
        title += ")"
        var subtitle = "Fitted on \(m.count) records: R² \(Format.metric(m.r2, 4))"
        if let h = report.fit.holdoutMetrics {
            subtitle += " · held out (\(h.count) records\(report.fit.holdout.map { ", \($0)" } ?? "")): R² \(Format.metric(h.r2, 4))"
        }
        subtitle += "\nPoints on the dashed line are predicted exactly; above it, the law predicts too high a loss."
        var chart = SVGChart(title: title, subtitle: subtitle, x: x, y: y)
        chart.equalAspect = true

        chart.line([ChartPoint(probe.lower, probe.lower), ChartPoint(probe.upper, probe.upper)],
                   Stroke(Palette.grey, width: 1.2, dash: "6 4"), attributes: [("class", "diagonal")])
        let fit = rows.filter { $0.role == .fit }.map { ChartPoint($0.record.loss, $0.fitted) }
        let held = rows.filter { $0.role == .holdout }.map { ChartPoint($0.record.loss, $0.fitted) }
        chart.scatter(fit, fill: .filled, color: Palette.blue, attributes: [("class", "point fit")])
        chart.scatter(held, fill: .hollow, color: Palette.vermillion, attributes: [("class", "point holdout")])

        chart.legend.append(LegendEntry("fitted (\(fit.count))", .marker(.circle, .filled, Palette.blue)))
        if !held.isEmpty {
            chart.legend.append(LegendEntry("held out (\(held.count))", .marker(.circle, .hollow, Palette.vermillion)))
        }
        chart.legend.append(LegendEntry("y = x", .line(Stroke(Palette.grey, width: 1.2, dash: "6 4"))))
        return chart.render()
    }

    /// The planner's curve at the target model with its interval, the budget (with its interval as
    /// a shaded strip), the target loss when the criterion names one, and the law's floor.
    public static func plan(_ plan: PlanResult) -> String {
        let curve = plan.curve.filter { placeable($0.tokens) && $0.loss.isFinite }
        let budget = plan.tokens.flatMap { placeable($0) ? $0 : nil }
        let interval = plan.interval.flatMap { $0.count == 2 && $0.allSatisfy(placeable) ? $0 : nil }
        let target = plan.targetLoss

        let x = Axis(.log10, label: "post-training tokens",
                     spanning: curve.map(\.tokens) + [budget].compactMap { $0 } + (interval ?? []))
        var lossValues = curve.map(\.loss) + curve.compactMap(\.lower) + curve.compactMap(\.upper)
        lossValues += [target, plan.lossAtBudget].compactMap { $0 }
        // A floor far below the curve (a fit that cannot pin its constant term) would squash the
        // curve into a line; it is drawn only when within the curve's own span of it.
        let shown = lossValues.filter(\.isFinite)
        let span = (shown.max() ?? 0) - (shown.min() ?? 0)
        let floorOnChart = plan.floor.isFinite && plan.floor >= (shown.min() ?? plan.floor) - max(span, 1e-9)
        if floorOnChart { lossValues.append(plan.floor) }
        let y = Axis(.linear, label: "loss", spanning: lossValues.filter(\.isFinite), padding: 0.06)

        var subtitle = [describe(plan.target), plan.message].filter { !$0.isEmpty }.joined(separator: "\n")
        if !plan.extrapolation.isEmpty {
            subtitle += "\nExtrapolating: " + plan.extrapolation.joined(separator: "; ")
        }
        var chart = SVGChart(title: "Token budget: \(plan.criterion)", subtitle: subtitle, x: x, y: y)

        if let interval {
            chart.verticalBand(from: interval[0], to: interval[1], color: Palette.orange, opacity: 0.18,
                               attributes: [("class", "budget-interval")])
        }
        let banded = curve.filter { $0.lower?.isFinite == true && $0.upper?.isFinite == true }
        if banded.count >= 2 {
            chart.band(upper: banded.map { ChartPoint($0.tokens, $0.upper!) }, lower: banded.map { ChartPoint($0.tokens, $0.lower!) },
                       color: Palette.blue, opacity: 0.18, attributes: [("class", "curve-interval")])
        }
        if floorOnChart {
            chart.horizontalLine(at: plan.floor, Stroke(Palette.grey, width: 1.4, dash: "6 4"),
                                 label: "floor \(Format.significant(plan.floor, 4))", labelLeading: true, attributes: [("class", "floor")])
        }
        if let target, target.isFinite {
            chart.horizontalLine(at: target, Stroke(Palette.green, width: 1.6, dash: "2 3"),
                                 label: "target \(Format.significant(target, 4))", labelLeading: true, attributes: [("class", "target")])
        }
        chart.line(curve.map { ChartPoint($0.tokens, $0.loss) }, Stroke(Palette.blue, width: 2.2), attributes: [("class", "curve")])
        if let budget {
            chart.verticalLine(at: budget, Stroke(Palette.vermillion, width: 2),
                               label: "budget \(Format.significant(budget, 3)) tokens", attributes: [("class", "budget")])
            if let l = plan.lossAtBudget, l.isFinite {
                chart.scatter([ChartPoint(budget, l)], color: Palette.vermillion, radius: 5, attributes: [("class", "budget-point")])
            }
        }

        chart.legend.append(LegendEntry("law at target", .line(Stroke(Palette.blue, width: 2.2))))
        if banded.count >= 2 { chart.legend.append(LegendEntry("curve interval", .band(Palette.blue, opacity: 0.18))) }
        if budget != nil { chart.legend.append(LegendEntry("budget", .line(Stroke(Palette.vermillion, width: 2)))) }
        if interval != nil { chart.legend.append(LegendEntry("budget interval", .band(Palette.orange, opacity: 0.25))) }
        if target != nil { chart.legend.append(LegendEntry("target loss", .line(Stroke(Palette.green, width: 1.6, dash: "2 3")))) }
        if floorOnChart {
            chart.legend.append(LegendEntry("floor L(D→∞)", .line(Stroke(Palette.grey, width: 1.4, dash: "6 4"))))
        } else if plan.floor.isFinite {
            chart.legend.append(LegendEntry("floor \(Format.significant(plan.floor, 4)), off the chart", .none))
        }

        if !plan.reachable || budget == nil {
            chart.notice = ("Not reachable", "The fitted law never meets the criterion: \(plan.criterion).")
        } else if curve.isEmpty {
            chart.notice = ("No curve", "The plan carries no points of the law's curve to draw.")
        }
        return chart.render()
    }

    // MARK: Helpers

    static func placeable(_ tokens: Double?) -> Bool {
        guard let t = tokens else { return false }
        return t.isFinite && t > 0
    }

    static func shape(_ runIndex: Int) -> MarkerShape {
        // Colours repeat after the palette runs out; the shape changes so runs stay distinguishable.
        MarkerShape.allCases[(runIndex / Palette.series.count) % MarkerShape.allCases.count]
    }

    /// Rows by run, runs in order of first appearance.
    static func groupedByRun(_ rows: [PredictionRow]) -> [(run: String, rows: [PredictionRow])] {
        var order: [String] = []
        var groups: [String: [PredictionRow]] = [:]
        for r in rows {
            if groups[r.record.run] == nil { order.append(r.record.run) }
            groups[r.record.run, default: []].append(r)
        }
        return order.map { ($0, groups[$0]!) }
    }

    static func logSpaced(_ lo: Double, _ hi: Double, count: Int) -> [Double] {
        guard lo < hi, count >= 2 else { return [lo] }
        let a = Foundation.log(lo), b = Foundation.log(hi)
        // Pin the ends exactly so the curve starts and stops at the run's first and last checkpoints.
        return (0..<count).map { i in i == 0 ? lo : i == count - 1 ? hi : Foundation.exp(a + (b - a) * Double(i) / Double(count - 1)) }
    }

    static func describe(_ t: PlanTarget) -> String {
        let parts: [(String, Double?)] = [("n0", t.n0), ("n", t.n), ("rho", t.rho), ("loss0", t.loss0)]
        let shown = parts.compactMap { name, v in v.map { "\(name) = \(Format.significant($0, 4))" } }
        return shown.isEmpty ? "" : "Target: " + shown.joined(separator: ", ")
    }
}
