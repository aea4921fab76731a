import Foundation
import Tensor

/// Optimizer helpers that work on whole flat buffers.
public enum Optim {
    /// Global L2 norm of `grads` (summed in Double, in index order, so deterministic); if it exceeds
    /// `maxNorm`, scales every gradient by `maxNorm / (norm + 1e-6)` as PyTorch's
    /// `clip_grad_norm_` does. Returns the norm before clipping; a NaN or infinite norm leaves the
    /// gradients untouched and is returned as is, so the caller can skip the step.
    @discardableResult
    public static func clipGradients(_ grads: FloatBuffer, maxNorm: Float) -> Float {
        let norm = grads.sumOfSquares().squareRoot()
        let coef = Double(maxNorm) / (norm + 1e-6)
        if coef < 1 { Kernels.scale(grads.pointer, by: Float(coef), count: grads.count) }
        return Float(norm)
    }
}

/// AdamW with decoupled weight decay, step for step PyTorch's `torch.optim.AdamW` (non-fused):
///
///     p *= 1 - lr * wd                      (decayed tensors only)
///     m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
///     p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
///
/// Weight decay applies to matrices only: every linear weight **and the token embedding** (and an
/// untied LM head), as nanoGPT and Hugging Face's Trainer do; never to RMSNorm weights or biases
/// (`ParameterLayout.Entry.decays`).
/// With a mask, masked entries are forced to exactly zero after the update (their gradients are
/// already zero, so their moments stay zero too).
public final class AdamW {
    public var beta1: Float
    public var beta2: Float
    public var eps: Float
    public var weightDecay: Float
    /// First and second moments, flat, in the parameter layout.
    public let m: FloatBuffer
    public let v: FloatBuffer
    /// Steps taken so far (the bias corrections use `t = stepCount` after incrementing).
    public private(set) var stepCount = 0
    /// `(range, decays)` per tensor, in layout order.
    private let segments: [(range: Range<Int>, decays: Bool)]
    /// Threads for the update (elementwise, so the result is the same for any count).
    public var threads: Int = Parallel.defaultThreads

    public init(layout: ParameterLayout, beta1: Float = 0.9, beta2: Float = 0.95, eps: Float = 1e-8, weightDecay: Float = 0) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
        m = FloatBuffer(count: layout.totalCount)
        v = FloatBuffer(count: layout.totalCount)
        segments = layout.entries.map { ($0.offset..<($0.offset + $0.count), $0.decays) }
    }

    public convenience init(model: LlamaModel, beta1: Float = 0.9, beta2: Float = 0.95, eps: Float = 1e-8, weightDecay: Float = 0) {
        self.init(layout: model.layout, beta1: beta1, beta2: beta2, eps: eps, weightDecay: weightDecay)
    }

    /// Puts a saved state back (resuming training): the step counter and both moments, so the
    /// next `step` computes exactly what it would have in the uninterrupted run.
    public func restore(stepCount: Int, m savedM: UnsafeBufferPointer<Float>, v savedV: UnsafeBufferPointer<Float>) throws {
        guard stepCount >= 0 else { throw ModelError("AdamW: step count \(stepCount) is negative") }
        guard savedM.count == m.count, savedV.count == v.count else {
            throw ModelError("AdamW: saved moments have \(savedM.count) and \(savedV.count) values, the model has \(m.count)")
        }
        self.stepCount = stepCount
        m.pointer.update(from: savedM.baseAddress!, count: m.count)
        v.pointer.update(from: savedV.baseAddress!, count: v.count)
    }

    /// One update of `params` from `grads` at learning rate `lr`.
    public func step(params: FloatBuffer, grads: FloatBuffer, lr: Float, mask: FloatBuffer? = nil) {
        precondition(params.count == m.count && grads.count == m.count, "AdamW: buffer sizes differ from the layout")
        stepCount += 1
        let t = Double(stepCount)
        let bc1 = 1 - Foundation.pow(Double(beta1), t)
        let bc2Sqrt = (1 - Foundation.pow(Double(beta2), t)).squareRoot()
        let stepSize = Float(Double(lr) / bc1), bc2 = Float(bc2Sqrt)
        let b1 = beta1, b2 = beta2, eps = eps
        let p = params.pointer, g = grads.pointer, mp = m.pointer, vp = v.pointer
        let decayed: Float = 1 - lr * weightDecay
        let segments = segments
        // The same operations, in the same order, for every element (8 lanes at a time, the tail
        // through the same vector code), so the bits don't depend on how the buffer is split.
        func update(_ lo: Int, _ hi: Int, decay: Float) {
            let vb1 = Float8(repeating: b1), vb2 = Float8(repeating: b2), c1 = Float8(repeating: 1 - b1), c2 = Float8(repeating: 1 - b2)
            let vdecay = Float8(repeating: decay), vstep = Float8(repeating: stepSize), vbc2 = Float8(repeating: bc2)
            let veps = Float8(repeating: eps)
            var i = lo
            while i < hi {
                let n = min(8, hi - i)
                let full = n == 8
                let gi = full ? Vec.load(g + i) : Vec.load(g + i, count: n)
                let m0 = full ? Vec.load(mp + i) : Vec.load(mp + i, count: n)
                let v0 = full ? Vec.load(vp + i) : Vec.load(vp + i, count: n)
                let p0 = full ? Vec.load(p + i) : Vec.load(p + i, count: n)
                let mi = vb1 * m0 + c1 * gi
                let vi = vb2 * v0 + c2 * gi * gi
                let pi = p0 * vdecay - vstep * mi / (vi.squareRoot() / vbc2 + veps)
                if full {
                    Vec.store(mi, mp + i); Vec.store(vi, vp + i); Vec.store(pi, p + i)
                } else {
                    Vec.store(mi, mp + i, count: n); Vec.store(vi, vp + i, count: n); Vec.store(pi, p + i, count: n)
                }
                i += n
            }
        }
        let chunk = 16_384
        Parallel.forRanges((params.count + chunk - 1) / chunk, threads: threads, grain: 4) { chunks in
            let lo = chunks.lowerBound * chunk, hi = min(params.count, chunks.upperBound * chunk)
            for (range, decays) in segments where range.upperBound > lo && range.lowerBound < hi {
                update(max(lo, range.lowerBound), min(hi, range.upperBound), decay: decays ? decayed : 1)
            }
            if let mask { Kernels.multiply(p + lo, by: mask.pointer + lo, count: hi - lo) }
        }
    }

    /// One update of the model's parameters from its gradients, honouring its mask.
    public func step(_ model: LlamaModel, lr: Float) {
        step(params: model.params, grads: model.grads, lr: lr, mask: model.mask)
    }
}

/// Learning rate as a pure function of the 0-based optimizer step `s` (the rate for update `s + 1`).
///
/// - Warmup (both schedules): `peak * (s + 1) / warmupSteps` for `s < warmupSteps`, so the last warmup
///   step reaches the peak.
/// - `.warmupCosine`: after warmup, `min + (peak - min) * (1 + cos(pi * p)) / 2` with
///   `p = (s - warmupSteps + 1) / (totalSteps - warmupSteps)`, so the last step (`totalSteps - 1`)
///   lands on `min = peak * minFraction`; `min` thereafter.
/// - `.warmupStableDecay`: peak until the last `decaySteps` steps, then linear to `min`:
///   `peak + (min - peak) * p` with `p = (s - (totalSteps - decaySteps) + 1) / decaySteps`; `min` thereafter.
public enum LRSchedule: Sendable, Equatable, Codable {
    case constant(lr: Double)
    case warmupCosine(peak: Double, warmupSteps: Int, totalSteps: Int, minFraction: Double)
    case warmupStableDecay(peak: Double, warmupSteps: Int, totalSteps: Int, decaySteps: Int, minFraction: Double)

    public func learningRate(at step: Int) -> Double {
        switch self {
        case .constant(let lr):
            return lr
        case let .warmupCosine(peak, warmup, total, minFraction):
            if step < warmup { return peak * Double(step + 1) / Double(warmup) }
            let minLR = peak * minFraction
            let span = total - warmup
            guard span > 0 else { return minLR }
            let p = Swift.min(1, Double(step - warmup + 1) / Double(span))
            return minLR + (peak - minLR) * 0.5 * (1 + Foundation.cos(Double.pi * p))
        case let .warmupStableDecay(peak, warmup, total, decay, minFraction):
            if step < warmup { return peak * Double(step + 1) / Double(warmup) }
            let minLR = peak * minFraction
            let decayStart = total - decay
            if step < decayStart { return peak }
            guard decay > 0 else { return minLR }
            let p = Swift.min(1, Double(step - decayStart + 1) / Double(decay))
            return peak + (minLR - peak) * p
        }
    }
}
