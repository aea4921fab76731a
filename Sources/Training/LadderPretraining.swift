import Foundation
import Model
import Persistence

/// Pre-trains one ladder size into its folder, or resumes it, or finds it done; the library half
/// of `prunescale pretrain`, also used by the experiment runner for its bases.
public enum LadderPretraining {
    public enum Outcome: Sendable, Equatable {
        case trained, resumed, alreadyDone
    }

    /// Whether `dir` holds a finished pre-training run of exactly this size (architecture and
    /// settings), and why not otherwise.
    public static func finished(_ size: LadderSize, in dir: URL) -> (done: Bool, reason: String?) {
        guard FileManager.default.fileExists(atPath: dir.appendingPathComponent(Trainer.stateFileName).path) else { return (false, nil) }
        guard let state = try? Trainer.loadState(from: dir) else { return (false, "\(dir.path): unreadable \(Trainer.stateFileName)") }
        if let problem = mismatch(size, state: state, dir: dir) { return (false, problem) }
        return (state.finished, nil)
    }

    /// What differs between the spec's size and the run saved in `dir`, if anything.
    public static func mismatch(_ size: LadderSize, state: TrainerState, dir: URL) -> String? {
        var theirs = state.settings, ours = size.settings
        // How often a run saves or how much it evaluates does not change the model it makes.
        theirs.saveEvery = 0; ours.saveEvery = 0
        if theirs != ours { return "\(dir.path) holds a run with other training settings (budget \(state.settings.tokens) tokens, seed \(state.settings.seed)) than size \(size.name) asks for" }
        if let config = try? HFConfig.read(from: dir.appendingPathComponent(Checkpoint.configFileName)), config != size.config {
            return "\(dir.path) holds a model of another shape than size \(size.name) in the spec"
        }
        return nil
    }

    /// Trains (or resumes) `size` into `dir` under an exclusive lock of the folder. A folder
    /// holding another run is refused, never overwritten.
    public static func run(_ size: LadderSize, in dir: URL, data: TokenizedCorpus, threads: Int,
                           progress: ProgressReporter = ProgressReporter(mode: .silent)) throws -> (outcome: Outcome, trainer: Trainer?) {
        let lock = try DirectoryLock(dir, purpose: "pre-training \(size.name)")
        defer { lock.release() }
        try DirectoryCommit.recover(dir)
        let stateURL = dir.appendingPathComponent(Trainer.stateFileName)
        let trainer: Trainer
        let outcome: Outcome
        if FileManager.default.fileExists(atPath: stateURL.path) {
            let state = try Trainer.loadState(from: dir)
            if let problem = mismatch(size, state: state, dir: dir) {
                throw TrainingError("\(problem); choose another output folder or move that one away")
            }
            if state.finished { return (.alreadyDone, nil) }
            trainer = try Trainer.resume(from: dir, train: data.tokens(.pretrain), eval: data.tokens(.eval), threads: threads, progress: progress)
            outcome = .resumed
        } else {
            let model = try LlamaModel(config: size.config, seed: size.settings.seed, initStd: Float(size.initStd), threads: threads)
            trainer = try Trainer(model: model, settings: size.settings, train: data.tokens(.pretrain), eval: data.tokens(.eval),
                                  run: size.name, labels: ["stage": "pretrain", "size": size.name], progress: progress)
            outcome = .trained
        }
        try trainer.run(checkpoint: dir)
        return (outcome, trainer)
    }
}
