import Foundation
import LossRecords
import Randomness

/// A grid of pruned models and checkpoints to draw synthetic loss records on, from a known law:
/// the only data on which "did the fitter find the truth?" has an answer.
public struct SyntheticDesign: Sendable, Equatable {
    public var n0: [Double]
    public var rho: [Double]
    /// Checkpoint token counts shared by every run.
    public var tokens: [Double]
    /// Loss before pruning for each `n0` (same order); nil = `defaultLoss0(n0)`.
    public var loss0: [Double]?
    /// Relative (multiplicative) Gaussian noise on each loss: 0.002 is 0.2 %.
    public var noise: Double
    public var seed: UInt64
    /// AR(1) correlation of the noise along a run's checkpoints (in the order of `tokens`): each draw is
    /// `phi × the previous + sqrt(1 - phi²) × a fresh normal`, so every draw keeps sd `noise`.
    /// 0 (the default) is independent noise, drawn exactly as before this option existed.
    public var correlation: Double
    /// Relative sd of one offset shared by all of a run's checkpoints (a run that sits above or
    /// below the law throughout); 0 = none, and then no draw is made for it.
    public var runOffset: Double

    /// The paper's layout: three sizes × three pruning rates × 20 log-spaced checkpoints.
    public init(n0: [Double] = [1e9, 3e9, 8e9], rho: [Double] = [0.15, 0.25, 0.35],
                tokens: [Double] = SyntheticDesign.logSpaced(1e8, 1e10, count: 20), loss0: [Double]? = nil,
                noise: Double = 0, seed: UInt64 = 0, correlation: Double = 0, runOffset: Double = 0) {
        self.correlation = correlation
        self.runOffset = runOffset
        self.n0 = n0
        self.rho = rho
        self.tokens = tokens
        self.loss0 = loss0
        self.noise = noise
        self.seed = seed
    }

    public static func logSpaced(_ lo: Double, _ hi: Double, count: Int) -> [Double] {
        precondition(count >= 2 && lo > 0 && hi > lo)
        let a = Foundation.log10(lo), b = Foundation.log10(hi)
        return (0..<count).map { Foundation.pow(10, a + (b - a) * Double($0) / Double(count - 1)) }
    }

    /// A plausible pre-pruning loss: Hoffmann et al.'s Chinchilla fit at 20 tokens per parameter.
    public static func defaultLoss0(_ n0: Double) -> Double {
        1.69 + 406.4 / Foundation.pow(n0, 0.34) + 410.7 / Foundation.pow(20 * n0, 0.28)
    }
}

public enum Synthetic {
    /// Records `run, n0, n, rho, loss0, tokens, loss` drawn from `law` at `params`; one run per
    /// (n0, rho), named like `n0=1e+09 rho=0.25`.
    public static func records(law: any Law, params: [Double], design: SyntheticDesign) -> [LossRecord] {
        precondition(params.count == law.parameterCount)
        var rng = SeededRandom(seed: design.seed)
        var out: [LossRecord] = []
        for (i, n0) in design.n0.enumerated() {
            let loss0 = design.loss0?[i] ?? SyntheticDesign.defaultLoss0(n0)
            for rho in design.rho {
                let n = (1 - rho) * n0
                let run = runName(n0, rho)
                let offset = design.runOffset > 0 ? design.runOffset * rng.normal() : 0
                let phi = design.correlation
                var draw = 0.0
                for (k, t) in design.tokens.enumerated() {
                    let x = LawPoint(n0: n0, n: n, rho: rho, loss0: loss0, tokens: t)
                    var loss = law.value(params, at: x)
                    if design.noise > 0 {
                        let z = rng.normal()
                        draw = k == 0 ? z : phi * draw + (1 - phi * phi).squareRoot() * z
                        loss *= 1 + design.noise * draw + offset
                    } else if offset != 0 {
                        loss *= 1 + offset
                    }
                    out.append(LossRecord(run: run, n0: n0, n: n, rho: rho, loss0: loss0, tokens: t, loss: loss))
                }
            }
        }
        return out
    }
}

extension Synthetic {
    /// The values `checkedRecords` checks, by the names its errors give them by default.
    public enum Input: String, Sendable, CaseIterable {
        case params, n0, rho, tokens, loss0, noise, correlation, runOffset
    }

    /// `records`, after checking that the design is one the planner would read back: sizes
    /// within `InputLimits`, values in range, no repeated run name or checkpoint, and every loss
    /// positive and finite. `name` says what to call each value in an error: the library's names
    /// by default; a command line passes its flags.
    public static func checkedRecords(law: any Law, params: [Double], design d: SyntheticDesign,
                                      naming name: (Input) -> String = { $0.rawValue }) throws -> [LossRecord] {
        let short = NumberText.short
        guard params.count == law.parameterCount, params.allSatisfy(\.isFinite) else {
            throw InputError(name(.params), "law \(law.name) needs a finite value for each of \(law.parameterNames.joined(separator: ", "))")
        }
        func distinct(_ values: [Double], _ input: Input) throws {
            var seen = Set<Double>()
            for v in values where !seen.insert(v).inserted { throw InputError(name(input), "\(short(v)) is given twice") }
        }
        for (input, values) in [(Input.n0, d.n0), (.rho, d.rho), (.tokens, d.tokens)] {
            guard (1...InputLimits.listValues).contains(values.count) else {
                throw InputError(name(input), "expected 1 to \(InputLimits.grouped(InputLimits.listValues)) values, got \(values.count)")
            }
        }
        if let v = d.n0.first(where: { !($0 > 0 && $0.isFinite) }) { throw InputError(name(.n0), "expected positive parameter counts, got \(short(v))") }
        if let v = d.rho.first(where: { !($0 >= 0 && $0 < 1) }) { throw InputError(name(.rho), "expected pruning rates in [0, 1), got \(short(v))") }
        if let v = d.tokens.first(where: { !($0 >= 0 && $0.isFinite) }) { throw InputError(name(.tokens), "expected token counts of 0 or more, got \(short(v))") }
        if let l = d.loss0 {
            guard l.count == d.n0.count else { throw InputError(name(.loss0), "needs one value per \(name(.n0)) (\(d.n0.count)), got \(l.count)") }
            if let v = l.first(where: { !($0 > 0 && $0.isFinite) }) { throw InputError(name(.loss0), "expected positive losses, got \(short(v))") }
        }
        guard d.noise >= 0, d.noise.isFinite else { throw InputError(name(.noise), "expected a relative noise of 0 or more, got \(short(d.noise))") }
        guard d.correlation > -1, d.correlation < 1 else { throw InputError(name(.correlation), "expected a correlation in (-1, 1), got \(short(d.correlation))") }
        guard d.runOffset >= 0, d.runOffset.isFinite else { throw InputError(name(.runOffset), "expected a relative offset sd of 0 or more, got \(short(d.runOffset))") }
        try distinct(d.n0, .n0)
        try distinct(d.rho, .rho)
        try distinct(d.tokens, .tokens)
        let total = Double(d.n0.count) * Double(d.rho.count) * Double(d.tokens.count)
        guard total <= Double(InputLimits.simulatedRecords) else {
            throw InputError("\(name(.n0)), \(name(.rho)), \(name(.tokens))", "\(d.n0.count) × \(d.rho.count) × \(d.tokens.count) = \(short(total)) records; at most \(InputLimits.grouped(InputLimits.simulatedRecords))")
        }
        // Run names carry 3 significant digits; two models that share one would read back as one run.
        var runs: [String: (Double, Double)] = [:]
        for n0 in d.n0 {
            for rho in d.rho {
                let run = runName(n0, rho)
                if let (m, r) = runs.updateValue((n0, rho), forKey: run) {
                    let input: Input = m == n0 ? .rho : .n0
                    let (a, b) = m == n0 ? (r, rho) : (m, n0)
                    throw InputError(name(input), "\(a) and \(b) give the same run name '\(run)' (3 significant digits)")
                }
            }
        }
        let out = records(law: law, params: params, design: d)
        if let bad = out.first(where: { !($0.loss > 0 && $0.loss.isFinite) }) {
            let at = "n0 = \(short(bad.n0 ?? .nan)), rho = \(short(bad.rho ?? .nan)), tokens = \(short(bad.tokens ?? .nan))"
            let exact = law.value(params, at: bad.point)
            if d.noise > 0 || d.runOffset > 0, exact > 0, exact.isFinite {
                throw InputError(name(.noise), "a draw gave loss \(short(bad.loss)) at \(at); records need positive losses (use a smaller \(name(.noise)))")
            }
            throw InputError(name(.params), "law \(law.name) gives loss \(short(exact)) at \(at); records need a positive finite loss")
        }
        return out
    }

    static func runName(_ n0: Double, _ rho: Double) -> String { String(format: "n0=%.3g rho=%.3g", n0, rho) }
}
