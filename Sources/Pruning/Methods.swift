import Foundation

/// What is pruned.
public enum PruningStructure: String, Sendable, Codable, CaseIterable {
    case depth, width
    /// N:M semi-structured masks (`--pattern 2:4`).
    case semiStructured = "n:m"
}

/// Depth methods: each scores whole blocks; the lowest-scored go.
public enum DepthMethod: String, Sendable, Codable, CaseIterable {
    case blockInfluence = "block-influence"
    case lossDrop = "loss-drop"
    case taylorPlus = "taylor-plus"

    public var summary: String {
        switch self {
        case .blockInfluence: return "ShortGPT: mean 1 - cos(block input, block output) on calibration tokens; remove the blocks that change the residual least."
        case .lossDrop: return "Shortened LLaMA (perplexity criterion): remove each block alone, measure calibration loss; remove those whose removal hurts least."
        case .taylorPlus: return "Shortened LLaMA Taylor+: sum |w * dL/dw| over a block's weights; first 4/32 and last 2/32 of the blocks are never removed."
        }
    }

    /// The type that implements the method.
    var scorer: any MethodScorer.Type {
        switch self {
        case .blockInfluence: return BlockInfluenceScorer.self
        case .lossDrop: return LossDropScorer.self
        case .taylorPlus: return TaylorPlusScorer.self
        }
    }
}

/// Width methods: each scores attention heads and MLP neurons.
public enum WidthMethod: String, Sendable, Codable, CaseIterable {
    case magnitude, wanda, minitron, taylor, flap, bonsai, saap

    public var summary: String {
        switch self {
        case .magnitude: return "L2 norm of each unit's coupled weights (q rows and o columns of a head; gate, up rows and down column of a neuron); uniform per block."
        case .wanda: return "Wanda-sp: mean |W_out[:, j]| * ||x_j||_2 over calibration inputs of o_proj/down_proj; uniform per block."
        case .minitron: return "Minitron activation: sqrt(sum over windows of (mean over tokens |a_j|)^2), head outputs by their L2 norm; uniform per block."
        case .taylor: return "LLM-Pruner first-order Taylor: |sum over a unit's coupled weights of w * dL/dw| on calibration loss; uniform per block."
        case .flap: return "FLAP: fluctuation Var_t(x_j) * ||W_out[:, j]||^2, standardised and ranked globally; removed inputs are replaced by their mean through an output bias."
        case .bonsai: return "Bonsai: forward passes only; sampled sub-models (antithetic pairs) scored by calibration loss, L1 regression on the masks, iterative rounds."
        case .saap: return "SAAP: vector- and element-wise Taylor importance fused with uncertainty weights; per-block rates from the importance's fluctuation across blocks."
        }
    }

    /// The type that implements the method.
    var scorer: any MethodScorer.Type {
        switch self {
        case .magnitude: return MagnitudeScorer.self
        case .wanda: return WandaScorer.self
        case .minitron: return MinitronScorer.self
        case .taylor: return TaylorScorer.self
        case .flap: return FLAPScorer.self
        case .bonsai: return BonsaiScorer.self
        case .saap: return SAAPScorer.self
        }
    }
}
