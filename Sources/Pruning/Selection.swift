import Foundation
import Model

/// Which structured units survive pruning, in the original model's indices: blocks (depth), and per
/// surviving block its KV heads, query heads and MLP neurons (width), optionally hidden channels.
///
/// Grouped-query attention ties query head `h` to KV head `h / (heads / kvHeads)`. A selection keeps
/// that tie: every kept KV group keeps the same number of its own query heads, and no query head is
/// kept without its KV head, so the pruned block is again a valid GQA block.
public struct UnitSelection: Sendable, Equatable, Codable {
    public struct Block: Sendable, Equatable, Codable {
        /// The original block index.
        public var index: Int
        public var kvHeads: [Int]
        public var heads: [Int]
        public var neurons: [Int]

        public init(index: Int, kvHeads: [Int], heads: [Int], neurons: [Int]) {
            self.index = index
            self.kvHeads = kvHeads
            self.heads = heads
            self.neurons = neurons
        }

        enum CodingKeys: String, CodingKey { case index, kvHeads = "kv_heads", heads, neurons }
    }

    public var blocks: [Block]
    /// Kept residual channels (nil: all of them).
    public var hiddenChannels: [Int]?

    public init(blocks: [Block], hiddenChannels: [Int]? = nil) {
        self.blocks = blocks
        self.hiddenChannels = hiddenChannels
    }

    enum CodingKeys: String, CodingKey { case blocks, hiddenChannels = "hidden_channels" }

    /// Everything kept.
    public static func all(_ c: LlamaConfig) -> UnitSelection {
        UnitSelection(blocks: c.blocks.enumerated().map { i, b in
            Block(index: i, kvHeads: Array(0..<b.kvHeads), heads: Array(0..<b.heads), neurons: Array(0..<b.mlpHidden))
        }, hiddenChannels: nil)
    }

    /// Checks the selection against the model it selects from; the error names the block and the rule.
    public func validate(against c: LlamaConfig) throws {
        guard !blocks.isEmpty else { throw PruningError("selection keeps no block") }
        var previous = -1
        for b in blocks {
            guard c.blocks.indices.contains(b.index) else { throw PruningError("selection names block \(b.index); the model has \(c.blocks.count)") }
            guard b.index > previous else { throw PruningError("selection lists blocks out of order or twice (block \(b.index))") }
            previous = b.index
            let shape = c.blocks[b.index], r = shape.heads / shape.kvHeads
            func sortedUnique(_ xs: [Int], below n: Int, _ what: String) throws {
                guard !xs.isEmpty else { throw PruningError("block \(b.index): selection keeps no \(what)") }
                for (i, x) in xs.enumerated() {
                    guard x >= 0, x < n else { throw PruningError("block \(b.index): \(what) \(x) out of range 0..<\(n)") }
                    guard i == 0 || xs[i - 1] < x else { throw PruningError("block \(b.index): \(what) indices must be increasing") }
                }
            }
            try sortedUnique(b.kvHeads, below: shape.kvHeads, "KV heads")
            try sortedUnique(b.heads, below: shape.heads, "query heads")
            try sortedUnique(b.neurons, below: shape.mlpHidden, "MLP neurons")
            var perGroup: [Int: Int] = [:]
            for h in b.heads { perGroup[h / r, default: 0] += 1 }
            guard Set(perGroup.keys) == Set(b.kvHeads) else {
                throw PruningError("block \(b.index): kept query heads must belong to exactly the kept KV heads \(b.kvHeads)")
            }
            guard Set(perGroup.values).count == 1 else {
                throw PruningError("block \(b.index): every kept KV head must keep the same number of query heads (grouped-query attention)")
            }
        }
        if let h = hiddenChannels {
            guard !h.isEmpty, h.allSatisfy({ $0 >= 0 && $0 < c.hidden }), zip(h, h.dropFirst()).allSatisfy({ $0 < $1 }) else {
                throw PruningError("selection: hidden channels must be increasing indices in 0..<\(c.hidden), at least one")
            }
        }
    }

    /// The pruned model's config.
    public func config(from c: LlamaConfig) -> LlamaConfig {
        var out = c
        out.blocks = blocks.map { BlockShape(heads: $0.heads.count, kvHeads: $0.kvHeads.count, mlpHidden: $0.neurons.count) }
        if let h = hiddenChannels { out.hidden = h.count }
        return out
    }
}

/// Cuts the kept units out of a model's weights: genuinely smaller matrices, not masks.
public enum Surgery {
    /// The pruned config and its flat parameters (`ParameterLayout` order). Rows of q/k/v/gate/up
    /// and columns of o/down follow the kept heads and neurons; hidden channels, when pruned, cut the
    /// embedding's columns, every norm, the input columns of q/k/v/gate/up, the output rows of o/down,
    /// any output bias and the LM head's columns.
    public static func apply(_ selection: UnitSelection, config c: LlamaConfig, parameters: [Float]) throws -> (config: LlamaConfig, parameters: [Float]) {
        try selection.validate(against: c)
        let old = ParameterLayout(c)
        guard parameters.count == old.totalCount else {
            throw PruningError("surgery: \(parameters.count) parameters for a config that has \(old.totalCount)")
        }
        let nc = selection.config(from: c)
        try nc.validate()
        let new = ParameterLayout(nc)
        let D = c.headDim
        let channels = selection.hiddenChannels ?? Array(0..<c.hidden)
        func expand(_ units: [Int], _ width: Int) -> [Int] { units.flatMap { u in (u * width)..<(u * width + width) } }

        var out = [Float](repeating: 0, count: new.totalCount)
        for e in new.entries {
            var sourceName = e.name
            var rows: [Int]? = nil, cols: [Int]? = nil
            if e.name.hasPrefix("model.layers.") {
                let rest = e.name.dropFirst("model.layers.".count)
                let newIndex = Int(rest.prefix { $0 != "." })!
                let suffix = String(rest.drop { $0 != "." }.dropFirst())
                let b = selection.blocks[newIndex]
                sourceName = "model.layers.\(b.index).\(suffix)"
                switch suffix {
                case "self_attn.q_proj.weight": rows = expand(b.heads, D); cols = channels
                case "self_attn.k_proj.weight", "self_attn.v_proj.weight": rows = expand(b.kvHeads, D); cols = channels
                case "self_attn.o_proj.weight": rows = channels; cols = expand(b.heads, D)
                case "mlp.gate_proj.weight", "mlp.up_proj.weight": rows = b.neurons; cols = channels
                case "mlp.down_proj.weight": rows = channels; cols = b.neurons
                default:
                    // Norm weights and output biases: one value per residual channel.
                    guard e.shape == [nc.hidden] else { throw PruningError("surgery: no rule for tensor \(e.name) of shape \(e.shape)") }
                    rows = channels
                }
            } else if e.name == "model.norm.weight" {
                rows = channels
            } else if e.name == "model.embed_tokens.weight" || e.name == "lm_head.weight" {
                cols = channels
            } else {
                throw PruningError("surgery: no rule for tensor \(e.name)")
            }
            guard let src = old[sourceName] else { throw PruningError("surgery: the source model has no tensor \(sourceName)") }
            let srcRows = src.shape[0], srcCols = src.shape.count > 1 ? src.shape[1] : 1
            let r = rows ?? Array(0..<srcRows), k = cols ?? Array(0..<srcCols)
            precondition(r.count * k.count == e.count, "surgery: \(e.name) selection \(r.count)x\(k.count) does not fill \(e.shape)")
            var w = e.offset
            for i in r {
                let base = src.offset + i * srcCols
                for j in k {
                    out[w] = parameters[base + j]
                    w += 1
                }
            }
        }
        return (nc, out)
    }

    /// The selection that removes whole blocks and keeps everything inside the others.
    public static func removingBlocks(_ removed: Set<Int>, from c: LlamaConfig) -> UnitSelection {
        var s = UnitSelection.all(c)
        s.blocks.removeAll { removed.contains($0.index) }
        return s
    }
}
