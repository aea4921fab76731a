import COpenBLAS

/// Second-moment statistics of a linear layer's input X (rows = tokens, columns = input
/// features): `XᵀX` and the number of rows. Every layer-wise N:M method needs only this —
/// magnitude nothing, Wanda its diagonal (`‖X_j‖₂²`), SparseGPT `H = 2/n XᵀX`, ADMM `XᵀX`.
///
/// Accumulated in Double with `dsyrk` after widening each float32 batch: a product of two floats
/// is exact in Double (24 + 24 significand bits < 53), so the only rounding is in the Double sums,
/// ~1e-16 relative per addition — far below float32, even over millions of tokens. (A float32
/// `sgemm` would lose ~1e-7 per product and drift as the count grows.) Only the upper triangle
/// is stored; `matrix()` mirrors it.
public struct InputGram: Sendable {
    /// Number of input features (columns of X, `in` of the layer).
    public let dimension: Int
    /// Number of rows (tokens) accumulated so far.
    public private(set) var rows: Int = 0
    private var upper: [Double]

    public init(dimension: Int) {
        precondition(dimension > 0, "InputGram dimension must be positive")
        self.dimension = dimension
        upper = [Double](repeating: 0, count: dimension * dimension)
    }

    /// Adds a batch `x`, row-major `[rows, dimension]`.
    public mutating func add(_ x: UnsafeBufferPointer<Float>) throws {
        guard x.count % dimension == 0 else {
            throw PruningError("InputGram: \(x.count) values are not whole rows of \(dimension) features")
        }
        let total = x.count / dimension
        guard total > 0, let base = x.baseAddress else { return }
        // Widen in chunks so the Double scratch stays small whatever the batch size.
        let chunk = max(1, min(total, (1 << 20) / dimension))
        var scratch = [Double](repeating: 0, count: chunk * dimension)
        let n = Int32(dimension)
        var start = 0
        while start < total {
            let k = min(chunk, total - start)
            let src = base + start * dimension
            for i in 0..<(k * dimension) { scratch[i] = Double(src[i]) }
            scratch.withUnsafeBufferPointer { a in
                upper.withUnsafeMutableBufferPointer { c in
                    // Row-major, Trans: C (n×n) += Aᵀ A with A = k×n.
                    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, n, Int32(k), 1,
                                a.baseAddress!, n, 1, c.baseAddress!, n)
                }
            }
            start += k
        }
        rows += total
    }

    /// Adds a batch `x`, row-major `[rows, dimension]`.
    public mutating func add(_ x: [Float]) throws {
        try x.withUnsafeBufferPointer { try add($0) }
    }

    /// Adds another accumulator of the same layer (e.g. one filled on another thread).
    public mutating func merge(_ other: InputGram) throws {
        guard other.dimension == dimension else {
            throw PruningError("InputGram: cannot merge dimension \(other.dimension) into \(dimension)")
        }
        for i in 0..<upper.count { upper[i] += other.upper[i] }
        rows += other.rows
    }

    /// `XᵀX`, full symmetric `[dimension, dimension]` row-major.
    public func matrix() -> [Double] {
        var full = upper
        let n = dimension
        for i in 0..<n { for j in 0..<i { full[i * n + j] = full[j * n + i] } }
        return full
    }

    /// `diag(XᵀX)` = squared column norms `‖X_j‖₂²`.
    public var diagonal: [Double] { (0..<dimension).map { upper[$0 * dimension + $0] } }

    /// Column norms `‖X_j‖₂` (Wanda's activation factor).
    public var columnNorms: [Double] { diagonal.map { $0.squareRoot() } }
}
