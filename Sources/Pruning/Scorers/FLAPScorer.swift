import Model

/// `flap` (`WidthMethod.summary`): one statistics sweep, scores allocated globally, and the
/// statistics kept for the bias compensation the surgery adds.
struct FLAPScorer: MethodScorer {
    func score(_ c: ScoringContext, log: (String) -> Void) throws -> Scoring {
        let st = c.statistics()
        let scores = UnitScorer.flap(config: c.config, parameters: c.parameters, statistics: st)
        var selection = try WidthAllocator.select(scores: scores, config: c.config, rate: c.rate, allocation: .global)
        // The compensation biases are parameters too: remove that many more so the rate holds.
        let n = Double(ParameterCounts(c.config).nonEmbedding)
        for _ in 0..<3 {
            let extra = BiasCompensation.addedParameters(selection, config: c.config)
            let adjusted = try WidthAllocator.select(scores: scores, config: c.config, rate: min(0.999, c.rate + Double(extra) / n), allocation: .global)
            if adjusted == selection { break }
            selection = adjusted
        }
        return Scoring(scores: .units(scores), selection: selection, lossBefore: st.loss, forwardPasses: c.sweep, biasCompensation: st)
    }
}
