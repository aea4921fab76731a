import Foundation
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
                var ss: Float = 0
                for j in 0..<cols { ss += xr[j] * xr[j] }
                let r = 1 / (ss / Float(cols) + eps).squareRoot()
                rstd[i] = r
                for j in 0..<cols { yr[j] = xr[j] * r * weight[j] }
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
                var dot: Float = 0
                for j in 0..<cols { dot += weight[j] * dyr[j] * xr[j] }
                let k = dot * r * r * r / Float(cols)
                for j in 0..<cols { dxr[j] += r * weight[j] * dyr[j] - k * xr[j] }
            }
        }
        // The weight gradient reduces over rows: serial, in row order, for determinism.
        for i in 0..<rows {
            let xr = x + i * cols, dyr = dout + i * cols
            let r = rstd[i]
            for j in 0..<cols { dweight[j] += dyr[j] * xr[j] * r }
        }
    }

    // MARK: Linear (no bias)

    /// `out[n, outF] = x[n, inF] W^T` (`+=` with `accumulate`), `W: [outF, inF]`.
    @inline(__always)
    public static func linearForward(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                     n: Int, inF: Int, outF: Int, accumulate: Bool = false) {
        BLAS.matmul(x, weight, transB: true, into: out, m: n, n: outF, k: inF, accumulate: accumulate)
    }

    /// `dx = dout W` (`+=` with `accumulateInput`), `dW += dout^T x`.
    @inline(__always)
    public static func linearBackward(dx: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
                                      x: UnsafePointer<Float>, weight: UnsafePointer<Float>, n: Int, inF: Int, outF: Int,
                                      accumulateInput: Bool = false) {
        if let dx { BLAS.matmul(dout, weight, into: dx, m: n, n: inF, k: outF, accumulate: accumulateInput) }
        BLAS.matmul(dout, transA: true, x, into: dweight, m: outF, n: inF, k: n, accumulate: true)
    }

    // MARK: RoPE

    /// Rotates each head vector of `x: [batch * seqLen, heads * headDim]` in place by the angles of its
    /// position `t` (0-based within its sequence). `inverse` rotates by minus the angle, which is the
    /// backward pass (a rotation's transpose is its inverse).
    public static func rope(_ x: UnsafeMutablePointer<Float>, batch: Int, seqLen: Int, heads: Int, tables: RopeTables,
                            inverse: Bool = false, threads: Int = 1) {
        let d = tables.headDim, half = d / 2, width = heads * d
        precondition(seqLen <= tables.maxSequence, "sequence length \(seqLen) exceeds the RoPE tables (\(tables.maxSequence))")
        let interleaved = tables.layout == .interleaved
        let sign: Float = inverse ? -1 : 1
        Parallel.forRanges(batch * seqLen, threads: threads) { range in
            for row in range {
                let t = row % seqLen
                let cosT = tables.cos.pointer + t * half, sinT = tables.sin.pointer + t * half
                for h in 0..<heads {
                    let v = x + row * width + h * d
                    for i in 0..<half {
                        let (ia, ib) = interleaved ? (2 * i, 2 * i + 1) : (i, i + half)
                        let a = v[ia], b = v[ib], c = cosT[i], s = sign * sinT[i]
                        // HF: q*cos + rotate_half(q)*sin, rotate_half(q) = (-q2, q1).
                        v[ia] = a * c - b * s
                        v[ib] = b * c + a * s
                    }
                }
            }
        }
    }

    // MARK: Causal self-attention with grouped-query heads

    /// `out[b, t, h] = sum_s softmax_s(q_{b,t,h} . k_{b,s,g} / sqrt(d)) v_{b,s,g}` over `s <= t`, with
    /// `g = h / (heads / kvHeads)`. `q, out: [B*T, heads*d]`; `k, v: [B*T, kvHeads*d]`;
    /// `probs: [B, heads, T, T]` receives the attention weights (exact zeros above the diagonal).
    public static func attentionForward(out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>,
                                        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                        batch: Int, seqLen T: Int, heads: Int, kvHeads: Int, headDim d: Int, threads: Int = 1) {
        let qw = heads * d, kw = kvHeads * d, group = heads / kvHeads
        let scale = 1 / Float(d).squareRoot()
        Parallel.forEach(batch * heads, threads: threads) { item in
            let b = item / heads, h = item % heads, g = h / group
            let p = probs + item * T * T
            let qb = q + b * T * qw + h * d, kb = k + b * T * kw + g * d, vb = v + b * T * kw + g * d
            BLAS.sgemm(transA: false, transB: true, m: T, n: T, k: d, alpha: scale, a: qb, lda: qw, b: kb, ldb: kw, beta: 0, c: p, ldc: T)
            for t in 0..<T {
                let row = p + t * T
                Kernels.softmaxInPlace(row, count: t + 1)
                for s in (t + 1)..<T { row[s] = 0 }
            }
            BLAS.sgemm(transA: false, transB: false, m: T, n: d, k: T, a: p, lda: T, b: vb, ldb: kw, beta: 0,
                       c: out + b * T * qw + h * d, ldc: qw)
        }
    }

    /// Gradients of `attentionForward`: overwrites `dq`, `dk`, `dv`. `scratch` has the size of `probs`.
    /// Work is split by (batch, KV head) so each item owns its `dk`/`dv` slice and sums the query heads
    /// of its group in a fixed order (deterministic for any thread count).
    public static func attentionBackward(dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
                                         scratch: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, probs: UnsafePointer<Float>,
                                         q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                         batch: Int, seqLen T: Int, heads: Int, kvHeads: Int, headDim d: Int, threads: Int = 1) {
        let qw = heads * d, kw = kvHeads * d, group = heads / kvHeads
        let scale = 1 / Float(d).squareRoot()
        Parallel.forEach(batch * kvHeads, threads: threads) { item in
            let b = item / kvHeads, g = item % kvHeads
            let kb = k + b * T * kw + g * d, vb = v + b * T * kw + g * d
            let dkb = dk + b * T * kw + g * d, dvb = dv + b * T * kw + g * d
            for r in 0..<group {
                let h = g * group + r
                let p = probs + (b * heads + h) * T * T, ds = scratch + (b * heads + h) * T * T
                let dob = dout + b * T * qw + h * d, qb = q + b * T * qw + h * d
                // dP = dO V^T
                BLAS.sgemm(transA: false, transB: true, m: T, n: T, k: d, a: dob, lda: qw, b: vb, ldb: kw, beta: 0, c: ds, ldc: T)
                // Softmax backward: dS = P * (dP - sum_s P dP), zero above the diagonal.
                for t in 0..<T {
                    let pr = p + t * T, dr = ds + t * T
                    var dot: Float = 0
                    for s in 0...t { dot += pr[s] * dr[s] }
                    for s in 0...t { dr[s] = pr[s] * (dr[s] - dot) }
                    for s in (t + 1)..<T { dr[s] = 0 }
                }
                let beta: Float = r == 0 ? 0 : 1
                // dQ = scale dS K; dK += scale dS^T Q; dV += P^T dO
                BLAS.sgemm(transA: false, transB: false, m: T, n: d, k: T, alpha: scale, a: ds, lda: T, b: kb, ldb: kw, beta: 0,
                           c: dq + b * T * qw + h * d, ldc: qw)
                BLAS.sgemm(transA: true, transB: false, m: T, n: d, k: T, alpha: scale, a: ds, lda: T, b: qb, ldb: qw, beta: beta,
                           c: dkb, ldc: kw)
                BLAS.sgemm(transA: true, transB: false, m: T, n: d, k: T, a: p, lda: T, b: dob, ldb: qw, beta: beta, c: dvb, ldc: kw)
            }
        }
    }

    // MARK: SwiGLU

    /// `out = silu(gate) * up`, `silu(a) = a * sigmoid(a)`.
    public static func swigluForward(out: UnsafeMutablePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>,
                                     count: Int, threads: Int = 1) {
        Parallel.forRanges(count, threads: threads, grain: 4096) { range in
            for i in range {
                let a = gate[i]
                out[i] = a / (1 + expf(-a)) * up[i]
            }
        }
    }

    /// `dup = dout * silu(a)`, `dgate = dout * up * sigmoid(a) * (1 + a (1 - sigmoid(a)))` (both overwrite).
    public static func swigluBackward(dgate: UnsafeMutablePointer<Float>, dup: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
                                      gate: UnsafePointer<Float>, up: UnsafePointer<Float>, count: Int, threads: Int = 1) {
        Parallel.forRanges(count, threads: threads, grain: 4096) { range in
            for i in range {
                let a = gate[i], s = 1 / (1 + expf(-a)), g = dout[i]
                dup[i] = g * a * s
                dgate[i] = g * up[i] * s * (1 + a * (1 - s))
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
                var mx = -Float.infinity
                for j in 0..<vocab where row[j] > mx { mx = row[j] }
                var sum: Float = 0
                for j in 0..<vocab { sum += expf(row[j] - mx) }
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
                for j in 0..<vocab { row[j] = expf(row[j] - l) * scale }
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
