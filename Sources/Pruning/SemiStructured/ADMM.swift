import COpenBLAS
import Foundation
import Tensor

/// ADMM weight update with gradual N:M mask selection (Boža 2024, seed 003), as in brief §3.
///
/// Minimises the damped reconstruction error of the normalised layer,
/// `‖X D⁻¹ (Wₙ − W₀ₙ)ᵀ‖² + λ‖Wₙ − W₀ₙ‖²` with `Wₙ = W D`, `D = diag(‖X_j‖₂)`, subject to `Wₙ`
/// being zero outside an N:M mask, by ADMM on the split W (least squares) / Z (masked copy):
/// `Z = (W + U) ⊙ M`, `U += W − Z`, `W = (G W₀ + ρ (Z − U)) A` with `G = D⁻¹XᵀXD⁻¹ + λI`,
/// `λ = 0.1·mean diag`, `A = (G + ρI)⁻¹`. In the normalised space `|Wₙ|` is the Wanda score, so
/// the first mask is Wanda's; during the first T iterations the mask is re-chosen from `|W + U|`,
/// pruning a growing fraction `s_t = s (1 − (1 − (t+1)/T)³)` (cubic schedule, s = N/M).
///
/// N:M with the schedule (what the reference does for 2:4, generalised): in every group the
/// M − N largest `|W + U|` are always kept (“protected”); of the remaining entries of the whole
/// matrix, the ⌊s_t · rows · cols⌋ smallest are pruned — a global, not per-row, fill-up. At
/// t = T − 1, s_t = s and exactly the unprotected entries go, so the mask is then exactly N:M and
/// stays fixed for the remaining iterations. Output: `Z` of the last iteration, scaled back by D⁻¹.
///
/// Cost: O(cols³) once (Double LAPACK inverse), then O(rows·cols²) per iteration (one `dgemm`)
/// plus a sort of the unprotected entries per mask update; everything in Double.
extension SemiStructured {
    public static func admm(weight: [Float], rows: Int, cols: Int, pattern: NMPattern, gram: InputGram,
                            options: ADMMOptions = .init()) throws -> Result {
        try checkShape(weight, rows: rows, cols: cols, pattern: pattern)
        try checkCalibration(gram, cols: cols)
        let iterations = options.iterations, gradual = options.gradualIterations
        guard iterations >= 0, gradual >= 0, gradual <= iterations else {
            throw PruningError("ADMM: need 0 ≤ gradual iterations (\(gradual)) ≤ iterations (\(iterations))")
        }
        guard options.rho > 0, options.damping >= 0 else {
            throw PruningError("ADMM: rho must be positive and damping non-negative")
        }
        let n = cols, count = rows * cols, rho = options.rho

        // d_j = ‖X_j‖₂. An input that never fires gets a tiny d instead of 0 (the reference adds
        // 1e-8): its normalised weight scores ≈ 0, so it is pruned first — it costs nothing on
        // these data — and where kept, the damping returns it to its original value.
        let diag = gram.diagonal
        let live = diag.filter { $0 > 0 }.map { $0.squareRoot() }
        let tiny = 1e-8 * (live.max() ?? 1)
        let d = diag.map { $0 > 0 ? $0.squareRoot() : tiny }

        var g = gram.matrix()
        for i in 0..<n { for j in 0..<n { g[i * n + j] /= d[i] * d[j] } }
        var meanDiag = 0.0
        for j in 0..<n { meanDiag += g[j * n + j] }
        let lambda = options.damping * meanDiag / Double(n)
        for j in 0..<n { g[j * n + j] += lambda }

        var w0 = [Double](repeating: 0, count: count)
        for r in 0..<rows { for j in 0..<n { w0[r * n + j] = Double(weight[r * n + j]) * d[j] } }

        var mask = lowestInGroups(w0.map(abs), rows: rows, cols: cols, pattern: pattern)
        var w = w0
        var u = [Double](repeating: 0, count: count)
        var z = [Double](repeating: 0, count: count)
        if iterations > 0 {
            // B = W₀ G (the fixed half of every W update), then A = (G + ρI)⁻¹.
            var b = [Double](repeating: 0, count: count)
            cblas_dsymm(CblasRowMajor, CblasRight, CblasUpper, Int32(rows), Int32(n), 1,
                        g, Int32(n), w0, Int32(n), 0, &b, Int32(n))
            var a = g
            for j in 0..<n { a[j * n + j] += rho }
            do { try LAPACK.invertSPD(&a, n: n) } catch {
                throw PruningError("ADMM: G + rho I is not positive definite (\(error))")
            }
            var rhs = [Double](repeating: 0, count: count)
            for t in 0..<iterations {
                if t < gradual {
                    mask = gradualMask(w: w, u: u, rows: rows, cols: cols, pattern: pattern,
                                       step: t, steps: gradual)
                }
                for i in 0..<count {
                    let zi = mask[i] == 0 ? 0 : w[i] + u[i]
                    u[i] += w[i] - zi
                    z[i] = zi
                    rhs[i] = b[i] + rho * (zi - u[i])
                }
                // W = (B + ρ(Z − U)) A  (row-major form of the reference's A (B + ρ(Z − U)) on Wᵀ).
                cblas_dsymm(CblasRowMajor, CblasRight, CblasUpper, Int32(rows), Int32(n), 1,
                            a, Int32(n), rhs, Int32(n), 0, &w, Int32(n))
            }
        }
        var out = [Float](repeating: 0, count: count)
        for r in 0..<rows {
            for j in 0..<n where mask[r * n + j] != 0 {
                let i = r * n + j
                out[i] = Float((w[i] + u[i]) / d[j])
            }
        }
        assertPattern(mask, rows: rows, cols: cols, pattern: pattern)
        return (out, mask)
    }

    /// Mask at step `step` of `steps`: protect the top M − N of every group by |W + U|, then prune
    /// the ⌊s_t·rows·cols⌋ smallest unprotected entries of the whole matrix (ties: lower index).
    static func gradualMask(w: [Double], u: [Double], rows: Int, cols: Int, pattern: NMPattern,
                            step: Int, steps: Int) -> [Float] {
        let count = rows * cols
        let magnitude = (0..<count).map { abs(w[$0] + u[$0]) }
        // Unprotected = the N lowest of each group, exactly the N:M mask's zeros.
        let nm = lowestInGroups(magnitude, rows: rows, cols: cols, pattern: pattern)
        var candidates = (0..<count).filter { nm[$0] == 0 }
        let k: Int
        if step == steps - 1 {
            k = candidates.count  // s_t = s exactly; avoid a floor of 0.49999… · count
        } else {
            let frac = 1 - Double(step + 1) / Double(steps)
            let s = pattern.sparsity * (1 - frac * frac * frac)
            k = min(candidates.count, Int((s * Double(count)).rounded(.down)))
        }
        candidates.sort { magnitude[$0] != magnitude[$1] ? magnitude[$0] < magnitude[$1] : $0 < $1 }
        var mask = [Float](repeating: 1, count: count)
        for idx in candidates.prefix(k) { mask[idx] = 0 }
        return mask
    }
}
