import Foundation
import Model
import Tensor

/// N:M pruning of a whole model, layer by layer in order: each stage's inputs are recomputed by
/// forward passes through the blocks already pruned (q/k/v share one input, then o, then gate/up,
/// then down), so every layer is fitted to what it will really see.
public enum SemiStructuredPruner {
    /// The linear layers that carry masks: every projection of every block. Embeddings and the LM
    /// head stay dense, as in SparseGPT and Wanda.
    static let stages: [(tap: ActivationTap, matrices: [String])] = [
        (.attentionInput, ["self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight"]),
        (.attentionOutputInput, ["self_attn.o_proj.weight"]),
        (.mlpInput, ["mlp.gate_proj.weight", "mlp.up_proj.weight"]),
        (.downInput, ["mlp.down_proj.weight"]),
    ]

    public static func run(method: SemiStructuredMethod, pattern: NMPattern, options: SemiStructuredOptions = .init(),
                           request: PruningRequest, config c: LlamaConfig, parameters: [Float], calibration cal: CalibrationSet,
                           threads: Int = Parallel.defaultThreads, log: (String) -> Void = { _ in }) throws -> PruningOutcome {
        let start = Date()
        let model = try LlamaModel(config: c, parameters: parameters, threads: threads)
        let layout = model.layout
        let B = request.batchSize
        for l in c.blocks.indices {
            for stage in stages {
                for name in stage.matrices {
                    let e = layout["model.layers.\(l).\(name)"]!
                    do { try pattern.validate(cols: e.shape[1]) } catch let err as PruningError {
                        throw PruningError("\(e.name) [\(e.shape[0]) x \(e.shape[1])]: \(err.message)")
                    }
                }
            }
        }
        let lossBefore = method.needsCalibration ? model.calibrationLoss(cal, batchSize: B) : nil
        var mask = [Float](repeating: 1, count: layout.totalCount)
        var layers: [PruningReport.LayerReport] = []
        var masked: [String] = []
        for l in c.blocks.indices {
            for stage in stages {
                var gram: InputGram? = nil
                if method.needsCalibration {
                    var g = InputGram(dimension: model.width(of: stage.tap, block: l))
                    for s in cal.batches(of: B) {
                        model.forward(cal, s, withTargets: false, throughBlock: l)
                        try g.add(model.activations(stage.tap, block: l))
                    }
                    gram = g
                }
                for name in stage.matrices {
                    let e = layout["model.layers.\(l).\(name)"]!
                    let rows = e.shape[0], cols = e.shape[1]
                    let w = Array(UnsafeBufferPointer(start: model.params.pointer + e.offset, count: e.count))
                    let t0 = Date()
                    let r = try SemiStructured.prune(weight: w, rows: rows, cols: cols, pattern: pattern, method: method, gram: gram, options: options)
                    let seconds = Date().timeIntervalSince(t0)
                    let error = try gram.map { try SemiStructured.relativeReconstructionError(original: w, pruned: r.weight, rows: rows, cols: cols, gram: $0) }
                    r.weight.withUnsafeBufferPointer { model.params.pointer.advanced(by: e.offset).update(from: $0.baseAddress!, count: e.count) }
                    for k in 0..<e.count { mask[e.offset + k] = r.mask[k] }
                    layers.append(.init(name: e.name, rows: rows, cols: cols, seconds: seconds, relativeError: error))
                    masked.append(e.name)
                    log(String(format: "%@ %@: %@ [%d x %d] in %.3f s%@", method.rawValue, pattern.description, e.name, rows, cols, seconds,
                               error.map { String(format: ", relative reconstruction error %.3e", $0) } ?? ""))
                }
            }
        }
        let pruned = model.params.array
        model.releaseActivations()
        let check = try LlamaModel(config: c, parameters: pruned, threads: threads)
        let lossAfter = check.calibrationLoss(cal, batchSize: B)
        let counts = ParameterCounts(c)
        let zeroedSlots = mask.reduce(0) { $0 + ($1 == 0 ? 1 : 0) }
        let rate = Double(zeroedSlots) / Double(counts.nonEmbedding)
        log(String(format: "%@ %@: %d weights masked in %d matrices (rate %.4f of non-embedding parameters); calibration loss %.4f -> %.4f",
                   method.rawValue, pattern.description, zeroedSlots, masked.count, rate, lossBefore ?? .nan, lossAfter))
        let report = PruningReport(
            structure: .semiStructured, method: method.rawValue, pattern: pattern.description, targetRate: nil, rate: rate,
            options: request.options, seed: request.seed,
            calibration: method.needsCalibration ? .init(cal) : nil,
            before: .init(counts), after: .init(counts), nonZeroAfter: .init(check.nonZeroCounts),
            removedBlocks: [], keptUnits: [], maskedMatrices: masked, scores: nil,
            calibrationLossBefore: lossBefore, calibrationLossAfter: lossAfter, evalLossBefore: nil, evalLossAfter: nil, evalTokens: nil,
            wallSeconds: Date().timeIntervalSince(start), peakMemoryBytes: peakResidentBytes(),
            forwardPasses: model.forwardPasses + check.forwardPasses, backwardPasses: model.backwardPasses + check.backwardPasses,
            notes: ["the checkpoint stores the zeros; the mask covers exactly \(pattern.n) of every \(pattern.m) consecutive inputs of each row of the masked matrices"])
        var outcome = PruningOutcome(config: c, parameters: pruned, report: report)
        outcome.report.layers = layers
        outcome.mask = mask
        return outcome
    }
}
