import Foundation
import Model
import Persistence
import LossRecords
import Tensor
import TextData

/// One evaluation during training: the eval-split loss after `tokens` training tokens.
public struct TrainingRecord: Sendable, Codable, Equatable {
    public var step: Int
    public var tokens: Int
    /// Eval-split loss, nats per token.
    public var loss: Double
    /// Mean training loss of the steps since the previous evaluation.
    public var trainLoss: Double?
    /// Rate of the last step before the evaluation.
    public var learningRate: Double
    /// Non-zero non-embedding parameters at the evaluation.
    public var n: Int
    /// Passes over the training split so far (tokens / split tokens); nil in states saved before it was recorded.
    public var epochs: Double?

    enum CodingKeys: String, CodingKey {
        case step, tokens, loss, trainLoss = "train_loss", learningRate = "learning_rate", n, epochs
    }
}

/// Everything besides weights and optimizer moments that a resumed run needs, saved as
/// `trainer_state.json` beside the checkpoint.
public struct TrainerState: Sendable, Codable, Equatable {
    public static let currentFormat = "prunescale-trainer-1"
    public var format = TrainerState.currentFormat
    public var run: String
    public var settings: TrainingSettings
    /// The schedule the settings resolve to (for the reader; recomputed from `settings`).
    public var schedule: LRSchedule
    /// Optimizer steps taken (skipped non-finite steps included).
    public var step = 0
    /// Training tokens consumed (= step × tokens per step).
    public var tokens = 0
    /// Parameters before pruning (the planner's n0).
    public var n0: Int
    /// Loss before this run's training: given (checkpoint metadata) or the first evaluation.
    public var loss0: Double?
    /// Where `loss0` came from: "metadata" or "initial-eval".
    public var loss0Source: String?
    public var initialEval: EvalResult?
    public var records: [TrainingRecord] = []
    /// Extra label columns for the loss records.
    public var labels: [String: String] = [:]
    /// Steps whose gradient norm was not finite (the update was skipped).
    public var skippedSteps = 0
    // Running mean of the training loss since the last evaluation, and a smoothed one for display.
    public var trainLossSum = 0.0
    public var trainLossCount = 0
    public var smoothedLoss: Double?

    public var finished: Bool { step >= settings.totalSteps }

    enum CodingKeys: String, CodingKey {
        case format, run, settings, schedule, step, tokens, n0, loss0, loss0Source = "loss0_source", initialEval = "initial_eval"
        case records, labels, skippedSteps = "skipped_steps", trainLossSum = "train_loss_sum", trainLossCount = "train_loss_count"
        case smoothedLoss = "smoothed_loss"
    }
}

/// Runs AdamW on a model over sampled batches of one split, evaluates on another at planned
/// token counts, and saves or resumes everything needed to continue bit for bit.
///
/// Step s (0-based) sums the gradients of micro-batches `s × accumulate + k`, k < accumulate, of
/// the `BatchSampler` (each scaled 1/accumulate), clips the global norm, and updates at
/// `lrSchedule.learningRate(at: s)`. Every input to a step is a function of (settings, s, the
/// saved weights and moments), so a run split by save/resume matches an unbroken one exactly
/// when the kernels are deterministic (one thread, `BLAS.threads = 1`).
///
/// A checkpoint directory holds `config.json` + `model.safetensors` (`Checkpoint`),
/// `optimizer.safetensors` (AdamW moments `exp_avg`, `exp_avg_sq`, flat in layout order, and the
/// step in the metadata) and `trainer_state.json`. Each file is replaced atomically, the state
/// last; every file records the step, and `resume` refuses files from different steps.
public final class Trainer {
    public static let optimizerFileName = "optimizer.safetensors"
    public static let stateFileName = TrainedFolder.stateFileName
    /// The evaluations so far in the planner's schema, saved with every checkpoint.
    public static let recordsFileName = "records.csv"

    public let model: LlamaModel
    public let optimizer: AdamW
    public let sampler: BatchSampler
    public let evalFile: TokenFile?
    public private(set) var state: TrainerState
    public var progress: ProgressReporter
    /// Metadata written into the saved checkpoints (n0/loss0 passed through from the input).
    public var checkpointMetadata: [String: String] = [:]
    /// Files saved beside the weights in every checkpoint, by name (a BPE model's tokenizer.json).
    public var checkpointFiles: [String: Data] = [:]
    /// Called after every evaluation (the record is already in `state.records`).
    public var onEvaluation: ((TrainingRecord) -> Void)?

    public var settings: TrainingSettings { state.settings }

    /// A fresh run on `model`.
    /// - Parameters:
    ///   - n0: parameters before pruning; nil: the model's own non-embedding count.
    ///   - loss0: the loss before training; nil: measured on `eval` before the first step.
    public convenience init(model: LlamaModel, settings: TrainingSettings, train: TokenFile, eval: TokenFile?, run: String,
                n0: Int? = nil, loss0: Double? = nil, labels: [String: String] = [:],
                progress: ProgressReporter = ProgressReporter(mode: .silent)) throws {
        try settings.validate()
        let state = TrainerState(run: run, settings: settings, schedule: settings.lrSchedule,
                                 n0: n0 ?? ParameterCounts(model.config).nonEmbedding, loss0: loss0,
                                 loss0Source: loss0 == nil ? nil : "metadata", labels: labels)
        try self.init(model: model, state: state, train: train, eval: eval, progress: progress)
    }

    private init(model: LlamaModel, state: TrainerState, train: TokenFile, eval: TokenFile?, progress: ProgressReporter) throws {
        let s = state.settings
        guard s.sequenceLength <= model.config.maxSequence else {
            throw TrainingError("sequence length \(s.sequenceLength) exceeds the model's maximum \(model.config.maxSequence)")
        }
        for file in [train] + (eval.map { [$0] } ?? []) {
            if let top = file.tokens.max(), Int(top) >= model.config.vocabSize {
                throw TrainingError("\(file.url.path): token id \(top) is outside the model's vocabulary of \(model.config.vocabSize)")
            }
        }
        self.model = model
        self.state = state
        self.sampler = try BatchSampler(tokens: train, batchSize: s.batchSize, sequenceLength: s.sequenceLength, seed: s.seed)
        self.evalFile = eval
        self.optimizer = AdamW(model: model, beta1: Float(s.beta1), beta2: Float(s.beta2), weightDecay: Float(s.weightDecay))
        self.progress = progress
    }

    // MARK: Training

    /// Trains until the budget is spent, or until `stopAt` steps have been taken in total (for
    /// splitting a run). With `checkpoint`, saves there every `saveEvery` steps and when stopping.
    public func run(stopAt: Int? = nil, checkpoint: URL? = nil) throws {
        let s = settings, total = s.totalSteps
        let end = min(stopAt ?? total, total)
        let schedule = s.lrSchedule
        let evalSteps = Set(s.evalSteps)
        if state.step == 0, state.initialEval == nil, let file = evalFile {
            let e = try evaluate(file)
            state.initialEval = e
            if state.loss0 == nil {
                state.loss0 = e.loss
                state.loss0Source = "initial-eval"
            }
            progress.message(label("eval at 0 tokens: loss \(fmt(e.loss)) (\(e.tokens) tokens)"))
        }
        var trainSeconds = 0.0, sessionTokens = 0
        let inverseK = 1 / Float(s.accumulate)
        while state.step < end {
            let t0 = ProcessInfo.processInfo.systemUptime
            model.zeroGrad()
            var lossSum = 0.0
            for k in 0..<s.accumulate {
                let b = sampler.batch(step: state.step * s.accumulate + k)
                lossSum += Double(model.forward(tokens: b.inputs, targets: b.targets, batch: b.batchSize, seqLen: b.sequenceLength))
                model.backward(lossScale: inverseK)
            }
            // Infinity: no clipping, but the norm still tells a blown-up step apart.
            let norm = model.clipGradients(maxNorm: s.clip > 0 ? Float(s.clip) : .infinity)
            let lr = schedule.learningRate(at: state.step)
            if norm.isFinite { optimizer.step(model, lr: Float(lr)) } else { state.skippedSteps += 1 }
            state.step += 1
            state.tokens += s.tokensPerStep
            let loss = lossSum / Double(s.accumulate)
            if loss.isFinite {
                state.trainLossSum += loss
                state.trainLossCount += 1
                state.smoothedLoss = state.smoothedLoss.map { 0.9 * $0 + 0.1 * loss } ?? loss
            }
            trainSeconds += ProcessInfo.processInfo.systemUptime - t0
            sessionTokens += s.tokensPerStep
            let rate = trainSeconds > 0 ? Double(sessionTokens) / trainSeconds : 0
            let left = Double((total - state.step) * s.tokensPerStep)
            progress.update(ProgressSnapshot(label: state.run, step: state.step, totalSteps: total, tokens: state.tokens,
                                             totalTokens: total * s.tokensPerStep, loss: state.smoothedLoss, learningRate: lr,
                                             tokensPerSecond: rate, eta: rate > 0 ? left / rate : nil),
                            force: state.step == end || state.step == 1)
            if evalSteps.contains(state.step), let file = evalFile {
                let e = try evaluate(file)
                let record = TrainingRecord(step: state.step, tokens: state.tokens, loss: e.loss,
                                            trainLoss: state.trainLossCount > 0 ? state.trainLossSum / Double(state.trainLossCount) : nil,
                                            learningRate: lr, n: model.nonZeroCounts.nonEmbedding,
                                            epochs: DataSplit.epochs(tokens: state.tokens, splitTokens: sampler.file.count))
                state.records.append(record)
                state.trainLossSum = 0
                state.trainLossCount = 0
                progress.message(label("eval at \(state.tokens) tokens (step \(state.step)/\(total)): loss \(fmt(e.loss))"
                                       + (record.trainLoss.map { ", train \(fmt($0))" } ?? "")))
                onEvaluation?(record)
            }
            if let checkpoint, s.saveEvery > 0, state.step % s.saveEvery == 0, state.step < end {
                try save(to: checkpoint)
            }
        }
        progress.finish()
        lastThroughput = trainSeconds > 0 ? Double(sessionTokens) / trainSeconds : nil
        if let checkpoint { try save(to: checkpoint) }
    }

    /// Training tokens per second of the last `run` call (training steps only, evaluations excluded).
    public private(set) var lastThroughput: Double?

    /// The eval-split loss now (capped at `settings.evalTokens`).
    public func evaluate(_ file: TokenFile) throws -> EvalResult {
        try Evaluator.evaluate(model, file: file, sequenceLength: settings.sequenceLength, batchSize: settings.batchSize,
                               maxTokens: settings.evalTokens)
    }

    private func label(_ text: String) -> String { state.run.isEmpty ? text : "\(state.run): \(text)" }
    private func fmt(_ x: Double) -> String { String(format: "%.4f", x) }

    // MARK: Records

    /// The evaluations in the planner's schema: n0, n (non-zero non-embedding), rho = 1 - n/n0,
    /// loss0, tokens (this run's training tokens) and loss, plus labels (`step`, `train_loss`,
    /// `lr`, and the run's own). The evaluation before the first step is not a record (tokens 0
    /// breaks laws in log tokens); it is `loss0` when the checkpoint did not give one.
    public func lossRecords() -> [LossRecord] { Self.lossRecords(state) }

    public static func lossRecords(_ state: TrainerState) -> [LossRecord] {
        state.records.map { r in
            var labels = state.labels
            labels["step"] = "\(r.step)"
            if let t = r.trainLoss { labels["train_loss"] = "\(t)" }
            labels["lr"] = "\(r.learningRate)"
            if let e = r.epochs { labels["epochs"] = "\(e)" }
            let n0 = Double(state.n0)
            return LossRecord(run: state.run, n0: n0, n: Double(r.n), rho: n0 > 0 ? 1 - Double(r.n) / n0 : nil, loss0: state.loss0,
                              tokens: Double(r.tokens), loss: r.loss, labels: labels)
        }
    }

    /// The records as CSV (`RecordWriter`), readable by `prunescale fit --data`.
    public static func recordsCSV(_ records: [LossRecord], file: String = "records.csv") -> String {
        let first = ["step", "train_loss", "lr", "epochs"]
        let labelColumns = first + Set(records.flatMap(\.labels.keys)).subtracting(first).sorted()
        return RecordWriter.csv(RecordSet(file: file, records: records, labelColumns: labelColumns))
    }

    // MARK: Save and resume

    /// Writes the checkpoint, the mask, the optimizer moments, the trainer state and records.csv
    /// into `directory` as one unit (`Checkpoint.save`): after a crash the folder holds one step's files.
    public func save(to directory: URL) throws { try save(state, to: directory) }

    /// Saves the run as it stands under other settings, as the start of a new run that continues
    /// from this step: a decay branch of a warmup-stable-decay trunk forks here with its own,
    /// shorter budget (the trunk's schedule up to this step being the branch's own). The fork
    /// keeps the step, the moments and the evaluation before the first step, but no records.
    public func saveFork(to directory: URL, settings: TrainingSettings, run: String) throws {
        try settings.validate()
        guard settings.totalSteps >= state.step else {
            throw TrainingError("cannot fork at step \(state.step) a run of only \(settings.totalSteps) steps")
        }
        var fork = state
        fork.settings = settings
        fork.schedule = settings.lrSchedule
        fork.run = run
        fork.records = []
        try save(fork, to: directory)
    }

    private func save(_ state: TrainerState, to directory: URL) throws {
        var meta = checkpointMetadata
        meta["prunescale.run"] = state.run
        meta["prunescale.step"] = "\(state.step)"
        meta["prunescale.tokens"] = "\(state.tokens)"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let stateData = try encoder.encode(state)
        let P = model.layout.totalCount
        try Checkpoint.save(config: model.config, parameters: model.params.array, mask: model.mask?.array, to: directory, metadata: meta) { staging in
            let entries = [SafeTensors.Entry(name: "exp_avg", shape: [P], offset: 0), SafeTensors.Entry(name: "exp_avg_sq", shape: [P], offset: P)]
            try SafeTensors.write(entries, from: optimizer.m.array + optimizer.v.array,
                                  metadata: ["adam_step": "\(optimizer.stepCount)", "prunescale.step": "\(state.step)"],
                                  to: staging.appendingPathComponent(Self.optimizerFileName))
            try AtomicFile.write(stateData, to: staging.appendingPathComponent(Self.stateFileName))
            try AtomicFile.write(Self.recordsCSV(Self.lossRecords(state)), to: staging.appendingPathComponent(Self.recordsFileName))
            for (name, data) in checkpointFiles { try AtomicFile.write(data, to: staging.appendingPathComponent(name)) }
        }
    }

    /// Reads `trainer_state.json` of a checkpoint directory.
    public static func loadState(from directory: URL) throws -> TrainerState {
        try Checkpoint.recoverInterruptedSave(directory)
        let url = directory.appendingPathComponent(stateFileName)
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw TrainingError("\(url.path): cannot read: \(FileError.words(error))") }
        let state: TrainerState
        do { state = try JSONDecoder().decode(TrainerState.self, from: data) } catch {
            throw TrainingError("\(url.path): not a trainer state (\(error))")
        }
        guard state.format == TrainerState.currentFormat else {
            throw TrainingError("\(url.path): format \(state.format), expected \(TrainerState.currentFormat)")
        }
        return state
    }

    /// Continues a run saved by `save`: weights, moments, step and records as they were.
    public static func resume(from directory: URL, train: TokenFile, eval: TokenFile?, threads: Int = Parallel.defaultThreads,
                              progress: ProgressReporter = ProgressReporter(mode: .silent)) throws -> Trainer {
        let state = try loadState(from: directory)
        let ckpt = try Checkpoint.load(from: directory)
        let dirPath = directory.path
        guard ckpt.metadata["prunescale.step"] == "\(state.step)" else {
            throw TrainingError("\(dirPath): the weights are from step \(ckpt.metadata["prunescale.step"] ?? "?") but \(stateFileName) from step \(state.step) (interrupted save?)")
        }
        let model = try LlamaModel(config: ckpt.config, parameters: ckpt.parameters, threads: threads)
        if let mask = try MaskFile.load(from: directory, layout: model.layout) { model.setMask(mask) }
        let trainer = try Trainer(model: model, state: state, train: train, eval: eval, progress: progress)
        var meta = ckpt.metadata
        for k in ["format", "prunescale.run", "prunescale.step", "prunescale.tokens"] { meta[k] = nil }
        trainer.checkpointMetadata = meta

        let optURL = directory.appendingPathComponent(optimizerFileName)
        let file = try SafeTensors(contentsOf: optURL)
        let P = model.layout.totalCount
        for name in ["exp_avg", "exp_avg_sq"] {
            guard let t = file[name], t.count == P else { throw TrainingError("\(optURL.path): no \(name) tensor of \(P) values") }
        }
        guard file.metadata["prunescale.step"] == "\(state.step)", let adamStep = file.metadata["adam_step"].flatMap(Int.init), adamStep >= 0 else {
            throw TrainingError("\(optURL.path): optimizer state is not from step \(state.step) (interrupted save?)")
        }
        let m = try file.floats("exp_avg"), v = try file.floats("exp_avg_sq")
        try m.withUnsafeBufferPointer { mp in
            try v.withUnsafeBufferPointer { try trainer.optimizer.restore(stepCount: adamStep, m: mp, v: $0) }
        }
        return trainer
    }
}
