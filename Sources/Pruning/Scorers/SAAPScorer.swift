import Foundation

/// `saap` (`WidthMethod.summary`, `SAAP`): one gradient sweep; it chooses its own units, with
/// per-block rates it notes in the report.
struct SAAPScorer: MethodScorer {
    func score(_ c: ScoringContext, log: (String) -> Void) throws -> Scoring {
        let g = c.gradients()
        let o = try SAAP.select(config: c.config, gradients: g, rate: c.rate)
        return Scoring(scores: .units(o.scores), selection: o.selection, lossBefore: g.loss, forwardPasses: c.sweep, backwardPasses: c.sweep,
                       notes: o.notes + ["saap block rates: " + o.blockRates.map { String(format: "%.4f", $0) }.joined(separator: ", ")])
    }
}
