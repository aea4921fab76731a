import Foundation
import Model
import Tensor

/// One pruning request, as `prunescale prune` takes it.
public struct PruningRequest: Sendable {
    public enum Target: Sendable, Equatable {
        case depth(method: DepthMethod, rate: Double)
        case width(method: WidthMethod, rate: Double)
        case semiStructured(method: SemiStructuredMethod, pattern: NMPattern)
    }

    public var target: Target
    /// Calibration batch size (windows per forward pass).
    public var batchSize: Int = 8
    public var seed: UInt64 = 0
    /// Method options by name (e.g. Bonsai's `rounds`), recorded in `pruning.json`.
    public var options: [String: String] = [:]

    public init(target: Target, batchSize: Int = 8, seed: UInt64 = 0, options: [String: String] = [:]) {
        self.target = target
        self.batchSize = batchSize
        self.seed = seed
        self.options = options
    }
}

/// A pruned model and what was done to it.
public struct PruningOutcome: Sendable {
    public var config: LlamaConfig
    public var parameters: [Float]
    public var report: PruningReport
    /// N:M: the 0/1 mask over the flat parameters (1 = trainable). A kept weight may be exactly zero.
    public var mask: [Float]? = nil
}

/// Runs a structured (depth or width) pruning request on a model.
public enum StructuredPruner {
    public static func run(_ request: PruningRequest, config: LlamaConfig, parameters: [Float], calibration cal: CalibrationSet,
                           threads: Int = Parallel.defaultThreads, log: (String) -> Void = { _ in }) throws -> PruningOutcome {
        let structure: PruningStructure, methodName: String, rate: Double, method: any MethodScorer.Type
        switch request.target {
        case .semiStructured(let m, let pattern):
            // N:M methods read no key=value options: refuse one rather than ignore it.
            if let unknown = request.options.keys.sorted().first {
                throw PruningError("option '\(unknown)' means nothing to \(m.rawValue) \(pattern) pruning (it takes no options)")
            }
            return try SemiStructuredPruner.run(method: m, pattern: pattern, request: request, config: config, parameters: parameters,
                                                calibration: cal, threads: threads, log: log)
        case .depth(let m, let r): (structure, methodName, rate, method) = (.depth, m.rawValue, r, m.scorer)
        case .width(let m, let r): (structure, methodName, rate, method) = (.width, m.rawValue, r, m.scorer)
        }
        // Refused before any work: an option the method does not read, a width rate beyond reach,
        // then a value the method cannot use.
        try method.refuseUnknownOptions(request.options)
        if structure == .width { try requireWidthReachable(rate, config: config) }
        let scorer = try method.init(options: request.options)
        let start = Date()
        let model = try LlamaModel(config: config, parameters: parameters, threads: threads)
        let context = ScoringContext(model: model, config: config, parameters: parameters, calibration: cal, batchSize: request.batchSize,
                                     threads: threads, seed: request.seed, rate: rate)
        let scoring = try scorer.score(context, log: log)
        let selection = try scoring.selection ?? allocate(scoring, config: config, rate: rate)

        // The source model is done: free its activations before the pruned model allocates its own.
        model.releaseActivations()
        let cut = try scoring.biasCompensation.map { try BiasCompensation.apply(selection, config: config, parameters: parameters, statistics: $0) }
            ?? Surgery.apply(selection, config: config, parameters: parameters)
        let pruned = try LlamaModel(config: cut.config, parameters: cut.parameters, threads: threads)
        let lossAfter = pruned.calibrationLoss(cal, batchSize: request.batchSize)
        let before = ParameterCounts(config), after = ParameterCounts(cut.config)
        let removed = before.nonEmbedding - after.nonEmbedding, achieved = Double(removed) / Double(before.nonEmbedding)
        try requireRateMet(asked: rate, removed: removed, structure: structure, config: config)
        log(String(format: "%@ %@: removed %d of %d non-embedding parameters (rate %.4f, target %.4f); calibration loss %.4f -> %.4f",
                   structure.rawValue, methodName, removed, before.nonEmbedding, achieved, rate,
                   scoring.lossBefore ?? .nan, lossAfter))
        let kept = Set(selection.blocks.map(\.index))
        let report = PruningReport(
            structure: structure, method: methodName, pattern: nil, targetRate: rate, rate: achieved, options: request.options,
            seed: request.seed, calibration: .init(cal),
            before: .init(before), after: .init(after), nonZeroAfter: .init(pruned.nonZeroCounts),
            removedBlocks: config.blocks.indices.filter { !kept.contains($0) },
            keptUnits: selection.blocks.map { b in
                let removedNeurons = Set(0..<config.blocks[b.index].mlpHidden).subtracting(b.neurons).sorted()
                return .init(block: b.index, heads: b.heads, kvHeads: b.kvHeads, neuronsKept: b.neurons.count, neuronsRemoved: removedNeurons)
            },
            maskedMatrices: nil, scores: scoring.scores.report, calibrationLossBefore: scoring.lossBefore, calibrationLossAfter: lossAfter,
            evalLossBefore: nil, evalLossAfter: nil, evalTokens: nil,
            wallSeconds: Date().timeIntervalSince(start), peakMemoryBytes: peakResidentBytes(),
            // The method's passes and the sweep measuring the loss after.
            forwardPasses: scoring.forwardPasses + context.sweep, backwardPasses: scoring.backwardPasses, notes: scoring.notes)
        return PruningOutcome(config: cut.config, parameters: cut.parameters, report: report)
    }

    /// The units the allocators keep for a method that scored but did not choose: the
    /// lowest-scored blocks go (bar protected ones), or the lowest-scored units of every block
    /// evenly.
    static func allocate(_ scoring: Scoring, config: LlamaConfig, rate: Double) throws -> UnitSelection {
        switch scoring.scores {
        case .blocks(let scores):
            return Surgery.removingBlocks(try DepthAllocator.select(blockScores: scores, config: config, rate: rate, protected: scoring.protectedBlocks),
                                          from: config)
        case .units(let scores):
            return try WidthAllocator.select(scores: scores, config: config, rate: rate, allocation: .uniform)
        }
    }

    /// One unit of the rate (README "Rate"): a block for depth (the largest, when they differ), an
    /// MLP neuron's `3 × hidden` parameters for width.
    static func unit(_ structure: PruningStructure, config c: LlamaConfig) -> Int {
        structure == .depth ? (ParameterCounts(c).perBlock.max() ?? 0) : 3 * c.hidden
    }

    static let widthFloor = "width keeps at least one head per KV group and one neuron per block"

    /// Refuses a width rate beyond what the model's minimum shape allows (more than one unit
    /// beyond), before any scoring: Bonsai would otherwise run rounds towards an impossible target.
    static func requireWidthReachable(_ rate: Double, config c: LlamaConfig) throws {
        let n = Double(ParameterCounts(c).nonEmbedding), most = Double(WidthAllocator.maximumRemovable(c))
        guard n > 0, rate * n - most > Double(unit(.width, config: c)) else { return }
        throw PruningError(rateNotMet: rate, achievable: most / n,
                           String(format: "width rate %.3f asked, at most %.3f reachable: %@", rate, most / n, widthFloor))
    }

    /// The achieved rate must be within one unit of the asked one; otherwise nothing is returned
    /// (an experiment would record a model pruned less, or more, than its label says).
    static func requireRateMet(asked rate: Double, removed: Int, structure: PruningStructure, config c: LlamaConfig) throws {
        let n = Double(ParameterCounts(c).nonEmbedding), u = unit(structure, config: c)
        guard n > 0, abs(Double(removed) - rate * n) > Double(u) else { return }
        let reached = Double(removed) / n
        var why = structure == .depth ? "more than one block (\(u) parameters) off" : "more than one MLP neuron (3 × hidden = \(u) parameters) off"
        if structure == .width, Double(removed) >= Double(WidthAllocator.maximumRemovable(c) - u) { why += "; " + widthFloor }
        throw PruningError(rateNotMet: rate, achievable: reached,
                           String(format: "%@ rate %.3f asked, %.3f reached: %@", structure.rawValue, rate, reached, why))
    }
}
