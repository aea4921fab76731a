import Foundation

/// Where each weight tensor lives in the model's one flat float32 parameter buffer (the llm.c
/// way: one buffer for weights, one for gradients, one per optimizer moment, so AdamW and
/// gradient clipping are single loops). Names are Hugging Face Llama's, so checkpoints open in
/// other tools.
public struct ParameterLayout: Sendable, Equatable {
    /// What a tensor is, which decides its initial values and whether AdamW decays it.
    public enum Role: Sendable, Equatable {
        /// Embeddings, linear weights, an untied LM head.
        case matrix
        /// RMSNorm weights (scales, initialised to 1).
        case norm
        /// Output biases of o_proj / down_proj (initialised to 0).
        case bias
    }

    public struct Entry: Sendable, Equatable {
        public var name: String
        /// `[rows, cols]` for matrices (`[out, in]` for linear weights), `[n]` for vectors.
        public var shape: [Int]
        public var offset: Int
        public var role: Role
        public var count: Int { shape.reduce(1, *) }
        /// An RMSNorm weight.
        public var isNorm: Bool { role == .norm }
        /// An o_proj / down_proj bias.
        public var isBias: Bool { role == .bias }
        /// Whether AdamW applies weight decay: matrices only. Pulling a norm's scale or a bias
        /// towards zero is not a regulariser (nanoGPT and Hugging Face's Trainer exempt both), and a
        /// FLAP compensation bias must keep its value.
        public var decays: Bool { role == .matrix }
    }

    public private(set) var entries: [Entry] = []
    public private(set) var totalCount = 0
    private var index: [String: Int] = [:]

    public init(_ c: LlamaConfig) {
        add("model.embed_tokens.weight", [c.vocabSize, c.hidden])
        for (i, b) in c.blocks.enumerated() {
            let p = "model.layers.\(i)."
            add(p + "input_layernorm.weight", [c.hidden], .norm)
            add(p + "self_attn.q_proj.weight", [b.heads * c.headDim, c.hidden])
            add(p + "self_attn.k_proj.weight", [b.kvHeads * c.headDim, c.hidden])
            add(p + "self_attn.v_proj.weight", [b.kvHeads * c.headDim, c.hidden])
            add(p + "self_attn.o_proj.weight", [c.hidden, b.heads * c.headDim])
            // Each bias right after its weight; q/k/v and gate/up stay adjacent for the fused products.
            if c.attentionBias { add(p + "self_attn.o_proj.bias", [c.hidden], .bias) }
            add(p + "post_attention_layernorm.weight", [c.hidden], .norm)
            add(p + "mlp.gate_proj.weight", [b.mlpHidden, c.hidden])
            add(p + "mlp.up_proj.weight", [b.mlpHidden, c.hidden])
            add(p + "mlp.down_proj.weight", [c.hidden, b.mlpHidden])
            if c.mlpBias { add(p + "mlp.down_proj.bias", [c.hidden], .bias) }
        }
        add("model.norm.weight", [c.hidden], .norm)
        if !c.tiedEmbeddings { add("lm_head.weight", [c.vocabSize, c.hidden]) }
    }

    private mutating func add(_ name: String, _ shape: [Int], _ role: Role = .matrix) {
        index[name] = entries.count
        entries.append(Entry(name: name, shape: shape, offset: totalCount, role: role))
        totalCount += shape.reduce(1, *)
    }

    public subscript(_ name: String) -> Entry? { index[name].map { entries[$0] } }
}

/// Parameter counts the pruning rate and the scaling laws can rely on.
public struct ParameterCounts: Sendable, Equatable, Codable {
    public var total: Int
    /// Everything but the token embedding and an untied LM head (the count scaling laws use).
    public var nonEmbedding: Int
    /// Non-embedding parameters of each block.
    public var perBlock: [Int]

    public init(_ c: LlamaConfig) {
        let layout = ParameterLayout(c)
        total = layout.totalCount
        let embedding = c.vocabSize * c.hidden * (c.tiedEmbeddings ? 1 : 2)
        nonEmbedding = total - embedding
        let biases = ((c.attentionBias ? 1 : 0) + (c.mlpBias ? 1 : 0)) * c.hidden
        perBlock = c.blocks.map { b in
            2 * c.hidden + (2 * b.heads + 2 * b.kvHeads) * c.headDim * c.hidden + 3 * b.mlpHidden * c.hidden + biases
        }
    }
}
