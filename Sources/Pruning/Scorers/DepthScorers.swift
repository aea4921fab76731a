import Model

/// `block-influence` (`DepthMethod.summary`): one statistics sweep.
struct BlockInfluenceScorer: MethodScorer {
    func score(_ c: ScoringContext, log: (String) -> Void) -> Scoring {
        let st = c.statistics()
        return Scoring(scores: .blocks(st.blockInfluence), lossBefore: st.loss, forwardPasses: c.sweep)
    }
}

/// `loss-drop` (`DepthMethod.summary`): a calibration sweep of the source model, then one of each
/// model with a single block removed.
struct LossDropScorer: MethodScorer {
    func score(_ c: ScoringContext, log: (String) -> Void) throws -> Scoring {
        let base = c.model.calibrationLoss(c.calibration, batchSize: c.batchSize)
        var drops: [Double] = []
        for l in c.config.blocks.indices {
            log("loss-drop: scoring block \(l + 1)/\(c.config.blocks.count)")
            let cut = try Surgery.apply(Surgery.removingBlocks([l], from: c.config), config: c.config, parameters: c.parameters)
            let m = try LlamaModel(config: cut.config, parameters: cut.parameters, threads: c.threads)
            drops.append(m.calibrationLoss(c.calibration, batchSize: c.batchSize) - base)
        }
        return Scoring(scores: .blocks(drops), lossBefore: base, forwardPasses: (1 + drops.count) * c.sweep)
    }
}

/// `taylor-plus` (`DepthMethod.summary`): one gradient sweep; the summary's protected fractions
/// of the depth are rounded to whole blocks.
struct TaylorPlusScorer: MethodScorer {
    func score(_ c: ScoringContext, log: (String) -> Void) -> Scoring {
        let g = c.gradients()
        let L = c.config.blocks.count
        let first = Int((4.0 * Double(L) / 32).rounded()), last = Int((2.0 * Double(L) / 32).rounded())
        return Scoring(scores: .blocks(UnitScorer.taylorPlusBlocks(config: c.config, gradients: g)),
                       protectedBlocks: Set(0..<min(first, L)).union(Set(max(0, L - last)..<L)),
                       lossBefore: g.loss, forwardPasses: c.sweep, backwardPasses: c.sweep)
    }
}
