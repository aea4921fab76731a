import Foundation

/// Eight float32 lanes: the width the elementwise kernels work in. (The package is built for the
/// baseline x86-64 target, so this is two SSE registers; on arm64, two NEON registers.)
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

    /// `e^x`, lane-wise: Cephes' `expf` scheme (x = n ln2 + r with |r| <= ln2/2, ln2 in two parts,
    /// degree-7 polynomial), about 1 ulp (relative error < 2e-7 measured on [-87, 88]). Inputs are
    /// clamped to [-87.33, 88]: below, the result is the smallest normal float (~1.2e-38) instead of
    /// a subnormal or zero; above, ~1.65e38 instead of overflowing. NaN stays NaN only through the
    /// polynomial, so callers keep NaNs out.
    @inlinable @inline(__always)
    public static func exp(_ x: Float8) -> Float8 {
        // `replacing(with:where:)` compiles to compare-and-blend; `clamped` and `pointwiseMin` are calls.
        let lo = Float8(repeating: -87.336_54), hi = Float8(repeating: 88)
        var x = x.replacing(with: lo, where: x .< lo)
        x = x.replacing(with: hi, where: x .> hi)
        // Round x * log2(e) to the nearest integer with the 1.5 * 2^23 trick (no SSE4.1 round needed);
        // the integer lands in the low mantissa bits of t.
        let magic: Float = 12_582_912
        let t = x * Float8(repeating: 1.442_695_04) + Float8(repeating: magic)
        let n = t - Float8(repeating: magic)
        var r = x - n * Float8(repeating: 0.693_359_375)
        r = r - n * Float8(repeating: -2.121_944_4e-4)
        var p = Float8(repeating: 1.987_569_15e-4)
        p = p * r + Float8(repeating: 1.398_199_95e-3)
        p = p * r + Float8(repeating: 8.333_451_9e-3)
        p = p * r + Float8(repeating: 4.166_579_59e-2)
        p = p * r + Float8(repeating: 1.666_666_55e-1)
        p = p * r + Float8(repeating: 5.000_000_12e-1)
        let er = p * (r * r) + r + Float8(repeating: 1)
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
