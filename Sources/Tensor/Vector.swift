import Foundation

/// Eight float32 lanes: the width the elementwise kernels work in (one AVX2 register with
/// Package.swift's x86-64 settings; two SSE registers on baseline x86-64, two NEON registers on arm64).
public typealias Float8 = SIMD8<Float>

/// Vector loads, stores and math for the elementwise kernels.
///
/// Every kernel that uses these computes each element with the same lane-wise operations whatever
/// its position (tails go through the same vector code via `load(_:count:)`), so results do not
/// depend on where a thread's range starts: bit-identical for any thread count.
public enum Vec {
    @inlinable @inline(__always)
    public static func load(_ p: UnsafePointer<Float>) -> Float8 {
        UnsafeRawPointer(p).loadUnaligned(as: Float8.self)
    }

    @inlinable @inline(__always)
    public static func store(_ v: Float8, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: Float8.self)
    }

    /// The first `count` (< 8) lanes from `p`, the others `fill`.
    @inlinable @inline(__always)
    public static func load(_ p: UnsafePointer<Float>, count: Int, fill: Float = 0) -> Float8 {
        var v = Float8(repeating: fill)
        for i in 0..<count { v[i] = p[i] }
        return v
    }

    /// Stores the first `count` (< 8) lanes.
    @inlinable @inline(__always)
    public static func store(_ v: Float8, _ p: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { p[i] = v[i] }
    }

    /// `c + a * b`: one fused multiply-add when the build targets a CPU with FMA (`TENSOR_FMA`, set
    /// in Package.swift together with `-target-cpu`), else a multiply and an add (a fused one
    /// would be a libm call per lane there).
    @inlinable @inline(__always)
    public static func madd(_ a: Float8, _ b: Float8, _ c: Float8) -> Float8 {
        #if TENSOR_FMA
        return c.addingProduct(a, b)
        #else
        return c + a * b
        #endif
    }

    /// How `exp` evaluates its polynomial. The two give different last bits, and each caller keeps
    /// the one its results were first computed with.
    public enum ExpOrder: Sendable {
        /// Plain products in Horner's order: the same bits with or without FMA (softmax,
        /// cross-entropy, SwiGLU).
        case horner
        /// Fused multiply-adds in Estrin's order: the Horner chain of dependent operations is ~80
        /// cycles long, so a loop of them stalls on the scheduler's capacity (17 cycles per 8
        /// lanes measured with AVX2, against ~7 for the operations alone); Estrin cuts the
        /// polynomial's part of the chain from 5 to 3 steps (the tiled attention kernels).
        case estrin
    }

    /// `e^x`, lane-wise: Cephes' `expf` scheme (x = n ln2 + r with |r| <= ln2/2, ln2 in two parts,
    /// degree-7 polynomial), about 1 ulp (relative error < 2e-7 measured on [-87, 88]). Inputs are
    /// clamped to [-87.33, 88]: below, the result is the smallest normal float (~1.2e-38) instead of
    /// a subnormal or zero; above, ~1.65e38 instead of overflowing. NaN stays NaN only through the
    /// polynomial, so callers keep NaNs out.
    @inlinable @inline(__always)
    public static func exp(_ x: Float8, _ order: ExpOrder = .horner) -> Float8 {
        // `replacing(with:where:)` compiles to compare-and-blend; `clamped` and `pointwiseMin` are calls.
        let lo = Float8(repeating: -87.336_54), hi = Float8(repeating: 88)
        var x = x.replacing(with: lo, where: x .< lo)
        x = x.replacing(with: hi, where: x .> hi)
        // Round x * log2(e) to the nearest integer with the 1.5 * 2^23 trick (no SSE4.1 round needed);
        // the integer lands in the low mantissa bits of t.
        let magic: Float = 12_582_912
        let log2e = Float8(repeating: 1.442_695_04), shift = Float8(repeating: magic)
        let t = order == .estrin ? madd(x, log2e, shift) : x * log2e + shift
        let n = t - shift
        var r = x - n * Float8(repeating: 0.693_359_375)
        r = r - n * Float8(repeating: -2.121_944_4e-4)
        let c0 = Float8(repeating: 1.987_569_15e-4), c1 = Float8(repeating: 1.398_199_95e-3)
        let c2 = Float8(repeating: 8.333_451_9e-3), c3 = Float8(repeating: 4.166_579_59e-2)
        let c4 = Float8(repeating: 1.666_666_55e-1), c5 = Float8(repeating: 5.000_000_12e-1)
        let er: Float8
        switch order {
        case .horner:
            var p = c0
            p = p * r + c1
            p = p * r + c2
            p = p * r + c3
            p = p * r + c4
            p = p * r + c5
            er = p * (r * r) + r + Float8(repeating: 1)
        case .estrin:
            let r2 = r * r
            let p = madd(madd(madd(c0, r, c1), r2, madd(c2, r, c3)), r2, madd(c4, r, c5))
            er = madd(p, r2, r) + Float8(repeating: 1)
        }
        // 2^n: (n + 127) << 23 as a float's bit pattern.
        let ti = unsafeBitCast(t, to: SIMD8<Int32>.self) &- Int32(bitPattern: magic.bitPattern)
        let scale = unsafeBitCast((ti &+ 127) &<< 23, to: Float8.self)
        return er * scale
    }

    /// Sum of the lanes in a fixed order (pairwise), so a row's reduction has one defined result.
    @inlinable @inline(__always)
    public static func sum(_ v: Float8) -> Float {
        let a = v.lowHalf + v.highHalf
        let b = a.lowHalf + a.highHalf
        return b[0] + b[1]
    }

    @inlinable @inline(__always)
    public static func max(_ v: Float8) -> Float {
        var m = v[0]
        for i in 1..<8 where v[i] > m { m = v[i] }
        return m
    }
}
