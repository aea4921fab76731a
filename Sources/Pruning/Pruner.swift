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
        if case .semiStructured(let method, let pattern) = request.target {
            return try SemiStructuredPruner.run(method: method, pattern: pattern, request: request, config: config, parameters: parameters,
                                                calibration: cal, threads: threads, log: log)
        }
        var allowed: Set<String> = []
        if case .width(.bonsai, _) = request.target { allowed = ["sub-models", "round-fraction"] }
        if let unknown = request.options.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw PruningError("option '\(unknown)' means nothing to this method" + (allowed.isEmpty ? " (it takes no options)" : " (it takes: \(allowed.sorted().joined(separator: ", ")))"))
        }
        if case .width(_, let r) = request.target { try requireWidthReachable(r, config: config) }
        let start = Date()
        let model = try LlamaModel(config: config, parameters: parameters, threads: threads)
        var selection: UnitSelection
        var flapStatistics: CalibrationStatistics?
        var notes: [String] = []
        var scores = PruningReport.Scores()
        var lossBefore: Double?
        var forwards = 0, backwards = 0
        let B = request.batchSize, batches = cal.batches(of: B).count
        let methodName: String, rate: Double, structure: PruningStructure

        switch request.target {
        case .semiStructured:
            preconditionFailure("handled above")
        case .depth(let method, let r):
            methodName = method.rawValue; rate = r; structure = .depth
            let blockScores: [Double]
            var protected = Set<Int>()
            switch method {
            case .blockInfluence:
                let st = CalibrationStatistics.collect(model, calibration: cal, batchSize: B)
                forwards += batches
                lossBefore = st.loss
                blockScores = st.blockInfluence
            case .lossDrop:
                let base = model.calibrationLoss(cal, batchSize: B)
                forwards += batches
                lossBefore = base
                var drops: [Double] = []
                for l in config.blocks.indices {
                    log("loss-drop: scoring block \(l + 1)/\(config.blocks.count)")
                    let cut = try Surgery.apply(Surgery.removingBlocks([l], from: config), config: config, parameters: parameters)
                    let m = try LlamaModel(config: cut.config, parameters: cut.parameters, threads: threads)
                    drops.append(m.calibrationLoss(cal, batchSize: B) - base)
                    forwards += batches
                }
                blockScores = drops
            case .taylorPlus:
                let g = CalibrationGradients.collect(model, calibration: cal, batchSize: B)
                forwards += batches; backwards += batches
                lossBefore = g.loss
                blockScores = UnitScorer.taylorPlusBlocks(config: config, gradients: g)
                let L = config.blocks.count
                let first = Int((4.0 * Double(L) / 32).rounded()), last = Int((2.0 * Double(L) / 32).rounded())
                protected = Set(0..<min(first, L)).union(Set(max(0, L - last)..<L))
            }
            scores.blocks = blockScores
            let removed = try DepthAllocator.select(blockScores: blockScores, config: config, rate: r, protected: protected)
            selection = Surgery.removingBlocks(removed, from: config)

        case .width(let method, let r):
            methodName = method.rawValue; rate = r; structure = .width
            let ws: WidthScores
            var preselected: UnitSelection?
            switch method {
            case .magnitude:
                ws = UnitScorer.magnitude(config: config, parameters: parameters)
            case .wanda, .minitron, .flap:
                let st = CalibrationStatistics.collect(model, calibration: cal, batchSize: B)
                forwards += batches
                lossBefore = st.loss
                if method == .flap { flapStatistics = st }
                ws = method == .wanda ? UnitScorer.wanda(config: config, parameters: parameters, statistics: st)
                    : method == .flap ? UnitScorer.flap(config: config, parameters: parameters, statistics: st)
                    : UnitScorer.minitron(config: config, statistics: st)
            case .taylor:
                let g = CalibrationGradients.collect(model, calibration: cal, batchSize: B)
                forwards += batches; backwards += batches
                lossBefore = g.loss
                ws = UnitScorer.taylor(config: config, gradients: g)
            case .bonsai:
                var o = Bonsai.Options()
                if let v = request.options["sub-models"] {
                    guard let n = Int(v), n >= 2 else { throw PruningError("bonsai option sub-models=\(v): expected an integer ≥ 2") }
                    o.subModels = n
                }
                if let v = request.options["round-fraction"] {
                    guard let f = Double(v), f > 0, f < 0.5 else { throw PruningError("bonsai option round-fraction=\(v): expected a number in (0, 0.5)") }
                    o.roundFraction = f
                }
                let b = try Bonsai.select(model: model, calibration: cal, batchSize: B, rate: r, seed: request.seed, options: o, log: log)
                forwards += b.forwardPasses
                lossBefore = b.calibrationLossBefore
                ws = b.scores
                preselected = b.selection
                notes += b.notes
            case .saap:
                let g = CalibrationGradients.collect(model, calibration: cal, batchSize: B)
                forwards += batches; backwards += batches
                lossBefore = g.loss
                let o = try SAAP.select(config: config, gradients: g, rate: r)
                ws = o.scores
                preselected = o.selection
                notes += o.notes
                notes.append("saap block rates: " + o.blockRates.map { String(format: "%.4f", $0) }.joined(separator: ", "))
            }
            scores.heads = ws.heads
            scores.neurons = ws.neurons
            selection = try preselected ?? WidthAllocator.select(scores: ws, config: config, rate: r, allocation: method.allocation)
            if method == .flap {
                // The compensation biases are parameters too: remove that many more so the rate holds.
                let n = Double(ParameterCounts(config).nonEmbedding)
                for _ in 0..<3 {
                    let extra = BiasCompensation.addedParameters(selection, config: config)
                    let adjusted = try WidthAllocator.select(scores: ws, config: config, rate: min(0.999, r + Double(extra) / n), allocation: method.allocation)
                    if adjusted == selection { break }
                    selection = adjusted
                }
            }
        }

        // The source model is done: free its activations before the pruned model allocates its own.
        model.releaseActivations()
        let cut = try flapStatistics.map { try BiasCompensation.apply(selection, config: config, parameters: parameters, statistics: $0) }
            ?? Surgery.apply(selection, config: config, parameters: parameters)
        let pruned = try LlamaModel(config: cut.config, parameters: cut.parameters, threads: threads)
        let lossAfter = pruned.calibrationLoss(cal, batchSize: B)
        forwards += batches
        let before = ParameterCounts(config), after = ParameterCounts(cut.config)
        let achieved = Double(before.nonEmbedding - after.nonEmbedding) / Double(before.nonEmbedding)
        try requireRateMet(asked: rate, removed: before.nonEmbedding - after.nonEmbedding, structure: structure, config: config)
        log(String(format: "%@ %@: removed %d of %d non-embedding parameters (rate %.4f, target %.4f); calibration loss %.4f -> %.4f",
                   structure.rawValue, methodName, before.nonEmbedding - after.nonEmbedding, before.nonEmbedding, achieved, rate,
                   lossBefore ?? .nan, lossAfter))
        let kept = Set(selection.blocks.map(\.index))
        let report = PruningReport(
            structure: structure, method: methodName, pattern: nil, targetRate: rate, rate: achieved, options: request.options,
            seed: request.seed,
            calibration: .init(source: cal.source, windows: cal.windows, sequenceLength: cal.sequenceLength, tokens: cal.tokenCount, seed: cal.seed),
            before: .init(before), after: .init(after), nonZeroAfter: .init(pruned.nonZeroCounts),
            removedBlocks: config.blocks.indices.filter { !kept.contains($0) },
            keptUnits: selection.blocks.map { b in
                let removedNeurons = Set(0..<config.blocks[b.index].mlpHidden).subtracting(b.neurons).sorted()
                return .init(block: b.index, heads: b.heads, kvHeads: b.kvHeads, neuronsKept: b.neurons.count, neuronsRemoved: removedNeurons)
            },
            maskedMatrices: nil, scores: scores, calibrationLossBefore: lossBefore, calibrationLossAfter: lossAfter,
            evalLossBefore: nil, evalLossAfter: nil, evalTokens: nil,
            wallSeconds: Date().timeIntervalSince(start), peakMemoryBytes: peakResidentBytes(),
            forwardPasses: forwards, backwardPasses: backwards, notes: notes)
        return PruningOutcome(config: cut.config, parameters: cut.parameters, report: report)
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
