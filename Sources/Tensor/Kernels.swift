import Foundation

/// Small elementwise and row-wise float32 kernels.
public enum Kernels {
    /// `y += x` over `count` floats.
    @inline(__always)
    public static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { y[i] += x[i] }
    }

    /// `y *= s`.
    @inline(__always)
    public static func scale(_ y: UnsafeMutablePointer<Float>, by s: Float, count: Int) {
        for i in 0..<count { y[i] *= s }
    }

    /// `y *= m` elementwise (applying a 0/1 mask).
    @inline(__always)
    public static func multiply(_ y: UnsafeMutablePointer<Float>, by m: UnsafePointer<Float>, count: Int) {
        for i in 0..<count { y[i] *= m[i] }
    }

    /// Numerically stable softmax of the first `n` entries of a row, in place; returns
    /// `(max, log-sum-exp)` so a caller can form log-probabilities without a second pass.
    @discardableResult @inline(__always)
    public static func softmaxInPlace(_ row: UnsafeMutablePointer<Float>, count n: Int) -> (max: Float, logSumExp: Float) {
        var mx = -Float.infinity
        for j in 0..<n where row[j] > mx { mx = row[j] }
        var sum: Float = 0
        for j in 0..<n {
            let e = expf(row[j] - mx)
            row[j] = e
            sum += e
        }
        let inv = 1 / sum
        for j in 0..<n { row[j] *= inv }
        return (mx, mx + logf(sum))
    }

    /// Softmax of every row of a `[rows, cols]` matrix with row stride `ld`, in place.
    public static func softmaxRows(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, ld: Int, threads: Int = 1) {
        Parallel.forRanges(rows, threads: threads) { r in
            for i in r { softmaxInPlace(x + i * ld, count: cols) }
        }
    }
}
