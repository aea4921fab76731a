// The Llama decoder's training core: one flat float32 parameter buffer, one gradient buffer of the
// same layout, activations kept for the hand-written backward.
//
// Buffers
//   params, grads   [layout.totalCount], tensors at ParameterLayout offsets (Hugging Face names and
//                   order; linear weights [out, in], y = x W^T). With tied embeddings the LM head
//                   reads embed_tokens and its gradient lands there too.
//   mask            optional, same size: 1 keeps a weight, 0 pins it at exactly zero (2:4 pruning).
//   activations     sized for N = B*T rows, kept per block for the backward:
//                   residual[l] [N,C] (block input; residual[L] feeds the final norm)
//                   ln1 [N,C], rstd1 [N], qkv [N,(H+2KV)*D] (each row: q and k after RoPE, then v;
//                   one product, since Wq, Wk, Wv are consecutive rows of the flat buffer),
//                   attention's saved state (CausalAttention: per (b, h), 2T floats on the tiled path,
//                   T x T probabilities on the blocked one), att [N,H*D] (heads concatenated), mid [N,C]
//                   (after attention's residual add), ln2 [N,C], rstd2 [N], gu [N,2F] (each row: gate,
//                   then up; one product likewise), act [N,F] = silu(gate)*up;
//                   then lnf [N,C], rstdf [N], logits [N,V], per-row losses and log-sum-exps [N].
//   scratch         one set of gradient buffers sized for the widest block, reused by every block.
//
// Forward:  residual[0] = E[tokens]
//           per block: ln1 = rmsnorm(x); q,k,v = ln1 W^T; rope(q,k); att = attention(q,k,v);
//                      mid = x + att Wo^T (+ bo); ln2 = rmsnorm(mid); gate,up = ln2 W^T;
//                      act = silu(gate)*up; residual[l+1] = mid + act Wd^T (+ bd)
//           (the biases bo, bd exist only with config.attentionBias / config.mlpBias)
//           lnf = rmsnorm(residual[L]); logits = lnf Whead^T; loss = mean cross-entropy.
// Backward: exactly the reverse. dlogits overwrite logits in place; one running residual gradient
//           `dres` collects the residual path and each norm's input gradient; weight gradients
//           accumulate (+=) so several forward/backward pairs sum before an optimizer step.

import Foundation
import OpenBLASRuntime
import Randomness
import Tensor

/// Where one block's tensors live in the flat buffer.
struct BlockOffsets {
    var inputNorm, q, k, v, o, postNorm, gate, up, down: Int
    /// o_proj's and down_proj's biases, when the config has them.
    var oBias, downBias: Int?

    init(_ layout: ParameterLayout, block i: Int) {
        func at(_ suffix: String) -> Int { layout["model.layers.\(i).\(suffix)"]!.offset }
        inputNorm = at("input_layernorm.weight")
        q = at("self_attn.q_proj.weight")
        k = at("self_attn.k_proj.weight")
        v = at("self_attn.v_proj.weight")
        o = at("self_attn.o_proj.weight")
        postNorm = at("post_attention_layernorm.weight")
        gate = at("mlp.gate_proj.weight")
        up = at("mlp.up_proj.weight")
        down = at("mlp.down_proj.weight")
        oBias = layout["model.layers.\(i).self_attn.o_proj.bias"]?.offset
        downBias = layout["model.layers.\(i).mlp.down_proj.bias"]?.offset
        // The fused projections rely on q, k, v (and gate, up) being consecutive rows of one matrix.
        precondition(k == q + layout["model.layers.\(i).self_attn.q_proj.weight"]!.count
                     && v == k + layout["model.layers.\(i).self_attn.k_proj.weight"]!.count
                     && up == gate + layout["model.layers.\(i).mlp.gate_proj.weight"]!.count, "parameter layout: q/k/v or gate/up not adjacent")
    }
}

/// Activation and scratch buffers for up to `capacityRows` rows, and each block's attention with
/// room for its saved state.
final class Activations {
    struct Block {
        /// `qkv [N, (H + 2 KV) D]`: q, k (both after RoPE) and v side by side in each row;
        /// `gu [N, 2F]`: gate and up side by side in each row.
        let ln1, rstd1, qkv, att, mid, ln2, rstd2, gu, act: FloatBuffer
        let attention: CausalAttention
    }
    let capacityRows: Int
    let residual: [FloatBuffer]
    let blocks: [Block]
    let lnf, rstdf, logits, losses, lse: FloatBuffer
    // Backward scratch, shared by all blocks; allocated on the first backward, so a model that
    // only runs forward passes (evaluation, Bonsai) holds inference-sized buffers only.
    private let n, C, maxQKVD, maxHD, maxH, maxF: Int
    lazy var dres = FloatBuffer(count: n * C)
    lazy var dln = FloatBuffer(count: n * C)
    lazy var dqkv = FloatBuffer(count: n * maxQKVD)
    lazy var datt = FloatBuffer(count: n * maxHD)
    lazy var dact = FloatBuffer(count: n * maxF)
    lazy var dgu = FloatBuffer(count: n * 2 * maxF)

    init(_ c: LlamaConfig, batch B: Int, seqLen T: Int, attentionPath: CausalAttention.Path) {
        let n = B * T
        capacityRows = n
        let C = c.hidden, D = c.headDim
        residual = (0...c.blocks.count).map { _ in FloatBuffer(count: n * C) }
        blocks = c.blocks.map { b in
            let attention = CausalAttention(path: attentionPath, heads: b.heads, kvHeads: b.kvHeads, headDim: D)
            attention.reserve(batch: B, seqLen: T)
            return Block(ln1: FloatBuffer(count: n * C), rstd1: FloatBuffer(count: n),
                         qkv: FloatBuffer(count: n * (b.heads + 2 * b.kvHeads) * D), att: FloatBuffer(count: n * b.heads * D),
                         mid: FloatBuffer(count: n * C), ln2: FloatBuffer(count: n * C), rstd2: FloatBuffer(count: n),
                         gu: FloatBuffer(count: n * 2 * b.mlpHidden), act: FloatBuffer(count: n * b.mlpHidden), attention: attention)
        }
        lnf = FloatBuffer(count: n * C)
        rstdf = FloatBuffer(count: n)
        logits = FloatBuffer(count: n * c.vocabSize)
        losses = FloatBuffer(count: n)
        lse = FloatBuffer(count: n)
        self.n = n
        self.C = C
        maxH = c.blocks.map(\.heads).max() ?? 1
        maxQKVD = (c.blocks.map { $0.heads + 2 * $0.kvHeads }.max() ?? 1) * D
        maxHD = maxH * D
        maxF = c.blocks.map(\.mlpHidden).max() ?? 1
    }
}

/// A Llama-style decoder with a hand-written backward. Not thread-safe: one model, one caller.
public final class LlamaModel {
    public let config: LlamaConfig
    public let layout: ParameterLayout
    /// Weights, flat, in `layout` order.
    public let params: FloatBuffer
    /// Gradients, same layout; `backward()` adds into it, `zeroGrad()` clears it.
    public let grads: FloatBuffer
    /// 0/1 per parameter; a 0 weight stays exactly zero (forward, gradients, optimizer). `nil`: no mask.
    public private(set) var mask: FloatBuffer?
    /// Threads for the matrix products, attention and row-wise kernels. With more than one, the model
    /// runs its products as pieces on its own workers and holds OpenBLAS at one thread meanwhile
    /// (restored after each forward/backward); with one, products go to BLAS whole and use
    /// `BLAS.threads`. Results are bit-identical for every thread count.
    public var threads: Int
    /// The attention implementation the blocks run: the build's faster one unless a caller (a
    /// parity test) asks for the other. Changing it drops the activations.
    public var attentionPath: CausalAttention.Path = .preferred {
        didSet { if attentionPath != oldValue { acts = nil } }
    }

    let rope: RopeTables
    let blockOffsets: [BlockOffsets]
    let embedOffset: Int
    let finalNormOffset: Int
    let headOffset: Int
    var acts: Activations?
    // The batch the activations describe.
    private(set) public var batch = 0
    private(set) public var seqLen = 0
    private var tokens: [Int32] = []
    private var targets: [Int32] = []
    private var backwardReady = false
    /// Passes run so far: lets callers prove a method never differentiates (Bonsai) and count its cost.
    public private(set) var forwardPasses = 0
    public private(set) var backwardPasses = 0

    /// A freshly initialised model, Hugging Face's way: every matrix (embeddings, projections, an
    /// untied LM head) ~ normal(0, `initStd`), every RMSNorm weight 1, every bias 0. Tensor `i` of the layout draws
    /// from its own stream `SeededRandom(seed:stream: i)`, so a tensor's values don't depend on the
    /// shapes of the tensors before it.
    public convenience init(config: LlamaConfig, seed: UInt64, initStd: Float = 0.02, threads: Int = Parallel.defaultThreads) throws {
        try self.init(config: config, threads: threads)
        for (i, e) in layout.entries.enumerated() {
            let p = params.pointer + e.offset
            switch e.role {
            case .norm:
                p.update(repeating: 1, count: e.count)
            case .bias:
                p.update(repeating: 0, count: e.count)
            case .matrix:
                var rng = SeededRandom(seed: seed, stream: i)
                for j in 0..<e.count { p[j] = Float(rng.normal()) * initStd }
            }
        }
    }

    /// A model with the given weights (flat, `ParameterLayout(config)` order).
    public convenience init(config: LlamaConfig, parameters: [Float], threads: Int = Parallel.defaultThreads) throws {
        try self.init(config: config, threads: threads)
        guard parameters.count == layout.totalCount else {
            throw ModelError("model: \(parameters.count) parameters given, the config needs \(layout.totalCount)")
        }
        params.assign(parameters)
    }

    private init(config: LlamaConfig, threads: Int) throws {
        try config.validate()
        self.config = config
        self.threads = max(1, threads)
        let layout = ParameterLayout(config)
        self.layout = layout
        params = FloatBuffer(count: layout.totalCount)
        grads = FloatBuffer(count: layout.totalCount)
        rope = RopeTables(headDim: config.headDim, maxSequence: config.maxSequence, theta: config.ropeTheta, layout: config.ropeLayout)
        blockOffsets = config.blocks.indices.map { BlockOffsets(layout, block: $0) }
        embedOffset = layout["model.embed_tokens.weight"]!.offset
        finalNormOffset = layout["model.norm.weight"]!.offset
        headOffset = config.tiedEmbeddings ? embedOffset : layout["lm_head.weight"]!.offset
    }

    // MARK: Masks

    /// Sets (or with `nil` removes) the whole-buffer 0/1 mask and zeroes the masked weights now.
    public func setMask(_ values: [Float]?) {
        guard let values else { mask = nil; return }
        precondition(values.count == layout.totalCount, "mask has \(values.count) entries, the model \(layout.totalCount)")
        precondition(values.allSatisfy { $0 == 0 || $0 == 1 }, "mask entries must be 0 or 1")
        mask = FloatBuffer(values)
        applyMask()
    }

    /// Sets the mask of one tensor (by Hugging Face name); other tensors keep theirs (or all-ones).
    public func setMask(_ values: [Float], for name: String) {
        guard let e = layout[name] else { preconditionFailure("no tensor named \(name)") }
        precondition(values.count == e.count, "mask for \(name) has \(values.count) entries, the tensor \(e.count)")
        precondition(values.allSatisfy { $0 == 0 || $0 == 1 }, "mask entries must be 0 or 1")
        if mask == nil {
            let m = FloatBuffer(count: layout.totalCount)
            m.fill(1)
            mask = m
        }
        values.withUnsafeBufferPointer { mask!.pointer.advanced(by: e.offset).update(from: $0.baseAddress!, count: e.count) }
        applyMask()
    }

    /// `params *= mask`: keeps the invariant even if someone wrote into `params` directly.
    func applyMask() {
        if let mask { Kernels.multiply(params.pointer, by: mask.pointer, count: layout.totalCount) }
    }

    // MARK: Forward

    /// Runs the model on `batch` sequences of `seqLen` tokens (row-major `[batch, seqLen]`) and keeps
    /// the activations for `backward()`. With `targets` (same shape) returns the mean cross-entropy
    /// over all `batch * seqLen` positions; without, returns NaN and only `logits` are meaningful.
    /// With `throughBlock`, stops after that block (its activations and those before it are kept;
    /// no logits, no loss, no backward): calibration that reads one block's inputs skips the rest
    /// of the model, the LM head included.
    @discardableResult
    public func forward(tokens: UnsafeBufferPointer<Int32>, targets: UnsafeBufferPointer<Int32>?, batch B: Int, seqLen T: Int,
                        throughBlock last: Int? = nil) -> Float {
        precondition(last.map { config.blocks.indices.contains($0) } ?? true, "forward: no block \(last ?? -1)")
        let N = B * T
        precondition(B > 0 && T > 0 && tokens.count == N, "forward: \(tokens.count) tokens for batch \(B) x \(T)")
        precondition(T <= config.maxSequence, "forward: sequence length \(T) exceeds maxSequence \(config.maxSequence)")
        let V = config.vocabSize, C = config.hidden, D = config.headDim
        precondition(tokens.allSatisfy { $0 >= 0 && Int($0) < V }, "forward: token id out of range 0..<\(V)")
        if let targets {
            precondition(targets.count == N, "forward: \(targets.count) targets for \(N) tokens")
            precondition(targets.allSatisfy { $0 >= 0 && Int($0) < V }, "forward: target id out of range 0..<\(V)")
        }
        if acts == nil || acts!.capacityRows < N {
            acts = nil  // free the old set before allocating the bigger one
            acts = Activations(config, batch: B, seqLen: T, attentionPath: attentionPath)
        }
        let a = acts!
        forwardPasses += 1
        batch = B
        seqLen = T
        self.tokens = Array(tokens)
        self.targets = targets.map(Array.init) ?? []
        applyMask()

        let P = params.pointer, eps = Float(config.normEps), th = threads
        // With our own workers, OpenBLAS runs single-threaded inside them (see `Layers.gemm`).
        return BLAS.withThreads(1, when: th > 1) { () -> Float in
            self.tokens.withUnsafeBufferPointer { tok in
                Layers.embeddingForward(out: a.residual[0].pointer, tokens: tok.baseAddress!, table: P + embedOffset, n: N, c: C)
            }
            for (l, shape) in config.blocks.enumerated().prefix(last.map { $0 + 1 } ?? config.blocks.count) {
                let o = blockOffsets[l], s = a.blocks[l], x = a.residual[l].pointer
                let H = shape.heads, KV = shape.kvHeads, F = shape.mlpHidden
                Layers.rmsnormForward(out: s.ln1.pointer, rstd: s.rstd1.pointer, x: x, weight: P + o.inputNorm, rows: N, cols: C, eps: eps, threads: th)
                // q, k, v in one product: their weights are consecutive rows of one [(H + 2 KV) D, C] matrix.
                let W = (H + 2 * KV) * D, qkv = s.qkv.pointer
                Layers.linearForward(out: qkv, x: s.ln1.pointer, weight: P + o.q, n: N, inF: C, outF: W, threads: th)
                // q's H heads and k's KV heads are adjacent in each row: one RoPE pass over H + KV heads.
                Layers.rope(qkv, rowStride: W, batch: B, seqLen: T, heads: H + KV, tables: rope, threads: th)
                s.attention.forward(out: s.att.pointer, outStride: H * D, q: qkv, qStride: W, k: qkv + H * D, v: qkv + (H + KV) * D,
                                    kvStride: W, batch: B, seqLen: T, threads: th)
                s.mid.pointer.update(from: x, count: N * C)
                Layers.linearForward(out: s.mid.pointer, x: s.att.pointer, weight: P + o.o, n: N, inF: H * D, outF: C, accumulate: true, threads: th)
                if let ob = o.oBias { Kernels.addRow(P + ob, toRowsOf: s.mid.pointer, rows: N, cols: C, threads: th) }
                Layers.rmsnormForward(out: s.ln2.pointer, rstd: s.rstd2.pointer, x: s.mid.pointer, weight: P + o.postNorm, rows: N, cols: C, eps: eps, threads: th)
                // gate and up in one product (consecutive rows of one [2F, C] matrix).
                let gu = s.gu.pointer
                Layers.linearForward(out: gu, x: s.ln2.pointer, weight: P + o.gate, n: N, inF: C, outF: 2 * F, threads: th)
                Layers.swigluForward(out: s.act.pointer, gate: gu, up: gu + F, rows: N, cols: F, inStride: 2 * F, threads: th)
                let next = a.residual[l + 1].pointer
                next.update(from: s.mid.pointer, count: N * C)
                Layers.linearForward(out: next, x: s.act.pointer, weight: P + o.down, n: N, inF: F, outF: C, accumulate: true, threads: th)
                if let db = o.downBias { Kernels.addRow(P + db, toRowsOf: next, rows: N, cols: C, threads: th) }
            }
            if last != nil {
                backwardReady = false
                return .nan
            }
            let xL = a.residual[config.blocks.count].pointer
            Layers.rmsnormForward(out: a.lnf.pointer, rstd: a.rstdf.pointer, x: xL, weight: P + finalNormOffset, rows: N, cols: C, eps: eps, threads: th)
            Layers.linearForward(out: a.logits.pointer, x: a.lnf.pointer, weight: P + headOffset, n: N, inF: C, outF: V, threads: th)

            guard !self.targets.isEmpty else {
                backwardReady = false
                return .nan
            }
            self.targets.withUnsafeBufferPointer { tg in
                Layers.crossEntropyForward(losses: a.losses.pointer, lse: a.lse.pointer, logits: a.logits.pointer, targets: tg.baseAddress!,
                                           rows: N, vocab: V, threads: th)
            }
            backwardReady = true
            // Row order, in Double: the same sum whatever the thread count.
            var sum = 0.0
            for i in 0..<N { sum += Double(a.losses[i]) }
            return Float(sum / Double(N))
        }
    }

    @discardableResult
    public func forward(tokens: [Int32], targets: [Int32]?, batch: Int, seqLen: Int) -> Float {
        tokens.withUnsafeBufferPointer { tok in
            if let targets {
                return targets.withUnsafeBufferPointer { forward(tokens: tok, targets: $0, batch: batch, seqLen: seqLen) }
            }
            return forward(tokens: tok, targets: nil, batch: batch, seqLen: seqLen)
        }
    }

    /// Logits `[batch * seqLen, vocab]` of the last forward. Valid until `backward()`, which overwrites
    /// them with their gradient.
    public var logits: UnsafeBufferPointer<Float> {
        guard let a = acts else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(start: a.logits.pointer, count: batch * seqLen * config.vocabSize)
    }

    /// Per-position cross-entropy of the last forward with targets, `[batch * seqLen]`.
    public var positionLosses: [Float] {
        guard let a = acts, !targets.isEmpty else { return [] }
        return Array(UnsafeBufferPointer(start: a.losses.pointer, count: batch * seqLen))
    }

    // MARK: Backward

    public func zeroGrad() { grads.zero() }

    /// Frees the activation buffers (the next forward allocates them again; a backward needs a new
    /// forward). A caller done with this model while another runs keeps peak memory at one model's.
    public func releaseActivations() {
        acts = nil
        backwardReady = false
    }

    /// Adds `d(lossScale * loss)/dparams` of the last forward (which needs targets) into `grads`.
    /// For gradient accumulation over k micro-batches pass `lossScale = 1/k`. Consumes the saved
    /// state: a second `backward()` needs a new `forward`.
    public func backward(lossScale: Float = 1) {
        precondition(backwardReady, "backward() needs a forward(tokens:targets:...) with targets first")
        backwardReady = false
        backwardPasses += 1
        let a = acts!, B = batch, T = seqLen, N = B * T
        let V = config.vocabSize, C = config.hidden, D = config.headDim, th = threads
        let P = params.pointer, G = grads.pointer
        BLAS.withThreads(1, when: th > 1) {
            let dres = a.dres.pointer, dln = a.dln.pointer

            targets.withUnsafeBufferPointer { tg in
                Layers.crossEntropyBackward(logits: a.logits.pointer, lse: a.lse.pointer, targets: tg.baseAddress!, rows: N, vocab: V,
                                            scale: lossScale / Float(N), threads: th)
            }
            let dlogits = a.logits.pointer
            Layers.linearBackward(dx: dln, dweight: G + headOffset, dout: dlogits, x: a.lnf.pointer, weight: P + headOffset, n: N, inF: C, outF: V, threads: th)
            a.dres.zero()
            Layers.rmsnormBackward(dx: dres, dweight: G + finalNormOffset, dout: dln, x: a.residual[config.blocks.count].pointer,
                                   weight: P + finalNormOffset, rstd: a.rstdf.pointer, rows: N, cols: C, threads: th)

            for l in stride(from: config.blocks.count - 1, through: 0, by: -1) {
                let shape = config.blocks[l], o = blockOffsets[l], s = a.blocks[l]
                let H = shape.heads, KV = shape.kvHeads, F = shape.mlpHidden
                // MLP: residual[l+1] = mid + act Wd^T + bd, act = silu(gate) * up. Here dres is
                // d loss / d residual[l+1], which is also the gradient of the down product's output.
                if let db = o.downBias { Kernels.addColumnSums(of: dres, rows: N, cols: C, into: G + db, threads: th) }
                Layers.linearBackward(dx: a.dact.pointer, dweight: G + o.down, dout: dres, x: s.act.pointer, weight: P + o.down, n: N, inF: F, outF: C, threads: th)
                let gu = s.gu.pointer, dgu = a.dgu.pointer
                Layers.swigluBackward(dgate: dgu, dup: dgu + F, dout: a.dact.pointer, gate: gu, up: gu + F, rows: N, cols: F, inStride: 2 * F,
                                      threads: th)
                Layers.linearBackward(dx: dln, dweight: G + o.gate, dout: dgu, x: s.ln2.pointer, weight: P + o.gate, n: N, inF: C, outF: 2 * F,
                                      threads: th)
                Layers.rmsnormBackward(dx: dres, dweight: G + o.postNorm, dout: dln, x: s.mid.pointer, weight: P + o.postNorm, rstd: s.rstd2.pointer,
                                       rows: N, cols: C, threads: th)
                // Attention: mid = x + att Wo^T + bo. The post-norm backward has just added its input
                // gradient, so dres is now d loss / d mid, the gradient of the o product's output.
                if let ob = o.oBias { Kernels.addColumnSums(of: dres, rows: N, cols: C, into: G + ob, threads: th) }
                Layers.linearBackward(dx: a.datt.pointer, dweight: G + o.o, dout: dres, x: s.att.pointer, weight: P + o.o, n: N, inF: H * D, outF: C, threads: th)
                let W = (H + 2 * KV) * D, qkv = s.qkv.pointer, dqkv = a.dqkv.pointer
                s.attention.backward(dq: dqkv, dk: dqkv + H * D, dv: dqkv + (H + KV) * D, dout: a.datt.pointer, outStride: H * D,
                                     q: qkv, qStride: W, k: qkv + H * D, v: qkv + (H + KV) * D, kvStride: W, threads: th)
                Layers.rope(dqkv, rowStride: W, batch: B, seqLen: T, heads: H + KV, tables: rope, inverse: true, threads: th)
                Layers.linearBackward(dx: dln, dweight: G + o.q, dout: dqkv, x: s.ln1.pointer, weight: P + o.q, n: N, inF: C, outF: W, threads: th)
                Layers.rmsnormBackward(dx: dres, dweight: G + o.inputNorm, dout: dln, x: a.residual[l].pointer, weight: P + o.inputNorm,
                                       rstd: s.rstd1.pointer, rows: N, cols: C, threads: th)
            }
            tokens.withUnsafeBufferPointer { tok in
                Layers.embeddingBackward(dTable: G + embedOffset, dout: dres, tokens: tok.baseAddress!, n: N, c: C)
            }
            if let mask { Kernels.multiply(G, by: mask.pointer, count: layout.totalCount) }
        }
    }

    /// Scales the gradients so their global L2 norm is at most `maxNorm`; returns the norm before.
    @discardableResult
    public func clipGradients(maxNorm: Float) -> Float { Optim.clipGradients(grads, maxNorm: maxNorm) }

    // MARK: Parameter access

    /// A copy of one tensor's weights.
    public func tensor(_ name: String) -> [Float] {
        guard let e = layout[name] else { preconditionFailure("no tensor named \(name)") }
        return Array(UnsafeBufferPointer(start: params.pointer + e.offset, count: e.count))
    }

    /// A copy of one tensor's gradient.
    public func gradient(_ name: String) -> [Float] {
        guard let e = layout[name] else { preconditionFailure("no tensor named \(name)") }
        return Array(UnsafeBufferPointer(start: grads.pointer + e.offset, count: e.count))
    }

    /// Counts of weights that are not exactly zero (what a 2:4 mask leaves).
    public var nonZeroCounts: NonZeroCounts { NonZeroCounts(config: config, params: params) }
}
