import Foundation
import Testing
import Tensor
@testable import Pruning

// N:M semi-structured pruning: the mask invariant, the Gram-based error, and each method against
// an independent reference (brute force, a naive sequential OBS, the least-squares closed form).

private let methods = SemiStructuredMethod.allCases

private func prune(_ w: [Float], _ rows: Int, _ cols: Int, _ pattern: NMPattern, _ method: SemiStructuredMethod,
                   _ gram: InputGram, _ options: SemiStructuredOptions = .init()) throws -> SemiStructured.Result {
    try SemiStructured.prune(weight: w, rows: rows, cols: cols, pattern: pattern, method: method, gram: gram, options: options)
}

private func error(_ w: [Float], _ p: [Float], _ rows: Int, _ cols: Int, _ gram: InputGram) throws -> Double {
    try SemiStructured.reconstructionError(original: w, pruned: p, rows: rows, cols: cols, gram: gram)
}

// MARK: - Pattern and input validation

@Test func patternParsesAndRejectsNonsense() throws {
    let p = try NMPattern(parsing: "2:4")
    #expect(p == .twoFour && p.n == 2 && p.m == 4 && p.kept == 2 && p.sparsity == 0.5 && p.description == "2:4")
    #expect(try NMPattern(parsing: " 4 : 8 ") == NMPattern(n: 4, m: 8))
    for bad in ["4:2", "0:4", "4:4", "a:b", "2:4:8", "2", "", ":4", "2:", "-1:4", "1:1", "2.0:4"] {
        #expect(throws: PruningError.self, "\(bad)") { try NMPattern(parsing: bad) }
    }
    #expect(throws: PruningError.self) { try NMPattern(n: 3, m: 2) }
}

@Test func badShapesAndMissingDataThrow() throws {
    let x = SSFixture.gaussian(10 * 6, seed: 1)
    let gram6 = SSFixture.gram(x, cols: 6)
    let w = SSFixture.gaussian(2 * 6, seed: 2)
    for method in methods {  // 6 inputs are not groups of 4
        #expect(throws: PruningError.self) { try prune(w, 2, 6, .twoFour, method, gram6) }
    }
    let gram8 = SSFixture.gram(SSFixture.gaussian(10 * 8, seed: 3), cols: 8)
    let w8 = SSFixture.gaussian(2 * 8, seed: 4)
    for method in methods {
        #expect(throws: PruningError.self) { try prune(w8, 3, 8, .twoFour, method, gram8) }  // count ≠ rows·cols
        #expect(throws: PruningError.self) { try prune(w8.map { _ in .nan }, 2, 8, .twoFour, method, gram8) }
    }
    for method in methods where method.needsCalibration {
        #expect(throws: PruningError.self) { try prune(w8, 4, 4, .twoFour, method, gram8) }  // gram is for 8 inputs
        #expect(throws: PruningError.self) { try prune(w8, 2, 8, .twoFour, method, InputGram(dimension: 8)) }  // no rows
        #expect(throws: PruningError.self) {
            try SemiStructured.prune(weight: w8, rows: 2, cols: 8, pattern: .twoFour, method: method, gram: nil)
        }
    }
    var o = SemiStructuredOptions()
    o.admm.gradualIterations = 21  // would end before the mask is N:M
    #expect(throws: PruningError.self) { try prune(w8, 2, 8, .twoFour, .admm, gram8, o) }
    var g = InputGram(dimension: 8)
    #expect(throws: PruningError.self) { try g.add([Float](repeating: 1, count: 12)) }
    #expect(SemiStructuredMethod(rawValue: "sparsegpt") == .sparsegpt)
    #expect(methods.map(\.rawValue) == ["magnitude", "wanda", "sparsegpt", "admm"])
    #expect(methods.allSatisfy { !$0.summary.isEmpty && !$0.summary.contains("\n") })
}

// MARK: - The mask invariant

@Test func everyMethodGivesExactNMMasks() throws {
    let shapes = [(rows: 7, cols: 24), (rows: 1, cols: 8), (rows: 3, cols: 144)]  // 144 > one 128-column block
    for (rows, cols) in shapes {
        let tokens = 40
        let gram = SSFixture.gram(SSFixture.activations(tokens: tokens, cols: cols, latent: 5, outliers: 2, seed: 5), cols: cols)
        let w = SSFixture.gaussian(rows * cols, seed: UInt64(rows * cols))
        for pattern in [try NMPattern(n: 2, m: 4), try NMPattern(n: 1, m: 4), try NMPattern(n: 4, m: 8), try NMPattern(n: 1, m: 2)] {
            for method in methods {
                let r = try prune(w, rows, cols, pattern, method, gram)
                #expect(pattern.holds(mask: r.mask, rows: rows, cols: cols), "\(method) \(pattern) \(rows)×\(cols)")
                #expect(r.weight.count == rows * cols && r.weight.allSatisfy { $0.isFinite })
                #expect(zip(r.weight, r.mask).allSatisfy { $1 == 1 || $0 == 0 }, "\(method): a pruned weight is non-zero")
            }
        }
    }
}

// MARK: - Statistics and the error measure

@Test func gramIsExactAndBatchesAdd() throws {
    let tokens = 37, cols = 5
    let x = SSFixture.gaussian(tokens * cols, seed: 7, scale: 3)
    var whole = InputGram(dimension: cols)
    try whole.add(x)
    var parts = InputGram(dimension: cols), other = InputGram(dimension: cols)
    try parts.add(Array(x[0..<(10 * cols)]))
    try other.add(Array(x[(10 * cols)...]))
    try parts.merge(other)
    #expect(whole.rows == tokens && parts.rows == tokens)
    let g = whole.matrix(), gp = parts.matrix()
    for i in 0..<cols {
        for j in 0..<cols {
            var naive = 0.0
            for t in 0..<tokens { naive += Double(x[t * cols + i]) * Double(x[t * cols + j]) }
            #expect(abs(g[i * cols + j] - naive) <= 1e-12 * max(1, abs(naive)))
            #expect(abs(gp[i * cols + j] - naive) <= 1e-12 * max(1, abs(naive)))
            #expect(g[i * cols + j] == g[j * cols + i])
        }
        #expect(whole.diagonal[i] == g[i * cols + i] && whole.columnNorms[i] == g[i * cols + i].squareRoot())
    }
}

@Test func lapackCholeskyAndInverse() throws {
    let n = 6
    let b = SSFixture.gaussian(n * n, seed: 8).map(Double.init)
    var a = [Double](repeating: 0, count: n * n)  // Bᵀ B + I is SPD
    for i in 0..<n { for j in 0..<n { for k in 0..<n { a[i * n + j] += b[k * n + i] * b[k * n + j] } }; a[i * n + i] += 1 }
    var u = a, l = a, inv = a
    try LAPACK.cholesky(&u, n: n, upper: true)
    try LAPACK.cholesky(&l, n: n, upper: false)
    try LAPACK.invertSPD(&inv, n: n)
    for i in 0..<n {
        for j in 0..<n {
            var utu = 0.0, llt = 0.0, ainv = 0.0
            for k in 0..<n { utu += u[k * n + i] * u[k * n + j]; llt += l[i * n + k] * l[j * n + k]; ainv += a[i * n + k] * inv[k * n + j] }
            #expect(abs(utu - a[i * n + j]) < 1e-10 && abs(llt - a[i * n + j]) < 1e-10)
            #expect(abs(ainv - (i == j ? 1 : 0)) < 1e-10)
            if j < i { #expect(u[i * n + j] == 0 && l[j * n + i] == 0) }
        }
    }
    var singular = [Double](repeating: 1, count: 4)
    #expect(throws: LAPACKError.self) { try LAPACK.invertSPD(&singular, n: 2) }
}

@Test func reconstructionErrorFromGramEqualsDirect() throws {
    let tokens = 50, rows = 6, cols = 16
    let x = SSFixture.activations(tokens: tokens, cols: cols, latent: 4, outliers: 1, seed: 9)
    let gram = SSFixture.gram(x, cols: cols)
    let w = SSFixture.gaussian(rows * cols, seed: 10)
    for method in methods {
        let p = try prune(w, rows, cols, .twoFour, method, gram).weight
        let direct = SSFixture.directError(x: x, tokens: tokens, cols: cols, w: w, pruned: p, rows: rows)
        let viaGram = try error(w, p, rows, cols, gram)
        #expect(abs(viaGram - direct) <= 1e-9 * direct, "\(method): \(viaGram) vs \(direct)")
        let energy = SSFixture.directError(x: x, tokens: tokens, cols: cols, w: w, pruned: .init(repeating: 0, count: w.count), rows: rows)
        let rel = try SemiStructured.relativeReconstructionError(original: w, pruned: p, rows: rows, cols: cols, gram: gram)
        #expect(abs(rel - direct / energy) <= 1e-9 * rel)
    }
    #expect(try error(w, w, rows, cols, gram) == 0)
}

// MARK: - Magnitude and Wanda

@Test func magnitudeAndWandaMatchSortingReference() throws {
    // Hand case: 2:4 keeps the two largest scores.
    var g = InputGram(dimension: 4)
    try g.add([10, 0.1, 1, 1])  // one token: ‖X_j‖ = (10, 0.1, 1, 1)
    let w: [Float] = [0.1, -3, 2, 0.5]
    #expect(try SemiStructured.magnitude(weight: w, rows: 1, cols: 4, pattern: .twoFour).mask == [0, 1, 1, 0])
    let wanda = try SemiStructured.wanda(weight: w, rows: 1, cols: 4, pattern: .twoFour, gram: g)  // scores 1, .3, 2, .5
    #expect(wanda.mask == [1, 0, 1, 0] && wanda.weight == [0.1, 0, 2, 0])

    // Random case against a full sort of each group (ties broken towards the lower column).
    let rows = 5, cols = 16, tokens = 30
    let x = SSFixture.activations(tokens: tokens, cols: cols, latent: 3, outliers: 2, seed: 11)
    let gram = SSFixture.gram(x, cols: cols)
    var ws = SSFixture.gaussian(rows * cols, seed: 12)
    ws[0] = ws[1]; ws[2] = -ws[1]  // ties
    let norms = gram.columnNorms
    for pattern in [NMPattern.twoFour, try NMPattern(n: 4, m: 8), try NMPattern(n: 3, m: 4)] {
        for useNorms in [false, true] {
            var expected = [Float](repeating: 1, count: rows * cols)
            for r in 0..<rows {
                for g0 in stride(from: 0, to: cols, by: pattern.m) {
                    let order = (g0..<(g0 + pattern.m)).sorted { a, b in
                        let sa = Double(abs(ws[r * cols + a])) * (useNorms ? norms[a] : 1)
                        let sb = Double(abs(ws[r * cols + b])) * (useNorms ? norms[b] : 1)
                        return sa != sb ? sa < sb : a < b
                    }
                    for j in order.prefix(pattern.n) { expected[r * cols + j] = 0 }
                }
            }
            let got = useNorms ? try SemiStructured.wanda(weight: ws, rows: rows, cols: cols, pattern: pattern, gram: gram)
                               : try SemiStructured.magnitude(weight: ws, rows: rows, cols: cols, pattern: pattern)
            #expect(got.mask == expected, "\(pattern) wanda=\(useNorms)")
            #expect(got.weight == zip(ws, expected).map { $1 == 0 ? 0 : $0 })
        }
    }
}

@Test func wandaEqualsMagnitudeWhenInputNormsAreEqual() throws {
    // ±1 activations: every column has ‖X_j‖² = tokens exactly, so Wanda's factor is a constant.
    let tokens = 33, rows = 9, cols = 32
    let x = SSFixture.gaussian(tokens * cols, seed: 13).map { $0 < 0 ? Float(-1) : 1 }
    let gram = SSFixture.gram(x, cols: cols)
    #expect(Set(gram.diagonal) == [Double(tokens)])
    let w = SSFixture.gaussian(rows * cols, seed: 14)
    for pattern in [NMPattern.twoFour, try NMPattern(n: 1, m: 4), try NMPattern(n: 4, m: 8)] {
        let a = try prune(w, rows, cols, pattern, .wanda, gram), b = try prune(w, rows, cols, pattern, .magnitude, gram)
        #expect(a.mask == b.mask && a.weight == b.weight)
    }
}

// MARK: - SparseGPT

/// SparseGPT without any of its tricks: visit columns in order, invert the damped Hessian of the
/// not-yet-visited columns explicitly, choose each group's mask by w²/[H_R⁻¹]_kk (R = columns ≥ k),
/// and apply the OBS update `w_R -= (w_i − q)·[H_R⁻¹]_i,R / [H_R⁻¹]_ii`.
private func naiveSparseGPT(_ w: [Float], rows: Int, cols: Int, pattern: NMPattern, gram: InputGram) -> [Double] {
    var h = gram.matrix()
    let meanDiag = (0..<cols).map { h[$0 * cols + $0] }.reduce(0, +) / Double(cols)
    for j in 0..<cols { h[j * cols + j] += 0.01 * meanDiag }
    func trailingInverse(_ i: Int) -> [Double] {  // (H[i:, i:])⁻¹ column by column
        let k = cols - i
        var sub = [Double](repeating: 0, count: k * k)
        for a in 0..<k { for b in 0..<k { sub[a * k + b] = h[(i + a) * cols + i + b] } }
        var inv = [Double](repeating: 0, count: k * k)
        for c in 0..<k {
            let e = (0..<k).map { $0 == c ? 1.0 : 0 }
            let col = SSFixture.solve(sub, e, n: k)
            for r in 0..<k { inv[r * k + c] = col[r] }
        }
        return inv
    }
    let inverses = (0..<cols).map(trailingInverse)
    var out = w.map(Double.init)
    for r in 0..<rows {
        var pruned = Set<Int>()
        for i in 0..<cols {
            if i % pattern.m == 0 {
                let order = (i..<(i + pattern.m)).sorted { a, b in
                    let sa = out[r * cols + a] * out[r * cols + a] / inverses[a][0]
                    let sb = out[r * cols + b] * out[r * cols + b] / inverses[b][0]
                    return sa != sb ? sa < sb : a < b
                }
                pruned.formUnion(order.prefix(pattern.n))
            }
            guard pruned.contains(i) else { continue }
            let hinv = inverses[i]
            let wi = out[r * cols + i]
            for j in i..<cols { out[r * cols + j] -= wi * hinv[j - i] / hinv[0] }
            out[r * cols + i] = 0
        }
    }
    return out
}

@Test func sparsegptMatchesSequentialOBS() throws {
    let tokens = 60, rows = 5, cols = 24
    let x = SSFixture.activations(tokens: tokens, cols: cols, latent: 8, outliers: 2, seed: 15)
    let gram = SSFixture.gram(x, cols: cols)
    let w = SSFixture.gaussian(rows * cols, seed: 16)
    for pattern in [NMPattern.twoFour, try NMPattern(n: 4, m: 8)] {
        let reference = naiveSparseGPT(w, rows: rows, cols: cols, pattern: pattern, gram: gram)
        let scale = reference.map(abs).max()!
        for block in [8, 128, 5] {  // lazy batches across blocks, one block, and a size rounded to M
            var o = SemiStructuredOptions()
            o.sparsegpt.blockSize = block
            let got = try prune(w, rows, cols, pattern, .sparsegpt, gram, o)
            let diff = zip(got.weight, reference).map { abs(Double($0) - $1) }.max()!
            #expect(diff <= 1e-5 * scale, "\(pattern) block \(block): max diff \(diff)")
            #expect(zip(got.mask, reference).allSatisfy { ($0 == 0) == ($1 == 0) })
        }
    }
}

// MARK: - Against the exact optimum (brute force over masks + least squares)

@Test func methodsAgainstBruteForceOptimum() throws {
    // 1:2 on two inputs: one group, so SparseGPT's only suboptimality is pruning the second input
    // (no later column can compensate); both it and ADMM should sit at the optimum.
    var totals = [String: Double]()
    for seed: UInt64 in 1...6 {
        let tokens = 64, rows = 6, cols = 2, pattern = try NMPattern(n: 1, m: 2)
        let gram = SSFixture.gram(SSFixture.activations(tokens: tokens, cols: cols, latent: 2, outliers: 1, seed: seed), cols: cols)
        let w = SSFixture.gaussian(rows * cols, seed: seed)
        let opt = SSFixture.optimalError(weight: w, rows: rows, cols: cols, pattern: pattern, gram: gram)
        totals["opt", default: 0] += opt
        for method in methods {
            let e = try error(w, try prune(w, rows, cols, pattern, method, gram).weight, rows, cols, gram)
            #expect(e >= opt * (1 - 1e-9), "\(method) beats the exact optimum?")
            totals[method.rawValue, default: 0] += e
        }
    }
    #expect(totals["sparsegpt"]! <= 1.02 * totals["opt"]!)
    #expect(totals["admm"]! <= 1.02 * totals["opt"]!)
    #expect(totals["wanda"]! > totals["sparsegpt"]! && totals["magnitude"]! > totals["wanda"]!)

    // 2:4 on eight inputs (36 masks a row): geometric mean of error / optimum over seeds.
    var logRatio = [String: Double]()
    for seed: UInt64 in 1...6 {
        let tokens = 64, rows = 6, cols = 8
        let gram = SSFixture.gram(SSFixture.activations(tokens: tokens, cols: cols, latent: 6, outliers: 1, seed: seed), cols: cols)
        let w = SSFixture.gaussian(rows * cols, seed: seed)
        let opt = SSFixture.optimalError(weight: w, rows: rows, cols: cols, pattern: .twoFour, gram: gram)
        for method in methods {
            let e = try error(w, try prune(w, rows, cols, .twoFour, method, gram).weight, rows, cols, gram)
            #expect(e >= opt * (1 - 1e-9), "\(method) beats the exact optimum?")
            logRatio[method.rawValue, default: 0] += log(e / opt) / 6
        }
    }
    let ratio = logRatio.mapValues { exp($0) }
    #expect(ratio["admm"]! < 2.5)
    #expect(ratio["admm"]! < ratio["sparsegpt"]! && ratio["sparsegpt"]! < ratio["wanda"]! && ratio["wanda"]! < ratio["magnitude"]!)
}

// MARK: - ADMM

@Test func admmWithFixedMaskConvergesToLeastSquares() throws {
    // With the mask fixed (no gradual phase) and no damping, ADMM's fixed point is the exact
    // least-squares refit of the kept weights — the closed form the brute force also uses.
    for (rows, cols, seed) in [(1, 8, UInt64(17)), (4, 16, 18)] {
        let tokens = 80
        let x = SSFixture.activations(tokens: tokens, cols: cols, latent: cols - 2, outliers: 1, seed: seed)
        let gram = SSFixture.gram(x, cols: cols)
        let w = SSFixture.gaussian(rows * cols, seed: seed)
        var o = SemiStructuredOptions()
        o.admm = ADMMOptions(iterations: 400, rho: 1, damping: 0, gradualIterations: 0)
        let got = try prune(w, rows, cols, .twoFour, .admm, gram, o)
        let wandaMask = try prune(w, rows, cols, .twoFour, .wanda, gram).mask
        #expect(got.mask == wandaMask)
        let g = gram.matrix()
        for r in 0..<rows {
            let kept = (0..<cols).filter { wandaMask[r * cols + $0] == 1 }
            let (ls, _) = SSFixture.leastSquares(row: (0..<cols).map { Double(w[r * cols + $0]) }, kept: kept, g: g, cols: cols)
            let scale = ls.map(abs).max()!
            for j in 0..<cols { #expect(abs(Double(got.weight[r * cols + j]) - ls[j]) <= 1e-4 * scale, "row \(r) col \(j)") }
        }
    }
}

@Test func admmWithoutIterationsIsWanda() throws {
    // In the normalised space |W·d| is the Wanda score, so the initial mask is Wanda's.
    let rows = 6, cols = 16
    let gram = SSFixture.gram(SSFixture.activations(tokens: 40, cols: cols, latent: 5, outliers: 2, seed: 19), cols: cols)
    let w = SSFixture.gaussian(rows * cols, seed: 20)
    var o = SemiStructuredOptions()
    o.admm = ADMMOptions(iterations: 0, gradualIterations: 0)
    let a = try prune(w, rows, cols, .twoFour, .admm, gram, o), b = try prune(w, rows, cols, .twoFour, .wanda, gram)
    #expect(a.mask == b.mask)
    #expect(zip(a.weight, b.weight).allSatisfy { abs($0 - $1) <= 1e-6 * abs($1) })
}

@Test func admmGradualMaskFollowsCubicSchedule() throws {
    let rows = 3, cols = 16, count = rows * cols, steps = 15
    let w = SSFixture.gaussian(count, seed: 21).map(Double.init), u = SSFixture.gaussian(count, seed: 22, scale: 0.1).map(Double.init)
    let magnitude = zip(w, u).map { abs($0 + $1) }
    for pattern in [NMPattern.twoFour, try NMPattern(n: 1, m: 4)] {
        let protected = SemiStructured.lowestInGroups(magnitude, rows: rows, cols: cols, pattern: pattern)  // 1 = top M−N
        var previous = 0
        for t in 0..<steps {
            let mask = SemiStructured.gradualMask(w: w, u: u, rows: rows, cols: cols, pattern: pattern, step: t, steps: steps)
            let zeros = mask.filter { $0 == 0 }.count
            let target = pattern.sparsity * (1 - pow(1 - Double(t + 1) / Double(steps), 3)) * Double(count)
            #expect(zeros == Int(target.rounded(.down)) || (t == steps - 1 && zeros == count * pattern.n / pattern.m))
            #expect(zeros >= previous)
            previous = zeros
            // Protected weights are never pruned, and what is pruned is the smallest of the rest.
            #expect(zip(mask, protected).allSatisfy { $1 == 0 || $0 == 1 })
            let prunedMax = (0..<count).filter { mask[$0] == 0 }.map { magnitude[$0] }.max() ?? 0
            let keptUnprotectedMin = (0..<count).filter { mask[$0] == 1 && protected[$0] == 0 }.map { magnitude[$0] }.min() ?? .infinity
            #expect(prunedMax <= keptUnprotectedMin)
            if t == steps - 1 { #expect(mask == protected) }
        }
    }
}

// MARK: - The ordering on LLM-like activations

@Test func orderingOnCorrelatedOutlierActivations() throws {
    let tokens = 256, rows = 32, cols = 64
    for seed: UInt64 in 1...3 {
        let x = SSFixture.activations(tokens: tokens, cols: cols, latent: 12, outliers: 3, seed: seed)
        let gram = SSFixture.gram(x, cols: cols)
        let w = SSFixture.gaussian(rows * cols, seed: seed)
        var e = [SemiStructuredMethod: Double]()
        for method in methods {
            let p = try prune(w, rows, cols, .twoFour, method, gram).weight
            e[method] = try SemiStructured.relativeReconstructionError(original: w, pruned: p, rows: rows, cols: cols, gram: gram)
        }
        #expect(e[.admm]! <= e[.sparsegpt]!, "seed \(seed): \(e)")
        #expect(e[.sparsegpt]! <= e[.wanda]!, "seed \(seed): \(e)")
        #expect(e[.wanda]! < e[.magnitude]!, "seed \(seed): \(e)")
    }
}

// MARK: - Dead inputs and determinism

@Test func deadInputsArePrunedFirst() throws {
    let tokens = 30, rows = 4, cols = 8
    var x = SSFixture.activations(tokens: tokens, cols: cols, latent: 4, outliers: 0, seed: 23)
    for t in 0..<tokens { x[t * cols + 2] = 0 }  // input 2 never fires
    let gram = SSFixture.gram(x, cols: cols)
    let w = SSFixture.gaussian(rows * cols, seed: 24, scale: 5)
    for method in methods where method.needsCalibration {
        let r = try prune(w, rows, cols, .twoFour, method, gram)
        #expect(NMPattern.twoFour.holds(mask: r.mask, rows: rows, cols: cols))
        #expect((0..<rows).allSatisfy { r.mask[$0 * cols + 2] == 0 }, "\(method) kept a dead input")
        #expect(r.weight.allSatisfy { $0.isFinite })
    }
}

@Test func sameInputsGiveSameBits() throws {
    let rows = 8, cols = 32
    let x = SSFixture.activations(tokens: 50, cols: cols, latent: 6, outliers: 2, seed: 25)
    let w = SSFixture.gaussian(rows * cols, seed: 26)
    for method in methods {
        let a = try prune(w, rows, cols, .twoFour, method, SSFixture.gram(x, cols: cols))
        let b = try prune(w, rows, cols, .twoFour, method, SSFixture.gram(x, cols: cols))
        #expect(a.weight.map(\.bitPattern) == b.weight.map(\.bitPattern) && a.mask == b.mask, "\(method)")
    }
}

