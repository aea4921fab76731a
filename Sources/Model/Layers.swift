import Foundation
import OpenBLASRuntime
import Tensor

/// The decoder's layers as plain functions on raw float32 buffers, each forward beside its
/// backward (llm.c style). Shapes are row-major; `N = batch * seqLen` rows.
///
/// Conventions for backward functions: gradients of *weights* always accumulate (`+=`), so
/// gradient accumulation over micro-batches and tied embeddings just work; gradients of
/// *activations* overwrite unless the parameter says `accumulate`.
public enum Layers {
    // MARK: Embedding

    /// `out[i] = table[tokens[i]]`, `out: [n, c]`, `table: [vocab, c]`.
    public static func embeddingForward(out: UnsafeMutablePointer<Float>, tokens: UnsafePointer<Int32>, table: UnsafePointer<Float>,
                                        n: Int, c: Int) {
        for i in 0..<n {
            (out + i * c).update(from: table + Int(tokens[i]) * c, count: c)
        }
    }

    /// `dTable[tokens[i]] += dout[i]`. Serial: repeated tokens hit the same row, and a fixed order
    /// keeps the sum deterministic.
    public static func embeddingBackward(dTable: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, tokens: UnsafePointer<Int32>,
                                         n: Int, c: Int) {
        for i in 0..<n {
            Kernels.add(dout + i * c, into: dTable + Int(tokens[i]) * c, count: c)
        }
    }

    // MARK: RMSNorm

    /// `out = x / sqrt(mean(x^2) + eps) * w` per row; saves `rstd = 1/sqrt(mean(x^2) + eps)` per row.
    public static func rmsnormForward(out: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>,
                                      weight: UnsafePointer<Float>, rows: Int, cols: Int, eps: Float, threads: Int = 1) {
        Parallel.forRanges(rows, threads: threads) { range in
            for i in range {
                let xr = x + i * cols, yr = out + i * cols
                var acc = Float8(repeating: 0)
                var j = 0
                while j + 8 <= cols { let v = Vec.load(xr + j); acc += v * v; j += 8 }
                var ss = Vec.sum(acc)
                while j < cols { ss += xr[j] * xr[j]; j += 1 }
                let r = 1 / (ss / Float(cols) + eps).squareRoot()
                rstd[i] = r
                let rv = Float8(repeating: r)
                j = 0
                while j + 8 <= cols { Vec.store(Vec.load(xr + j) * rv * Vec.load(weight + j), yr + j); j += 8 }
                while j < cols { yr[j] = xr[j] * r * weight[j]; j += 1 }
            }
        }
    }

    /// With `y_j = w_j x_j r` and `r = (mean(x^2) + eps)^(-1/2)`:
    /// `dx_j = r w_j dy_j - x_j r^3 / C * sum_i(w_i dy_i x_i)` (added into `dx`), `dw_j += sum_rows dy_j x_j r`.
    public static func rmsnormBackward(dx: UnsafeMutablePointer<Float>, dweight: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
                                       x: UnsafePointer<Float>, weight: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                                       rows: Int, cols: Int, threads: Int = 1) {
        Parallel.forRanges(rows, threads: threads) { range in
            for i in range {
                let xr = x + i * cols, dyr = dout + i * cols, dxr = dx + i * cols
                let r = rstd[i]
                var acc = Float8(repeating: 0)
                var j = 0
                while j + 8 <= cols { acc += Vec.load(weight + j) * Vec.load(dyr + j) * Vec.load(xr + j); j += 8 }
                var dot = Vec.sum(acc)
                while j < cols { dot += weight[j] * dyr[j] * xr[j]; j += 1 }
                let k = dot * r * r * r / Float(cols)
                let rv = Float8(repeating: r), kv = Float8(repeating: k)
                j = 0
                while j + 8 <= cols {
                    Vec.store(Vec.load(dxr + j) + (rv * Vec.load(weight + j) * Vec.load(dyr + j) - kv * Vec.load(xr + j)), dxr + j)
                    j += 8
                }
                while j < cols { dxr[j] += r * weight[j] * dyr[j] - k * xr[j]; j += 1 }
            }
        }
        // The weight gradient reduces over rows: in row order for every column (determinism); the
        // columns are split between threads in blocks of 8.
        let colBlocks = (cols + 7) / 8
        Parallel.forRanges(colBlocks, threads: threads, grain: 8) { blocks in
            let lo = blocks.lowerBound * 8, hi = min(cols, blocks.upperBound * 8)
            var j = lo
            while j + 8 <= hi {
                var acc = Vec.load(dweight + j)
                for i in 0..<rows {
                    acc += Vec.load(dout + i * cols + j) * Vec.load(x + i * cols + j) * Float8(repeating: rstd[i])
                }
                Vec.store(acc, dweight + j)
                j += 8
            }
            while j < hi {
                var acc = dweight[j]
                for i in 0..<rows { acc += dout[i * cols + j] * x[i * cols + j] * rstd[i] }
                dweight[j] = acc
                j += 1
            }
        }
    }

    // MARK: Linear (no bias)

    /// `out[n, outF] = x[n, inF] W^T` (`+=` with `accumulate`), `W: [outF, inF]`.
    @inline(__always)
    public static func linearForward(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                     n: Int, inF: Int, outF: Int, accumulate: Bool = false, threads: Int = 1) {
        gemm(transA: false, transB: true, m: n, n: outF, k: inF, a: x, lda: inF, b: weight, ldb: inF,
             beta: accumulate ? 1 : 0, c: out, ldc: outF, threads: threads)
    }

    /// `dx = dout W` (`+=` with `accumulateInput`), `dW += dout^T x`.
    @inline(__always)
    public static func linearBackward(dx: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
                                      x: UnsafePointer<Float>, weight: UnsafePointer<Float>, n: Int, inF: Int, outF: Int,
                                      accumulateInput: Bool = false, threads: Int = 1) {
        if let dx {
            gemm(transA: false, transB: false, m: n, n: inF, k: outF, a: dout, lda: outF, b: weight, ldb: inF,
                 beta: accumulateInput ? 1 : 0, c: dx, ldc: inF, threads: threads)
        }
        gemm(transA: true, transB: false, m: outF, n: inF, k: n, a: dout, lda: outF, b: x, ldb: inF, beta: 1, c: dweight, ldc: inF,
             threads: threads)
    }

    /// Into how many pieces `gemm` cuts a product: a function of the shape and of the machine's core
    /// count only, never of `threads`, so every output element is computed by the same BLAS call
    /// shape (hence the same bits) whether the pieces then run on one thread or several.
    static func gemmParts(m: Int, n: Int, k: Int) -> Int {
        guard m * n * k >= 1 << 21 else { return 1 }
        return max(1, min(Parallel.defaultThreads, max(m, n) / 64))
    }

    /// `sgemm` cut into `gemmParts` blocks of rows of `C` (or of columns, whichever side is longer)
    /// that run on up to `threads` of our workers, each with single-threaded BLAS (the caller holds
    /// OpenBLAS at one thread when `threads > 1`; see `BLAS.withThreads`). One pool of threads for
    /// the products, attention and the elementwise kernels, instead of OpenBLAS's spinning workers
    /// competing with ours for the cores.
    static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                     a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                     beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int) {
        let parts = gemmParts(m: m, n: n, k: k)
        if parts == 1 {
            BLAS.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            return
        }
        let splitRows = m >= n, dim = splitRows ? m : n
        Parallel.forEach(parts, threads: threads) { i in
            // Boundaries on multiples of 16 (the kernels' register blocking).
            let lo = i == 0 ? 0 : (dim * i / parts) & ~15, hi = i == parts - 1 ? dim : (dim * (i + 1) / parts) & ~15
            guard hi > lo else { return }
            if splitRows {
                BLAS.sgemm(transA: transA, transB: transB, m: hi - lo, n: n, k: k, alpha: alpha, a: transA ? a + lo : a + lo * lda, lda: lda,
                           b: b, ldb: ldb, beta: beta, c: c + lo * ldc, ldc: ldc)
            } else {
                BLAS.sgemm(transA: transA, transB: transB, m: m, n: hi - lo, k: k, alpha: alpha, a: a, lda: lda,
                           b: transB ? b + lo * ldb : b + lo, ldb: ldb, beta: beta, c: c + lo, ldc: ldc)
            }
        }
    }

    // MARK: RoPE

    /// Rotates each head vector of `x: [batch * seqLen, heads * headDim]` in place by the angles of its
    /// position `t` (0-based within its sequence). `inverse` rotates by minus the angle, which is the
    /// backward pass (a rotation's transpose is its inverse).
    public static func rope(_ x: UnsafeMutablePointer<Float>, batch: Int, seqLen: Int, heads: Int, tables: RopeTables,
                            inverse: Bool = false, threads: Int = 1) {
        rope(x, rowStride: heads * tables.headDim, batch: batch, seqLen: seqLen, heads: heads, tables: tables, inverse: inverse, threads: threads)
    }

    /// `rope` on rows `rowStride` floats apart (the heads are the first `heads * headDim` of each row).
    public static func rope(_ x: UnsafeMutablePointer<Float>, rowStride width: Int, batch: Int, seqLen: Int, heads: Int, tables: RopeTables,
                            inverse: Bool = false, threads: Int = 1) {
        let d = tables.headDim, half = d / 2
        precondition(seqLen <= tables.maxSequence, "sequence length \(seqLen) exceeds the RoPE tables (\(tables.maxSequence))")
        let interleaved = tables.layout == .interleaved
        let sign: Float = inverse ? -1 : 1
        let cosP = tables.cos.pointer, sinP = tables.sin.pointer
        Parallel.forRanges(batch * seqLen, threads: threads) { range in
            let signV = Float8(repeating: sign)
            for row in range {
                let t = row % seqLen
                let cosT = cosP + t * half, sinT = sinP + t * half
                for h in 0..<heads {
                    let v = x + row * width + h * d
                    var i = 0
                    if !interleaved {
                        // Half-split pairs (i, i + half): eight pairs at a time, same arithmetic as below.
                        while i + 8 <= half {
                            let a = Vec.load(v + i), b = Vec.load(v + i + half), c = Vec.load(cosT + i), s = signV * Vec.load(sinT + i)
                            Vec.store(a * c - b * s, v + i)
                            Vec.store(b * c + a * s, v + i + half)
                            i += 8
                        }
                    }
                    while i < half {
                        let (ia, ib) = interleaved ? (2 * i, 2 * i + 1) : (i, i + half)
                        let a = v[ia], b = v[ib], c = cosT[i], s = sign * sinT[i]
                        // HF: q*cos + rotate_half(q)*sin, rotate_half(q) = (-q2, q1).
                        v[ia] = a * c - b * s
                        v[ib] = b * c + a * s
                        i += 1
                    }
                }
            }
        }
    }

    // MARK: SwiGLU

    /// `out = silu(gate) * up`, `silu(a) = a * sigmoid(a)`.
    public static func swigluForward(out: UnsafeMutablePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>,
                                     count: Int, threads: Int = 1) {
        let one = Float8(repeating: 1)
        Parallel.forRanges((count + 7) / 8, threads: threads, grain: 512) { blocks in
            for blk in blocks {
                let i = blk * 8, n = min(8, count - i)
                let a = n == 8 ? Vec.load(gate + i) : Vec.load(gate + i, count: n)
                let u = n == 8 ? Vec.load(up + i) : Vec.load(up + i, count: n)
                let y = a / (one + Vec.exp(-a)) * u
                if n == 8 { Vec.store(y, out + i) } else { Vec.store(y, out + i, count: n) }
            }
        }
    }

    /// `out[i, j] = silu(gate[i, j]) * up[i, j]` over `rows x cols`, with `gate` and `up` rows `inStride`
    /// apart (views into one fused `[rows, 2 cols]` gate/up projection) and `out` packed `[rows, cols]`.
    public static func swigluForward(out: UnsafeMutablePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>,
                                     rows: Int, cols: Int, inStride: Int, threads: Int = 1) {
        let one = Float8(repeating: 1)
        Parallel.forRanges(rows, threads: threads, grain: max(1, 8192 / max(cols, 1))) { range in
            for r in range {
                let g = gate + r * inStride, u = up + r * inStride, o = out + r * cols
                var j = 0
                while j < cols {
                    let n = min(8, cols - j)
                    let a = n == 8 ? Vec.load(g + j) : Vec.load(g + j, count: n)
                    let uv = n == 8 ? Vec.load(u + j) : Vec.load(u + j, count: n)
                    let y = a / (one + Vec.exp(-a)) * uv
                    if n == 8 { Vec.store(y, o + j) } else { Vec.store(y, o + j, count: n) }
                    j += n
                }
            }
        }
    }

    /// The backward of the strided `swigluForward`: `dgate`/`dup` rows `inStride` apart (like `gate`/`up`),
    /// `dout` packed `[rows, cols]`.
    public static func swigluBackward(dgate: UnsafeMutablePointer<Float>, dup: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
                                      gate: UnsafePointer<Float>, up: UnsafePointer<Float>, rows: Int, cols: Int, inStride: Int,
                                      threads: Int = 1) {
        let one = Float8(repeating: 1)
        Parallel.forRanges(rows, threads: threads, grain: max(1, 8192 / max(cols, 1))) { range in
            for r in range {
                let gp = gate + r * inStride, up0 = up + r * inStride, dop = dout + r * cols
                let dgp = dgate + r * inStride, dup0 = dup + r * inStride
                var j = 0
                while j < cols {
                    let n = min(8, cols - j), full = n == 8
                    let a = full ? Vec.load(gp + j) : Vec.load(gp + j, count: n)
                    let u = full ? Vec.load(up0 + j) : Vec.load(up0 + j, count: n)
                    let g = full ? Vec.load(dop + j) : Vec.load(dop + j, count: n)
                    let s = one / (one + Vec.exp(-a))
                    let du = g * a * s
                    let dg = g * u * s * (one + a * (one - s))
                    if full {
                        Vec.store(du, dup0 + j)
                        Vec.store(dg, dgp + j)
                    } else {
                        Vec.store(du, dup0 + j, count: n)
                        Vec.store(dg, dgp + j, count: n)
                    }
                    j += n
                }
            }
        }
    }

    /// `dup = dout * silu(a)`, `dgate = dout * up * sigmoid(a) * (1 + a (1 - sigmoid(a)))` (both overwrite).
    public static func swigluBackward(dgate: UnsafeMutablePointer<Float>, dup: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
                                      gate: UnsafePointer<Float>, up: UnsafePointer<Float>, count: Int, threads: Int = 1) {
        let one = Float8(repeating: 1)
        Parallel.forRanges((count + 7) / 8, threads: threads, grain: 512) { blocks in
            for blk in blocks {
                let i = blk * 8, n = min(8, count - i)
                let a = n == 8 ? Vec.load(gate + i) : Vec.load(gate + i, count: n)
                let u = n == 8 ? Vec.load(up + i) : Vec.load(up + i, count: n)
                let g = n == 8 ? Vec.load(dout + i) : Vec.load(dout + i, count: n)
                let s = one / (one + Vec.exp(-a))
                let du = g * a * s
                let dg = g * u * s * (one + a * (one - s))
                if n == 8 {
                    Vec.store(du, dup + i)
                    Vec.store(dg, dgate + i)
                } else {
                    Vec.store(du, dup + i, count: n)
                    Vec.store(dg, dgate + i, count: n)
                }
            }
        }
    }

    // MARK: Cross-entropy

    /// Per-row `loss[i] = logsumexp(logits[i]) - logits[i, target[i]]`; saves `lse[i]` for the backward.
    public static func crossEntropyForward(losses: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>,
                                           logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>,
                                           rows: Int, vocab: Int, threads: Int = 1) {
        Parallel.forRanges(rows, threads: threads) { range in
            for i in range {
                let row = logits + i * vocab
                let mx = Kernels.rowMax(row, count: vocab)
                let sum = Kernels.expShiftedSum(row, count: vocab, shift: mx)
                let l = mx + logf(sum)
                lse[i] = l
                losses[i] = l - row[Int(targets[i])]
            }
        }
    }

    /// Turns `logits` into `d(scale * sum_i loss_i)/dlogits = scale * (softmax - onehot)` in place
    /// (so the `[rows, vocab]` buffer is never duplicated). Use `scale = 1/rows` for the mean loss.
    public static func crossEntropyBackward(logits: UnsafeMutablePointer<Float>, lse: UnsafePointer<Float>, targets: UnsafePointer<Int32>,
                                            rows: Int, vocab: Int, scale: Float, threads: Int = 1) {
        Parallel.forRanges(rows, threads: threads) { range in
            for i in range {
                let row = logits + i * vocab, l = lse[i]
                Kernels.expShiftedScaled(row, count: vocab, shift: l, scale: scale)
                row[Int(targets[i])] -= scale
            }
        }
    }
}

/// cos/sin of `t * inv_freq_i` for `t < maxSequence`, `i < headDim/2`, computed in float32 the way
/// Hugging Face's `LlamaRotaryEmbedding` does (float32 `inv_freq`, float32 product, float32 cos/sin),
/// so long positions agree to rounding rather than drifting by float32-vs-double angle error.
public struct RopeTables: Sendable {
    public let headDim: Int
    public let maxSequence: Int
    public let layout: RopeLayout
    /// `[maxSequence, headDim/2]`.
    public let cos: FloatBuffer
    public let sin: FloatBuffer

    public init(headDim: Int, maxSequence: Int, theta: Double, layout: RopeLayout) {
        self.headDim = headDim
        self.maxSequence = maxSequence
        self.layout = layout
        let half = headDim / 2
        cos = FloatBuffer(count: maxSequence * half)
        sin = FloatBuffer(count: maxSequence * half)
        let base = Float(theta)
        for i in 0..<half {
            let invFreq: Float = 1 / powf(base, Float(2 * i) / Float(headDim))
            for t in 0..<maxSequence {
                let angle = Float(t) * invFreq
                cos[t * half + i] = cosf(angle)
                sin[t * half + i] = sinf(angle)
            }
        }
    }
}
