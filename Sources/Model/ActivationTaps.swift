import Foundation

/// Read access to the activations the last forward kept, for pruning methods that score units or
/// reconstruct layers from real inputs (Wanda, FLAP, SparseGPT, ADMM, block influence).
public enum ActivationTap: String, Sendable, CaseIterable {
    /// The block's input on the residual stream, `[N, hidden]`.
    case blockInput
    /// RMSNorm output feeding q/k/v, `[N, hidden]`.
    case attentionInput
    /// Concatenated heads feeding `o_proj`, `[N, heads * headDim]`.
    case attentionOutputInput
    /// RMSNorm output feeding gate/up, `[N, hidden]`.
    case mlpInput
    /// `silu(gate) * up` feeding `down_proj`, `[N, mlpHidden]`.
    case downInput
    /// The block's output on the residual stream (the next block's input), `[N, hidden]`.
    case blockOutput
}

extension LlamaModel {
    /// Columns of a tap's rows in block `block`.
    public func width(of tap: ActivationTap, block: Int) -> Int {
        let b = config.blocks[block]
        switch tap {
        case .blockInput, .attentionInput, .mlpInput, .blockOutput: return config.hidden
        case .attentionOutputInput: return b.heads * config.headDim
        case .downInput: return b.mlpHidden
        }
    }

    /// The activations at `tap` of block `block` from the last forward, `[batch * seqLen, width]`
    /// row-major. Valid until the next forward or backward (backward reuses no kept buffer except
    /// the logits, so taps stay valid after it too).
    public func activations(_ tap: ActivationTap, block: Int) -> UnsafeBufferPointer<Float> {
        guard let a = acts, batch > 0 else { preconditionFailure("activations(_:block:) needs a forward first") }
        precondition(config.blocks.indices.contains(block), "block \(block) out of range 0..<\(config.blocks.count)")
        let n = batch * seqLen, s = a.blocks[block]
        let p: UnsafeMutablePointer<Float>
        switch tap {
        case .blockInput: p = a.residual[block].pointer
        case .attentionInput: p = s.ln1.pointer
        case .attentionOutputInput: p = s.att.pointer
        case .mlpInput: p = s.ln2.pointer
        case .downInput: p = s.act.pointer
        case .blockOutput: p = a.residual[block + 1].pointer
        }
        return UnsafeBufferPointer(start: p, count: n * width(of: tap, block: block))
    }

    /// The residual stream after the last block, before the final norm, `[N, hidden]`.
    public var finalResidual: UnsafeBufferPointer<Float> {
        guard let a = acts, batch > 0 else { preconditionFailure("finalResidual needs a forward first") }
        return UnsafeBufferPointer(start: a.residual[config.blocks.count].pointer, count: batch * seqLen * config.hidden)
    }
}
