import Foundation
import Randomness
@testable import Pruning

/// Synthetic layers and slow, obviously-correct references for the N:M tests.
enum SSFixture {
    static func gaussian(_ count: Int, seed: UInt64, stream: Int = 0, scale: Double = 1) -> [Float] {
        var g = SeededRandom(seed: seed, stream: stream)
        return (0..<count).map { _ in Float(g.normal() * scale) }
    }

    /// LLM-like activations `[tokens, cols]`: X = Z B + 0.1·noise with `latent` < cols factors
    /// (strongly correlated columns), per-column scales spread over a decade, and `outliers`
    /// columns 20× larger, as the few massive channels of real LLM activations.
    static func activations(tokens: Int, cols: Int, latent: Int, outliers: Int, seed: UInt64) -> [Float] {
        var g = SeededRandom(seed: seed, stream: 1)
        let z = (0..<(tokens * latent)).map { _ in g.normal() }
        let b = (0..<(latent * cols)).map { _ in g.normal() / Double(latent).squareRoot() }
        var scale = (0..<cols).map { _ in Foundation.pow(10, g.uniform() - 0.5) }
        for k in 0..<outliers { scale[(k * 7 + 3) % cols] *= 20 }
        var x = [Float](repeating: 0, count: tokens * cols)
        for t in 0..<tokens {
            for j in 0..<cols {
                var v = 0.1 * g.normal()
                for l in 0..<latent { v += z[t * latent + l] * b[l * cols + j] }
                x[t * cols + j] = Float(v * scale[j])
            }
        }
        return x
    }

    static func gram(_ x: [Float], cols: Int) -> InputGram {
        var g = InputGram(dimension: cols)
        try! g.add(x)
        return g
    }

    /// `‖X Wᵀ − X Ŵᵀ‖²` straight from X, in Double.
    static func directError(x: [Float], tokens: Int, cols: Int, w: [Float], pruned: [Float], rows: Int) -> Double {
        var sum = 0.0
        for t in 0..<tokens {
            for r in 0..<rows {
                var y = 0.0
                for j in 0..<cols { y += Double(x[t * cols + j]) * (Double(w[r * cols + j]) - Double(pruned[r * cols + j])) }
                sum += y * y
            }
        }
        return sum
    }

    /// Solves the SPD system `a x = b` (n×n, row-major) by Gaussian elimination with partial pivoting.
    static func solve(_ a: [Double], _ b: [Double], n: Int) -> [Double] {
        var a = a, b = b
        for c in 0..<n {
            let p = (c..<n).max { abs(a[$0 * n + c]) < abs(a[$1 * n + c]) }!
            if p != c {
                for k in 0..<n { a.swapAt(c * n + k, p * n + k) }
                b.swapAt(c, p)
            }
            for r in (c + 1)..<n {
                let f = a[r * n + c] / a[c * n + c]
                for k in c..<n { a[r * n + k] -= f * a[c * n + k] }
                b[r] -= f * b[c]
            }
        }
        var x = [Double](repeating: 0, count: n)
        for r in stride(from: n - 1, through: 0, by: -1) {
            var s = b[r]
            for k in (r + 1)..<n { s -= a[r * n + k] * x[k] }
            x[r] = s / a[r * n + r]
        }
        return x
    }

    /// Best reconstruction of one row `w0` with the columns in `kept` free and the rest zero:
    /// the kept weights solve `G_KK v = G_K: w0` (normal equations). Returns (weights, error).
    static func leastSquares(row w0: [Double], kept: [Int], g: [Double], cols: Int) -> ([Double], Double) {
        let k = kept.count
        var a = [Double](repeating: 0, count: k * k), b = [Double](repeating: 0, count: k)
        for (p, i) in kept.enumerated() {
            for (q, j) in kept.enumerated() { a[p * k + q] = g[i * cols + j] }
            for j in 0..<cols { b[p] += g[i * cols + j] * w0[j] }
        }
        let v = k > 0 ? solve(a, b, n: k) : []
        var w = [Double](repeating: 0, count: cols)
        for (p, i) in kept.enumerated() { w[i] = v[p] }
        return (w, rowError(w0.enumerated().map { $1 - w[$0] }, g: g, cols: cols))
    }

    static func rowError(_ delta: [Double], g: [Double], cols: Int) -> Double {
        var s = 0.0
        for i in 0..<cols { for j in 0..<cols { s += delta[i] * g[i * cols + j] * delta[j] } }
        return s
    }

    /// Every way to keep M − N of each group of a row of `cols` (product of C(M, M−N) per group).
    static func allKeptSets(cols: Int, pattern: NMPattern) -> [[Int]] {
        var groupChoices: [[Int]] = []
        func choose(_ start: Int, _ left: Int, _ acc: [Int]) {
            if left == 0 { groupChoices.append(acc); return }
            if start >= pattern.m { return }
            choose(start + 1, left - 1, acc + [start])
            choose(start + 1, left, acc)
        }
        choose(0, pattern.kept, [])
        var sets: [[Int]] = [[]]
        for g in 0..<(cols / pattern.m) {
            sets = sets.flatMap { s in groupChoices.map { s + $0.map { g * pattern.m + $0 } } }
        }
        return sets
    }

    /// Exact optimum of `‖X Wᵀ − X Ŵᵀ‖²` over all N:M masks and kept weights (rows independent).
    static func optimalError(weight: [Float], rows: Int, cols: Int, pattern: NMPattern, gram: InputGram) -> Double {
        let g = gram.matrix()
        let sets = allKeptSets(cols: cols, pattern: pattern)
        var total = 0.0
        for r in 0..<rows {
            let w0 = (0..<cols).map { Double(weight[r * cols + $0]) }
            total += sets.map { leastSquares(row: w0, kept: $0, g: g, cols: cols).1 }.min()!
        }
        return total
    }
}
