import COpenBLAS
import Tensor

/// SparseGPT N:M pruning (Frantar & Alistarh 2023), as in brief §3.
///
/// Greedy approximation of `min ‖X Wᵀ − X Ŵᵀ‖²` over N:M masks and kept weights: columns are
/// visited left to right; at the start of every group of M the N weights with the lowest OBS
/// saliency `w² / [U]_jj²` are chosen (U = upper Cholesky factor of H⁻¹, `H = 2/n XᵀX` damped by
/// 1 % of its mean diagonal; `[U]_jj² = [(H_{≥j,≥j})⁻¹]_jj`, the OBS denominator once the earlier
/// columns are fixed), and each visited column's rounding error `(w − q)/[U]_jj` is propagated to
/// the later columns along row j of U, so the kept later weights compensate for it. Rows are
/// independent and share U. Earlier columns are never revisited (hence "greedy").
///
/// Cost: O(cols³) for the factorisations (Double LAPACK) and O(rows·cols²) for the updates —
/// within a block of B columns rank-1 updates, then one `dgemm` pushes the block's errors to all
/// later columns (the lazy batch update, which gives the same result as column-by-column updates).
extension SemiStructured {
    public static func sparsegpt(weight: [Float], rows: Int, cols: Int, pattern: NMPattern, gram: InputGram,
                                 options: SparseGPTOptions = .init()) throws -> Result {
        try checkShape(weight, rows: rows, cols: cols, pattern: pattern)
        try checkCalibration(gram, cols: cols)
        guard options.blockSize > 0, options.damping >= 0 else {
            throw PruningError("SparseGPT: block size must be positive and damping non-negative")
        }
        let m = pattern.m
        var w = weight.map(Double.init)

        // H = 2/n XᵀX (the scale does not change the result, the damping is relative; kept for
        // fidelity with the reference's numbers).
        var h = gram.matrix()
        let scale = 2 / Double(gram.rows)
        for i in 0..<h.count { h[i] *= scale }
        // Inputs that never fire: the weight cannot matter on these data, so it is zeroed and
        // the Hessian gets a unit diagonal there to stay invertible (as the reference does).
        for j in 0..<cols where h[j * cols + j] == 0 {
            h[j * cols + j] = 1
            for r in 0..<rows { w[r * cols + j] = 0 }
        }
        var meanDiag = 0.0
        for j in 0..<cols { meanDiag += h[j * cols + j] }
        let damp = options.damping * meanDiag / Double(cols)
        for j in 0..<cols { h[j * cols + j] += damp }

        // U upper with H⁻¹ = Uᵀ U: row j of U, divided by U_jj, is the optimal compensation of the
        // later columns for a change of column j once the earlier ones are fixed.
        do {
            try LAPACK.invertSPD(&h, n: cols)
            try LAPACK.cholesky(&h, n: cols, upper: true)
        } catch {
            throw PruningError("SparseGPT: the damped Hessian is not positive definite (\(error)); raise the damping")
        }
        let u = h

        var mask = [Float](repeating: 1, count: rows * cols)
        var score = [Double](repeating: 0, count: rows * cols)
        let block = max(m, options.blockSize / m * m)
        var i1 = 0
        while i1 < cols {
            let i2 = min(i1 + block, cols)
            let count = i2 - i1
            var err = [Double](repeating: 0, count: rows * count)
            for r in 0..<rows {
                let row = r * cols
                for i in i1..<i2 {
                    let d = u[i * cols + i]
                    if (i - i1) % m == 0 {
                        // Saliencies of this group with the weights as updated so far.
                        for k in i..<(i + m) {
                            let dk = u[k * cols + k]
                            score[row + k] = w[row + k] * w[row + k] / (dk * dk)
                        }
                        pruneLowest(score, group: row + i, pattern: pattern, into: &mask)
                    }
                    let q = mask[row + i] == 0 ? 0 : w[row + i]
                    let e = (w[row + i] - q) / d
                    w[row + i] = q
                    if e != 0 {
                        for j in (i + 1)..<i2 { w[row + j] -= e * u[i * cols + j] }
                    }
                    err[r * count + (i - i1)] = e
                }
            }
            if i2 < cols {
                // W[:, i2:] -= Err · U[i1:i2, i2:]
                u.withUnsafeBufferPointer { up in
                    w.withUnsafeMutableBufferPointer { wp in
                        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(cols - i2), Int32(count),
                                    -1, err, Int32(count), up.baseAddress! + i1 * cols + i2, Int32(cols),
                                    1, wp.baseAddress! + i2, Int32(cols))
                    }
                }
            }
            i1 = i2
        }
        assertPattern(mask, rows: rows, cols: cols, pattern: pattern)
        return (w.map { Float($0) }, mask)
    }
}
