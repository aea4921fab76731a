import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where a training run stands, for progress output.
public struct ProgressSnapshot: Sendable, Equatable {
    public var label: String
    public var step: Int
    public var totalSteps: Int
    public var tokens: Int
    public var totalTokens: Int
    /// Smoothed training loss (nil before the first step).
    public var loss: Double?
    public var learningRate: Double
    /// Over this session (a resumed run starts counting again).
    public var tokensPerSecond: Double
    /// Seconds left at the current rate; nil when the rate is unknown.
    public var eta: Double?

    public init(label: String = "", step: Int, totalSteps: Int, tokens: Int, totalTokens: Int, loss: Double?, learningRate: Double,
                tokensPerSecond: Double, eta: Double?) {
        self.label = label
        self.step = step
        self.totalSteps = totalSteps
        self.tokens = tokens
        self.totalTokens = totalTokens
        self.loss = loss
        self.learningRate = learningRate
        self.tokensPerSecond = tokensPerSecond
        self.eta = eta
    }
}

/// Progress on stderr: a live one-line bar redrawn in place when stderr is a terminal, plain
/// lines (one per `interval` seconds, plus every message) when it is a file or a pipe, so logs
/// stay readable.
public final class ProgressReporter {
    public enum Mode: Sendable {
        case live
        case lines
        case silent
    }

    public let mode: Mode
    /// Seconds between plain lines (live mode redraws at most 10 times a second).
    public var interval: Double
    private let write: (String) -> Void
    private var lastDraw = -Double.infinity
    private var barShown = false

    /// `mode` nil: live if stderr is a terminal (isatty), plain lines otherwise.
    public init(mode: Mode? = nil, interval: Double = 10, write: ((String) -> Void)? = nil) {
        self.mode = mode ?? (isatty(STDERR_FILENO) == 1 ? .live : .lines)
        self.interval = interval
        self.write = write ?? { FileHandle.standardError.write(Data($0.utf8)) }
    }

    /// Reports a snapshot, throttled; `force` draws regardless (first and last step).
    public func update(_ s: ProgressSnapshot, force: Bool = false) {
        let now = ProcessInfo.processInfo.systemUptime
        switch mode {
        case .silent:
            return
        case .live:
            guard force || now - lastDraw >= 0.1 else { return }
            write("\r\u{1B}[2K" + Self.bar(s))
            barShown = true
        case .lines:
            guard force || now - lastDraw >= interval else { return }
            write(Self.line(s) + "\n")
        }
        lastDraw = now
    }

    /// A line of its own (an evaluation, a save); in live mode the bar is redrawn by the next update.
    public func message(_ text: String) {
        switch mode {
        case .silent: return
        case .live:
            write((barShown ? "\r\u{1B}[2K" : "") + text + "\n")
            barShown = false
        case .lines:
            write(text + "\n")
        }
    }

    /// Ends the live bar's line.
    public func finish() {
        if mode == .live, barShown { write("\n") }
        barShown = false
    }

    /// The plain-line form:
    /// `xs step 120/400 (30.0%) tokens 491.5k/1.64M loss 2.3456 lr 1.20e-03 12.3k tok/s ETA 1m23s`.
    public static func line(_ s: ProgressSnapshot) -> String {
        var parts: [String] = []
        if !s.label.isEmpty { parts.append(s.label) }
        parts.append("step \(s.step)/\(s.totalSteps) (\(percent(s)))")
        parts.append("tokens \(count(Double(s.tokens)))/\(count(Double(s.totalTokens)))")
        parts.append("loss " + (s.loss.map { String(format: "%.4f", $0) } ?? "-"))
        parts.append("lr " + String(format: "%.2e", s.learningRate))
        parts.append("\(count(s.tokensPerSecond)) tok/s")
        parts.append("ETA " + (s.eta.map(duration) ?? "?"))
        return parts.joined(separator: " ")
    }

    /// The live form: a 24-cell bar followed by the same fields.
    public static func bar(_ s: ProgressSnapshot, width: Int = 24) -> String {
        let f = s.totalSteps > 0 ? min(1, Double(s.step) / Double(s.totalSteps)) : 0
        let filled = Int((f * Double(width)).rounded(.down))
        let bar = "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "]"
        return (s.label.isEmpty ? "" : s.label + " ") + bar + " " + line(ProgressSnapshot(
            step: s.step, totalSteps: s.totalSteps, tokens: s.tokens, totalTokens: s.totalTokens, loss: s.loss,
            learningRate: s.learningRate, tokensPerSecond: s.tokensPerSecond, eta: s.eta))
    }

    static func percent(_ s: ProgressSnapshot) -> String {
        String(format: "%.1f%%", s.totalSteps > 0 ? 100 * Double(s.step) / Double(s.totalSteps) : 0)
    }

    /// 999, 12.3k, 4.56M, 1.23G: three significant digits.
    public static func count(_ x: Double) -> String {
        let units: [(Double, String)] = [(1e9, "G"), (1e6, "M"), (1e3, "k")]
        for (scale, suffix) in units where abs(x) >= scale {
            let v = x / scale
            return (v >= 100 ? String(format: "%.0f", v) : v >= 10 ? String(format: "%.1f", v) : String(format: "%.2f", v)) + suffix
        }
        return String(format: "%.0f", x)
    }

    /// 45s, 3m07s, 2h05m.
    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        let s = max(0, Int(seconds.rounded()))
        if s < 60 { return "\(s)s" }
        if s < 3600 { return String(format: "%dm%02ds", s / 60, s % 60) }
        return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60)
    }
}
