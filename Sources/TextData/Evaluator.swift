import Foundation
import Model

/// Mean cross-entropy over a token stream.
public struct EvalResult: Sendable, Codable, Equatable {
    /// Mean loss in nats per predicted token.
    public var loss: Double
    /// `exp(loss)`.
    public var perplexity: Double
    /// Predicted tokens scored.
    public var tokens: Int
    public var windows: Int
    public var sequenceLength: Int

    enum CodingKeys: String, CodingKey {
        case loss, perplexity, tokens, windows, sequenceLength = "sequence_length"
    }
}

/// Scores a model on non-overlapping windows, in order: window k reads tokens kT ..< kT+T and
/// predicts kT+1 ... kT+T — the windows `SequentialBatches` yields — so every token is predicted
/// once, always with the same context, and the number is the same on every call. A capped score
/// takes windows spread evenly over the text.
public enum Evaluator {
    /// - Parameters:
    ///   - maxTokens: score only `maxTokens / sequenceLength` windows (at least one), spread
    ///     evenly over the whole text (window k of n is window ⌊k·total/n⌋), so a capped score
    ///     samples every part of a split — a mixed corpus's split holds its corpora one after the
    ///     other, and its first windows would be one corpus only; nil or 0: all of them. The tail
    ///     that does not fill a window is left out.
    ///   - sequenceLength: shortened to `tokens.count - 1` when the text holds less than one window.
    public static func evaluate(_ model: LlamaModel, tokens: UnsafeBufferPointer<UInt16>, sequenceLength: Int, batchSize: Int,
                                maxTokens: Int? = nil) throws -> EvalResult {
        guard tokens.count >= 2 else { throw TextDataError("evaluation needs at least 2 tokens, got \(tokens.count)") }
        guard sequenceLength > 0, batchSize > 0 else { throw TextDataError("evaluation: sequence length and batch size must be positive") }
        let V = model.config.vocabSize
        if let bad = tokens.first(where: { Int($0) >= V }) {
            throw TextDataError("token id \(bad) is outside the model's vocabulary of \(V)")
        }
        let T = min(sequenceLength, tokens.count - 1, model.config.maxSequence)
        let available = (tokens.count - 1) / T
        var windows = available
        if let maxTokens, maxTokens > 0 { windows = min(windows, max(1, maxTokens / T)) }
        var sum = 0.0
        var first = 0
        while first < windows {
            let offsets = (first..<min(first + batchSize, windows)).map { k in (k * available / windows) * T }
            let b = Batch(sequenceLength: T, offsets: offsets, tokens: tokens)
            model.forward(tokens: b.inputs, targets: b.targets, batch: offsets.count, seqLen: T)
            // Summed per position in Double, in order: independent of the batch size's rounding.
            for l in model.positionLosses { sum += Double(l) }
            first += batchSize
        }
        let n = windows * T
        let loss = sum / Double(n)
        return EvalResult(loss: loss, perplexity: Foundation.exp(loss), tokens: n, windows: windows, sequenceLength: T)
    }

    public static func evaluate(_ model: LlamaModel, file: TokenFile, sequenceLength: Int, batchSize: Int, maxTokens: Int? = nil) throws -> EvalResult {
        guard file.count >= 2 else {
            throw TextDataError("\(file.url.path): holds \(file.count) tokens, evaluation needs at least 2 (a corpus this small leaves its split empty; give it more text)")
        }
        return try evaluate(model, tokens: file.tokens, sequenceLength: sequenceLength, batchSize: batchSize, maxTokens: maxTokens)
    }

    public static func evaluate(_ model: LlamaModel, tokens: [UInt16], sequenceLength: Int, batchSize: Int, maxTokens: Int? = nil) throws -> EvalResult {
        try tokens.withUnsafeBufferPointer { try evaluate(model, tokens: $0, sequenceLength: sequenceLength, batchSize: batchSize, maxTokens: maxTokens) }
    }
}
