import Foundation

/// L1-penalised linear regression (the lasso) by cyclic coordinate descent, and k-fold
/// cross-validation of the penalty on Kendall's tau: Bonsai's scoring model, which turns
/// (sub-model mask, score) pairs into one importance per unit.
///
/// Objective, with an unpenalised intercept `b0`:
///     (1 / 2n) * sum_i (y_i - b0 - x_i . beta)^2 + lambda * sum_j |beta_j|
/// Columns and `y` are centred once, which removes `b0` from the descent; each coordinate then has
/// the closed-form update `beta_j = S(x_j . r_j / n, lambda) / (x_j . x_j / n)` (S: soft threshold,
/// `r_j` the residual without `j`).
///
/// Columns that are equal up to sign after centring (Bonsai's antithetic design makes them whenever a
/// module has two candidates and drops one: a unit is kept exactly when the other is dropped) leave
/// the lasso a whole segment of equally good solutions: only the signed sum of their coefficients
/// matters, and coordinate descent would give all of it to whichever column comes first. We return
/// the solution of smallest L2 norm on that segment, the limit of an elastic net as its ridge part
/// vanishes: the signed sum shared equally. Fitted values and the objective are unchanged.
public enum SparseRegression {
    /// A design matrix, stored by columns because coordinate descent walks columns.
    public struct Design: Sendable {
        public let rows: Int
        public let columns: Int
        /// Column-major: entry `(i, j)` at `j * rows + i`.
        public private(set) var values: [Double]

        public init(rows: Int, columns: Int, columnMajor: [Double]) {
            precondition(rows >= 0 && columns >= 0 && columnMajor.count == rows * columns, "design: \(columnMajor.count) values for \(rows) x \(columns)")
            self.rows = rows
            self.columns = columns
            values = columnMajor
        }

        /// From rows of equal length.
        public init(rows r: [[Double]]) {
            let m = r.first?.count ?? 0
            precondition(r.allSatisfy { $0.count == m }, "design: rows of different lengths")
            var v = [Double](repeating: 0, count: r.count * m)
            for (i, row) in r.enumerated() { for j in 0..<m { v[j * r.count + i] = row[j] } }
            self.init(rows: r.count, columns: m, columnMajor: v)
        }

        @inline(__always) public subscript(_ i: Int, _ j: Int) -> Double { values[j * rows + i] }

        /// The given rows, in the given order.
        public func selecting(rows idx: [Int]) -> Design {
            var v = [Double](repeating: 0, count: idx.count * columns)
            for j in 0..<columns { for (k, i) in idx.enumerated() { v[j * idx.count + k] = values[j * rows + i] } }
            return Design(rows: idx.count, columns: columns, columnMajor: v)
        }
    }

    public struct Fit: Sendable, Equatable {
        public var intercept: Double
        public var coefficients: [Double]
        public var penalty: Double
        /// Full passes over the coordinates.
        public var epochs: Int
        public var converged: Bool

        public func predict(_ x: Design) -> [Double] {
            precondition(x.columns == coefficients.count, "predict: \(x.columns) columns for \(coefficients.count) coefficients")
            var out = [Double](repeating: intercept, count: x.rows)
            for j in 0..<x.columns where coefficients[j] != 0 {
                let b = coefficients[j], base = j * x.rows
                for i in 0..<x.rows { out[i] += b * x.values[base + i] }
            }
            return out
        }
    }

    /// The centred problem, shared by every penalty of a path.
    struct Centred {
        let n: Int, m: Int
        let x: [Double]          // centred columns, column-major
        let xMean: [Double]
        let squares: [Double]    // x_j . x_j (centred)
        let y: [Double]          // centred
        let yMean: Double
        let yScale: Double       // root mean square of centred y (convergence scale)
        /// Groups of two or more columns equal up to sign after centring, with each member's sign.
        let ties: [[(column: Int, sign: Double)]]

        init(_ d: Design, _ y0: [Double]) {
            precondition(y0.count == d.rows, "lasso: \(y0.count) targets for \(d.rows) rows")
            n = d.rows; m = d.columns
            var x = d.values, means = [Double](repeating: 0, count: m), sq = [Double](repeating: 0, count: m)
            for j in 0..<m {
                let base = j * n
                var s = 0.0
                for i in 0..<n { s += x[base + i] }
                let mu = n > 0 ? s / Double(n) : 0
                var q = 0.0
                for i in 0..<n { x[base + i] -= mu; q += x[base + i] * x[base + i] }
                means[j] = mu; sq[j] = q
            }
            self.x = x; xMean = means; squares = sq
            let ym = y0.isEmpty ? 0 : y0.reduce(0, +) / Double(y0.count)
            y = y0.map { $0 - ym }
            yMean = ym
            yScale = n > 0 ? (y.reduce(0) { $0 + $1 * $1 } / Double(n)).squareRoot() : 0
            // Key: the centred column on one scale for all columns (only equal norms are tied: with
            // unequal ones the lasso's optimum is unique), sign fixed by its first clearly non-zero
            // entry, rounded to 1e-9 (exact for 0/1 designs).
            var groups: [[Int64]: [(column: Int, sign: Double)]] = [:], order: [[Int64]] = []
            let largest = sq.max() ?? 0, scale = largest > 0 ? (Double(n) / largest).squareRoot() : 0
            for j in 0..<m where sq[j] > 0 {
                let base = j * n
                var sign = 0.0
                for i in 0..<n where abs(x[base + i] * scale) > 1e-9 { sign = x[base + i] > 0 ? 1 : -1; break }
                let key = (0..<n).map { Int64((x[base + $0] * scale * sign * 1e9).rounded()) }
                if groups[key] == nil { order.append(key) }
                groups[key, default: []].append((j, sign))
            }
            ties = order.compactMap { groups[$0]!.count > 1 ? groups[$0]! : nil }
        }

        /// `max_j |x_j . y| / n`: at and above this penalty every coefficient is zero.
        var largestPenalty: Double {
            var best = 0.0
            for j in 0..<m {
                var s = 0.0
                for i in 0..<n { s += x[j * n + i] * y[i] }
                best = max(best, abs(s) / Double(max(1, n)))
            }
            return best
        }

        func solve(penalty lambda: Double, start: [Double]?, tolerance: Double, maxEpochs: Int) -> Fit {
            var beta = start ?? [Double](repeating: 0, count: m)
            precondition(beta.count == m, "lasso: warm start has \(beta.count) coefficients for \(m) columns")
            // Residual of the centred problem for the starting coefficients.
            var r = y
            for j in 0..<m where beta[j] != 0 {
                let b = beta[j], base = j * n
                for i in 0..<n { r[i] -= b * x[base + i] }
            }
            let nl = Double(n) * lambda
            var epochs = 0, converged = n == 0 || yScale == 0
            if converged { beta = [Double](repeating: 0, count: m) }
            while !converged && epochs < maxEpochs {
                epochs += 1
                var largestStep = 0.0
                for j in 0..<m where squares[j] > 0 {
                    let base = j * n, old = beta[j]
                    var rho = 0.0
                    for i in 0..<n { rho += x[base + i] * r[i] }
                    rho += old * squares[j]
                    let new = rho > nl ? (rho - nl) / squares[j] : rho < -nl ? (rho + nl) / squares[j] : 0
                    let delta = new - old
                    if delta != 0 {
                        for i in 0..<n { r[i] -= delta * x[base + i] }
                        beta[j] = new
                        // The step's effect on the fitted values, root mean square.
                        largestStep = max(largestStep, abs(delta) * (squares[j] / Double(n)).squareRoot())
                    }
                }
                converged = largestStep <= tolerance * yScale
            }
            // Smallest-norm member of the optimal segment: share each tied group's signed sum.
            for group in ties {
                let t = group.reduce(0.0) { $0 + $1.sign * beta[$1.column] } / Double(group.count)
                for g in group { beta[g.column] = g.sign * t }
            }
            var b0 = yMean
            for j in 0..<m { b0 -= xMean[j] * beta[j] }
            return Fit(intercept: b0, coefficients: beta, penalty: lambda, epochs: epochs, converged: converged)
        }
    }

    /// The smallest penalty at which every coefficient is zero.
    public static func largestPenalty(_ x: Design, _ y: [Double]) -> Double { Centred(x, y).largestPenalty }

    /// One lasso fit. `start`: coefficients to start from (warm start along a path).
    public static func lasso(_ x: Design, _ y: [Double], penalty: Double, start: [Double]? = nil,
                             tolerance: Double = 1e-8, maxEpochs: Int = 10_000) -> Fit {
        precondition(penalty >= 0, "lasso: negative penalty \(penalty)")
        return Centred(x, y).solve(penalty: penalty, start: start, tolerance: tolerance, maxEpochs: maxEpochs)
    }

    /// `count` penalties from `largestPenalty` down to `range * largestPenalty`, evenly spaced in log.
    public static func penaltyGrid(_ x: Design, _ y: [Double], count: Int, range: Double) -> [Double] {
        let top = largestPenalty(x, y)
        guard count > 1, top > 0 else { return [top] }
        return (0..<count).map { top * pow(range, Double($0) / Double(count - 1)) }
    }

    public struct CrossValidation: Sendable {
        /// Largest first.
        public var penalties: [Double]
        /// Mean over folds of Kendall's tau between held-out predictions and held-out targets.
        public var meanTau: [Double]
        public var best: Int
        public var folds: Int
        /// Refit on every row at the chosen penalty.
        public var fit: Fit
    }

    /// Chooses the penalty whose fits, trained without one fold and scored on it, rank the held-out
    /// targets best (mean Kendall tau over folds; ties go to the larger penalty, the sparser model),
    /// then refits on all rows. `fold[i]` in `0..<folds` is row `i`'s fold; a caller keeps rows that
    /// belong together (Bonsai's antithetic pairs) in one fold. With fewer than two non-empty folds
    /// the smallest penalty is taken without validation.
    public static func crossValidated(_ x: Design, _ y: [Double], fold: [Int], penalties: [Double],
                                      tolerance: Double = 1e-8, maxEpochs: Int = 10_000) -> CrossValidation {
        precondition(fold.count == x.rows && y.count == x.rows, "cross-validation: fold and target counts must match the rows")
        precondition(!penalties.isEmpty, "cross-validation: no penalties")
        let grid = penalties.sorted(by: >)
        let used = Set(fold).sorted()
        var sums = [Double](repeating: 0, count: grid.count)
        var counted = 0
        if used.count >= 2 {
            for f in used {
                let test = (0..<x.rows).filter { fold[$0] == f }, train = (0..<x.rows).filter { fold[$0] != f }
                guard test.count >= 2, train.count >= 2 else { continue }
                let trainProblem = Centred(x.selecting(rows: train), train.map { y[$0] })
                let testX = x.selecting(rows: test), testY = test.map { y[$0] }
                var start: [Double]? = nil
                for (k, lambda) in grid.enumerated() {
                    let fit = trainProblem.solve(penalty: lambda, start: start, tolerance: tolerance, maxEpochs: maxEpochs)
                    start = fit.coefficients
                    sums[k] += kendallTau(fit.predict(testX), testY)
                }
                counted += 1
            }
        }
        let mean = sums.map { counted > 0 ? $0 / Double(counted) : 0 }
        var best = grid.count - 1
        if counted > 0 {
            best = 0
            for k in grid.indices where mean[k] > mean[best] { best = k }
        }
        // Refit along the path down to the chosen penalty (warm starts keep it cheap and stable).
        let all = Centred(x, y)
        var start: [Double]? = nil, fit: Fit! = nil
        for lambda in grid[...best] {
            fit = all.solve(penalty: lambda, start: start, tolerance: tolerance, maxEpochs: maxEpochs)
            start = fit.coefficients
        }
        return CrossValidation(penalties: grid, meanTau: mean, best: best, folds: counted, fit: fit)
    }

    /// Kendall's tau-b (ties in either variable handled); 0 when either side is constant.
    public static func kendallTau(_ a: [Double], _ b: [Double]) -> Double {
        precondition(a.count == b.count, "kendallTau: \(a.count) vs \(b.count) values")
        var concordant = 0.0, discordant = 0.0, tiesA = 0.0, tiesB = 0.0
        let n = a.count
        for i in 0..<n {
            for j in (i + 1)..<max(i + 1, n) {
                let da = a[i] - a[j], db = b[i] - b[j]
                if da == 0 && db == 0 { continue }
                if da == 0 { tiesA += 1; continue }
                if db == 0 { tiesB += 1; continue }
                if (da > 0) == (db > 0) { concordant += 1 } else { discordant += 1 }
            }
        }
        let denominator = ((concordant + discordant + tiesA) * (concordant + discordant + tiesB)).squareRoot()
        return denominator > 0 ? (concordant - discordant) / denominator : 0
    }
}
