import Foundation
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

    /// The paper's layout: three sizes × three pruning rates × 20 log-spaced checkpoints.
    public init(n0: [Double] = [1e9, 3e9, 8e9], rho: [Double] = [0.15, 0.25, 0.35],
                tokens: [Double] = SyntheticDesign.logSpaced(1e8, 1e10, count: 20), loss0: [Double]? = nil,
                noise: Double = 0, seed: UInt64 = 0) {
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
                let run = String(format: "n0=%.3g rho=%.3g", n0, rho)
                for t in design.tokens {
                    let x = LawPoint(n0: n0, n: n, rho: rho, loss0: loss0, tokens: t)
                    var loss = law.value(params, at: x)
                    if design.noise > 0 { loss *= 1 + design.noise * rng.normal() }
                    out.append(LossRecord(run: run, n0: n0, n: n, rho: rho, loss0: loss0, tokens: t, loss: loss))
                }
            }
        }
        return out
    }
}
