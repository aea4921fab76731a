/// The three disjoint parts a corpus is cut into: pre-training the base models, post-training
/// the pruned ones, and evaluation (held out from both).
public enum DataSplit: String, Sendable, Codable, CaseIterable {
    case pretrain
    case posttrain
    case eval

    /// How many passes over a split of `splitTokens` tokens reading `tokens` tokens amounts to
    /// (their ratio: 2.5 means the split's text was offered two and a half times over, whatever
    /// windows the sampler drew). Nil when the split is empty and something was read; 0 when
    /// nothing was read. A run past one epoch repeats text, and its loss begins to measure memory.
    public static func epochs(tokens: Int, splitTokens: Int) -> Double? {
        precondition(tokens >= 0 && splitTokens >= 0, "token counts are never negative")
        if tokens == 0 { return 0 }
        return splitTokens > 0 ? Double(tokens) / Double(splitTokens) : nil
    }
}

extension TokenSidecar {
    /// Passes over `split` that reading `tokens` of its tokens amounts to (see `DataSplit.epochs`).
    public func epochs(_ tokens: Int, of split: DataSplit) -> Double? {
        DataSplit.epochs(tokens: tokens, splitTokens: info(split).tokens)
    }
}

extension TokenizedCorpus {
    /// Passes over `split` that reading `tokens` of its tokens amounts to (see `DataSplit.epochs`).
    public func epochs(_ tokens: Int, of split: DataSplit) -> Double? { sidecar.epochs(tokens, of: split) }
}
