import Foundation
import Persistence
import Model
import Tensor
import TextData

/// A whole `prunescale prune` run as a library call: load a model (checkpoint folder or GGUF),
/// draw the calibration windows, prune, score source and result on the eval split, and save the
/// result with its `pruning.json` (and the model's tokenizer.json when it has a BPE).
public struct PruningJob {
    public enum CalibrationSource {
        /// Seeded windows of a corpus split (default: the pre-training split).
        case split(TokenFile, DataSplit, corpus: String)
        /// A text file or a directory of `.txt` files, in the model's tokens.
        case text(String)
    }

    public static let reportFileName = "pruning.json"

    public var model: ModelSource
    public var request: PruningRequest
    public var calibration: CalibrationSource
    public var calibrationWindows = 32
    /// Window length; nil: the length the checkpoint was trained at, else 256.
    public var sequenceLength: Int?
    /// Eval split to score before and after pruning (nil: skip).
    public var eval: TokenFile?
    public var evalTokens = 65_536

    public init(model: ModelSource, request: PruningRequest, calibration: CalibrationSource) {
        self.model = model
        self.request = request
        self.calibration = calibration
    }

    public struct Result {
        public var outcome: PruningOutcome
        /// Metadata for the pruned checkpoint: n0 and loss0 of the model before pruning (carried
        /// over when the source was itself pruned), so post-training records describe the base.
        public var metadata: [String: String]
        /// Files the pruned folder carries beside the weights (the source's tokenizer.json).
        public var files: [String: Data] = [:]
    }

    public func run(threads: Int = Parallel.defaultThreads, log: (String) -> Void = { _ in }) throws -> Result {
        let loaded = try TrainingData.loadWeights(model)
        let tokenizer = try TrainingData.tokenizer(for: model)
        let c = loaded.config
        let T = min(sequenceLength ?? TrainingData.trainedSequenceLength(model.url) ?? 256, c.maxSequence)
        // Sized before drawing anything: the windows' token ids (8 bytes a token), the model with a
        // batch's activations and backward scratch (gradient methods), and the pruned copy.
        let footprint = ModelFootprint(c)
        let batch = min(request.batchSize, calibrationWindows)
        let need = 8 * Double(calibrationWindows) * Double(T) + footprint.modelBytes + footprint.inferenceBytes(batch: batch, sequence: T, backward: true)
        do {
            try ModelFootprint.requireFits(need, "calibration on \(calibrationWindows) windows of \(T) tokens in batches of \(batch)", place: "pruning \(model.url.path)")
        } catch let e as ModelError { throw PruningError(e.message) }
        let cal: CalibrationSet
        switch calibration {
        case .split(let file, let split, let corpus):
            cal = try CalibrationSet.fromSplit(file, split: split, corpus: corpus, windows: calibrationWindows, sequenceLength: T, seed: request.seed)
        case .text(let path):
            cal = try CalibrationSet.fromText(path: path, windows: calibrationWindows, sequenceLength: T, seed: request.seed, tokenizer: tokenizer)
        }
        if let bad = cal.inputs.first(where: { Int($0) >= c.vocabSize }) {
            throw PruningError("\(cal.source): token id \(bad) is outside the model's vocabulary of \(c.vocabSize)")
        }
        log("\(model.url.path): \(ParameterCounts(c).nonEmbedding) non-embedding parameters in \(c.blocks.count) blocks; calibration \(cal.windows) x \(T) tokens from \(cal.source)")

        var evalBefore: Double?
        if let eval {
            let m = try LlamaModel(config: c, parameters: loaded.parameters, threads: threads)
            evalBefore = try Evaluator.evaluate(m, file: eval, sequenceLength: T, batchSize: request.batchSize, maxTokens: evalTokens).loss
        }
        var outcome = try StructuredPruner.run(request, config: c, parameters: loaded.parameters, calibration: cal, threads: threads, log: log)
        if let eval {
            let m = try LlamaModel(config: outcome.config, parameters: outcome.parameters, threads: threads)
            let r = try Evaluator.evaluate(m, file: eval, sequenceLength: T, batchSize: request.batchSize, maxTokens: evalTokens)
            outcome.report.evalLossBefore = evalBefore
            outcome.report.evalLossAfter = r.loss
            outcome.report.evalTokens = r.tokens
            log(String(format: "eval loss %.4f -> %.4f on %d tokens", evalBefore ?? .nan, r.loss, r.tokens))
        }
        outcome.report.peakMemoryBytes = peakResidentBytes()

        var metadata: [String: String] = [:]
        let n0 = PlannerMetadata.n0(in: loaded.metadata).map { Int($0) } ?? ParameterCounts(c).nonEmbedding
        metadata["n0"] = String(n0)
        if let l0 = PlannerMetadata.loss0(in: loaded.metadata) ?? evalBefore { metadata["loss0"] = String(l0) }
        metadata["prunescale.pruning"] = "\(outcome.report.structure.rawValue):\(outcome.report.method)"
        return Result(outcome: outcome, metadata: metadata, files: try TrainingData.tokenizerFiles(tokenizer))
    }

    /// Writes the pruned checkpoint and `pruning.json` into `directory`.
    public static func save(_ result: Result, to directory: URL) throws {
        try Checkpoint.save(config: result.outcome.config, parameters: result.outcome.parameters, to: directory, metadata: result.metadata) { staging in
            for (name, data) in result.files { try AtomicFile.write(data, to: staging.appendingPathComponent(name)) }
        }
        if let mask = result.outcome.mask { try MaskFile.save(mask, layout: ParameterLayout(result.outcome.config), to: directory) }
        let url = directory.appendingPathComponent(reportFileName)
        do { try AtomicFile.write(result.outcome.report.json(), to: url) } catch {
            throw PruningError("\(url.path): cannot write: \(FileError.words(error, path: url.path))")
        }
    }
}
