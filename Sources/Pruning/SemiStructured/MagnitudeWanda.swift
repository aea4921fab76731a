/// Magnitude and Wanda N:M pruning: score every weight, zero the N lowest of each group of M.
///
/// Neither minimises the reconstruction error `‖X Wᵀ − X Ŵᵀ‖²` directly. Magnitude ignores the
/// data; Wanda's `|W_ij|·‖X_j‖₂` is the error of removing weight (i, j) alone when the inputs
/// are uncorrelated (then the error is `Σ W_ij² ‖X_j‖²`, exactly what it ranks). No weight is
/// updated. Cost: O(rows·cols) after the Gram's diagonal (Wanda's only use of the calibration data).
extension SemiStructured {
    public static func magnitude(weight: [Float], rows: Int, cols: Int, pattern: NMPattern) throws -> Result {
        try checkShape(weight, rows: rows, cols: cols, pattern: pattern)
        let score = weight.map { Double(abs($0)) }
        return applying(lowestInGroups(score, rows: rows, cols: cols, pattern: pattern), to: weight, rows: rows, cols: cols, pattern: pattern)
    }

    public static func wanda(weight: [Float], rows: Int, cols: Int, pattern: NMPattern, gram: InputGram) throws -> Result {
        try checkShape(weight, rows: rows, cols: cols, pattern: pattern)
        try checkCalibration(gram, cols: cols)
        let norms = gram.columnNorms
        var score = [Double](repeating: 0, count: weight.count)
        for r in 0..<rows {
            for j in 0..<cols { score[r * cols + j] = Double(abs(weight[r * cols + j])) * norms[j] }
        }
        return applying(lowestInGroups(score, rows: rows, cols: cols, pattern: pattern), to: weight, rows: rows, cols: cols, pattern: pattern)
    }

    static func applying(_ mask: [Float], to weight: [Float], rows: Int, cols: Int, pattern: NMPattern) -> Result {
        assertPattern(mask, rows: rows, cols: cols, pattern: pattern)
        return (zip(weight, mask).map { $1 == 0 ? 0 : $0 }, mask)  // +0, never -0, for pruned weights
    }
}
