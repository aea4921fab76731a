@testable import Experiments
import Foundation
import ScalingLaw
import LossRecords
import Testing

@Suite struct RecoveryFindingsTests {
    /// Curves L(t) = loss0 + gap·exp(−t/τ) at 60 log-spaced token counts from 1e3 to `end`, plus the
    /// point at 0 tokens, labelled as the runner labels them.
    static func curve(base: String, n0: Double, family: String, rate: Double, tau: Double, gap: Double, end: Double = 1e6,
                      loss0: Double = 2.0, drift: Double = 0) -> [LossRecord] {
        let run = "\(base)/\(family)/\(rate)"
        let labels = ["base": base, "family": family, "rate": family == "control" ? "0" : "\(rate)"]
        var out = [LossRecord(run: run, n0: n0, n: n0 * (1 - rate), rho: rate, loss0: loss0, tokens: 0, loss: loss0 + gap, labels: labels)]
        for k in 0..<60 {
            let t = Foundation.exp(Foundation.log(1e3) + Double(k) / 59 * (Foundation.log(end) - Foundation.log(1e3)))
            out.append(LossRecord(run: run, n0: n0, n: n0 * (1 - rate), rho: rate, loss0: loss0, tokens: t,
                                  loss: loss0 + gap * Foundation.exp(-t / tau) + drift * t / end, labels: labels))
        }
        return out
    }

    /// t½ of an exponential recovery judged at horizon T: −τ·ln((1 + e^(−T/τ)) / 2).
    @Test func halfRecoveryTokensMatchTheExponentialsClosedForm() throws {
        let tau = 5e4
        let f = try #require(RecoveryFindings.analyse(Self.curve(base: "a", n0: 1e6, family: "width", rate: 0.25, tau: tau, gap: 0.5, end: 4e5)))
        let r = try #require(f.recoveries.first)
        let truth = -tau * Foundation.log((1 + Foundation.exp(-4e5 / tau)) / 2)
        #expect(abs(try #require(r.halfTokens) / truth - 1) < 0.01, "\(r.halfTokens!) vs \(truth)")
        #expect(!r.halfAtFirst)
        #expect(abs(try #require(r.recoveredFraction) - (1 - Foundation.exp(-4e5 / tau))) < 1e-6)
    }

    /// Everything is judged at the shortest curve's end: a longer budget does not change t½.
    @Test func aLongerBudgetIsJudgedAtTheCommonHorizon() throws {
        let short = Self.curve(base: "a", n0: 1e6, family: "width", rate: 0.25, tau: 5e4, gap: 0.5, end: 4e5)
        let long = Self.curve(base: "b", n0: 2e6, family: "width", rate: 0.25, tau: 5e4, gap: 0.5, end: 4e6)
        let f = try #require(RecoveryFindings.analyse(short + long))
        #expect(abs(f.horizon / 4e5 - 1) < 1e-12)
        let halves = f.recoveries.compactMap(\.halfTokens)
        #expect(halves.count == 2 && abs(halves[0] / halves[1] - 1) < 0.02, "\(halves)")
    }

    /// τ grows with the rate and shrinks with the base: every pair agrees with the paper; the
    /// reverse design disagrees in every pair. A drifting control fails the 0.01-nat check.
    @Test func verdictsFollowTheCurvesNotTheClaim() throws {
        func study(tau: (Double, Double) -> Double) -> [LossRecord] {
            var rs: [LossRecord] = []
            for (base, n0) in [("s1", 1e6), ("s2", 2e6), ("s3", 4e6)] {
                for rate in [0.15, 0.25, 0.35] {
                    rs += Self.curve(base: base, n0: n0, family: "depth", rate: rate, tau: tau(rate, n0), gap: rate)
                }
                rs += Self.curve(base: base, n0: n0, family: "control", rate: 0, tau: 1e5, gap: 0.002, drift: base == "s3" ? 0.02 : 0)
            }
            return rs
        }
        let paper = try #require(RecoveryFindings.analyse(study { rate, n0 in 1e5 * rate / 0.15 * 1e6 / n0 }))
        #expect(paper.verdicts.count == 4)
        for v in paper.verdicts {
            #expect(v.pairs == 9 && v.agree == 9 && v.holds, "\(v)")
        }
        let reverse = try #require(RecoveryFindings.analyse(study { rate, n0 in 1e5 * 0.15 / rate * n0 / 1e6 }))
        for v in reverse.verdicts {
            #expect(v.pairs == 9 && v.agree == 0 && !v.holds, "\(v)")
        }
        #expect(paper.controls.map(\.passes) == [true, true, false])
        let text = RecoveryFindings.markdown(paper)
        #expect(text.contains("| s3 |") && text.contains("| no |"))
    }
}
