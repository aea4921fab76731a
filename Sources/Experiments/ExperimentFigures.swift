import Foundation
import Reports
import ScalingLaw
import LossRecords

/// The run's own figures (the report's others come from `Reports.Figures`).
enum ExperimentFigures {
    /// Loss against post-training tokens for one pruning family: one colour per rate, one marker
    /// per base, the fitted law as a line along each run. The 0-token point (right after pruning)
    /// cannot sit on a log axis; the subtitle says so.
    static func curves(family: String, records: [LossRecord], fit: FitAnalysis?) -> String {
        let placed = records.filter { ($0.tokens ?? 0) > 0 && $0.loss.isFinite }
        let rates = Array(Set(placed.compactMap { $0.labels["rate"] })).sorted { (Double($0) ?? 0) < (Double($1) ?? 0) }
        let bases = uniqued(placed.compactMap { $0.labels["base"] })
        let runs = uniqued(placed.map(\.run))
        var curves: [(run: String, points: [ChartPoint])] = []
        if let fit {
            let params = fit.result.parameterVector
            for run in runs {
                let rs = placed.filter { $0.run == run }
                guard let first = rs.first, let lo = rs.compactMap(\.tokens).min(), let hi = rs.compactMap(\.tokens).max(), hi > lo else { continue }
                let grid = (0..<48).map { lo * Foundation.pow(hi / lo, Double($0) / 47) }
                let pts = grid.map { ChartPoint($0, fit.law.value(params, at: first.point.with(.tokens, $0))) }.filter { $0.y.isFinite }
                curves.append((run, pts))
            }
        }
        let xs = placed.compactMap(\.tokens), ys = placed.map(\.loss) + curves.flatMap { $0.points.map(\.y) }
        guard !xs.isEmpty else {
            var chart = SVGChart(title: "\(family): no post-training points", x: Axis(.log10, label: "post-training tokens", lower: 1, upper: 10),
                                 y: Axis(.linear, label: "eval loss", lower: 0, upper: 1))
            chart.notice = ("no evaluations to draw", nil)
            return chart.render()
        }
        let r2 = fit.flatMap { $0.result.metrics.r2 }.map { String(format: "%.4f", $0) } ?? "n/a"
        var chart = SVGChart(title: "\(family): eval loss vs post-training tokens",
                             subtitle: (fit.map { "\($0.law.name) fitted in sample, R² \(r2); " } ?? "no law fitted; ")
                                + "the loss right after pruning (0 tokens) is not drawn on the log axis",
                             x: Axis(.log10, label: "post-training tokens", spanning: xs), y: Axis(.linear, label: "eval loss (nats/token)", spanning: ys))
        func color(_ rate: String?) -> String { Palette.color(rates.firstIndex(of: rate ?? "") ?? 0) }
        let shapes = MarkerShape.allCases
        for c in curves {
            let rate = placed.first { $0.run == c.run }?.labels["rate"]
            chart.line(c.points, Stroke(color(rate), width: 1.5, opacity: 0.85), attributes: [("class", "curve"), ("data-run", c.run)])
        }
        for run in runs {
            let rs = placed.filter { $0.run == run }
            let base = rs.first?.labels["base"] ?? ""
            chart.scatter(rs.map { ChartPoint($0.tokens!, $0.loss) }, shape: shapes[(bases.firstIndex(of: base) ?? 0) % shapes.count],
                          fill: .filled, color: color(rs.first?.labels["rate"]), radius: 3.5, attributes: [("class", "point"), ("data-run", run)])
        }
        for rate in rates { chart.legend.append(LegendEntry("rate \(rate)", .line(Stroke(color(rate), width: 2)))) }
        for (i, base) in bases.enumerated() { chart.legend.append(LegendEntry("base \(base)", .marker(shapes[i % shapes.count], .filled, Palette.grey))) }
        return chart.render()
    }
}

/// The distinct values in order of first appearance.
func uniqued(_ values: [String]) -> [String] {
    var seen = Set<String>()
    return values.filter { seen.insert($0).inserted }
}
