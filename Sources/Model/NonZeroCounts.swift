import Foundation
import Tensor

/// Weights that are not exactly zero, split like `ParameterCounts` (what survives a 2:4 or other
/// unstructured mask; `ParameterCounts` counts slots, this counts values).
public struct NonZeroCounts: Sendable, Equatable, Codable {
    public var total: Int
    /// Everything but the token embedding and an untied LM head.
    public var nonEmbedding: Int
    /// Non-zero non-embedding weights of each block.
    public var perBlock: [Int]

    public init(config: LlamaConfig, params: FloatBuffer) {
        let layout = ParameterLayout(config)
        precondition(params.count == layout.totalCount, "NonZeroCounts: \(params.count) values for a layout of \(layout.totalCount)")
        func nonZero(_ e: ParameterLayout.Entry) -> Int {
            var n = 0
            for i in e.offset..<(e.offset + e.count) where params[i] != 0 { n += 1 }
            return n
        }
        var total = 0, embedding = 0
        var perBlock = [Int](repeating: 0, count: config.blocks.count)
        for e in layout.entries {
            let n = nonZero(e)
            total += n
            if e.name == "model.embed_tokens.weight" || e.name == "lm_head.weight" {
                embedding += n
            } else if e.name.hasPrefix("model.layers.") {
                let idx = Int(e.name.dropFirst("model.layers.".count).prefix { $0 != "." })!
                perBlock[idx] += n
            }
        }
        self.total = total
        nonEmbedding = total - embedding
        self.perBlock = perBlock
    }

    public init(config: LlamaConfig, params: [Float]) {
        self.init(config: config, params: FloatBuffer(params))
    }
}
