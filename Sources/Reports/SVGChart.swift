import Foundation

// A small chart layer that writes SVG text: enough for the report's scatter-and-curve figures,
// with no dependency and output that is stable byte for byte (tests and diffs can rely on it).

/// Okabe & Ito's colour-blind-safe palette.
public enum Palette {
    /// Series colours in the order they are handed out. Yellow (#F0E442) is left out: as a thin
    /// line or small marker on white it is nearly invisible.
    public static let series = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]
    public static let blue = "#0072B2"
    public static let vermillion = "#D55E00"
    public static let green = "#009E73"
    public static let purple = "#CC79A7"
    public static let orange = "#E69F00"
    public static let sky = "#56B4E9"
    public static let grey = "#6E6E6E"

    public static func color(_ index: Int) -> String { series[index % series.count] }
}

public enum AxisScale: Sendable, Equatable {
    case linear
    case log10
}

public struct Tick: Sendable, Equatable {
    public var value: Double
    /// Empty for minor ticks, which only draw a faint gridline.
    public var label: String
    public var major: Bool
    public init(value: Double, label: String, major: Bool = true) {
        self.value = value
        self.label = label
        self.major = major
    }
}

/// One axis: a scale, a domain and a title.
public struct Axis: Sendable {
    public var scale: AxisScale
    public var lower: Double
    public var upper: Double
    public var label: String

    /// An axis over exactly `[lower, upper]`.
    public init(_ scale: AxisScale = .linear, label: String, lower: Double, upper: Double) {
        self.scale = scale
        self.label = label
        (self.lower, self.upper) = Axis.sanitised(scale, lower, upper)
    }

    /// An axis spanning `values` (non-placeable ones ignored), widened by `padding` of the span on
    /// each side (in log space for log axes) so markers at the extremes are not cut by the frame.
    public init(_ scale: AxisScale = .linear, label: String, spanning values: [Double], padding: Double = 0.04) {
        let usable = values.filter { $0.isFinite && (scale == .linear || $0 > 0) }
        var lo = usable.min() ?? .nan
        var hi = usable.max() ?? .nan
        if lo.isFinite, hi.isFinite {
            switch scale {
            case .linear:
                let pad = (hi - lo) * padding
                lo -= pad
                hi += pad
            case .log10:
                let pad = (Foundation.log10(hi) - Foundation.log10(lo)) * padding
                lo = Foundation.pow(10, Foundation.log10(lo) - pad)
                hi = Foundation.pow(10, Foundation.log10(hi) + pad)
            }
        }
        self.init(scale, label: label, lower: lo, upper: hi)
    }

    /// A usable domain even from empty or degenerate data.
    private static func sanitised(_ scale: AxisScale, _ lo: Double, _ hi: Double) -> (Double, Double) {
        switch scale {
        case .linear:
            guard lo.isFinite, hi.isFinite else { return (0, 1) }
            if lo < hi { return (lo, hi) }
            let half = lo == 0 ? 1 : Swift.abs(lo) * 0.05
            return (lo - half, lo + half)
        case .log10:
            guard lo.isFinite, hi.isFinite, lo > 0, hi > 0 else { return (1, 10) }
            if lo < hi { return (lo, hi) }
            return (lo / 2, lo * 2)
        }
    }

    /// Where `v` falls along the axis, 0 at `lower` and 1 at `upper`; nil if it cannot be placed
    /// (not finite, or not positive on a log axis).
    public func fraction(_ v: Double) -> Double? {
        guard v.isFinite else { return nil }
        switch scale {
        case .linear:
            return (v - lower) / (upper - lower)
        case .log10:
            guard v > 0 else { return nil }
            return (Foundation.log10(v) - Foundation.log10(lower)) / (Foundation.log10(upper) - Foundation.log10(lower))
        }
    }

    public var ticks: [Tick] {
        switch scale {
        case .linear: Axis.linearTicks(lower, upper)
        case .log10: Axis.logTicks(lower, upper)
        }
    }

    /// "Nice" ticks (steps of 1, 2 or 5 times a power of ten) inside `[lo, hi]`, about `target` of them.
    public static func linearTicks(_ lo: Double, _ hi: Double, target: Int = 6) -> [Tick] {
        guard lo.isFinite, hi.isFinite, lo < hi else { return [] }
        let step = niceStep((hi - lo) / Double(max(target - 1, 1)))
        let first = (lo / step).rounded(.up)
        let last = (hi / step).rounded(.down)
        guard first <= last else { return [] }
        // Multiply an integer count by the step rather than accumulating, so 0.1 + 0.2 drift never shows.
        return stride(from: first, through: last, by: 1).map { k in
            let v = k * step
            return Tick(value: v == 0 ? 0 : v, label: label(v, step: step))
        }
    }

    /// Ticks for a log axis. Wide ranges get one labelled tick per decade (every k-th decade when
    /// there are too many), labelled `1e8`, `1e9`, ...; the multiples between are faint minor
    /// gridlines. Ranges too narrow for two decades are labelled at 1-2-5 multiples, then at every
    /// integer multiple, and failing that at linear nice steps.
    public static func logTicks(_ lo: Double, _ hi: Double) -> [Tick] {
        guard lo.isFinite, hi.isFinite, lo > 0, lo < hi else { return [] }
        let kLo = Int(Foundation.log10(lo).rounded(.down))
        let kHi = Int(Foundation.log10(hi).rounded(.up))
        // Tolerate rounding in pow(10, k) when the bounds are exactly decades.
        let inside = { (v: Double) in v >= lo * (1 - 1e-12) && v <= hi * (1 + 1e-12) }
        let decades = (kLo...kHi).map { (k: $0, v: Foundation.pow(10, Double($0))) }.filter { inside($0.v) }

        if decades.count >= 2 {
            let every = max(1, Int((Double(decades.count) / 7).rounded(.up)))
            var ticks: [Tick] = []
            for (i, d) in decades.enumerated() {
                if i % every == 0 {
                    ticks.append(Tick(value: d.v, label: decadeLabel(mantissa: 1, exponent: d.k)))
                } else {
                    ticks.append(Tick(value: d.v, label: "", major: false))
                }
            }
            if every == 1 {
                for k in kLo...kHi {
                    for m in 2...9 {
                        let v = Double(m) * Foundation.pow(10, Double(k))
                        if inside(v) { ticks.append(Tick(value: v, label: "", major: false)) }
                    }
                }
            }
            return ticks.sorted { $0.value < $1.value }
        }

        for mantissas in [[1, 2, 5], Array(1...9)] {
            var ticks: [Tick] = []
            for k in kLo...kHi {
                for m in 1...9 {
                    let v = Double(m) * Foundation.pow(10, Double(k))
                    guard inside(v) else { continue }
                    let major = mantissas.contains(m)
                    ticks.append(Tick(value: v, label: major ? decadeLabel(mantissa: m, exponent: k) : "", major: major))
                }
            }
            if ticks.filter(\.major).count >= 2 { return ticks }
        }
        return linearTicks(lo, hi, target: 4)
    }

    /// `m`e`k`, except that small powers read better written out (0.5, 20).
    static func decadeLabel(mantissa m: Int, exponent k: Int) -> String {
        if (-2...2).contains(k) { return Format.significant(Double(m) * Foundation.pow(10, Double(k)), 3) }
        return "\(m)e\(k)"
    }

    static func niceStep(_ raw: Double) -> Double {
        let power = Foundation.pow(10, Foundation.log10(raw).rounded(.down))
        let f = raw / power
        let nice: Double = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10
        return nice * power
    }

    /// As many decimals as the step needs, so neighbouring labels differ and none shows float noise.
    static func label(_ v: Double, step: Double) -> String {
        let magnitude = max(Swift.abs(v), step)
        if magnitude >= 1e5 || magnitude < 1e-3 {
            let digits = max(1, Int(Foundation.log10(magnitude / step).rounded(.down)) + 2)
            return Format.significant(v, digits)
        }
        let decimals = max(0, -Int(Foundation.log10(step).rounded(.down)))
        return String(format: "%.\(decimals)f", v == 0 ? 0 : v)
    }
}

public struct ChartPoint: Sendable, Equatable {
    public var x: Double
    public var y: Double
    public init(_ x: Double, _ y: Double) {
        self.x = x
        self.y = y
    }
}

public enum MarkerShape: Sendable, CaseIterable {
    case circle, square, triangle, diamond
}

public enum MarkerFill: Sendable {
    case filled
    /// White inside, coloured outline.
    case hollow
}

public struct Stroke: Sendable {
    public var color: String
    public var width: Double
    /// `stroke-dasharray`, e.g. "6 4"; nil for solid.
    public var dash: String?
    public var opacity: Double
    public init(_ color: String, width: Double = 2, dash: String? = nil, opacity: Double = 1) {
        self.color = color
        self.width = width
        self.dash = dash
        self.opacity = opacity
    }
}

public struct LegendEntry: Sendable {
    public enum Swatch: Sendable {
        case line(Stroke)
        case marker(MarkerShape, MarkerFill, String)
        case lineAndMarker(Stroke, MarkerShape)
        case band(String, opacity: Double)
        /// Text only, e.g. "+3 more runs".
        case none
    }
    public var label: String
    public var swatch: Swatch
    public init(_ label: String, _ swatch: Swatch) {
        self.label = label
        self.swatch = swatch
    }
}

/// A chart: two axes, marks drawn in data coordinates and clipped to the plot area, a legend to
/// the right of the plot, and a title with an optional wrapped subtitle.
public struct SVGChart: Sendable {
    public var width: Double = 800
    public var height: Double = 500
    public var title: String
    /// Wrapped to the chart's width; `\n` starts a new paragraph.
    public var subtitle: String?
    public var x: Axis
    public var y: Axis
    /// Square plot area with equal data ranges reading the same length (predicted vs observed).
    public var equalAspect = false
    public var legend: [LegendEntry] = []
    /// A last legend line in italics, e.g. "+3 more runs".
    public var legendFootnote: String?
    /// A boxed message in the plot's top-right corner (e.g. why a plan has no budget): a bold
    /// headline and optional detail lines.
    public var notice: (headline: String, detail: String?)?

    private var marks: [Mark] = []

    private enum Mark: Sendable {
        case path([ChartPoint], Stroke, Attributes)
        case markers([ChartPoint], MarkerShape, MarkerFill, String, radius: Double, Attributes)
        case band(upper: [ChartPoint], lower: [ChartPoint], color: String, opacity: Double, Attributes)
        case xBand(Double, Double, color: String, opacity: Double, Attributes)
        case hRule(Double, Stroke, label: String?, leading: Bool, Attributes)
        case vRule(Double, Stroke, label: String?, Attributes)
    }

    /// Extra attributes for a mark (class, data-*), so tests and stylesheets can find it.
    public typealias Attributes = [(String, String)]

    public init(title: String, subtitle: String? = nil, x: Axis, y: Axis) {
        self.title = title
        self.subtitle = subtitle
        self.x = x
        self.y = y
    }

    // MARK: Marks

    /// A connected line; non-placeable points break it into separate pieces (one element still).
    public mutating func line(_ points: [ChartPoint], _ stroke: Stroke, attributes: Attributes = []) {
        marks.append(.path(points, stroke, attributes))
    }

    /// One marker element per placeable point.
    public mutating func scatter(_ points: [ChartPoint], shape: MarkerShape = .circle, fill: MarkerFill = .filled,
                                 color: String, radius: Double = 4, attributes: Attributes = []) {
        marks.append(.markers(points, shape, fill, color, radius: radius, attributes))
    }

    /// The region between two curves sampled at the same x values.
    public mutating func band(upper: [ChartPoint], lower: [ChartPoint], color: String, opacity: Double = 0.2,
                              attributes: Attributes = []) {
        marks.append(.band(upper: upper, lower: lower, color: color, opacity: opacity, attributes))
    }

    /// A full-height shaded strip between two x values.
    public mutating func verticalBand(from x0: Double, to x1: Double, color: String, opacity: Double = 0.15,
                                      attributes: Attributes = []) {
        marks.append(.xBand(x0, x1, color: color, opacity: opacity, attributes))
    }

    /// A full-width line; its label sits at the right end, or the left with `labelLeading`
    /// (where a falling curve is far from a low line).
    public mutating func horizontalLine(at y: Double, _ stroke: Stroke, label: String? = nil, labelLeading: Bool = false,
                                        attributes: Attributes = []) {
        marks.append(.hRule(y, stroke, label: label, leading: labelLeading, attributes))
    }

    public mutating func verticalLine(at x: Double, _ stroke: Stroke, label: String? = nil, attributes: Attributes = []) {
        marks.append(.vRule(x, stroke, label: label, attributes))
    }

    // MARK: Layout

    static let fontFamily = "DejaVu Sans, Helvetica, Arial, sans-serif"
    static let titleSize = 17.0
    static let subtitleSize = 13.0
    static let tickSize = 12.0
    static let axisLabelSize = 13.5
    static let legendSize = 12.5
    static let legendRow = 19.0
    static let legendMaxLabel = 26

    /// A conservative width estimate: DejaVu Sans averages a little under 0.6 em per glyph.
    static func textWidth(_ s: String, size: Double) -> Double { Double(s.count) * size * 0.6 }

    /// Greedy word wrap against the width estimate.
    static func wrap(_ text: String, width: Double, size: Double) -> [String] {
        var lines: [String] = []
        for paragraph in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = ""
            for word in paragraph.split(separator: " ") {
                let candidate = line.isEmpty ? String(word) : line + " " + word
                if textWidth(candidate, size: size) > width, !line.isEmpty {
                    lines.append(line)
                    line = String(word)
                } else {
                    line = candidate
                }
            }
            if !line.isEmpty { lines.append(line) }
        }
        return lines
    }

    static func truncated(_ s: String, _ limit: Int) -> String {
        s.count <= limit ? s : String(s.prefix(limit - 1)) + "…"
    }

    private struct Frame {
        var left, top, width, height: Double
        var right: Double { left + width }
        var bottom: Double { top + height }
    }

    // MARK: Rendering

    public func render() -> String {
        let subtitleLines = subtitle.map { Self.wrap($0, width: width - 40, size: Self.subtitleSize) } ?? []
        let top = 38 + Double(subtitleLines.count) * (Self.subtitleSize + 4) + 16

        let yTicks = y.ticks
        let yLabelWidth = yTicks.filter(\.major).map { Self.textWidth($0.label, size: Self.tickSize) }.max() ?? 20
        let left = 22 + Self.axisLabelSize + 8 + yLabelWidth + 8
        let bottom = 62.0

        let legendLabels = legend.map { Self.truncated($0.label, Self.legendMaxLabel) } + (legendFootnote.map { [$0] } ?? [])
        let legendWidth = legendLabels.isEmpty ? 0 : 34 + (legendLabels.map { Self.textWidth($0, size: Self.legendSize) }.max() ?? 0)
        let right = legendLabels.isEmpty ? 24 : 22 + legendWidth + 16

        var frame = Frame(left: left, top: top, width: width - left - right, height: height - top - bottom)
        if equalAspect {
            let side = min(frame.width, frame.height)
            // Centre the plot-and-legend block rather than leaving all the slack on one side.
            frame.left += (frame.width - side) / 2
            frame.width = side
            frame.height = side
        }

        var svg = SVGWriter(width: width, height: height)
        svg.element("title", title)
        svg.open("g", [("font-family", Self.fontFamily)])
        svg.leaf("rect", [("width", "100%"), ("height", "100%"), ("fill", "white")])
        svg.open("defs")
        svg.open("clipPath", [("id", "plot-area")])
        svg.leaf("rect", [("x", coord(frame.left)), ("y", coord(frame.top)), ("width", coord(frame.width)), ("height", coord(frame.height))])
        svg.close("clipPath")
        svg.close("defs")

        renderTitle(&svg, subtitleLines)
        renderGrid(&svg, frame, yTicks)
        svg.open("g", [("class", "marks"), ("clip-path", "url(#plot-area)")])
        for mark in marks { render(mark, &svg, frame) }
        svg.close("g")
        renderRuleLabels(&svg, frame)
        renderAxes(&svg, frame, yTicks)
        if !legendLabels.isEmpty { renderLegend(&svg, frame) }
        if let notice { renderNotice(&svg, frame, notice.headline, notice.detail) }
        svg.close("g")
        return svg.finish()
    }

    private func renderNotice(_ svg: inout SVGWriter, _ f: Frame, _ headline: String, _ detail: String?) {
        let boxWidth = min(f.width * 0.55, 340)
        let lines = detail.map { Self.wrap($0, width: boxWidth - 24, size: 12.5) } ?? []
        let width = min(boxWidth, 24 + max(Self.textWidth(headline, size: 15) * 1.05,
                                           lines.map { Self.textWidth($0, size: 12.5) }.max() ?? 0))
        let height = 16 + 18 + Double(lines.count) * 17 + 4
        let x0 = f.right - 14 - width
        let y0 = f.top + 14
        svg.open("g", [("class", "notice")])
        svg.leaf("rect", [("x", coord(x0)), ("y", coord(y0)), ("width", coord(width)), ("height", coord(height)), ("rx", "4"),
                          ("fill", "white"), ("fill-opacity", "0.92"), ("stroke", Palette.vermillion), ("stroke-width", "1.5")])
        svg.text(headline, [("x", coord(x0 + 12)), ("y", coord(y0 + 26)), ("font-size", "15"), ("font-weight", "bold"),
                            ("fill", Palette.vermillion), ("class", "notice-headline")])
        for (i, line) in lines.enumerated() {
            svg.text(line, [("x", coord(x0 + 12)), ("y", coord(y0 + 26 + 18 + Double(i) * 17)), ("font-size", "12.5"),
                            ("fill", "#333333")])
        }
        svg.close("g")
    }

    /// A white outline behind text drawn over data, so it stays readable.
    static let halo: Attributes = [("stroke", "white"), ("stroke-width", "4"), ("paint-order", "stroke"), ("stroke-linejoin", "round")]

    private func renderTitle(_ svg: inout SVGWriter, _ subtitleLines: [String]) {
        svg.text(title, [("x", "20"), ("y", "30"), ("font-size", coord(Self.titleSize)), ("font-weight", "bold"),
                         ("fill", "#222222"), ("class", "title")])
        for (i, line) in subtitleLines.enumerated() {
            svg.text(line, [("x", "20"), ("y", coord(30 + 22 + Double(i) * (Self.subtitleSize + 4))),
                            ("font-size", coord(Self.subtitleSize)), ("fill", "#444444"), ("class", "subtitle")])
        }
    }

    /// Drops labels that would collide with their neighbours (keeps every k-th).
    private static func thinned(_ ticks: [Tick], pixel: (Double) -> Double, extent: (Tick) -> Double) -> [Tick] {
        let major = ticks.filter(\.major)
        guard major.count > 2 else { return major }
        for every in 1...major.count {
            let kept = stride(from: 0, to: major.count, by: every).map { major[$0] }
            let fits = zip(kept, kept.dropFirst()).allSatisfy { a, b in
                Swift.abs(pixel(b.value) - pixel(a.value)) >= (extent(a) + extent(b)) / 2 + 10
            }
            if fits { return kept }
        }
        return [major[0]]
    }

    private func px(_ v: Double, _ f: Frame) -> Double? { x.fraction(v).map { f.left + $0 * f.width } }
    private func py(_ v: Double, _ f: Frame) -> Double? { y.fraction(v).map { f.bottom - $0 * f.height } }

    private func renderGrid(_ svg: inout SVGWriter, _ f: Frame, _ yTicks: [Tick]) {
        svg.open("g", [("class", "grid"), ("fill", "none")])
        for t in x.ticks {
            guard let p = px(t.value, f) else { continue }
            svg.leaf("line", [("x1", coord(p)), ("y1", coord(f.top)), ("x2", coord(p)), ("y2", coord(f.bottom)),
                              ("stroke", t.major ? "#DADADA" : "#EFEFEF"), ("stroke-width", "1")])
        }
        for t in yTicks {
            guard let p = py(t.value, f) else { continue }
            svg.leaf("line", [("x1", coord(f.left)), ("y1", coord(p)), ("x2", coord(f.right)), ("y2", coord(p)),
                              ("stroke", t.major ? "#DADADA" : "#EFEFEF"), ("stroke-width", "1")])
        }
        svg.close("g")
    }

    private func renderAxes(_ svg: inout SVGWriter, _ f: Frame, _ yTicks: [Tick]) {
        svg.open("g", [("class", "axes"), ("fill", "#333333"), ("font-size", coord(Self.tickSize))])
        svg.leaf("rect", [("x", coord(f.left)), ("y", coord(f.top)), ("width", coord(f.width)), ("height", coord(f.height)),
                          ("fill", "none"), ("stroke", "#9A9A9A"), ("stroke-width", "1")])
        let xLabels = Self.thinned(x.ticks, pixel: { f.left + (x.fraction($0) ?? 0) * f.width },
                                   extent: { Self.textWidth($0.label, size: Self.tickSize) })
        for t in xLabels {
            guard let p = px(t.value, f) else { continue }
            svg.leaf("line", [("x1", coord(p)), ("y1", coord(f.bottom)), ("x2", coord(p)), ("y2", coord(f.bottom + 5)), ("stroke", "#9A9A9A")])
            svg.text(t.label, [("x", coord(p)), ("y", coord(f.bottom + 20)), ("text-anchor", "middle"), ("class", "tick x")])
        }
        let yLabels = Self.thinned(yTicks, pixel: { f.bottom - (y.fraction($0) ?? 0) * f.height }, extent: { _ in Self.tickSize })
        for t in yLabels {
            guard let p = py(t.value, f) else { continue }
            svg.leaf("line", [("x1", coord(f.left - 5)), ("y1", coord(p)), ("x2", coord(f.left)), ("y2", coord(p)), ("stroke", "#9A9A9A")])
            svg.text(t.label, [("x", coord(f.left - 9)), ("y", coord(p + Self.tickSize * 0.35)), ("text-anchor", "end"), ("class", "tick y")])
        }
        svg.text(x.label, [("x", coord(f.left + f.width / 2)), ("y", coord(f.bottom + 46)), ("text-anchor", "middle"),
                           ("font-size", coord(Self.axisLabelSize)), ("class", "axis-label x")])
        let yMid = f.top + f.height / 2
        // Beside the widest tick label, not at the canvas edge: an equal-aspect plot is inset.
        let yWidest = yLabels.map { Self.textWidth($0.label, size: Self.tickSize) }.max() ?? 0
        svg.text(y.label, [("x", "0"), ("y", "0"), ("text-anchor", "middle"), ("font-size", coord(Self.axisLabelSize)),
                           ("transform", "translate(\(coord(f.left - 9 - yWidest - 12)),\(coord(yMid))) rotate(-90)"),
                           ("class", "axis-label y")])
        svg.close("g")
    }

    private func render(_ mark: Mark, _ svg: inout SVGWriter, _ f: Frame) {
        switch mark {
        case let .path(points, stroke, attrs):
            var d = ""
            var penDown = false
            for p in points {
                guard let a = px(p.x, f), let b = py(p.y, f) else { penDown = false; continue }
                d += (penDown ? "L" : (d.isEmpty ? "M" : " M")) + coord(a) + "," + coord(b)
                penDown = true
            }
            guard !d.isEmpty else { return }
            svg.leaf("path", attrs + [("d", d), ("fill", "none")] + Self.strokeAttributes(stroke)
                + [("stroke-linejoin", "round"), ("stroke-linecap", "round")])
        case let .markers(points, shape, fill, color, radius, attrs):
            for p in points {
                guard let a = px(p.x, f), let b = py(p.y, f) else { continue }
                Self.marker(&svg, shape, fill, color, a, b, radius, attrs)
            }
        case let .band(upper, lower, color, opacity, attrs):
            let top = upper.compactMap { p in px(p.x, f).flatMap { a in py(p.y, f).map { (a, $0) } } }
            let bottom = lower.compactMap { p in px(p.x, f).flatMap { a in py(p.y, f).map { (a, $0) } } }
            guard top.count >= 2, bottom.count >= 2 else { return }
            let pts = (top + bottom.reversed()).map { "\(coord($0.0)),\(coord($0.1))" }.joined(separator: " ")
            svg.leaf("polygon", attrs + [("points", pts), ("fill", color), ("fill-opacity", coord(opacity)), ("stroke", "none")])
        case let .xBand(x0, x1, color, opacity, attrs):
            guard let a = px(min(x0, x1), f), let b = px(max(x0, x1), f) else { return }
            svg.leaf("rect", attrs + [("x", coord(a)), ("y", coord(f.top)), ("width", coord(max(b - a, 1))), ("height", coord(f.height)),
                                      ("fill", color), ("fill-opacity", coord(opacity))])
        case let .hRule(v, stroke, _, _, attrs):
            guard let b = py(v, f) else { return }
            svg.leaf("line", attrs + [("x1", coord(f.left)), ("y1", coord(b)), ("x2", coord(f.right)), ("y2", coord(b))] + Self.strokeAttributes(stroke))
        case let .vRule(v, stroke, _, attrs):
            guard let a = px(v, f) else { return }
            svg.leaf("line", attrs + [("x1", coord(a)), ("y1", coord(f.top)), ("x2", coord(a)), ("y2", coord(f.bottom))] + Self.strokeAttributes(stroke))
        }
    }

    /// Rule labels go above the clipped marks, inside the frame; a horizontal label that would land
    /// on another one moves below its line.
    private func renderRuleLabels(_ svg: inout SVGWriter, _ f: Frame) {
        var taken: [Double] = []
        svg.open("g", [("font-size", "12"), ("class", "rule-labels")])
        for mark in marks {
            switch mark {
            case let .hRule(v, stroke, label?, leading, _):
                guard let b = py(v, f), b >= f.top, b <= f.bottom else { continue }
                var ty = b - 5
                if ty - 12 < f.top || taken.contains(where: { Swift.abs($0 - ty) < 14 }) { ty = b + 15 }
                taken.append(ty)
                svg.text(label, [("x", coord(leading ? f.left + 6 : f.right - 6)), ("y", coord(ty)),
                                 ("text-anchor", leading ? "start" : "end"), ("fill", stroke.color)] + Self.halo)
            case let .vRule(v, stroke, label?, _):
                guard let a = px(v, f), a >= f.left, a <= f.right else { continue }
                let onRight = a - f.left < f.width * 0.6
                svg.text(label, [("x", coord(onRight ? a + 6 : a - 6)), ("y", coord(f.top + 16)),
                                 ("text-anchor", onRight ? "start" : "end"), ("fill", stroke.color)] + Self.halo)
            default:
                continue
            }
        }
        svg.close("g")
    }

    private func renderLegend(_ svg: inout SVGWriter, _ f: Frame) {
        let x0 = f.right + 22
        let rows = Int((f.height - 8) / Self.legendRow)
        var entries = legend
        var footnote = legendFootnote
        // Never let the legend run past the plot: what does not fit is counted, not drawn.
        let capacity = rows - (footnote == nil ? 0 : 1)
        if entries.count > capacity {
            let hidden = entries.count - max(capacity - 1, 0)
            entries = Array(entries.prefix(max(capacity - 1, 0)))
            footnote = "+\(hidden) more" + (footnote.map { " (\($0))" } ?? "")
        }
        svg.open("g", [("class", "legend"), ("font-size", coord(Self.legendSize)), ("fill", "#333333")])
        for (i, e) in entries.enumerated() {
            let cy = f.top + 12 + Double(i) * Self.legendRow
            switch e.swatch {
            case let .line(stroke):
                svg.leaf("line", [("x1", coord(x0)), ("y1", coord(cy)), ("x2", coord(x0 + 24)), ("y2", coord(cy))] + Self.strokeAttributes(stroke))
            case let .marker(shape, fill, color):
                Self.marker(&svg, shape, fill, color, x0 + 12, cy, 4.5, [("class", "legend-marker")])
            case let .lineAndMarker(stroke, shape):
                svg.leaf("line", [("x1", coord(x0)), ("y1", coord(cy)), ("x2", coord(x0 + 24)), ("y2", coord(cy))] + Self.strokeAttributes(stroke))
                Self.marker(&svg, shape, .filled, stroke.color, x0 + 12, cy, 4.5, [("class", "legend-marker")])
            case let .band(color, opacity):
                svg.leaf("rect", [("x", coord(x0)), ("y", coord(cy - 6)), ("width", "24"), ("height", "12"),
                                  ("fill", color), ("fill-opacity", coord(opacity))])
            case .none:
                break
            }
            var style: Attributes = [("x", coord(x0 + 32)), ("y", coord(cy + Self.legendSize * 0.35))]
            if case .none = e.swatch { style += [("font-style", "italic"), ("fill", "#666666")] }
            svg.text(Self.truncated(e.label, Self.legendMaxLabel), style)
        }
        if let footnote {
            let cy = f.top + 12 + Double(entries.count) * Self.legendRow
            svg.text(footnote, [("x", coord(x0 + 32)), ("y", coord(cy + Self.legendSize * 0.35)), ("font-style", "italic"), ("fill", "#666666")])
        }
        svg.close("g")
    }

    static func strokeAttributes(_ s: Stroke) -> Attributes {
        var a: Attributes = [("stroke", s.color), ("stroke-width", coord(s.width))]
        if let dash = s.dash { a.append(("stroke-dasharray", dash)) }
        if s.opacity < 1 { a.append(("stroke-opacity", coord(s.opacity))) }
        return a
    }

    static func marker(_ svg: inout SVGWriter, _ shape: MarkerShape, _ fill: MarkerFill, _ color: String,
                       _ cx: Double, _ cy: Double, _ r: Double, _ attrs: Attributes) {
        // Filled markers get a thin white rim so overlapping points stay countable.
        let paint: Attributes = fill == .filled
            ? [("fill", color), ("stroke", "white"), ("stroke-width", "0.8")]
            : [("fill", "white"), ("stroke", color), ("stroke-width", "1.8")]
        switch shape {
        case .circle:
            svg.leaf("circle", attrs + [("cx", coord(cx)), ("cy", coord(cy)), ("r", coord(r))] + paint)
        case .square:
            let s = r * 0.9
            svg.leaf("rect", attrs + [("x", coord(cx - s)), ("y", coord(cy - s)), ("width", coord(2 * s)), ("height", coord(2 * s))] + paint)
        case .triangle:
            let s = r * 1.2
            let pts = [(cx, cy - s), (cx + s * 0.95, cy + s * 0.65), (cx - s * 0.95, cy + s * 0.65)]
            svg.leaf("polygon", attrs + [("points", pts.map { "\(coord($0.0)),\(coord($0.1))" }.joined(separator: " "))] + paint)
        case .diamond:
            let s = r * 1.25
            let pts = [(cx, cy - s), (cx + s, cy), (cx, cy + s), (cx - s, cy)]
            svg.leaf("polygon", attrs + [("points", pts.map { "\(coord($0.0)),\(coord($0.1))" }.joined(separator: " "))] + paint)
        }
    }
}

/// Pixel coordinates with two decimals: sub-pixel exact, and short.
func coord(_ v: Double) -> String {
    let r = (v * 100).rounded() / 100
    if r == r.rounded() { return String(Int(r)) }
    return String(format: "%.2f", r).replacingOccurrences(of: #"0+$"#, with: "", options: .regularExpression)
}

/// Builds an SVG document line by line, escaping every text and attribute value.
struct SVGWriter {
    private var out: String
    private var depth = 1

    init(width: Double, height: Double) {
        out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(coord(width))\" height=\"\(coord(height))\" viewBox=\"0 0 \(coord(width)) \(coord(height))\">\n"
    }

    static func escape(_ s: String) -> String {
        var r = ""
        r.reserveCapacity(s.count)
        for c in s {
            switch c {
            case "&": r += "&amp;"
            case "<": r += "&lt;"
            case ">": r += "&gt;"
            case "\"": r += "&quot;"
            case "'": r += "&apos;"
            default: r.append(c)
            }
        }
        return r
    }

    private static func attributes(_ a: [(String, String)]) -> String {
        a.map { " \($0.0)=\"\(escape($0.1))\"" }.joined()
    }

    private var indent: String { String(repeating: "  ", count: depth) }

    mutating func open(_ name: String, _ a: [(String, String)] = []) {
        out += indent + "<\(name)\(Self.attributes(a))>\n"
        depth += 1
    }

    mutating func close(_ name: String) {
        depth -= 1
        out += indent + "</\(name)>\n"
    }

    mutating func leaf(_ name: String, _ a: [(String, String)]) {
        out += indent + "<\(name)\(Self.attributes(a))/>\n"
    }

    mutating func element(_ name: String, _ content: String) {
        out += indent + "<\(name)>\(Self.escape(content))</\(name)>\n"
    }

    mutating func text(_ content: String, _ a: [(String, String)]) {
        out += indent + "<text\(Self.attributes(a))>\(Self.escape(content))</text>\n"
    }

    func finish() -> String { out + "</svg>\n" }
}
