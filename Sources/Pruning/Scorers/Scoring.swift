/// What a method's scoring produced: the scores `pruning.json` reports (and the allocator reads
/// unless the method chose its units itself), and what measuring them cost.
struct Scoring {
    enum Scores {
        /// Depth: one score per block.
        case blocks([Double])
        /// Width: one score per head and per MLP neuron.
        case units(WidthScores)
    }

    var scores: Scores
    /// The units to keep, when the method chooses them itself (Bonsai and SAAP; FLAP, whose
    /// compensation biases count towards the rate); otherwise the allocators choose from `scores`.
    var selection: UnitSelection? = nil
    /// Blocks the depth allocator must leave.
    var protectedBlocks: Set<Int> = []
    /// Mean calibration loss of the source model, when the method measured it on the way.
    var lossBefore: Double? = nil
    var forwardPasses = 0
    var backwardPasses = 0
    var notes: [String] = []
    /// The statistics whose channel means replace the removed units through output biases
    /// (FLAP's bias compensation); nil: plain surgery.
    var biasCompensation: CalibrationStatistics? = nil
}

extension Scoring.Scores {
    /// The scores as `pruning.json` records them.
    var report: PruningReport.Scores {
        switch self {
        case .blocks(let s): return PruningReport.Scores(blocks: s)
        case .units(let w): return PruningReport.Scores(heads: w.heads, neurons: w.neurons)
        }
    }
}
