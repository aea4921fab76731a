import Foundation
import TextData
import Model
import Persistence

/// Pre-trains one ladder size into its folder, resumes it, or finds it done: the library half of
/// `prunescale pretrain`, also used by the experiment runner for its bases.
public enum LadderPretraining {
    public enum Outcome: Sendable, Equatable {
        case trained, resumed, alreadyDone
    }

    /// Whether `dir` holds a finished run of exactly this size; throws when it holds another run
    /// (`LadderSize.requireSavedRunMatches`), which is never overwritten.
    public static func isFinished(_ size: LadderSize, in dir: URL, specFile: String, budget: Int? = nil) throws -> Bool {
        try size.requireSavedRunMatches(in: dir, budget: budget, specFile: specFile)
        guard FileManager.default.fileExists(atPath: dir.appendingPathComponent(Trainer.stateFileName).path)
              || DirectoryCommit.isInterrupted(dir) else { return false }
        return try Trainer.loadState(from: dir).finished
    }

    /// Trains (or resumes) `size` into `dir` under an exclusive lock of the folder. `budget`
    /// overrides the spec's (smoke checks; labelled so); `force` retrains a finished run.
    public static func run(_ size: LadderSize, in dir: URL, data: TokenizedCorpus, threads: Int, specFile: String,
                           budget: Int? = nil, force: Bool = false,
                           progress: ProgressReporter = ProgressReporter(mode: .silent)) throws -> (outcome: Outcome, trainer: Trainer?) {
        let lock = try DirectoryLock(dir, purpose: "prunescale pretrain \(size.name)")
        defer { lock.release() }
        try size.requireSavedRunMatches(in: dir, budget: budget, specFile: specFile)
        try DirectoryCommit.recover(dir)
        let trainer: Trainer
        let outcome: Outcome
        if !force, FileManager.default.fileExists(atPath: dir.appendingPathComponent(Trainer.stateFileName).path) {
            let state = try Trainer.loadState(from: dir)
            if state.finished { return (.alreadyDone, nil) }
            trainer = try Trainer.resume(from: dir, train: data.tokens(.pretrain), eval: data.tokens(.eval), threads: threads, progress: progress)
            outcome = .resumed
        } else {
            var settings = size.settings
            var labels = ["stage": "pretrain", "size": size.name]
            if let budget {
                settings.tokens = budget
                labels["budget"] = "override"
            }
            let model = try LlamaModel(config: size.config, seed: settings.seed, initStd: Float(size.initStd), threads: threads)
            trainer = try Trainer(model: model, settings: settings, train: data.tokens(.pretrain), eval: data.tokens(.eval),
                                  run: size.name, labels: labels, progress: progress)
            // Recorded so a later spec with another init_std is told apart (see LadderSize.differences).
            trainer.checkpointMetadata[LadderSize.initStdKey] = String(size.initStd)
            outcome = .trained
        }
        try trainer.run(checkpoint: dir)
        return (outcome, trainer)
    }
}
