import Foundation
import Model
import Pruning
import Randomness
import Testing

/// Calibration text the model itself generated, one token of context per window: every window
/// `(x, next)` then follows the model's own distribution, so removing any unit that changes the
/// model raises the expected loss (by the KL divergence, Gibbs' inequality) and only dead units are
/// free. On random text a live unit of a random model can as well lower the loss.
private func selfGenerated(_ m: LlamaModel, windows: Int, seed: UInt64) throws -> CalibrationSet {
    let V = m.config.vocabSize
    m.forward(tokens: (0..<V).map(Int32.init), targets: nil, batch: V, seqLen: 1)
    let logits = Array(m.logits)
    let table: [[Double]] = (0..<V).map { x in
        let row = logits[(x * V)..<(x * V + V)].map(Double.init), top = row.max()!
        let e = row.map { exp($0 - top) }, s = e.reduce(0, +)
        return e.map { $0 / s }
    }
    var rng = SeededRandom(seed: seed, stream: 9)
    var x = 0, text: [UInt16] = []
    for _ in 0..<(windows * 4) {
        text.append(UInt16(x))
        var u = rng.uniform()
        var next = V - 1
        for (y, p) in table[x].enumerated() { u -= p; if u < 0 { next = y; break } }
        x = next
    }
    return try CalibrationSet(tokens: text, windows: windows, sequenceLength: 1, seed: seed, source: "self-generated")
}

private func quick(subModels: Int = 24, p: Double = 0.1) -> Bonsai.Options {
    var o = Bonsai.Options()
    o.subModels = subModels
    o.roundFraction = p
    o.penalties = 8         // a coarser grid and a lower epoch cap keep the debug build fast
    o.maxEpochs = 1_000
    return o
}

private func removedParameters(_ s: UnitSelection, _ c: LlamaConfig) -> Int {
    ParameterCounts(c).nonEmbedding - ParameterCounts(s.config(from: c)).nonEmbedding
}

@Suite struct BonsaiTests {
    /// Forward passes only, the rate is met within one neuron, the selection is valid, and the
    /// model gets its weights back. Memory: the backward scratch is allocated lazily by the first
    /// backward, so `backwardPasses == 0` proves it never existed (no robust in-process measure of
    /// "never allocated" exists short of instrumenting the model).
    @Test(arguments: [0.12, 0.35])
    func forwardOnlyAndRateHit(rate: Double) throws {
        let c = pruningConfig()
        let m = try randomModel(c, seed: 21)
        let before = m.params.array
        let cal = try randomCalibration(vocab: c.vocabSize)
        var lines = 0
        let out = try Bonsai.select(model: m, calibration: cal, batchSize: 6, rate: rate, seed: 5, options: quick(p: 0.15)) { _ in lines += 1 }
        #expect(m.backwardPasses == 0)
        #expect(m.forwardPasses > 0 && out.forwardPasses == m.forwardPasses)
        #expect(m.params.array == before, "the model's weights must be restored")
        try out.selection.validate(against: c)
        let removed = Double(removedParameters(out.selection, c)), target = rate * Double(ParameterCounts(c).nonEmbedding)
        #expect(abs(removed - target) <= Double(3 * c.hidden), "removed \(removed), target \(target)")
        #expect(out.rounds == Int((rate / 0.15).rounded(.up)))  // the last round trimmed
        #expect(out.notes.count == out.rounds && lines >= out.rounds * 2)  // progress: a prior line and sub-model lines every round
        #expect(out.calibrationLossBefore.isFinite)
        // Scores: one per unit, finite.
        #expect(out.scores.heads.map(\.count) == c.blocks.map(\.heads) && out.scores.neurons.map(\.count) == c.blocks.map(\.mlpHidden))
        #expect((out.scores.heads + out.scores.neurons).allSatisfy { $0.allSatisfy(\.isFinite) })
    }

    @Test func sameSeedSameSelection() throws {
        let c = pruningConfig()
        let cal = try randomCalibration(vocab: c.vocabSize)
        let o = quick(subModels: 16)
        let a = try Bonsai.select(model: randomModel(c, seed: 4), calibration: cal, batchSize: 6, rate: 0.2, seed: 11, options: o)
        let m = try randomModel(c, seed: 4)
        let b = try Bonsai.select(model: m, calibration: cal, batchSize: 6, rate: 0.2, seed: 11, options: o)
        #expect(a.selection == b.selection)
        #expect(a.scores == b.scores)
        #expect(a.notes == b.notes)
        // The batch size changes nothing but the grouping of forward passes.
        let d = try Bonsai.select(model: m, calibration: cal, batchSize: 2, rate: 0.2, seed: 11, options: o)
        #expect(d.selection == a.selection)
    }

    /// Dead neurons (zero gate row) and dead heads (zero o_proj columns; in a GQA block one head of
    /// every group, i.e. a whole slot) go before any live unit, with a round fraction large enough
    /// that live units are candidates next to them.
    @Test func deadUnitsGoFirst() throws {
        let c = pruningConfig()
        let m = try randomModel(c, seed: 31, std: 0.4)
        var p = m.params.array
        let C = c.hidden, D = c.headDim
        let deadNeurons = [0: [2, 9, 17], 1: [0, 5, 22, 30], 2: [11, 12]]
        for (l, js) in deadNeurons {
            let e = m.layout["model.layers.\(l).mlp.gate_proj.weight"]!
            for j in js { for k in 0..<C { p[e.offset + j * C + k] = 0 } }
        }
        let deadHeads = [0: [2], 1: [1, 2]]
        for (l, hs) in deadHeads {
            zeroColumns(&p, m.layout, "model.layers.\(l).self_attn.o_proj.weight", hs.flatMap { h in (h * D)..<(h * D + D) })
        }
        m.params.assign(p)
        let cal = try selfGenerated(m, windows: 256, seed: 3)
        let deadCost = 9 * 3 * C + 4 * D * C + 2 * 2 * D * C
        let N0 = Double(ParameterCounts(c).nonEmbedding)
        let out = try Bonsai.select(model: m, calibration: cal, batchSize: 256, rate: Double(deadCost) / N0, seed: 2,
                                    options: quick(subModels: 40, p: 0.2))
        for b in out.selection.blocks {
            for j in deadNeurons[b.index] ?? [] { #expect(!b.neurons.contains(j), "block \(b.index): dead neuron \(j) kept") }
            for h in deadHeads[b.index] ?? [] { #expect(!b.heads.contains(h), "block \(b.index): dead head \(h) kept") }
        }
        #expect(removedParameters(out.selection, c) == deadCost, "only dead units go: \(out.notes)")
    }

    /// The regression, not the prior, decides. The calibration text comes from the clean model; then
    /// block 0's head of prior rank 1 gets its o_proj columns negated. Its Wanda prior does not
    /// depend on its own o_proj columns, so the prior still ranks it above the rank-0 head (at p = 0.2
    /// those two are block 0's candidates), but removing it now *lowers* the loss. Bonsai must give it
    /// the lowest coefficient of all 36 candidates and, with a budget of one head, remove it alone.
    @Test func regressionOverridesPrior() throws {
        let c = pruningConfig()
        let m = try randomModel(c, seed: 41, std: 0.4)
        let D = c.headDim
        let cal = try selfGenerated(m, windows: 128, seed: 7)
        let prior = UnitScorer.wanda(config: c, parameters: m.params.array,
                                     statistics: CalibrationStatistics.collect(m, calibration: cal, batchSize: 128))
        let byPrior = (0..<4).sorted { prior.heads[0][$0] < prior.heads[0][$1] }  // block 0: r = 1, heads are units
        let flipped = byPrior[1], spared = byPrior[0]
        var p = m.params.array
        let e = m.layout["model.layers.0.self_attn.o_proj.weight"]!, n = e.shape[1]
        for i in 0..<e.shape[0] { for d in 0..<D { p[e.offset + i * n + flipped * D + d] *= -1 } }
        m.params.assign(p)
        let cost = 4 * D * c.hidden
        let out = try Bonsai.select(model: m, calibration: cal, batchSize: 128, rate: Double(cost) / Double(ParameterCounts(c).nonEmbedding),
                                    seed: 3, options: quick(subModels: 40, p: 0.2))
        let all = (out.scores.heads + out.scores.neurons).flatMap { $0 }
        #expect(out.scores.heads[0][flipped] == all.min()! && out.scores.heads[0][flipped] < 0, "\(out.scores.heads[0])")
        #expect(out.selection.blocks[0].heads == (0..<4).filter { $0 != flipped } && spared != flipped)
        #expect(removedParameters(out.selection, c) == cost, "\(out.notes)")
    }

    // MARK: The scoring model

    /// Kendall's tau-b against values from scipy.stats.kendalltau (ties included).
    @Test func kendallTauMatchesScipy() {
        #expect(SparseRegression.kendallTau([1, 2, 3, 4], [2, 4, 6, 8]) == 1)
        #expect(SparseRegression.kendallTau([1, 2, 3, 4], [4, 3, 2, 1]) == -1)
        #expect(abs(SparseRegression.kendallTau([1, 2, 2, 3], [1, 3, 2, 2]) - 0.4) < 1e-12)
        #expect(abs(SparseRegression.kendallTau([0.3, 0.1, 0.5, 0.5, 0.2, 0.9], [1, 2, 3, 3, 0, 5]) - 0.7142857142857143) < 1e-12)
        #expect(SparseRegression.kendallTau([1, 1, 1], [1, 2, 3]) == 0)
    }

    /// Antithetic 0/1 rows as Bonsai builds them, `y = 1 + X beta + noise` with 5 of 30 coefficients
    /// non-zero: the cross-validated lasso finds the support and the values, and picks an inner penalty.
    @Test func lassoRecoversSparseCoefficients() {
        var rng = SeededRandom(seed: 17)
        let m = 30, pairs = 60
        var truth = [Double](repeating: 0, count: m)
        for (j, v) in [(3, 3.0), (7, -2.0), (12, 1.5), (20, 2.5), (28, -1.0)] { truth[j] = v }
        var rows: [[Double]] = [], y: [Double] = [], fold: [Int] = []
        for p in 0..<pairs {
            let row = (0..<m).map { _ in rng.uniform() < 0.5 ? 1.0 : 0.0 }
            for r in [row, row.map { 1 - $0 }] {
                rows.append(r)
                y.append(1 + zip(r, truth).reduce(0) { $0 + $1.0 * $1.1 } + 0.05 * rng.normal())
                fold.append(p % 5)
            }
        }
        let x = SparseRegression.Design(rows: rows)
        let grid = SparseRegression.penaltyGrid(x, y, count: 12, range: 1e-3)
        let cv = SparseRegression.crossValidated(x, y, fold: fold, penalties: grid)
        #expect(cv.fit.converged)
        for j in 0..<m {
            if truth[j] != 0 {
                #expect(abs(cv.fit.coefficients[j] - truth[j]) < 0.1, "coefficient \(j): \(cv.fit.coefficients[j]) vs \(truth[j])")
            } else {
                #expect(abs(cv.fit.coefficients[j]) < 0.05, "coefficient \(j) should be ~0: \(cv.fit.coefficients[j])")
            }
        }
        #expect(abs(cv.fit.intercept - 1) < 0.1)
        // Not the all-zero model, and held-out ranking nearly perfect there.
        #expect(cv.best > 0 && cv.fit.penalty < grid[0] / 10)
        #expect(cv.meanTau[cv.best] > 0.9 && cv.meanTau[0] < cv.meanTau[cv.best])
        #expect(cv.folds == 5)
    }

    /// Columns equal up to sign (a complementary pair and a duplicate) share their signed sum
    /// equally, the smallest-norm solution; fitted values equal those of one merged column.
    @Test func tiedColumnsShareTheirCoefficient() {
        var rng = SeededRandom(seed: 29)
        var rows: [[Double]] = [], merged: [[Double]] = [], y: [Double] = []
        for _ in 0..<40 {
            let a = rng.uniform() < 0.5 ? 1.0 : 0.0, b = rng.uniform() < 0.5 ? 1.0 : 0.0
            rows.append([a, b, 1 - a, a])   // columns 0, 2, 3 tied: 0 and 3 equal, 2 their complement
            merged.append([a, b])
            y.append(3 * a - b + 0.01 * rng.normal())
        }
        let lambda = 0.01
        let fit = SparseRegression.lasso(SparseRegression.Design(rows: rows), y, penalty: lambda, tolerance: 1e-12)
        let one = SparseRegression.lasso(SparseRegression.Design(rows: merged), y, penalty: lambda, tolerance: 1e-12)
        let b = fit.coefficients
        #expect(abs(b[0] - b[3]) < 1e-12 && abs(b[0] + b[2]) < 1e-12 && b[0] > 0)
        // Same fitted values: the merged column carries the L1 cost of all three at a third each.
        let p1 = fit.predict(SparseRegression.Design(rows: rows)), p2 = one.predict(SparseRegression.Design(rows: merged))
        #expect(abs(3 * b[0] - one.coefficients[0]) < 1e-6 && zip(p1, p2).allSatisfy { abs($0 - $1) < 1e-6 })
    }

    /// At a fixed penalty the solution satisfies the lasso's optimality (KKT) conditions:
    /// `x_j . r / n = lambda sign(beta_j)` where `beta_j != 0`, and `|x_j . r / n| <= lambda` elsewhere
    /// (centred columns), which no other point does.
    @Test func lassoSatisfiesOptimalityConditions() {
        var rng = SeededRandom(seed: 23)
        let n = 50, m = 80  // more columns than rows, as in Bonsai
        let rows = (0..<n).map { _ in (0..<m).map { _ in rng.uniform() < 0.5 ? 1.0 : 0.0 } }
        let y = rows.map { r in 2 * r[0] - r[1] + 0.5 * r[2] + 0.3 * rng.normal() }
        let x = SparseRegression.Design(rows: rows)
        let top = SparseRegression.largestPenalty(x, y)
        #expect(SparseRegression.lasso(x, y, penalty: top).coefficients.allSatisfy { $0 == 0 })
        let lambda = 0.05 * top
        let fit = SparseRegression.lasso(x, y, penalty: lambda, tolerance: 1e-12)
        #expect(fit.converged)
        let pred = fit.predict(x)
        let r = zip(y, pred).map { $0 - $1 }
        #expect(abs(r.reduce(0, +)) < 1e-8, "the intercept makes the residual mean zero")
        for j in 0..<m {
            let mean = rows.reduce(0) { $0 + $1[j] } / Double(n)
            let g = (0..<n).reduce(0) { $0 + (rows[$1][j] - mean) * r[$1] } / Double(n)
            let b = fit.coefficients[j]
            if b != 0 {
                #expect(abs(g - lambda * (b > 0 ? 1 : -1)) < 1e-6 * top, "column \(j): gradient \(g), lambda \(lambda)")
            } else {
                #expect(abs(g) <= lambda * (1 + 1e-6), "column \(j): |gradient| \(abs(g)) > lambda \(lambda)")
            }
        }
        #expect(fit.coefficients.filter { $0 != 0 }.count < m / 2)
    }
}
