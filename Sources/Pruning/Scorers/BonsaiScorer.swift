/// `bonsai` (`WidthMethod.summary`, `Bonsai`): forward passes only; it chooses its own units.
struct BonsaiScorer: MethodScorer {
    static let optionNames = ["sub-models", "round-fraction"]

    var options = Bonsai.Options()

    init() {}

    init(options: [String: String]) throws {
        if let v = options["sub-models"] {
            guard let n = Int(v), n >= 2 else { throw PruningError("bonsai option sub-models=\(v): expected an integer ≥ 2") }
            self.options.subModels = n
        }
        if let v = options["round-fraction"] {
            guard let f = Double(v), f > 0, f < 0.5 else { throw PruningError("bonsai option round-fraction=\(v): expected a number in (0, 0.5)") }
            self.options.roundFraction = f
        }
    }

    func score(_ c: ScoringContext, log: (String) -> Void) throws -> Scoring {
        let b = try Bonsai.select(model: c.model, calibration: c.calibration, batchSize: c.batchSize, rate: c.rate, seed: c.seed,
                                  options: options, log: log)
        return Scoring(scores: .units(b.scores), selection: b.selection, lossBefore: b.calibrationLossBefore,
                       forwardPasses: b.forwardPasses, notes: b.notes)
    }
}
