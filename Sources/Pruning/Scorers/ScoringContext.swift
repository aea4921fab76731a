import Model

/// What a method scores: the source model and its calibration windows, and the rate asked.
struct ScoringContext {
    /// The source model, holding `parameters`; a method may run it but leaves its weights as it found them.
    let model: LlamaModel
    let config: LlamaConfig
    let parameters: [Float]
    let calibration: CalibrationSet
    /// Windows per forward pass.
    let batchSize: Int
    /// Threads of any further model a method builds (loss-drop's cut models).
    let threads: Int
    /// Seed of any sampling the method does (Bonsai's sub-models).
    let seed: UInt64
    /// Fraction of the non-embedding parameters to remove.
    let rate: Double

    /// Passes in one sweep over the calibration windows.
    var sweep: Int { calibration.batches(of: batchSize).count }

    /// One forward sweep's activation statistics of the source model (costs `sweep` forward passes).
    func statistics() -> CalibrationStatistics { .collect(model, calibration: calibration, batchSize: batchSize) }

    /// The source model's calibration gradients (costs `sweep` forward and backward passes).
    func gradients() -> CalibrationGradients { .collect(model, calibration: calibration, batchSize: batchSize) }
}
