import Foundation

/// Small elementwise and row-wise float32 kernels.
public enum Kernels {
    /// `y += x` over `count` floats.
    @inlinable @inline(__always)
    public static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 8 <= count { Vec.store(Vec.load(y + i) + Vec.load(x + i), y + i); i += 8 }
        while i < count { y[i] += x[i]; i += 1 }
    }

    /// `y *= s`.
    @inlinable @inline(__always)
    public static func scale(_ y: UnsafeMutablePointer<Float>, by s: Float, count: Int) {
        let sv = Float8(repeating: s)
        var i = 0
        while i + 8 <= count { Vec.store(Vec.load(y + i) * sv, y + i); i += 8 }
        while i < count { y[i] *= s; i += 1 }
    }

    /// `y *= m` elementwise (applying a 0/1 mask).
    @inlinable @inline(__always)
    public static func multiply(_ y: UnsafeMutablePointer<Float>, by m: UnsafePointer<Float>, count: Int) {
        var i = 0
        while i + 8 <= count { Vec.store(Vec.load(y + i) * Vec.load(m + i), y + i); i += 8 }
        while i < count { y[i] *= m[i]; i += 1 }
    }

    /// Numerically stable softmax of the first `n` entries of a row, in place; returns
    /// `(max, log-sum-exp)` so a caller can form log-probabilities without a second pass.
    /// Vectorised (`Vec.exp`, about 1 ulp); the sum is taken in a fixed lane order.
    @discardableResult @inlinable @inline(__always)
    public static func softmaxInPlace(_ row: UnsafeMutablePointer<Float>, count n: Int) -> (max: Float, logSumExp: Float) {
        let mx = rowMax(row, count: n)
        let sum = expShiftedInPlace(row, count: n, shift: mx)
        let inv = 1 / sum
        scale(row, by: inv, count: n)
        return (mx, mx + logf(sum))
    }

    /// Largest of the first `n` entries (`-inf` for `n = 0`).
    @inlinable @inline(__always)
    public static func rowMax(_ row: UnsafePointer<Float>, count n: Int) -> Float {
        var acc = Float8(repeating: -.infinity)
        var j = 0
        while j + 8 <= n {
            let v = Vec.load(row + j)
            acc = acc.replacing(with: v, where: v .> acc)
            j += 8
        }
        var mx = Vec.max(acc)
        while j < n { mx = Swift.max(mx, row[j]); j += 1 }
        return mx
    }

    /// `row[j] = e^(row[j] - shift)` for `j < n`; returns their sum (vector lanes pairwise, then the tail in order).
    @inlinable @inline(__always)
    public static func expShiftedInPlace(_ row: UnsafeMutablePointer<Float>, count n: Int, shift: Float) -> Float {
        let sh = Float8(repeating: shift)
        var acc = Float8(repeating: 0)
        var j = 0
        while j + 8 <= n {
            let e = Vec.exp(Vec.load(row + j) - sh)
            Vec.store(e, row + j)
            acc += e
            j += 8
        }
        var sum = Vec.sum(acc)
        if j < n {
            let e = Vec.exp(Vec.load(row + j, count: n - j) - sh)
            for i in 0..<(n - j) { row[j + i] = e[i]; sum += e[i] }
        }
        return sum
    }

    /// `sum_j e^(row[j] - shift)` over `j < n`, without writing (same arithmetic as `expShiftedInPlace`).
    @inlinable @inline(__always)
    public static func expShiftedSum(_ row: UnsafePointer<Float>, count n: Int, shift: Float) -> Float {
        let sh = Float8(repeating: shift)
        var acc = Float8(repeating: 0)
        var j = 0
        while j + 8 <= n {
            acc += Vec.exp(Vec.load(row + j) - sh)
            j += 8
        }
        var sum = Vec.sum(acc)
        if j < n {
            let e = Vec.exp(Vec.load(row + j, count: n - j) - sh)
            for i in 0..<(n - j) { sum += e[i] }
        }
        return sum
    }

    /// `row[j] = e^(row[j] - shift) * s` for `j < n`.
    @inlinable @inline(__always)
    public static func expShiftedScaled(_ row: UnsafeMutablePointer<Float>, count n: Int, shift: Float, scale s: Float) {
        let sh = Float8(repeating: shift), sv = Float8(repeating: s)
        var j = 0
        while j + 8 <= n {
            Vec.store(Vec.exp(Vec.load(row + j) - sh) * sv, row + j)
            j += 8
        }
        if j < n {
            let e = Vec.exp(Vec.load(row + j, count: n - j) - sh) * sv
            Vec.store(e, row + j, count: n - j)
        }
    }

    /// Softmax of every row of a `[rows, cols]` matrix with row stride `ld`, in place.
    public static func softmaxRows(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, ld: Int, threads: Int = 1) {
        Parallel.forRanges(rows, threads: threads) { r in
            for i in r { softmaxInPlace(x + i * ld, count: cols) }
        }
    }

    /// `x[i, j] += row[j]` for every row of a `[rows, cols]` matrix (a bias added to a product).
    /// Elementwise, so the bits don't depend on how rows are split between threads.
    public static func addRow(_ row: UnsafePointer<Float>, toRowsOf x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, threads: Int = 1) {
        Parallel.forRanges(rows, threads: threads, grain: max(1, 8192 / max(cols, 1))) { r in
            for i in r { add(row, into: x + i * cols, count: cols) }
        }
    }

    /// `out[j] += sum_i x[i, j]` over the rows of a `[rows, cols]` matrix (a bias gradient). Each
    /// column is summed from zero in row order and only then added to `out`, so the result is the
    /// same for any thread count; threads split the columns, in blocks of 8.
    public static func addColumnSums(of x: UnsafePointer<Float>, rows: Int, cols: Int, into out: UnsafeMutablePointer<Float>, threads: Int = 1) {
        let colBlocks = (cols + 7) / 8
        Parallel.forRanges(colBlocks, threads: threads, grain: 8) { blocks in
            let lo = blocks.lowerBound * 8, hi = min(cols, blocks.upperBound * 8)
            var j = lo
            while j + 8 <= hi {
                var acc = Float8(repeating: 0)
                for i in 0..<rows { acc += Vec.load(x + i * cols + j) }
                Vec.store(Vec.load(out + j) + acc, out + j)
                j += 8
            }
            // The tail does the same scalar additions in the same order as a vector lane would.
            while j < hi {
                var acc: Float = 0
                for i in 0..<rows { acc += x[i * cols + j] }
                out[j] += acc
                j += 1
            }
        }
    }
}
