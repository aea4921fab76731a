import COpenBLAS
import OpenBLASRuntime

/// The single-precision matrix products the engine is built on (OpenBLAS).
///
/// All matrices are row-major. `op(X)` is `X` or `X^T`. The four transpose combinations cover a
/// linear layer's forward (`x W^T`: NT), input gradient (`dy W`: NN) and weight gradient
/// (`dy^T x`: TN).
extension BLAS {
    /// `C[m, n] = alpha * op(A) op(B) + beta * C`, where `op(A)` is `[m, k]` and `op(B)` is `[k, n]`.
    /// `lda`/`ldb`/`ldc` are the row strides of the stored matrices (as stored, before `op`).
    @inline(__always)
    public static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard m > 0, n > 0 else { return }
        if k == 0 {
            // OpenBLAS rejects k = 0 on some paths; the product is empty, so only beta applies.
            for i in 0..<m {
                let row = c + i * ldc
                for j in 0..<n { row[j] = beta == 0 ? 0 : beta * row[j] }
            }
            return
        }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// Dense `C = op(A) op(B)` (or `C += ...` with `accumulate`) with tightly packed operands:
    /// `A` stored as `[m, k]` (or `[k, m]` if `transA`), `B` as `[k, n]` (or `[n, k]` if `transB`).
    @inline(__always)
    public static func matmul(_ a: UnsafePointer<Float>, transA: Bool = false, _ b: UnsafePointer<Float>, transB: Bool = false,
                              into c: UnsafeMutablePointer<Float>, m: Int, n: Int, k: Int, accumulate: Bool = false, alpha: Float = 1) {
        sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
              a: a, lda: transA ? m : k, b: b, ldb: transB ? k : n, beta: accumulate ? 1 : 0, c: c, ldc: n)
    }
}
