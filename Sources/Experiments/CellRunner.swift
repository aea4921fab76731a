import Foundation
import Model
import Persistence
import Pruning
import Tensor
import Training
import TextData

/// A base model ready for cells: its folder, identity and the loss every recovery is measured
/// against (`loss0`, on the eval windows the cells are evaluated on).
public struct ResolvedBase: Sendable {
    public var identity: BaseIdentity
    /// The ladder size's or checkpoint's folder, or the model file.
    public var directory: URL
    public var source: ModelSource
    public var config: LlamaConfig
    public var loss0: Double?
}

/// Runs one cell, base → pruned → post-trained → evaluated, in its own folder of the store
/// (`cells/ID/`), resuming whatever a crash interrupted: the pruned model is written as one unit
/// (`OutputDirectory`), the training folders commit each checkpoint as one unit and resume bit for
/// bit, and nothing reaches the result store until the cell is complete.
struct CellRunner {
    let cell: Cell
    let base: ResolvedBase
    let data: TokenizedCorpus
    let directory: URL
    let threads: Int

    struct Outcome {
        var rows: [EvaluationRow]
        var achievedRate: Double?
        var tokensPerSecond: Double?
        /// Seconds spent pruning, and training with its evaluations (the rest is the runner's).
        var pruneSeconds: Double
        var trainSeconds: Double
    }

    func run() throws -> Outcome {
        let lock = try DirectoryLock(directory, purpose: "cell \(cell.label)")
        defer { lock.release() }
        let started = ProcessInfo.processInfo.systemUptime
        var source = base.source
        var achieved: Double?
        var pruneSeconds = 0.0
        if let pruning = cell.config.pruning {
            let pruned = directory.appendingPathComponent("pruned")
            if !FileManager.default.fileExists(atPath: pruned.appendingPathComponent(OutputDirectory.markerName).path) {
                let t0 = ProcessInfo.processInfo.systemUptime
                let result = try prune(pruning)
                pruneSeconds = ProcessInfo.processInfo.systemUptime - t0
                try OutputDirectory.write(to: pruned, command: "prunescale run") { try PruningJob.save(result, to: $0) }
            }
            achieved = try readRate(pruned)
            source = .checkpoint(pruned)
        }
        let train = data.tokens(cell.config.split)
        let eval = data.tokens(.eval)
        let trainers: [Trainer]
        let t0 = ProcessInfo.processInfo.systemUptime
        switch cell.config.protocolKind {
        case .curve: trainers = [try curve(source: source, train: train, eval: eval)]
        case .lossAtBudget: trainers = try lossAtBudget(source: source, train: train, eval: eval)
        }
        let trainSeconds = ProcessInfo.processInfo.systemUptime - t0
        let wall = ProcessInfo.processInfo.systemUptime - started
        let speeds = trainers.compactMap(\.lastThroughput)
        let speed = speeds.isEmpty ? nil : speeds.reduce(0, +) / Double(speeds.count)
        return Outcome(rows: try rows(trainers, splitTokens: train.count, wall: wall, speed: speed), achievedRate: achieved, tokensPerSecond: speed,
                       pruneSeconds: pruneSeconds, trainSeconds: trainSeconds)
    }

    private func prune(_ p: CellPruning) throws -> PruningJob.Result {
        let target: PruningRequest.Target
        switch p.structure {
        case "depth": target = .depth(method: DepthMethod(rawValue: p.method)!, rate: p.rate ?? 0)
        case "width": target = .width(method: WidthMethod(rawValue: p.method)!, rate: p.rate ?? 0)
        default: target = try .semiStructured(method: SemiStructuredMethod(rawValue: p.method)!, pattern: NMPattern(parsing: p.pattern ?? "2:4"))
        }
        var job = PruningJob(model: base.source, request: PruningRequest(target: target, batchSize: p.batch, seed: p.seed, options: p.options),
                             calibration: .split(data.tokens(.pretrain), .pretrain, corpus: p.corpus))
        job.calibrationWindows = p.calibrationWindows
        job.sequenceLength = cell.config.training.sequenceLength
        job.eval = nil
        return try job.run(threads: threads, log: { _ in })
    }

    private func readRate(_ pruned: URL) throws -> Double? {
        let url = pruned.appendingPathComponent(PruningJob.reportFileName)
        guard let data = try? Data(contentsOf: url), let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        return json["rate"] as? Double
    }

    private func newTrainer(source: ModelSource, settings: TrainingSettings, train: TokenFile, eval: TokenFile, run: String) throws -> Trainer {
        let (model, _) = try TrainingData.loadModel(source, threads: threads)
        return try Trainer(model: model, settings: settings, train: train, eval: eval, run: run, n0: base.identity.nonEmbedding,
                           loss0: base.loss0, labels: [:])
    }

    /// One run with evaluations along the way.
    private func curve(source: ModelSource, train: TokenFile, eval: TokenFile) throws -> Trainer {
        let dir = directory.appendingPathComponent("train")
        let trainer = try resumeOrStart(dir, train: train, eval: eval) {
            try newTrainer(source: source, settings: cell.config.training, train: train, eval: eval, run: cell.id)
        }
        try trainer.run(checkpoint: dir)
        return trainer
    }

    /// The trunk runs the longest budget's warmup-stable-decay schedule; where each shorter
    /// budget's decay starts, it saves a fork, and each fork decays to its own budget. The fork is
    /// saved before the trunk moves on, so a crash never skips one.
    private func lossAtBudget(source: ModelSource, train: TokenFile, eval: TokenFile) throws -> [Trainer] {
        let s = cell.config.training
        let budgets = cell.config.budgets ?? [s.tokens]
        let trunkDir = directory.appendingPathComponent("trunk")
        let trunk = try resumeOrStart(trunkDir, train: train, eval: eval) {
            try newTrainer(source: source, settings: s, train: train, eval: eval, run: cell.id)
        }
        var branches: [(dir: URL, settings: TrainingSettings)] = []
        for (k, budget) in budgets.enumerated() where budget < s.totalSteps * s.tokensPerStep {
            var b = s
            b.tokens = budget
            b.evalAt = [budget]
            b.saveEvery = 0
            let forkStep = b.totalSteps - max(1, Int((Double(b.totalSteps) * b.decayFraction).rounded()))
            let dir = directory.appendingPathComponent("branch-\(k)")
            branches.append((dir, b))
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent(Trainer.stateFileName).path) { continue }
            guard trunk.state.step <= forkStep else {
                throw TrainingError("\(trunkDir.path): the trunk is past step \(forkStep) but branch \(k) was never saved (its folder was removed?); remove \(directory.path) to redo the cell")
            }
            try trunk.run(stopAt: forkStep, checkpoint: trunkDir)
            try trunk.saveFork(to: dir, settings: b, run: cell.id)
        }
        try trunk.run(checkpoint: trunkDir)
        var out: [Trainer] = []
        for (dir, _) in branches {
            let t = try Trainer.resume(from: dir, train: train, eval: eval, threads: threads)
            try t.run(checkpoint: dir)
            out.append(t)
        }
        return out + [trunk]
    }

    private func resumeOrStart(_ dir: URL, train: TokenFile, eval: TokenFile, start: () throws -> Trainer) throws -> Trainer {
        try DirectoryCommit.recover(dir)
        if FileManager.default.fileExists(atPath: dir.appendingPathComponent(Trainer.stateFileName).path) {
            return try Trainer.resume(from: dir, train: train, eval: eval, threads: threads)
        }
        return try start()
    }

    /// The evaluations as store rows: the loss right after pruning first (0 tokens), then each
    /// recorded point in token order.
    private func rows(_ trainers: [Trainer], splitTokens: Int, wall: Double, speed: Double?) throws -> [EvaluationRow] {
        let n0 = Double(base.identity.nonEmbedding)
        guard let first = trainers.first, let initial = first.state.initialEval else {
            throw TrainingError("\(cell.label): no evaluation before post-training")
        }
        let loss0 = first.state.loss0 ?? initial.loss
        let n = Double(first.model.nonZeroCounts.nonEmbedding)
        var out = [EvaluationRow(cell: cell.id, point: 0, tokens: 0, loss: initial.loss, trainLoss: nil, step: 0, n0: n0, n: n,
                                 rho: max(0, 1 - n / n0), loss0: loss0, epochs: 0, learningRate: nil, wallSeconds: wall, tokensPerSecond: speed)]
        let records = trainers.flatMap(\.state.records).sorted { $0.tokens < $1.tokens }
        for r in records {
            guard r.loss.isFinite else { throw TrainingError("\(cell.label): eval loss is \(r.loss) at \(r.tokens) tokens (training diverged)") }
            out.append(EvaluationRow(cell: cell.id, point: out.count, tokens: r.tokens, loss: r.loss, trainLoss: r.trainLoss, step: r.step,
                                     n0: n0, n: Double(r.n), rho: max(0, 1 - Double(r.n) / n0), loss0: loss0,
                                     epochs: r.epochs ?? DataSplit.epochs(tokens: r.tokens, splitTokens: splitTokens) ?? 0, learningRate: r.learningRate,
                                     wallSeconds: wall, tokensPerSecond: speed))
        }
        return out
    }
}
