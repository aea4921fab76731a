import COpenBLAS

/// The layer-wise N:M pruning methods.
public enum SemiStructuredMethod: String, CaseIterable, Sendable, CustomStringConvertible {
    case magnitude, wanda, sparsegpt, admm

    /// One line for `--help`.
    public var summary: String {
        switch self {
        case .magnitude: "keep the largest |W| of every group; needs no calibration data"
        case .wanda: "keep the largest |W_ij|*||X_j||_2 of every group (Wanda); no weight update"
        case .sparsegpt: "SparseGPT: mask from w^2/[H^-1]_ii^2 per group, error propagated to later inputs"
        case .admm: "ADMM weight update with gradual mask selection (Boza 2024); lowest error, slowest"
        }
    }

    /// Whether the method reads calibration statistics (`InputGram`).
    public var needsCalibration: Bool { self != .magnitude }

    public var description: String { rawValue }
}

/// SparseGPT settings (defaults as in brief §3 and the reference implementation).
public struct SparseGPTOptions: Sendable, Equatable {
    /// Columns per lazy-update block; rounded down to a multiple of M (at least M) so that no
    /// group straddles two blocks.
    public var blockSize: Int = 128
    /// Damping added to H's diagonal, as a fraction of its mean diagonal.
    public var damping: Double = 0.01
    public init(blockSize: Int = 128, damping: Double = 0.01) {
        self.blockSize = blockSize
        self.damping = damping
    }
}

/// ADMM settings (defaults as in brief §3 and the reference implementation).
public struct ADMMOptions: Sendable, Equatable {
    public var iterations: Int = 20
    /// The ADMM penalty ρ (the normalised Gram has unit diagonal, so 1 is on its scale).
    public var rho: Double = 1
    /// Damping of the normalised Gram, as a fraction of its mean diagonal.
    public var damping: Double = 0.1
    /// Iterations over which the mask is re-selected with the cubic schedule; 0 fixes the Wanda
    /// mask up front. Must not exceed `iterations`, or the final mask would not be N:M yet.
    public var gradualIterations: Int = 15
    public init(iterations: Int = 20, rho: Double = 1, damping: Double = 0.1, gradualIterations: Int = 15) {
        self.iterations = iterations
        self.rho = rho
        self.damping = damping
        self.gradualIterations = gradualIterations
    }
}

public struct SemiStructuredOptions: Sendable, Equatable {
    public var sparsegpt: SparseGPTOptions
    public var admm: ADMMOptions
    public init(sparsegpt: SparseGPTOptions = .init(), admm: ADMMOptions = .init()) {
        self.sparsegpt = sparsegpt
        self.admm = admm
    }
}

/// Layer-wise N:M pruning of one linear weight, row-major `[rows = out, cols = in]` float32.
/// Every method returns the pruned weight and a 0/1 mask with exactly N zeros in every group of M
/// consecutive inputs of a row. A kept weight may still be exactly zero (e.g. SparseGPT zeroes
/// the weights of inputs that never fire); the mask, not the value, records what was pruned.
public enum SemiStructured {
    public typealias Result = (weight: [Float], mask: [Float])

    public static func prune(weight: [Float], rows: Int, cols: Int, pattern: NMPattern,
                             method: SemiStructuredMethod, gram: InputGram?,
                             options: SemiStructuredOptions = .init()) throws -> Result {
        if method == .magnitude { return try magnitude(weight: weight, rows: rows, cols: cols, pattern: pattern) }
        guard let gram else { throw PruningError("\(method) pruning needs calibration statistics (an InputGram)") }
        switch method {
        case .magnitude: fatalError("handled above")
        case .wanda: return try wanda(weight: weight, rows: rows, cols: cols, pattern: pattern, gram: gram)
        case .sparsegpt:
            return try sparsegpt(weight: weight, rows: rows, cols: cols, pattern: pattern, gram: gram, options: options.sparsegpt)
        case .admm:
            return try admm(weight: weight, rows: rows, cols: cols, pattern: pattern, gram: gram, options: options.admm)
        }
    }

    // MARK: - Reconstruction error

    /// `‖X Wᵀ − X Ŵᵀ‖_F²` on the calibration inputs, from the Gram alone: `Σ_r Δw_r ᵀ (XᵀX) Δw_r`
    /// with `ΔW = W − Ŵ` (cost rows·cols² in Double).
    public static func reconstructionError(original: [Float], pruned: [Float], rows: Int, cols: Int,
                                           gram: InputGram) throws -> Double {
        try checkShape(original, rows: rows, cols: cols, gram: gram)
        try checkShape(pruned, rows: rows, cols: cols, gram: gram)
        let delta = zip(original, pruned).map { Double($0) - Double($1) }
        return quadraticForm(delta, rows: rows, cols: cols, gram: gram.matrix())
    }

    /// `reconstructionError / ‖X Wᵀ‖_F²` (0 when both are zero, +∞ when only the output is).
    public static func relativeReconstructionError(original: [Float], pruned: [Float], rows: Int, cols: Int,
                                                   gram: InputGram) throws -> Double {
        let err = try reconstructionError(original: original, pruned: pruned, rows: rows, cols: cols, gram: gram)
        let energy = quadraticForm(original.map(Double.init), rows: rows, cols: cols, gram: gram.matrix())
        if energy == 0 { return err == 0 ? 0 : .infinity }
        return err / energy
    }

    /// `Σ_r v_r ᵀ G v_r` for the rows of `v` (`[rows, cols]`).
    static func quadraticForm(_ v: [Double], rows: Int, cols: Int, gram g: [Double]) -> Double {
        var vg = [Double](repeating: 0, count: rows * cols)
        cblas_dsymm(CblasRowMajor, CblasRight, CblasUpper, Int32(rows), Int32(cols), 1,
                    g, Int32(cols), v, Int32(cols), 0, &vg, Int32(cols))
        var sum = 0.0
        for i in 0..<v.count { sum += v[i] * vg[i] }
        return sum
    }

    // MARK: - Shared helpers

    static func checkShape(_ weight: [Float], rows: Int, cols: Int, pattern: NMPattern) throws {
        guard rows > 0, cols > 0, weight.count == rows * cols else {
            throw PruningError("weight has \(weight.count) values, expected rows \(rows) × cols \(cols)")
        }
        try pattern.validate(cols: cols)
        guard weight.allSatisfy(\.isFinite) else { throw PruningError("weight has non-finite values") }
    }

    static func checkShape(_ weight: [Float], rows: Int, cols: Int, gram: InputGram) throws {
        guard rows > 0, cols > 0, weight.count == rows * cols else {
            throw PruningError("weight has \(weight.count) values, expected rows \(rows) × cols \(cols)")
        }
        guard gram.dimension == cols else {
            throw PruningError("InputGram has dimension \(gram.dimension) but the weight has \(cols) inputs")
        }
    }

    static func checkCalibration(_ gram: InputGram, cols: Int) throws {
        guard gram.dimension == cols else {
            throw PruningError("InputGram has dimension \(gram.dimension) but the weight has \(cols) inputs")
        }
        guard gram.rows > 0 else { throw PruningError("InputGram holds no calibration rows") }
    }

    /// The N:M mask pruning the `n` lowest `score`s of every group. Ties prune the lower column
    /// first, so the result is a pure function of the scores (no sort-stability questions).
    static func lowestInGroups(_ score: [Double], rows: Int, cols: Int, pattern: NMPattern) -> [Float] {
        var mask = [Float](repeating: 1, count: rows * cols)
        var group = 0
        while group < score.count {
            pruneLowest(score, group: group, pattern: pattern, into: &mask)
            group += pattern.m
        }
        return mask
    }

    /// Zeroes `mask` at the `n` lowest scores of the group starting at flat index `group`.
    @inline(__always)
    static func pruneLowest(_ score: [Double], group: Int, pattern: NMPattern, into mask: inout [Float]) {
        for _ in 0..<pattern.n {
            var best = -1
            for k in group..<(group + pattern.m) where mask[k] != 0 {
                if best < 0 || score[k] < score[best] { best = k }
            }
            mask[best] = 0
        }
    }

    /// The invariant every method promises; cheap next to the pruning itself.
    static func assertPattern(_ mask: [Float], rows: Int, cols: Int, pattern: NMPattern) {
        precondition(pattern.holds(mask: mask, rows: rows, cols: cols), "internal error: mask is not \(pattern)")
    }
}
