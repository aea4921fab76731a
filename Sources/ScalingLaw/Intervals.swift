import Foundation
import LossRecords
import Randomness

/// How a fit turns its optimum into intervals. Every method leaves parameter sets in
/// `fit.json` (`bootstrap.samples`), and `fit`, `predict` and `plan` take percentile intervals of
/// whatever those sets give, so one choice calibrates all three.
public enum IntervalMethod: String, Sendable, Codable, CaseIterable {
    /// Cluster (pairs) bootstrap: runs drawn with replacement, the law refitted. Assumes many runs;
    /// with a handful it often drops a whole model size or rate and runs narrow (0.86–0.93 for 95 %
    /// intervals with 9 runs, README "Intervals"). Fits written before there was a choice used it.
    case pairs
    /// Wild bootstrap blocked by run: the fitted curve plus each run's residual vector times one
    /// random weight (Webb's six points), residuals first inflated to what they would be had the run
    /// been left out of the fit. Assumes only that runs are independent (any correlation within a
    /// run, a run-level offset included); with 9 runs some parameters still come out narrow.
    case wildRun = "wild-run"
    /// Wild bootstrap of AR(1) innovations: the residuals of each run, ordered by tokens, are
    /// prewhitened with the AR(1) coefficient estimated from all runs (`autocorrelation`), every
    /// innovation is multiplied by its own random sign, and the series is recoloured. Assumes
    /// correlation within a run decays geometrically along its checkpoints (independent noise is
    /// phi = 0); allows the noise's size to vary from point to point. Uses every checkpoint's
    /// residual rather than one number per run, so it stays calibrated with 9 runs: the default.
    case arWild = "ar-wild"
}

extension IntervalMethod {
    /// A few words for reports: how the replicates were made.
    public var summary: String {
        switch self {
        case .pairs: "pairs bootstrap: whole runs resampled"
        case .wildRun: "wild bootstrap blocked by run"
        case .arWild: "wild bootstrap of AR(1) innovations along each run"
        }
    }
}

/// The fit at its optimum, linearised: what the residual-based methods need, computed once.
struct Linearization: Sendable {
    /// The law's value at every data point, and the data minus the law in the fit's space.
    var fitted: [Double]
    var residuals: [Double]
    /// d(fit-space value)/d(free parameter), row-major, one row of `k` per point.
    var jacobian: [Double]
    var k: Int
    /// Each run's positions in the data, ordered by tokens.
    var runs: [[Int]]

    init?(solver: LocalSolver, at p: [Double], data: FitData, runs: [[Int]]) {
        let n = data.count, m = solver.map.count, free = solver.map.free
        k = free.count
        let evaluator = makeEvaluator(law: solver.law, tabled: solver.tabled, data: data)
        var values = [Double](repeating: 0, count: n)
        var gradients = [Double](repeating: 0, count: n * m)
        p.withUnsafeBufferPointer { pp in
            values.withUnsafeMutableBufferPointer { vp in
                gradients.withUnsafeMutableBufferPointer { evaluator.values(pp, into: vp.baseAddress!, gradients: $0.baseAddress!) }
            }
        }
        let log = solver.options.space == .log
        fitted = values
        residuals = (0..<n).map { i in log ? data.logObserved[i] - Foundation.log(values[i]) : data.observed[i] - values[i] }
        guard residuals.allSatisfy(\.isFinite) else { return nil }
        jacobian = [Double](repeating: 0, count: n * k)
        for i in 0..<n {
            let scale = log ? 1 / values[i] : 1
            for (c, j) in free.enumerated() {
                let d = scale * gradients[i * m + j]
                jacobian[i * k + c] = d.isFinite ? d : 0
            }
        }
        self.runs = runs.map { run in run.sorted { data.points[$0].tokens < data.points[$1].tokens } }
    }

    /// `sum_i J_i^T J_i` over `rows`.
    func gram(_ rows: [Int]) -> [[Double]] {
        var g = [[Double]](repeating: [Double](repeating: 0, count: k), count: k)
        for i in rows {
            for a in 0..<k {
                let ja = jacobian[i * k + a]
                for b in 0...a { g[a][b] += ja * jacobian[i * k + b] }
            }
        }
        for a in 0..<k { for b in 0..<a { g[b][a] = g[a][b] } }
        return g
    }

    /// The AR(1) coefficient of the noise along each run's checkpoints, from the residuals' lag-1
    /// ratio `sum e_t e_(t-1) / sum e_(t-1)^2` over all runs. The fit absorbs part of every run's
    /// level, so that ratio falls short of phi, the more so the fewer the runs (Kendall's
    /// (1 + 3 phi) / T when a whole run's mean is absorbed; far less with 30 runs). Residuals are
    /// (I - H) eps to first order, so phi is the value whose expected ratio under that
    /// projection, `f(phi)`, matches the observed one; f rises with phi, bisection finds it.
    /// Loss curves do not alternate around the law: a ratio below f(0) gives 0. At most 0.95,
    /// where the recolouring is still stable.
    func autocorrelation(inverse p: [[Double]]) -> Double {
        var num = 0.0, den = 0.0
        for run in runs where run.count >= 2 {
            for t in 1..<run.count {
                num += residuals[run[t]] * residuals[run[t - 1]]
                den += residuals[run[t - 1]] * residuals[run[t - 1]]
            }
        }
        guard den > 0 else { return 0 }
        let observed = num / den
        let n = fitted.count
        // J_i P for every point, once.
        var jp = [Double](repeating: 0, count: n * k)
        for i in 0..<n { for a in 0..<k { for b in 0..<k { jp[i * k + a] += jacobian[i * k + b] * p[b][a] } } }
        func dot(_ x: ArraySlice<Double>, _ y: ArraySlice<Double>) -> Double { zip(x, y).reduce(0) { $0 + $1.0 * $1.1 } }
        func row(_ m: [Double], _ i: Int) -> ArraySlice<Double> { m[(i * k)..<((i + 1) * k)] }
        // E(ratio) to first order: S = (I - H) R (I - H), R the runs' AR(1) correlation blocks.
        func expected(_ phi: Double) -> Double {
            // (J^T R) column by column, and J^T R J.
            var jr = [Double](repeating: 0, count: n * k)
            var g = [[Double]](repeating: [Double](repeating: 0, count: k), count: k)
            // R x for an AR(1) block is a forward plus a backward recursion (minus x counted
            // twice): linear in the run's length, however many checkpoints it has.
            var forward = [Double](repeating: 0, count: k), backward = [Double](repeating: 0, count: k)
            for run in runs {
                for a in 0..<k { forward[a] = 0; backward[a] = 0 }
                for j in run {
                    for a in 0..<k {
                        forward[a] = jacobian[j * k + a] + phi * forward[a]
                        jr[j * k + a] = forward[a] - jacobian[j * k + a]
                    }
                }
                for j in run.reversed() {
                    for a in 0..<k {
                        backward[a] = jacobian[j * k + a] + phi * backward[a]
                        jr[j * k + a] += backward[a]
                    }
                    for a in 0..<k { for b in 0..<k { g[a][b] += jr[j * k + a] * jacobian[j * k + b] } }
                }
            }
            var q = [Double](repeating: 0, count: k * k)  // P G P
            for a in 0..<k { for b in 0..<k {
                var s = 0.0
                for c in 0..<k { for d in 0..<k { s += p[a][c] * g[c][d] * p[d][b] } }
                q[a * k + b] = s
            } }
            func entry(_ i: Int, _ j: Int, lag: Int) -> Double {
                var hrh = 0.0
                for a in 0..<k { for b in 0..<k { hrh += jacobian[i * k + a] * q[a * k + b] * jacobian[j * k + b] } }
                return (lag == 0 ? 1 : phi) - dot(row(jp, i), row(jr, j)) - dot(row(jp, j), row(jr, i)) + hrh
            }
            var num = 0.0, den = 0.0
            for run in runs where run.count >= 2 {
                for t in 1..<run.count {
                    num += entry(run[t], run[t - 1], lag: 1)
                    den += entry(run[t - 1], run[t - 1], lag: 0)
                }
            }
            return den > 0 ? num / den : 0
        }
        var lo = 0.0, hi = 0.95
        if observed <= expected(lo) { return 0 }
        if observed >= expected(hi) { return hi }
        for _ in 0..<30 {
            let mid = (lo + hi) / 2
            if expected(mid) < observed { lo = mid } else { hi = mid }
        }
        return (lo + hi) / 2
    }

    /// Data whose value at point i is the fitted value moved by `e[i]` in the fit's space.
    func data(_ base: FitData, perturbedBy e: [Double], space: FitSpace) -> FitData {
        base.replacingObserved((0..<fitted.count).map { i in space == .log ? fitted[i] * Foundation.exp(e[i]) : fitted[i] + e[i] })
    }
}

/// The run-offset check of `ReplicateMaker.runOffsets`: the observed between-run share, and how
/// many of `draws` simulated shares reached it.
struct RunOffsetCheck: Sendable {
    var share: Double
    var draws: Int
    var atLeast: Int
    /// Monte Carlo p-value, (1 + atLeast) / (1 + draws).
    var p: Double { Double(1 + atLeast) / Double(1 + draws) }
}

/// Replicate data sets for the residual-based methods, each a pure function of (seed, replicate).
struct ReplicateMaker: Sendable {
    let method: IntervalMethod
    let base: FitData
    let lin: Linearization
    let space: FitSpace
    let seed: UInt64
    /// wild-run: each run's residuals, as if the run had been left out.
    private var jackknifed: [[Double]] = []
    /// ar-wild: AR(1) coefficient and the innovations at each point.
    private(set) var phi = 0.0
    private var innovations: [Double] = []
    /// ar-wild: (J^T J)^-1, for the HC2 leverages and the run-offset check's projection.
    private var gramInverse: [[Double]]?

    init(method: IntervalMethod, base: FitData, lin: Linearization, space: FitSpace, seed: UInt64) {
        self.method = method
        self.base = base
        self.lin = lin
        self.space = space
        self.seed = seed
        let all = lin.runs.flatMap { $0 }
        let gram = lin.gram(all)
        switch method {
        case .wildRun:
            // (I - H_gg)^-1 e_g = e_g + J_g (J^T J - J_g^T J_g)^-1 J_g^T e_g (Woodbury): the run's
            // prediction errors from a fit without it. Raw residuals are shrunk towards the fit, the
            // more so the fewer the runs; without this the bootstrap is as narrow as the pairs one.
            let g = Double(lin.runs.count)
            jackknifed = lin.runs.map { run in
                var rest = gram
                let own = lin.gram(run)
                for a in 0..<lin.k { for b in 0..<lin.k { rest[a][b] -= own[a][b] } }
                var c = [Double](repeating: 0, count: lin.k)
                for i in run { for a in 0..<lin.k { c[a] += lin.jacobian[i * lin.k + a] * lin.residuals[i] } }
                guard let delta = solveSymmetric(rest, c) else {
                    // The other runs cannot pin the law down: fall back to the small-sample scaling.
                    return run.map { lin.residuals[$0] * (g / max(g - 1, 1)).squareRoot() }
                }
                return run.map { i in lin.residuals[i] + (0..<lin.k).reduce(0) { $0 + lin.jacobian[i * lin.k + $1] * delta[$1] } }
            }
        case .arWild:
            // HC2 scaling: a point's residual is shrunk by 1 - h_ii; undo it before recolouring.
            var e = lin.residuals
            let inverse = invertSymmetric(gram)
            gramInverse = inverse
            if let inverse {
                for i in all {
                    var h = 0.0
                    for a in 0..<lin.k {
                        var s = 0.0
                        for b in 0..<lin.k { s += inverse[a][b] * lin.jacobian[i * lin.k + b] }
                        h += lin.jacobian[i * lin.k + a] * s
                    }
                    if h < 0.99 { e[i] /= (1 - h).squareRoot() }
                }
            }
            phi = inverse.map { lin.autocorrelation(inverse: $0) } ?? 0
            innovations = [Double](repeating: 0, count: e.count)
            for run in lin.runs {
                for (t, i) in run.enumerated() {
                    innovations[i] = t == 0 ? e[i] * (1 - phi * phi).squareRoot() : e[i] - phi * e[run[t - 1]]
                }
            }
        default:
            break
        }
    }

    func replicate(_ b: Int) -> FitData { lin.data(base, perturbedBy: noise(b), space: space) }

    /// Replicate b's noise in the fit's space, one value per point.
    func noise(_ b: Int) -> [Double] {
        var rng = SeededRandom(seed: seed, stream: b)
        var e = [Double](repeating: 0, count: lin.fitted.count)
        switch method {
        case .wildRun:
            for (g, run) in lin.runs.enumerated() {
                let w = webbWeight(&rng)
                for (t, i) in run.enumerated() { e[i] = w * jackknifed[g][t] }
            }
        case .arWild:
            let stationary = 1 / (1 - phi * phi).squareRoot()
            for run in lin.runs {
                var previous = 0.0
                for (t, i) in run.enumerated() {
                    let u = (rng.next() & 1 == 0 ? 1.0 : -1.0) * innovations[i]
                    previous = t == 0 ? u * stationary : phi * previous + u
                    e[i] = previous
                }
            }
        default:
            preconditionFailure("\(method) has no residual replicates")
        }
        return e
    }

    /// Whether the residuals sit as whole-run offsets more than the AR(1) noise ar-wild draws
    /// can make them. The statistic is the share of the residuals' variance that lies between
    /// the runs' means; its reference distribution is that share for `draws` of ar-wild's own
    /// noise passed through the fit's projection (I - H), as the observed residuals were. Its
    /// random signs break any run-level offset, which is why the intervals then run narrow
    /// (README "Intervals": 0.54-0.71 for 95 % intervals). Nil without runs to compare.
    func runOffsets(draws: Int = 199) -> RunOffsetCheck? {
        guard method == .arWild, lin.runs.count >= 3, lin.runs.allSatisfy({ $0.count >= 2 }), let inverse = gramInverse else { return nil }
        let k = lin.k, all = lin.runs.flatMap { $0 }
        func share(_ r: [Double]) -> Double {
            let mean = all.reduce(0) { $0 + r[$1] } / Double(all.count)
            let total = all.reduce(0) { $0 + (r[$1] - mean) * (r[$1] - mean) }
            let between = lin.runs.reduce(0.0) { acc, run in
                let m = run.reduce(0) { $0 + r[$1] } / Double(run.count)
                return acc + Double(run.count) * (m - mean) * (m - mean)
            }
            return total > 0 ? between / total : 0
        }
        func projected(_ e: [Double]) -> [Double] {
            var c = [Double](repeating: 0, count: k)
            for i in e.indices { for a in 0..<k { c[a] += lin.jacobian[i * k + a] * e[i] } }
            let delta = (0..<k).map { a in (0..<k).reduce(0) { $0 + inverse[a][$1] * c[$1] } }
            return e.indices.map { i in e[i] - (0..<k).reduce(0) { $0 + lin.jacobian[i * k + $1] * delta[$1] } }
        }
        let observed = share(lin.residuals)
        // Streams far past any bootstrap replicate's, so the check draws its own noise.
        let atLeast = (0..<draws).filter { share(projected(noise(1 << 40 + $0))) >= observed }.count
        return RunOffsetCheck(share: observed, draws: draws, atLeast: atLeast)
    }

    /// Webb's six-point distribution: +-sqrt(1/2), +-1, +-sqrt(3/2), mean 0, variance 1. With few
    /// runs, Rademacher's two points give only 2^G distinct replicates; six give 6^G.
    private func webbWeight(_ rng: inout SeededRandom) -> Double {
        let magnitudes = [(0.5).squareRoot(), 1, (1.5).squareRoot()]
        let r = Int(rng.next() % 6)
        return (r < 3 ? 1 : -1) * magnitudes[r % 3]
    }
}

// Small dense linear algebra for k x k systems (k = a law's free parameters, a handful).

/// Lower-triangular L with L L^T = a, nil unless a is positive definite.
func cholesky(_ a: [[Double]]) -> [[Double]]? {
    let n = a.count
    var l = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
    for i in 0..<n {
        for j in 0...i {
            var s = a[i][j]
            for m in 0..<j { s -= l[i][m] * l[j][m] }
            if i == j {
                guard s > 0, s.isFinite else { return nil }
                l[i][i] = s.squareRoot()
            } else {
                l[i][j] = s / l[j][j]
            }
        }
    }
    return l
}

/// x with a x = b for symmetric positive definite a, scaled to unit diagonal first (the
/// parameters of a law differ by orders of magnitude).
func solveSymmetric(_ a: [[Double]], _ b: [Double]) -> [Double]? {
    let n = a.count
    let d = (0..<n).map { a[$0][$0] > 0 ? 1 / a[$0][$0].squareRoot() : 1 }
    let scaled = (0..<n).map { i in (0..<n).map { j in a[i][j] * d[i] * d[j] } }
    guard let l = cholesky(scaled) else { return nil }
    var y = (0..<n).map { b[$0] * d[$0] }
    for i in 0..<n {
        for m in 0..<i { y[i] -= l[i][m] * y[m] }
        y[i] /= l[i][i]
    }
    for i in stride(from: n - 1, through: 0, by: -1) {
        for m in (i + 1)..<n { y[i] -= l[m][i] * y[m] }
        y[i] /= l[i][i]
    }
    return (0..<n).map { y[$0] * d[$0] }
}

func invertSymmetric(_ a: [[Double]]) -> [[Double]]? {
    let n = a.count
    var out = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
    for j in 0..<n {
        var e = [Double](repeating: 0, count: n)
        e[j] = 1
        guard let x = solveSymmetric(a, e) else { return nil }
        for i in 0..<n { out[i][j] = x[i] }
    }
    return out
}
