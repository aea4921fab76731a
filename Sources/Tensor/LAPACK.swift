import COpenBLAS

/// A LAPACK routine refused its input: `info > 0` for Cholesky means the leading minor of that
/// order is not positive definite (the matrix is singular or indefinite in floating point).
public struct LAPACKError: Error, Sendable, Equatable, CustomStringConvertible {
    public var routine: String
    public var info: Int
    public init(routine: String, info: Int) { self.routine = routine; self.info = info }
    public var description: String {
        info > 0 ? "\(routine): leading minor \(info) is not positive definite"
                 : "\(routine): argument \(-info) is invalid"
    }
}

/// Double-precision symmetric positive-definite factorisations for row-major matrices, through
/// OpenBLAS's Fortran LAPACK (`dpotrf_`, `dpotri_`).
///
/// Fortran is column-major, so a row-major array is seen transposed. For a symmetric matrix that
/// is the same matrix, and a factor stored in Fortran's lower triangle is a row-major upper one:
/// asking Fortran for `'L'` (A = L Lᵀ) yields, read row-major, `Lᵀ` = U with A = Uᵀ U.
public enum LAPACK {
    /// Cholesky factor of the symmetric positive-definite `a` (`[n, n]`, row-major), in place.
    /// `upper`: `a = Uᵀ U` with U in the upper triangle; otherwise `a = L Lᵀ` with L lower.
    /// The other triangle is set to zero, so the result is the factor as a dense matrix.
    public static func cholesky(_ a: inout [Double], n: Int, upper: Bool) throws(LAPACKError) {
        precondition(a.count == n * n, "cholesky: \(a.count) values for a \(n)×\(n) matrix")
        guard n > 0 else { return }
        try potrf(&a, n: n, fortranUplo: upper ? "L" : "U")
        zeroTriangle(&a, n: n, keepUpper: upper)
    }

    /// Inverse of the symmetric positive-definite `a` (`[n, n]`, row-major), in place, returned
    /// as a full symmetric matrix (both triangles).
    public static func invertSPD(_ a: inout [Double], n: Int) throws(LAPACKError) {
        precondition(a.count == n * n, "invertSPD: \(a.count) values for a \(n)×\(n) matrix")
        guard n > 0 else { return }
        // Fortran 'L' = row-major upper triangle; dpotri leaves the inverse in that triangle.
        try potrf(&a, n: n, fortranUplo: "L")
        var uplo = CChar(UInt8(ascii: "L"))
        var nn = blasint(n), lda = blasint(n), info: blasint = 0
        a.withUnsafeMutableBufferPointer { p in _ = dpotri_(&uplo, &nn, p.baseAddress!, &lda, &info) }
        if info != 0 { throw LAPACKError(routine: "dpotri", info: Int(info)) }
        for i in 0..<n { for j in 0..<i { a[i * n + j] = a[j * n + i] } }
    }

    private static func potrf(_ a: inout [Double], n: Int, fortranUplo: Character) throws(LAPACKError) {
        precondition(n <= Int(Int32.max), "matrix too large for 32-bit LAPACK")
        var uplo = CChar(fortranUplo.asciiValue!)
        var nn = blasint(n), lda = blasint(n), info: blasint = 0
        a.withUnsafeMutableBufferPointer { p in _ = dpotrf_(&uplo, &nn, p.baseAddress!, &lda, &info) }
        if info != 0 { throw LAPACKError(routine: "dpotrf", info: Int(info)) }
    }

    private static func zeroTriangle(_ a: inout [Double], n: Int, keepUpper: Bool) {
        for i in 0..<n {
            for j in 0..<n where keepUpper ? j < i : j > i { a[i * n + j] = 0 }
        }
    }
}
