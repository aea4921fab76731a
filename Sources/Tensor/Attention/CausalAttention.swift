import OpenBLASRuntime

/// Causal self-attention with grouped-query heads for one layer: forward, backward, and the state
/// the forward saves for the backward, which this type owns.
///
///   out[b, t, h] = sum_{s <= t} P[t, s] v[b, s, g],  P[t] = softmax_s(scale q[b, t, h] . k[b, s, g]),
///   g = h / (heads / kvHeads), scale = 1 / sqrt(d)
///   backward:  dV[s] += sum_t P[t, s] dO[t];  dP = dO V^T;  dS = P * (dP - rowsum(P * dP));
///              dQ = scale dS K;  dK[s] += scale sum_t dS[t, s] Q[t]   (summed over the group's heads)
///
/// Two implementations, both deterministic for any thread count (every element is summed in an
/// order fixed by the shapes):
/// - `.tiled`: `AttentionTiles`' fused kernels; the forward saves each row's score maximum and
///   inverse exponential sum (2T floats per (b, h)) and the backward recomputes P from them, bit
///   for bit.
/// - `.blocked`: per block of query rows, OpenBLAS products for the scores and the weighted sum
///   (`BlockedAttention`); the forward saves P itself (T x T floats per (b, h)).
///
/// Layouts: q and out rows `qStride`/`outStride` apart (heads side by side), k and v rows
/// `kvStride` apart, `batch * seqLen` rows each, so q, k, v can be views into one fused projection.
public final class CausalAttention {
    public enum Path: String, Sendable, CaseIterable {
        case tiled, blocked

        /// The faster one for this build: the tiled kernels when Tensor is built with FMA
        /// (`TENSOR_FMA`), per-block OpenBLAS otherwise.
        public static var preferred: Path {
            #if TENSOR_FMA
            return .tiled
            #else
            return .blocked
            #endif
        }

        /// Floats saved per (batch, head) for the backward at sequence length `T`.
        public func savedCount(seqLen T: Int) -> Int {
            switch self {
            case .tiled: AttentionTiles.stateCount(seqLen: T)
            case .blocked: T * T
            }
        }
    }

    public let path: Path
    public let heads, kvHeads, headDim: Int
    /// What the last forward saved: `savedCount` floats per (b, h), (b, h) pairs in order.
    private var saved: FloatBuffer
    private var lastShape: (batch: Int, seqLen: Int)?

    public init(path: Path = .preferred, heads: Int, kvHeads: Int, headDim: Int) {
        precondition(heads > 0 && kvHeads > 0 && heads % kvHeads == 0 && headDim > 0, "attention: \(heads) heads, \(kvHeads) KV heads, head dim \(headDim)")
        self.path = path
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        saved = FloatBuffer(count: 0)
    }

    /// Bytes held for the backward.
    public var savedBytes: Int { saved.count * MemoryLayout<Float>.stride }

    /// Floats the state of a forward on `batch` sequences of `seqLen` takes.
    public func savedCount(batch: Int, seqLen: Int) -> Int { batch * heads * path.savedCount(seqLen: seqLen) }

    /// Makes room for a forward of this shape now (a model sizes its buffers before its first step).
    public func reserve(batch: Int, seqLen: Int) {
        let need = savedCount(batch: batch, seqLen: seqLen)
        if saved.count < need { saved = FloatBuffer(count: need) }
    }

    public func forward(out: UnsafeMutablePointer<Float>, outStride ow: Int, q: UnsafePointer<Float>, qStride qw: Int,
                        k: UnsafePointer<Float>, v: UnsafePointer<Float>, kvStride kw: Int, batch: Int, seqLen T: Int, threads: Int) {
        guard batch > 0, T > 0 else { return }
        reserve(batch: batch, seqLen: T)
        lastShape = (batch, T)
        let d = headDim, H = heads, group = heads / kvHeads, scale = 1 / Float(d).squareRoot()
        let state = saved.pointer, stride = path.savedCount(seqLen: T)
        switch path {
        case .tiled:
            // One (batch, head) pair per item; one contiguous range of items and one work space per worker.
            let workCount = AttentionTiles.forwardWorkspace(seqLen: T, headDim: d)
            Parallel.forRanges(batch * H, threads: threads, grain: 1) { items in
                let work = UnsafeMutablePointer<Float>.allocate(capacity: workCount)
                defer { work.deallocate() }
                for item in items {
                    let b = item / H, h = item % H, g = h / group
                    AttentionTiles.headForward(out: out + b * T * ow + h * d, outStride: ow, state: state + item * stride,
                                               q: q + b * T * qw + h * d, qStride: qw, k: k + b * T * kw + g * d, v: v + b * T * kw + g * d,
                                               kvStride: kw, seqLen: T, headDim: d, scale: scale, work: work)
                }
            }
        case .blocked:
            BlockedAttention.forward(out: out, outStride: ow, probs: state, q: q, qStride: qw, k: k, v: v, kvStride: kw,
                                     batch: batch, seqLen: T, heads: H, kvHeads: kvHeads, headDim: d, scale: scale, threads: threads)
        }
    }

    /// Gradients of the last `forward` (same q, k, v, shape): overwrites `dq`, `dk`, `dv` (rows as in
    /// the forward). Work is split by (batch, KV head), so each item owns its `dk`/`dv` rows and sums
    /// the query heads of its group in a fixed order.
    public func backward(dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
                         dout: UnsafePointer<Float>, outStride ow: Int, q: UnsafePointer<Float>, qStride qw: Int,
                         k: UnsafePointer<Float>, v: UnsafePointer<Float>, kvStride kw: Int, threads: Int) {
        guard let (batch, T) = lastShape else { preconditionFailure("attention backward needs a forward first") }
        let d = headDim, H = heads, group = heads / kvHeads, scale = 1 / Float(d).squareRoot()
        let state = UnsafePointer(saved.pointer), stride = path.savedCount(seqLen: T)
        switch path {
        case .tiled:
            let workCount = AttentionTiles.backwardWorkspace(seqLen: T, headDim: d)
            Parallel.forRanges(batch * kvHeads, threads: threads, grain: 1) { items in
                let work = UnsafeMutablePointer<Float>.allocate(capacity: workCount)
                defer { work.deallocate() }
                for item in items {
                    let b = item / kvHeads, g = item % kvHeads, h0 = g * group
                    AttentionTiles.groupBackward(dq: dq + b * T * qw + h0 * d, dk: dk + b * T * kw + g * d, dv: dv + b * T * kw + g * d,
                                                 dout: dout + b * T * ow + h0 * d, outStride: ow, state: state + (b * H + h0) * stride,
                                                 stateStride: stride, heads: group, q: q + b * T * qw + h0 * d, qStride: qw,
                                                 k: k + b * T * kw + g * d, v: v + b * T * kw + g * d, kvStride: kw,
                                                 seqLen: T, headDim: d, scale: scale, work: work)
                }
            }
        case .blocked:
            BlockedAttention.backward(dq: dq, dk: dk, dv: dv, dout: dout, outStride: ow, probs: state, q: q, qStride: qw, k: k, v: v,
                                      kvStride: kw, batch: batch, seqLen: T, heads: H, kvHeads: kvHeads, headDim: d, scale: scale,
                                      threads: threads)
        }
    }
}
