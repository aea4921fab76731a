// The width methods that only score: the width allocator chooses their units, evenly per block.

/// `magnitude` (`WidthMethod.summary`): the weights alone, no calibration pass.
struct MagnitudeScorer: MethodScorer {
    func score(_ c: ScoringContext, log: (String) -> Void) -> Scoring {
        Scoring(scores: .units(UnitScorer.magnitude(config: c.config, parameters: c.parameters)))
    }
}

/// `wanda` (`WidthMethod.summary`): one statistics sweep.
struct WandaScorer: MethodScorer {
    func score(_ c: ScoringContext, log: (String) -> Void) -> Scoring {
        let st = c.statistics()
        return Scoring(scores: .units(UnitScorer.wanda(config: c.config, parameters: c.parameters, statistics: st)),
                       lossBefore: st.loss, forwardPasses: c.sweep)
    }
}

/// `minitron` (`WidthMethod.summary`): one statistics sweep.
struct MinitronScorer: MethodScorer {
    func score(_ c: ScoringContext, log: (String) -> Void) -> Scoring {
        let st = c.statistics()
        return Scoring(scores: .units(UnitScorer.minitron(config: c.config, statistics: st)), lossBefore: st.loss, forwardPasses: c.sweep)
    }
}

/// `taylor` (`WidthMethod.summary`): one gradient sweep.
struct TaylorScorer: MethodScorer {
    func score(_ c: ScoringContext, log: (String) -> Void) -> Scoring {
        let g = c.gradients()
        return Scoring(scores: .units(UnitScorer.taylor(config: c.config, gradients: g)), lossBefore: g.loss,
                       forwardPasses: c.sweep, backwardPasses: c.sweep)
    }
}
