import Foundation
import Model
import Randomness

/// How `Generator` picks each next token.
public struct SamplingOptions: Sendable, Equatable {
    /// Softmax temperature; 0 picks the most likely token (greedy, lowest id on ties).
    public var temperature: Double = 0.8
    /// Sample only among the k most likely tokens; 0: all of them.
    public var topK: Int = 40
    public var seed: UInt64 = 0
    /// Longest context fed to the model (the most recent tokens); nil: min(maxSequence, 256).
    public var context: Int?

    public init(temperature: Double = 0.8, topK: Int = 40, seed: UInt64 = 0, context: Int? = nil) {
        self.temperature = temperature
        self.topK = topK
        self.seed = seed
        self.context = context
    }
}

/// Samples a continuation token by token. No KV cache: each token reruns the model on the
/// context window, which is plenty for a quick look at small models.
public enum Generator {
    /// `count` new tokens after `prompt`. The same model, prompt, options and seed give the same
    /// tokens (draw i uses its own generator stream, and the kernels are deterministic for a fixed
    /// thread count). An empty prompt starts from a newline (byte 10).
    /// Stops early after sampling `stop` (included in the result).
    public static func generate(_ model: LlamaModel, prompt: [UInt16], count: Int, options: SamplingOptions = SamplingOptions(),
                                stop: UInt16? = nil) throws -> [UInt16] {
        guard count >= 0 else { throw TextDataError("token count must be ≥ 0, got \(count)") }
        guard options.temperature >= 0, options.temperature.isFinite else { throw TextDataError("temperature must be ≥ 0, got \(options.temperature)") }
        guard options.topK >= 0 else { throw TextDataError("top-k must be ≥ 0, got \(options.topK)") }
        let V = model.config.vocabSize
        if let bad = prompt.first(where: { Int($0) >= V }) { throw TextDataError("prompt token \(bad) is outside the model's vocabulary of \(V)") }
        let window = max(1, min(model.config.maxSequence, options.context ?? 256))
        var sequence = prompt.isEmpty ? [UInt16(10)] : prompt
        var out: [UInt16] = []
        out.reserveCapacity(count)
        for i in 0..<count {
            let ctx = sequence.suffix(window).map { Int32($0) }
            model.forward(tokens: ctx, targets: nil, batch: 1, seqLen: ctx.count)
            let logits = model.logits
            let row = Array(logits[(ctx.count - 1) * V..<ctx.count * V])
            var rng = SeededRandom(seed: options.seed, stream: i)
            let next = UInt16(pick(row, temperature: options.temperature, topK: options.topK, rng: &rng))
            out.append(next)
            sequence.append(next)
            if next == stop { break }
        }
        return out
    }

    /// One draw from `softmax(logits / temperature)` restricted to the top k.
    static func pick(_ logits: [Float], temperature: Double, topK: Int, rng: inout SeededRandom) -> Int {
        // Ties broken by id, so the order (and the draw) never depends on the sort's stability.
        let order = logits.indices.sorted { logits[$0] != logits[$1] ? logits[$0] > logits[$1] : $0 < $1 }
        if temperature == 0 { return order[0] }
        let kept = topK > 0 ? Array(order.prefix(topK)) : order
        let top = Double(logits[kept[0]])
        let weights = kept.map { Foundation.exp((Double(logits[$0]) - top) / temperature) }
        let total = weights.reduce(0, +)
        var u = rng.uniform() * total
        for (j, w) in weights.enumerated() {
            u -= w
            if u < 0 { return kept[j] }
        }
        return kept[kept.count - 1]
    }
}
