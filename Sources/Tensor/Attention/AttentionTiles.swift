import Foundation

/// The tiled attention kernels for one (batch, head) pair (`CausalAttention.Path.tiled`),
/// hand-written for small head dims (products of `T x T x d` with `d` 16..64 and `T` up to a few
/// hundred: per-block BLAS calls spend much of their time packing and in call overhead there, and
/// compute the masked half of each diagonal block). Query rows go in tiles of 4; a tile works on
/// keys `0 ..< t0 + 4` rounded up to 8, the keys past each row's own `t` masked to exact zeros.
///
/// Flash-attention style bookkeeping: the forward keeps the probabilities only in its 4-row tile
/// and saves two floats per query row (the row's score maximum and 1 / sum of exponentials); the
/// backward recomputes the scores and probabilities with the same arithmetic, so it sees exactly
/// the forward's bits, and keeps them and the score gradients in per-worker buffers that stay in
/// L2. Nothing `T x T` goes through memory.
///
/// Every output element is summed in a fixed order that depends only on the shapes, so results are
/// identical for any thread count. Products use `madd`: fused multiply-adds when `TENSOR_FMA` is
/// set (builds for AVX2 + FMA CPUs), else multiply-then-add, at about half the speed of OpenBLAS's
/// small-matrix kernels; hence `CausalAttention.Path.preferred`.
public enum AttentionTiles {
    /// Query rows per tile.
    static let tileRows = 4

    /// Floats per (batch, head) of the state `headForward` saves for `groupBackward`: the maximum
    /// and 1 / sum of each row (a single float, the maximum, for `T = 1`, whose sum is always 1).
    public static func stateCount(seqLen T: Int) -> Int { T >= 2 ? 2 * T : 1 }

    @inline(__always) static func padded(_ T: Int) -> Int { (T + 7) & ~7 }

    /// Floats of work space for `headForward`: `K^T` (`d * tp` floats, see `packTransposed`), `Q`
    /// and `V` packed `[T, d]`, and a `[4, tp]` score tile (`tp` = `T` rounded up to a multiple of 8). Packing first reads the
    /// strided rows in one pass with many loads in flight; reading them row by row inside the
    /// kernels stalled on each new row's cache miss.
    public static func forwardWorkspace(seqLen T: Int, headDim d: Int) -> Int {
        let tp = padded(T)
        return d * tp + 2 * T * d + tileRows * tp
    }

    /// Floats of work space for `groupBackward`: `K^T`, `V^T` (`d * tp` each); `K`, `Q`, `dO` `[T, d]`;
    /// a `[4, tp]` tile; the probabilities and score gradients, `[T rounded up to 4, tp + 8]` each.
    public static func backwardWorkspace(seqLen T: Int, headDim d: Int) -> Int {
        let tp = padded(T), tr = (T + tileRows - 1) / tileRows * tileRows
        return 2 * d * tp + 3 * T * d + tileRows * tp + 2 * tr * (tp + 8)
    }

    // MARK: Packing

    /// Copies `T` rows of `d` floats, `ld` apart, into `dst` packed `[T, d]`.
    @inline(__always)
    static func packRows(_ src: UnsafePointer<Float>, ld: Int, rows T: Int, cols d: Int, into dst: UnsafeMutablePointer<Float>) {
        if d & 7 == 0 {
            for t in 0..<T {
                let r = src + t * ld, o = dst + t * d
                var j = 0
                while j < d { Vec.store(Vec.load(r + j), o + j); j += 8 }
            }
        } else {
            for t in 0..<T { (dst + t * d).update(from: src + t * ld, count: d) }
        }
    }

    /// `K^T` in key chunks of 8: `dst[(s / 8) * 8d + 8j + s % 8] = src[s * ld + j]` for `s < T`,
    /// `j < d`; zeros for `T <= s < tp`. Chunk-major so that a score tile's walk over `j` reads
    /// contiguous memory: with `[d, tp]` rows `4 tp` bytes apart (1 KB at T = 256) that walk mapped
    /// to a handful of L1 sets and missed. Transposed in 4 x 4 blocks (a scalar transpose measured
    /// ~20x slower).
    @inline(__always)
    static func packTransposed(_ src: UnsafePointer<Float>, ld: Int, rows T: Int, cols d: Int, into dst: UnsafeMutablePointer<Float>, tp: Int) {
        @inline(__always) func at(_ s: Int, _ j: Int) -> UnsafeMutablePointer<Float> { dst + (s >> 3) * 8 * d + 8 * j + (s & 7) }
        let t4 = T & ~3, d4 = d & ~3
        var s = 0
        while s < t4 {
            let r0 = src + s * ld, r1 = r0 + ld, r2 = r1 + ld, r3 = r2 + ld
            var j = 0
            while j < d4 {
                let a = UnsafeRawPointer(r0 + j).loadUnaligned(as: SIMD4<Float>.self)
                let b = UnsafeRawPointer(r1 + j).loadUnaligned(as: SIMD4<Float>.self)
                let c = UnsafeRawPointer(r2 + j).loadUnaligned(as: SIMD4<Float>.self)
                let e = UnsafeRawPointer(r3 + j).loadUnaligned(as: SIMD4<Float>.self)
                // s is a multiple of 4, so the 4 keys sit in one chunk: 4 consecutive floats.
                UnsafeMutableRawPointer(at(s, j)).storeBytes(of: SIMD4(a[0], b[0], c[0], e[0]), as: SIMD4<Float>.self)
                UnsafeMutableRawPointer(at(s, j + 1)).storeBytes(of: SIMD4(a[1], b[1], c[1], e[1]), as: SIMD4<Float>.self)
                UnsafeMutableRawPointer(at(s, j + 2)).storeBytes(of: SIMD4(a[2], b[2], c[2], e[2]), as: SIMD4<Float>.self)
                UnsafeMutableRawPointer(at(s, j + 3)).storeBytes(of: SIMD4(a[3], b[3], c[3], e[3]), as: SIMD4<Float>.self)
                j += 4
            }
            while j < d {
                at(s, j)[0] = r0[j]; at(s, j)[1] = r1[j]; at(s, j)[2] = r2[j]; at(s, j)[3] = r3[j]
                j += 1
            }
            s += 4
        }
        while s < tp {
            for j in 0..<d { at(s, j).pointee = s < T ? src[s * ld + j] : 0 }
            s += 1
        }
    }

    // MARK: Products

    @inline(__always)
    static func bc(_ p: UnsafePointer<Float>) -> Float8 { Float8(repeating: p.pointee) }

    /// Scores of 4 rows against keys in chunks of 8: `out[r * ldo + s] = scale * sum_j x_r[j] * K[s, j]`
    /// for `r < 4`, `s < 8 * chunks`, with `x_r = x + min(r, rows - 1) * ldx` (a ragged last block
    /// repeats its last row; the caller ignores those tile rows) and `kT` as `packTransposed` lays
    /// it out. Each score is one sum over `j` in order.
    @inline(__always)
    static func scoreTile(_ x: UnsafePointer<Float>, ldx: Int, rows: Int, d: Int, kT: UnsafePointer<Float>, chunks: Int,
                          scale: Float, into out: UnsafeMutablePointer<Float>, ldo: Int) {
        let cs = 8 * d  // floats per key chunk
        let sc = Float8(repeating: scale)
        let x0 = x, x1 = x + min(1, rows - 1) * ldx, x2 = x + min(2, rows - 1) * ldx, x3 = x + min(3, rows - 1) * ldx
        var c = 0
        // Three chunks (12 accumulators: FMA latency x throughput needs 8 in flight, and 12 leave
        // slack for the loads), then a pair, then a single chunk.
        while c + 3 <= chunks {
            var a00 = Float8(repeating: 0), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00
            var a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00
            var kp = kT + c * cs
            for j in 0..<d {
                let k0 = Vec.load(kp), k1 = Vec.load(kp + cs), k2 = Vec.load(kp + 2 * cs)
                let b0 = bc(x0 + j)
                a00 = Vec.madd(b0, k0, a00); a01 = Vec.madd(b0, k1, a01); a02 = Vec.madd(b0, k2, a02)
                let b1 = bc(x1 + j)
                a10 = Vec.madd(b1, k0, a10); a11 = Vec.madd(b1, k1, a11); a12 = Vec.madd(b1, k2, a12)
                let b2 = bc(x2 + j)
                a20 = Vec.madd(b2, k0, a20); a21 = Vec.madd(b2, k1, a21); a22 = Vec.madd(b2, k2, a22)
                let b3 = bc(x3 + j)
                a30 = Vec.madd(b3, k0, a30); a31 = Vec.madd(b3, k1, a31); a32 = Vec.madd(b3, k2, a32)
                kp += 8
            }
            let o = out + c * 8
            Vec.store(a00 * sc, o); Vec.store(a01 * sc, o + 8); Vec.store(a02 * sc, o + 16)
            Vec.store(a10 * sc, o + ldo); Vec.store(a11 * sc, o + ldo + 8); Vec.store(a12 * sc, o + ldo + 16)
            Vec.store(a20 * sc, o + 2 * ldo); Vec.store(a21 * sc, o + 2 * ldo + 8); Vec.store(a22 * sc, o + 2 * ldo + 16)
            Vec.store(a30 * sc, o + 3 * ldo); Vec.store(a31 * sc, o + 3 * ldo + 8); Vec.store(a32 * sc, o + 3 * ldo + 16)
            c += 3
        }
        if c + 2 <= chunks {
            var a00 = Float8(repeating: 0), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00
            var kp = kT + c * cs
            for j in 0..<d {
                let k0 = Vec.load(kp), k1 = Vec.load(kp + cs)
                let b0 = bc(x0 + j), b1 = bc(x1 + j), b2 = bc(x2 + j), b3 = bc(x3 + j)
                a00 = Vec.madd(b0, k0, a00); a01 = Vec.madd(b0, k1, a01)
                a10 = Vec.madd(b1, k0, a10); a11 = Vec.madd(b1, k1, a11)
                a20 = Vec.madd(b2, k0, a20); a21 = Vec.madd(b2, k1, a21)
                a30 = Vec.madd(b3, k0, a30); a31 = Vec.madd(b3, k1, a31)
                kp += 8
            }
            let o = out + c * 8
            Vec.store(a00 * sc, o); Vec.store(a01 * sc, o + 8)
            Vec.store(a10 * sc, o + ldo); Vec.store(a11 * sc, o + ldo + 8)
            Vec.store(a20 * sc, o + 2 * ldo); Vec.store(a21 * sc, o + 2 * ldo + 8)
            Vec.store(a30 * sc, o + 3 * ldo); Vec.store(a31 * sc, o + 3 * ldo + 8)
            c += 2
        }
        if c < chunks {
            var a0 = Float8(repeating: 0), a1 = a0, a2 = a0, a3 = a0
            var kp = kT + c * cs
            for j in 0..<d {
                let k0 = Vec.load(kp)
                a0 = Vec.madd(bc(x0 + j), k0, a0); a1 = Vec.madd(bc(x1 + j), k0, a1); a2 = Vec.madd(bc(x2 + j), k0, a2); a3 = Vec.madd(bc(x3 + j), k0, a3)
                kp += 8
            }
            let o = out + c * 8
            Vec.store(a0 * sc, o); Vec.store(a1 * sc, o + ldo); Vec.store(a2 * sc, o + 2 * ldo); Vec.store(a3 * sc, o + 3 * ldo)
        }
    }

    /// Weighted sums of rows for a 4-row tile: `out[r * ldo + j] (+)= scale * sum_{s < n} w[r * ldw + s] * m[s * ld + j]`
    /// for `r < rows` (`<= 4`; all 4 weight rows are read, the outputs of rows past `rows` are not
    /// written) and `j < d`, each output summed over `s` in order; `accumulate` adds into `out`.
    /// Blocks of 4 rows x 16 lanes (8 accumulators: FMA latency x throughput), so each row of `m`
    /// loaded from L1/L2 feeds 8 multiply-adds; 8-lane and scalar tails for odd head dims.
    @inline(__always)
    static func weightedTile(_ w: UnsafePointer<Float>, ldw: Int, rows: Int, count n: Int, _ m: UnsafePointer<Float>, ld: Int, d: Int,
                             scale: Float, out: UnsafeMutablePointer<Float>, ldo: Int, accumulate: Bool) {
        let sc = Float8(repeating: scale)
        let w0 = w, w1 = w + ldw, w2 = w1 + ldw, w3 = w2 + ldw
        @inline(__always) func put(_ a: Float8, _ r: Int, _ c: Int) {
            guard r < rows else { return }
            let o = out + r * ldo + c
            Vec.store(accumulate ? Vec.load(o) + a * sc : a * sc, o)
        }
        var c = 0
        while c + 16 <= d {
            var a0 = Float8(repeating: 0), a1 = a0, b0 = a0, b1 = a0, e0 = a0, e1 = a0, f0 = a0, f1 = a0
            var mp = m + c
            for s in 0..<n {
                let m0 = Vec.load(mp), m1 = Vec.load(mp + 8)
                let u0 = bc(w0 + s), u1 = bc(w1 + s), u2 = bc(w2 + s), u3 = bc(w3 + s)
                a0 = Vec.madd(u0, m0, a0); a1 = Vec.madd(u0, m1, a1)
                b0 = Vec.madd(u1, m0, b0); b1 = Vec.madd(u1, m1, b1)
                e0 = Vec.madd(u2, m0, e0); e1 = Vec.madd(u2, m1, e1)
                f0 = Vec.madd(u3, m0, f0); f1 = Vec.madd(u3, m1, f1)
                mp += ld
            }
            put(a0, 0, c); put(a1, 0, c + 8); put(b0, 1, c); put(b1, 1, c + 8)
            put(e0, 2, c); put(e1, 2, c + 8); put(f0, 3, c); put(f1, 3, c + 8)
            c += 16
        }
        if c + 8 <= d {
            var a0 = Float8(repeating: 0), b0 = a0, e0 = a0, f0 = a0
            var mp = m + c
            for s in 0..<n {
                let m0 = Vec.load(mp)
                a0 = Vec.madd(bc(w0 + s), m0, a0); b0 = Vec.madd(bc(w1 + s), m0, b0); e0 = Vec.madd(bc(w2 + s), m0, e0); f0 = Vec.madd(bc(w3 + s), m0, f0)
                mp += ld
            }
            put(a0, 0, c); put(b0, 1, c); put(e0, 2, c); put(f0, 3, c)
            c += 8
        }
        while c < d {
            for r in 0..<rows {
                var a: Float = 0
                for s in 0..<n { a += w[r * ldw + s] * m[s * ld + c] }
                let o = out + r * ldo + c
                o.pointee = accumulate ? o.pointee + a * scale : a * scale
            }
            c += 1
        }
    }

    /// For the 4 keys `s0 ..< s0 + 4` (`s0` a multiple of 4; outputs of keys past `keys` are not
    /// written): `out[k * ldo + j] (+)= scale * sum_{t = s0}^{T-1} w[t * ldw + s0 + k] * m[t * ld + j]`,
    /// i.e. columns of `w` times rows of `m`, each output summed over `t` in order. Entries of `w`
    /// with key > t must be 0 (the tiles' masked lanes: row t's tile was computed to a width past
    /// `s0 + 3`), so rows `s0 ... s0 + 2` need no special case. Same 4 x 16 blocking as `weightedTile`.
    @inline(__always)
    static func columnTile(_ w: UnsafePointer<Float>, ldw: Int, keys s0: Int, count keys: Int, rows T: Int, _ m: UnsafePointer<Float>,
                           ld: Int, d: Int, scale: Float, out: UnsafeMutablePointer<Float>, ldo: Int, accumulate: Bool) {
        let sc = Float8(repeating: scale)
        @inline(__always) func put(_ a: Float8, _ k: Int, _ c: Int) {
            guard k < keys else { return }
            let o = out + k * ldo + c
            Vec.store(accumulate ? Vec.load(o) + a * sc : a * sc, o)
        }
        var c = 0
        while c + 16 <= d {
            var a0 = Float8(repeating: 0), a1 = a0, b0 = a0, b1 = a0, e0 = a0, e1 = a0, f0 = a0, f1 = a0
            var mp = m + s0 * ld + c, wp = w + s0 * ldw + s0
            for _ in s0..<T {
                let m0 = Vec.load(mp), m1 = Vec.load(mp + 8)
                let u0 = bc(wp), u1 = bc(wp + 1), u2 = bc(wp + 2), u3 = bc(wp + 3)
                a0 = Vec.madd(u0, m0, a0); a1 = Vec.madd(u0, m1, a1)
                b0 = Vec.madd(u1, m0, b0); b1 = Vec.madd(u1, m1, b1)
                e0 = Vec.madd(u2, m0, e0); e1 = Vec.madd(u2, m1, e1)
                f0 = Vec.madd(u3, m0, f0); f1 = Vec.madd(u3, m1, f1)
                mp += ld
                wp += ldw
            }
            put(a0, 0, c); put(a1, 0, c + 8); put(b0, 1, c); put(b1, 1, c + 8)
            put(e0, 2, c); put(e1, 2, c + 8); put(f0, 3, c); put(f1, 3, c + 8)
            c += 16
        }
        if c + 8 <= d {
            var a0 = Float8(repeating: 0), b0 = a0, e0 = a0, f0 = a0
            var mp = m + s0 * ld + c, wp = w + s0 * ldw + s0
            for _ in s0..<T {
                let m0 = Vec.load(mp)
                a0 = Vec.madd(bc(wp), m0, a0); b0 = Vec.madd(bc(wp + 1), m0, b0); e0 = Vec.madd(bc(wp + 2), m0, e0); f0 = Vec.madd(bc(wp + 3), m0, f0)
                mp += ld
                wp += ldw
            }
            put(a0, 0, c); put(b0, 1, c); put(e0, 2, c); put(f0, 3, c)
            c += 8
        }
        while c < d {
            for k in 0..<keys {
                var a: Float = 0
                for t in s0..<T { a += w[t * ldw + s0 + k] * m[t * ld + c] }
                let o = out + k * ldo + c
                o.pointee = accumulate ? o.pointee + a * scale : a * scale
            }
            c += 1
        }
    }

    // MARK: Softmax

    /// The largest lane, branch-free (`Vec.max` is a scalar loop whose data-dependent branches
    /// mispredict). Without NaNs the same value as `Vec.max` (at most the sign of a zero differs,
    /// which no caller here can see: it is only ever subtracted).
    @inline(__always)
    static func hmax(_ v: Float8) -> Float {
        let a = v.lowHalf, b = v.highHalf
        let m4 = a.replacing(with: b, where: b .> a)
        let c = m4.lowHalf, d = m4.highHalf
        let m2 = c.replacing(with: d, where: d .> c)
        return m2[1] > m2[0] ? m2[1] : m2[0]
    }

    @inline(__always)
    static func expStore(_ p: UnsafeMutablePointer<Float>, _ s: Float8, _ a: inout Float8) {
        let e = Vec.exp(Vec.load(p) - s, .estrin)
        Vec.store(e, p)
        a += e
    }

    @inline(__always)
    static func expStoreMasked(_ p: UnsafeMutablePointer<Float>, _ s: Float8, _ v: SIMDMask<SIMD8<Int32>>, _ a: inout Float8) {
        let e = Vec.exp(Vec.load(p) - s, .estrin).replacing(with: Float8(repeating: 0), where: .!v)
        Vec.store(e, p)
        a += e
    }

    @inline(__always)
    static func maxInto(_ m: inout Float8, _ x: Float8) { m = m.replacing(with: x, where: x .> m) }

    /// Lane indices 0..<8 (for masks).
    @inline(__always)
    static var lanes: Float8 { Float8(0, 1, 2, 3, 4, 5, 6, 7) }

    /// In place over a row of `width` (a multiple of 8) scores: softmax of the first `n`
    /// (`1 <= n <= width`), exact zeros after; returns the maximum and 1 / sum of exponentials.
    /// Whole 8-lane chunks throughout (reads all `width` floats); the chunk holding entry `n - 1`
    /// masks its lanes `>= n` (max over the valid lanes only; their exponentials are set to 0
    /// before the sum). `exp8` for the exponentials.
    @discardableResult
    public static func softmaxRow(_ row: UnsafeMutablePointer<Float>, count n: Int, width: Int) -> (max: Float, inverseSum: Float) {
        let full = n & ~7, rem = n - full
        let valid = lanes .< Float8(repeating: Float(rem))
        let ninf = Float8(repeating: -.infinity), zero = Float8(repeating: 0)
        var mv = ninf
        var j = 0
        while j < full { let x = Vec.load(row + j); mv = mv.replacing(with: x, where: x .> mv); j += 8 }
        if rem > 0 {
            let x = Vec.load(row + full).replacing(with: ninf, where: .!valid)
            mv = mv.replacing(with: x, where: x .> mv)
        }
        let mx = hmax(mv), m = Float8(repeating: mx)
        var acc = zero
        j = 0
        while j < full { let e = Vec.exp(Vec.load(row + j) - m, .estrin); Vec.store(e, row + j); acc += e; j += 8 }
        if rem > 0 {
            let e = Vec.exp(Vec.load(row + full) - m, .estrin).replacing(with: zero, where: .!valid)
            Vec.store(e, row + full)
            acc += e
            j += 8
        }
        let invS = 1 / Vec.sum(acc), inv = Float8(repeating: invS)
        var i = 0
        while i < j { Vec.store(Vec.load(row + i) * inv, row + i); i += 8 }
        while j < width { Vec.store(zero, row + j); j += 8 }
        return (mx, invS)
    }

    /// `softmaxRow` on the 4 rows of a tile at once (rows `ld` apart; row `r` has `n0 + r` valid
    /// entries, `width - 8 < n0 <= n0 + 3 <= width`, which holds for every 4-row block of a causal
    /// tile): four independent dependency chains instead of one row after the other, each element
    /// computed as `softmaxRow` computes it. Returns each row's maximum and 1 / sum.
    @inline(__always)
    static func softmaxTile(_ tile: UnsafeMutablePointer<Float>, ld: Int, first n0: Int, width: Int) -> (max: SIMD4<Float>, inverseSum: SIMD4<Float>) {
        let p0 = tile, p1 = tile + ld, p2 = p1 + ld, p3 = p2 + ld
        let last = width - 8
        let ninf = Float8(repeating: -.infinity), zero = Float8(repeating: 0)
        var m0 = ninf, m1 = ninf, m2 = ninf, m3 = ninf
        var j = 0
        while j < last {
            maxInto(&m0, Vec.load(p0 + j)); maxInto(&m1, Vec.load(p1 + j)); maxInto(&m2, Vec.load(p2 + j)); maxInto(&m3, Vec.load(p3 + j))
            j += 8
        }
        let idx = lanes + Float8(repeating: Float(last)), nv = Float(n0)
        let v0 = idx .< Float8(repeating: nv), v1 = idx .< Float8(repeating: nv + 1)
        let v2 = idx .< Float8(repeating: nv + 2), v3 = idx .< Float8(repeating: nv + 3)
        maxInto(&m0, Vec.load(p0 + last).replacing(with: ninf, where: .!v0)); maxInto(&m1, Vec.load(p1 + last).replacing(with: ninf, where: .!v1))
        maxInto(&m2, Vec.load(p2 + last).replacing(with: ninf, where: .!v2)); maxInto(&m3, Vec.load(p3 + last).replacing(with: ninf, where: .!v3))
        let maxes = SIMD4(hmax(m0), hmax(m1), hmax(m2), hmax(m3))
        let s0 = Float8(repeating: maxes[0]), s1 = Float8(repeating: maxes[1]), s2 = Float8(repeating: maxes[2]), s3 = Float8(repeating: maxes[3])
        var a0 = zero, a1 = zero, a2 = zero, a3 = zero
        j = 0
        while j < last {
            expStore(p0 + j, s0, &a0); expStore(p1 + j, s1, &a1); expStore(p2 + j, s2, &a2); expStore(p3 + j, s3, &a3)
            j += 8
        }
        expStoreMasked(p0 + last, s0, v0, &a0); expStoreMasked(p1 + last, s1, v1, &a1)
        expStoreMasked(p2 + last, s2, v2, &a2); expStoreMasked(p3 + last, s3, v3, &a3)
        let invs = SIMD4(1 / Vec.sum(a0), 1 / Vec.sum(a1), 1 / Vec.sum(a2), 1 / Vec.sum(a3))
        let i0 = Float8(repeating: invs[0]), i1 = Float8(repeating: invs[1]), i2 = Float8(repeating: invs[2]), i3 = Float8(repeating: invs[3])
        j = 0
        while j < width {
            Vec.store(Vec.load(p0 + j) * i0, p0 + j); Vec.store(Vec.load(p1 + j) * i1, p1 + j)
            Vec.store(Vec.load(p2 + j) * i2, p2 + j); Vec.store(Vec.load(p3 + j) * i3, p3 + j)
            j += 8
        }
        return (maxes, invs)
    }

    /// Backward of a 4-row tile: recomputes the probabilities `P` in place over the scores in `p`
    /// (rows `ldp` apart, `softmaxTile`'s conventions and arithmetic, from its saved maxima and
    /// inverse sums), then `ds = P * (dP - sum_s P dP)` (the softmax Jacobian-vector product) from
    /// `dP` in `dp` (rows `ldd` apart) into `ds` (rows `ldp` apart). `P` is 0 past each row's last
    /// key, so whole chunks are exact. Four rows at a time for independent dependency chains.
    @inline(__always)
    static func softmaxBackwardTile(_ p: UnsafeMutablePointer<Float>, ds: UnsafeMutablePointer<Float>, ldp: Int, dp: UnsafePointer<Float>, ldd: Int,
                                    first n0: Int, width: Int, max: SIMD4<Float>, inverseSum: SIMD4<Float>) {
        let p0 = p, p1 = p + ldp, p2 = p1 + ldp, p3 = p2 + ldp
        let last = width - 8
        let s0 = Float8(repeating: max[0]), s1 = Float8(repeating: max[1]), s2 = Float8(repeating: max[2]), s3 = Float8(repeating: max[3])
        let i0 = Float8(repeating: inverseSum[0]), i1 = Float8(repeating: inverseSum[1])
        let i2 = Float8(repeating: inverseSum[2]), i3 = Float8(repeating: inverseSum[3])
        let zero = Float8(repeating: 0)
        @inline(__always) func prob(_ q: UnsafeMutablePointer<Float>, _ s: Float8, _ i: Float8) { Vec.store(Vec.exp(Vec.load(q) - s, .estrin) * i, q) }
        var j = 0
        while j < last {
            prob(p0 + j, s0, i0); prob(p1 + j, s1, i1); prob(p2 + j, s2, i2); prob(p3 + j, s3, i3)
            j += 8
        }
        let idx = lanes + Float8(repeating: Float(last)), nv = Float(n0)
        Vec.store((Vec.exp(Vec.load(p0 + last) - s0, .estrin) * i0).replacing(with: zero, where: idx .>= Float8(repeating: nv)), p0 + last)
        Vec.store((Vec.exp(Vec.load(p1 + last) - s1, .estrin) * i1).replacing(with: zero, where: idx .>= Float8(repeating: nv + 1)), p1 + last)
        Vec.store((Vec.exp(Vec.load(p2 + last) - s2, .estrin) * i2).replacing(with: zero, where: idx .>= Float8(repeating: nv + 2)), p2 + last)
        Vec.store((Vec.exp(Vec.load(p3 + last) - s3, .estrin) * i3).replacing(with: zero, where: idx .>= Float8(repeating: nv + 3)), p3 + last)
        let d0 = dp, d1 = dp + ldd, d2 = d1 + ldd, d3 = d2 + ldd
        var a0 = zero, a1 = zero, a2 = zero, a3 = zero
        j = 0
        while j < width {
            a0 += Vec.load(p0 + j) * Vec.load(d0 + j); a1 += Vec.load(p1 + j) * Vec.load(d1 + j)
            a2 += Vec.load(p2 + j) * Vec.load(d2 + j); a3 += Vec.load(p3 + j) * Vec.load(d3 + j)
            j += 8
        }
        let t0 = Float8(repeating: Vec.sum(a0)), t1 = Float8(repeating: Vec.sum(a1))
        let t2 = Float8(repeating: Vec.sum(a2)), t3 = Float8(repeating: Vec.sum(a3))
        let q0 = ds, q1 = ds + ldp, q2 = q1 + ldp, q3 = q2 + ldp
        j = 0
        while j < width {
            Vec.store(Vec.load(p0 + j) * (Vec.load(d0 + j) - t0), q0 + j); Vec.store(Vec.load(p1 + j) * (Vec.load(d1 + j) - t1), q1 + j)
            Vec.store(Vec.load(p2 + j) * (Vec.load(d2 + j) - t2), q2 + j); Vec.store(Vec.load(p3 + j) * (Vec.load(d3 + j) - t3), q3 + j)
            j += 8
        }
    }

    // MARK: One head

    /// Forward of one head: `out[t] = sum_{s <= t} p[t, s] v[s]` with `p[t] = softmax_s(scale q[t] . k[s])`.
    /// `q`, `out` rows `qStride`/`outStride` apart, `k`/`v` rows `kvStride` apart. `state` receives
    /// `stateCount(seqLen:)` floats for `groupBackward`; `work` holds `forwardWorkspace` floats.
    public static func headForward(out: UnsafeMutablePointer<Float>, outStride ow: Int, state: UnsafeMutablePointer<Float>,
                                   q: UnsafePointer<Float>, qStride qw: Int, k: UnsafePointer<Float>, v: UnsafePointer<Float>, kvStride kw: Int,
                                   seqLen T: Int, headDim d: Int, scale: Float, work: UnsafeMutablePointer<Float>) {
        let tp = padded(T)
        let kT = work, qP = work + d * tp, vP = qP + T * d, tile = vP + T * d
        packTransposed(k, ld: kw, rows: T, cols: d, into: kT, tp: tp)
        packRows(q, ld: qw, rows: T, cols: d, into: qP)
        packRows(v, ld: kw, rows: T, cols: d, into: vP)
        var t0 = 0
        while t0 < T {
            let rows = min(tileRows, T - t0), width = (t0 + rows + 7) / 8 * 8
            scoreTile(qP + t0 * d, ldx: d, rows: rows, d: d, kT: kT, chunks: width / 8, scale: scale, into: tile, ldo: tp)
            // Rows past the last one (a ragged last block) are copies of it, computed and ignored.
            let (mx, inv) = softmaxTile(tile, ld: tp, first: t0 + 1, width: width)
            for r in 0..<rows {
                state[t0 + r] = mx[r]
                if T >= 2 { state[T + t0 + r] = inv[r] }
            }
            // out = P V (P is 0 past each row's last key, so all 4 rows take keys 0 ..< t0 + rows).
            weightedTile(tile, ldw: tp, rows: rows, count: t0 + rows, vP, ld: d, d: d, scale: 1, out: out + t0 * ow, ldo: ow, accumulate: false)
            t0 += rows
        }
    }

    /// Backward of the `heads` query heads that share one KV head (`headForward`'s conventions;
    /// head `i` at `q + i * d`, `dq + i * d`, `dout + i * d`, its state at `state + i * stateStride`):
    /// overwrites `dq` of those heads and `dk`, `dv` of the KV head, summing the heads in order.
    /// `work` holds `backwardWorkspace` floats.
    public static func groupBackward(dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
                                     dout: UnsafePointer<Float>, outStride ow: Int, state: UnsafePointer<Float>, stateStride: Int, heads: Int,
                                     q: UnsafePointer<Float>, qStride qw: Int, k: UnsafePointer<Float>, v: UnsafePointer<Float>, kvStride kw: Int,
                                     seqLen T: Int, headDim d: Int, scale: Float, work: UnsafeMutablePointer<Float>) {
        let tp = padded(T), tr = (T + tileRows - 1) / tileRows * tileRows
        // The probability and score-gradient rows are `lp` floats apart: 8 more than `tp`, so the
        // key-column walks below don't map every row to the same few L1 sets (`tp` is often a
        // multiple of 128 floats).
        let lp = tp + 8
        let kT = work, vT = kT + d * tp, kP = vT + d * tp, qP = kP + T * d, doP = qP + T * d
        let tile = doP + T * d, pb = tile + tileRows * tp, dsb = pb + tr * lp
        packTransposed(k, ld: kw, rows: T, cols: d, into: kT, tp: tp)
        packTransposed(v, ld: kw, rows: T, cols: d, into: vT, tp: tp)
        packRows(k, ld: kw, rows: T, cols: d, into: kP)
        for h in 0..<heads {
            let st = state + h * stateStride, dqh = dq + h * d
            packRows(q + h * d, ld: qw, rows: T, cols: d, into: qP)
            packRows(dout + h * d, ld: ow, rows: T, cols: d, into: doP)
            var t0 = 0
            while t0 < T {
                let rows = min(tileRows, T - t0), width = (t0 + rows + 7) / 8 * 8
                // Scores again into rows t0..<t0+4 of pb (the forward's arithmetic, so the same bits),
                // dP = dO V^T into the tile; then P and dS.
                scoreTile(qP + t0 * d, ldx: d, rows: rows, d: d, kT: kT, chunks: width / 8, scale: scale, into: pb + t0 * lp, ldo: lp)
                scoreTile(doP + t0 * d, ldx: d, rows: rows, d: d, kT: vT, chunks: width / 8, scale: 1, into: tile, ldo: tp)
                // A ragged last block's missing rows get any finite state (they are computed and ignored).
                var mx = SIMD4<Float>(repeating: 0), inv = SIMD4<Float>(repeating: 0)
                for r in 0..<rows { mx[r] = st[t0 + r]; inv[r] = T >= 2 ? st[T + t0 + r] : 1 }
                softmaxBackwardTile(pb + t0 * lp, ds: dsb + t0 * lp, ldp: lp, dp: tile, ldd: tp, first: t0 + 1, width: width,
                                    max: mx, inverseSum: inv)
                // dQ = scale dS K.
                weightedTile(dsb + t0 * lp, ldw: lp, rows: rows, count: t0 + rows, kP, ld: d, d: d, scale: scale, out: dqh + t0 * qw, ldo: qw,
                             accumulate: false)
                t0 += rows
            }
            // dK (+)= scale dS^T Q, then dV (+)= P^T dO, four keys at a time over the rows t >= s (one
            // product after the other: the columns of both at once would not fit in L1).
            var s = 0
            while s < T {
                columnTile(dsb, ldw: lp, keys: s, count: min(4, T - s), rows: T, qP, ld: d, d: d, scale: scale, out: dk + s * kw, ldo: kw,
                           accumulate: h > 0)
                s += 4
            }
            s = 0
            while s < T {
                columnTile(pb, ldw: lp, keys: s, count: min(4, T - s), rows: T, doP, ld: d, d: d, scale: 1, out: dv + s * kw, ldo: kw,
                           accumulate: h > 0)
                s += 4
            }
        }
    }
}
