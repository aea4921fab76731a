import OpenBLASRuntime

/// `CausalAttention.Path.blocked`: per (batch, head), per block of query rows, one `sgemm` for the
/// scores against the keys up to the block's last row, the causal softmax, one `sgemm` for the
/// weighted sum; the probabilities stay in `probs` for the backward. Builds without FMA use it:
/// there OpenBLAS's small-matrix kernels beat the tiled kernels by about 2x.
enum BlockedAttention {
    /// Query rows per block: block `i` (rows `[i*bq, (i+1)*bq)`) only multiplies against keys
    /// `0..<(i+1)*bq`, so the blocks above the diagonal are never computed (T = 128: 75 % of the
    /// full T x T products, T = 256: 62.5 %). 64 measured a little faster than 32 on configs S and
    /// M. Short sequences use 16-row blocks, so the parity tests (T = 20, 24, 64) cover several
    /// blocks, a ragged last one included.
    static func blockRows(seqLen T: Int) -> Int { T <= 16 ? T : (T <= 64 ? 16 : 64) }

    /// Writes, per (b, h), the probabilities of `s <= t` into its `T x T` slice of `probs`, exact
    /// zeros for `t < s` inside each diagonal block; entries of blocks above the diagonal are not
    /// written (nor read by `backward`).
    static func forward(out: UnsafeMutablePointer<Float>, outStride ow: Int, probs: UnsafeMutablePointer<Float>,
                        q: UnsafePointer<Float>, qStride qw: Int, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                        kvStride kw: Int, batch: Int, seqLen T: Int, heads: Int, kvHeads: Int, headDim d: Int, scale: Float, threads: Int) {
        let group = heads / kvHeads
        let bq = blockRows(seqLen: T)
        BLAS.withThreads(1, when: threads > 1 && batch * heads > 1) {
            Parallel.forEach(batch * heads, threads: threads) { item in
                let b = item / heads, h = item % heads, g = h / group
                let p = probs + item * T * T
                let qb = q + b * T * qw + h * d, kb = k + b * T * kw + g * d, vb = v + b * T * kw + g * d
                let ob = out + b * T * ow + h * d
                var r0 = 0
                while r0 < T {
                    let r1 = min(T, r0 + bq), m = r1 - r0
                    // Scores of rows r0..<r1 against keys 0..<r1.
                    BLAS.sgemm(transA: false, transB: true, m: m, n: r1, k: d, alpha: scale, a: qb + r0 * qw, lda: qw, b: kb, ldb: kw,
                               beta: 0, c: p + r0 * T, ldc: T)
                    for t in r0..<r1 {
                        let row = p + t * T, width = (t + 8) & ~7
                        if width <= T {
                            // Whole 8-lane chunks (masked) up to the next multiple of 8, zeros past t.
                            AttentionTiles.softmaxRow(row, count: t + 1, width: width)
                            if width < r1 { (row + width).update(repeating: 0, count: r1 - width) }
                        } else {
                            Kernels.softmaxInPlace(row, count: t + 1)
                            if t + 1 < r1 { (row + t + 1).update(repeating: 0, count: r1 - t - 1) }
                        }
                    }
                    BLAS.sgemm(transA: false, transB: false, m: m, n: d, k: r1, a: p + r0 * T, lda: T, b: vb, ldb: kw, beta: 0,
                               c: ob + r0 * ow, ldc: ow)
                    r0 = r1
                }
            }
        }
    }

    /// Per (batch, KV head), per query head of the group and block of rows: `dP = dO V^T`, the
    /// softmax backward, then `dQ`, `dK`, `dV` by `sgemm`. The score gradients of one head live in
    /// a `T x T` buffer per worker.
    static func backward(dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
                         dout: UnsafePointer<Float>, outStride ow: Int, probs: UnsafePointer<Float>, q: UnsafePointer<Float>, qStride qw: Int,
                         k: UnsafePointer<Float>, v: UnsafePointer<Float>, kvStride kw: Int,
                         batch: Int, seqLen T: Int, heads: Int, kvHeads: Int, headDim d: Int, scale: Float, threads: Int) {
        let group = heads / kvHeads
        let bq = blockRows(seqLen: T)
        BLAS.withThreads(1, when: threads > 1 && batch * kvHeads > 1) {
            Parallel.forRanges(batch * kvHeads, threads: threads, grain: 1) { items in
                let ds = UnsafeMutablePointer<Float>.allocate(capacity: T * T)
                defer { ds.deallocate() }
                for item in items {
                    let b = item / kvHeads, g = item % kvHeads
                    let kb = k + b * T * kw + g * d, vb = v + b * T * kw + g * d
                    let dkb = dk + b * T * kw + g * d, dvb = dv + b * T * kw + g * d
                    for t in 0..<T {
                        (dkb + t * kw).update(repeating: 0, count: d)
                        (dvb + t * kw).update(repeating: 0, count: d)
                    }
                    for r in 0..<group {
                        let h = g * group + r
                        let p = probs + (b * heads + h) * T * T
                        let dob = dout + b * T * ow + h * d, qb = q + b * T * qw + h * d, dqb = dq + b * T * qw + h * d
                        var r0 = 0
                        while r0 < T {
                            let r1 = min(T, r0 + bq), m = r1 - r0
                            // dP = dO V^T for rows r0..<r1, keys 0..<r1.
                            BLAS.sgemm(transA: false, transB: true, m: m, n: r1, k: d, a: dob + r0 * ow, lda: ow, b: vb, ldb: kw, beta: 0,
                                       c: ds + r0 * T, ldc: T)
                            // Softmax backward: dS = P * (dP - sum_s P dP), zero above the diagonal.
                            for t in r0..<r1 {
                                softmaxBackwardRow(dr: ds + t * T, pr: p + t * T, count: t + 1)
                                if t + 1 < r1 { (ds + t * T + t + 1).update(repeating: 0, count: r1 - t - 1) }
                            }
                            // dQ = scale dS K; dK += scale dS^T Q; dV += P^T dO
                            BLAS.sgemm(transA: false, transB: false, m: m, n: d, k: r1, alpha: scale, a: ds + r0 * T, lda: T, b: kb, ldb: kw,
                                       beta: 0, c: dqb + r0 * qw, ldc: qw)
                            BLAS.sgemm(transA: true, transB: false, m: r1, n: d, k: m, alpha: scale, a: ds + r0 * T, lda: T, b: qb + r0 * qw,
                                       ldb: qw, beta: 1, c: dkb, ldc: kw)
                            BLAS.sgemm(transA: true, transB: false, m: r1, n: d, k: m, a: p + r0 * T, lda: T, b: dob + r0 * ow, ldb: ow,
                                       beta: 1, c: dvb, ldc: kw)
                            r0 = r1
                        }
                    }
                }
            }
        }
    }

    /// `dr[s] = pr[s] * (dr[s] - sum_u pr[u] dr[u])` over `s < n` (the softmax Jacobian-vector product).
    @inline(__always)
    static func softmaxBackwardRow(dr: UnsafeMutablePointer<Float>, pr: UnsafePointer<Float>, count n: Int) {
        var acc = Float8(repeating: 0)
        var j = 0
        while j + 8 <= n { acc += Vec.load(pr + j) * Vec.load(dr + j); j += 8 }
        var dot = Vec.sum(acc)
        while j < n { dot += pr[j] * dr[j]; j += 1 }
        let dv = Float8(repeating: dot)
        j = 0
        while j + 8 <= n { Vec.store(Vec.load(pr + j) * (Vec.load(dr + j) - dv), dr + j); j += 8 }
        while j < n { dr[j] = pr[j] * (dr[j] - dot); j += 1 }
    }
}
