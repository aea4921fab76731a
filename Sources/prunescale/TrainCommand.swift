import ArgumentParser
import Foundation
import OpenBLASRuntime
import Model
import Persistence
import ScalingLaw
import LossRecords
import Tensor
import Training
import TextData

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Continue training a checkpoint for a token budget and write its loss records.",
        discussion: """
            Loads --model (a checkpoint folder, a .gguf file, or a model name such as smollm2, \
            fetched into the cache on first use), trains it with \
            AdamW for --tokens tokens sampled from a split of the corpus (default posttrain), and \
            evaluates on the eval split (--eval-tokens tokens in non-overlapping windows spread over the split) \
            before the first step, at --eval-at token counts (default: --eval-points log-spaced from \
            one step to the budget) and at the end.

            Writes into --out: the checkpoint, optimizer.safetensors (AdamW moments), \
            trainer_state.json (step, tokens, settings, evaluations) and records.csv, the loss \
            records in the planner's schema (run, n0, n, rho, loss0, tokens, loss, labels step, \
            train_loss, lr) that `prunescale fit --data` reads. n0 and loss0 come from the \
            checkpoint's metadata (keys n0, loss0) when present, else n0 is the model's own \
            non-embedding count and loss0 the eval loss before the first step. tokens counts this \
            run's training tokens, in the model's own tokens (bytes for PruneScale's models, its \
            BPE for a GGUF or a folder with tokenizer.json; the corpus is tokenised with it once \
            and cached).

            The checkpoints are float32 safetensors in Hugging Face's layout (q/k rows in \
            rotate-half order, whatever the source's), with the model's tokenizer.json when it \
            has a BPE, so they reopen with the same tokenizer.

            --resume continues an interrupted run from --out with its saved settings; on one \
            thread the result is bit-identical to an uninterrupted run.

            Progress (tokens/s, ETA, loss) goes to stderr: a live bar on a terminal, a line every \
            10 s otherwise.

            Examples:
              prunescale train --model out/ladder/xs --tokens 2e6 --out out/xs-post
              prunescale train --model pruned/ --tokens 1e7 --eval-at 1e5,1e6,1e7 \\
                  --schedule wsd --lr 5e-4 --records runs.csv
            """)

    @Option(help: ArgumentHelp("Checkpoint folder, .gguf file, or model name (smollm2) to start from.", valueName: "model"))
    var model: String

    @Option(help: ArgumentHelp("Token budget (e.g. 2e6).", valueName: "n"))
    var tokens: Double?

    @Option(help: ArgumentHelp("Output directory (default: MODEL-trained).", valueName: "dir"))
    var out: String?

    @Option(help: ArgumentHelp("Also write the loss records CSV here.", valueName: "file.csv"))
    var records: String?

    @Option(name: .customLong("run"), help: ArgumentHelp("Run id in the records (default: the output directory's name).", valueName: "name"))
    var runName: String?

    @Option(help: "Split to train on: pretrain or posttrain.")
    var split: DataSplit = .posttrain

    @Flag(help: "Continue the run saved in --out (its settings; other training flags are ignored).")
    var resume = false

    @OptionGroup var training: TrainingOptions
    @OptionGroup var corpus: CorpusOptions
    @OptionGroup var compute: ComputeOptions

    @Option(help: "Output on stdout: text or json.")
    var format: OutputFormat = .text

    func run() throws {
        let modelURL = URL(fileURLWithPath: model)
        let isFile = FileManager.default.fileExists(atPath: modelURL.path) && modelURL.pathExtension.lowercased() == "gguf"
        let outURL = URL(fileURLWithPath: out ?? ((isFile ? modelURL.deletingPathExtension() : modelURL).standardizedFileURL.path + "-trained"))
        try TrainOutput.checkNotSource(out: outURL, model: modelURL, resume: resume)
        if let message = TrainOutput.notAFolder(outURL) { throw TrainingError(message) }
        if resume, !FileManager.default.fileExists(atPath: outURL.path) { throw TrainingError("\(outURL.path): no such directory to resume from") }
        // Checked before the lock file is created (a folder of the user's gets nothing of ours) and again under it.
        if !resume, FileManager.default.fileExists(atPath: outURL.path) { try TrainOutput.checkContents(out: outURL, resume: false) }
        let threads = compute.apply()
        let progress = ProgressReporter()
        let log: (String) -> Void = { progress.message($0) }
        // A fresh run reads its model and settings before anything is written, so a bad input
        // leaves no output folder behind.
        var fresh: (model: LlamaModel, metadata: [String: String], settings: TrainingSettings)?
        let tokenizer: any Tokenizer
        if !resume {
            guard let tokens else { throw ValidationError("--tokens is required (unless --resume)") }
            let settings = try training.settings(tokens: tokens)
            let source = try ModelSource.resolve(model, cache: corpus.cacheURL, log: log)
            let (m, metadata) = try TrainingData.loadModel(source, threads: threads)
            tokenizer = try TrainingData.tokenizer(for: source)
            fresh = (m, metadata, settings)
        } else {
            // The run's own folder carries its tokenizer (tokenizer.json) when it is not bytes.
            tokenizer = try TrainingData.tokenizer(for: .checkpoint(outURL))
        }
        let data = try TrainingData.tokens(corpus: corpus.corpus, cache: corpus.cacheURL, tokenizer: tokenizer, log: log)
        let created = !FileManager.default.fileExists(atPath: outURL.path)
        // Held until the process ends: a second writer of this folder is refused.
        let lock = try DirectoryLock(outURL, purpose: "prunescale train")
        defer { lock.release() }
        let trainer: Trainer
        do {
            try TrainOutput.checkContents(out: outURL, resume: resume)
            if let fresh {
                let name = runName ?? outURL.lastPathComponent
                trainer = try Trainer(model: fresh.model, settings: fresh.settings, train: data.tokens(split), eval: data.tokens(.eval), run: name,
                                      n0: PlannerMetadata.n0(in: fresh.metadata).map { Int($0) },
                                      loss0: PlannerMetadata.loss0(in: fresh.metadata),
                                      labels: ["stage": "train", "split": split.rawValue, "schedule": fresh.settings.schedule.rawValue],
                                      progress: progress)
                // n0 and loss0 describe the model before pruning and post-training: carry them on.
                trainer.checkpointMetadata = PlannerMetadata.entries(of: fresh.metadata)
                log("\(name): \(fresh.settings.totalSteps) steps of \(fresh.settings.tokensPerStep) tokens, \(ParameterCounts(fresh.model.config).nonEmbedding) non-embedding parameters, \(threads) thread(s)")
            } else {
                let state = try Trainer.loadState(from: outURL)
                let trainSplit = DataSplit(rawValue: state.labels["split"] ?? "") ?? split
                trainer = try Trainer.resume(from: outURL, train: data.tokens(trainSplit), eval: data.tokens(.eval), threads: threads, progress: progress)
                log("resuming \(state.run) at step \(state.step)/\(state.settings.totalSteps) (\(state.tokens) tokens)")
            }
            trainer.checkpointFiles = try TrainingData.tokenizerFiles(tokenizer)
        } catch {
            // The folder this run made holds nothing yet: take it away again.
            if created, ((try? FileManager.default.contentsOfDirectory(atPath: outURL.path)) ?? []) == [DirectoryLock.fileName] {
                try? FileManager.default.removeItem(at: outURL)
            }
            throw error
        }
        try trainer.run(checkpoint: outURL)
        let csv = Trainer.recordsCSV(trainer.lossRecords())
        var written = ["config.json", "model.safetensors", Trainer.optimizerFileName, Trainer.stateFileName, "records.csv"]
            + trainer.checkpointFiles.keys.sorted()
        if let records {
            try AtomicFile.write(csv, to: URL(fileURLWithPath: records))
            written.append(records)
        }
        try TrainSummary(trainer, out: outURL.path, files: written).print(format)
    }
}

/// What `train` and `pretrain` print when a run ends.
struct TrainSummary: Encodable {
    var run: String
    var out: String
    var steps: Int
    var tokens: Int
    var loss0: Double?
    var loss: Double?
    var perplexity: Double?
    var tokensPerSecond: Double?
    var records: Int
    var files: [String]

    enum CodingKeys: String, CodingKey {
        case run, out, steps, tokens, loss0, loss, perplexity, records, files, tokensPerSecond = "tokens_per_second"
    }

    init(_ t: Trainer, out: String, files: [String]) {
        run = t.state.run
        self.out = out
        steps = t.state.step
        tokens = t.state.tokens
        loss0 = t.state.loss0
        loss = t.state.records.last?.loss
        perplexity = loss.map { Foundation.exp($0) }
        tokensPerSecond = t.lastThroughput
        records = t.state.records.count
        self.files = files
    }

    func print(_ format: OutputFormat) throws {
        switch format {
        case .json: try JSONOutput.print(self)
        case .text:
            let l = loss.map { String(format: "%.4f", $0) } ?? "-"
            let rate = tokensPerSecond.map { " at \(ProgressReporter.count($0)) tok/s" } ?? ""
            Swift.print("\(run): \(steps) steps, \(tokens) tokens\(rate); eval loss \(l)" + (loss0.map { String(format: " (loss0 %.4f)", $0) } ?? ""))
            Swift.print("wrote \(out)/: \(files.joined(separator: ", "))")
        }
    }
}

/// The optimizer, schedule, batch and evaluation flags of `train`.
struct TrainingOptions: ParsableArguments {
    @Option(help: "Peak learning rate.")
    var lr: Double = 1e-3
    @Option(help: "Schedule: cosine (warmup + cosine), wsd (warmup-stable-decay) or constant.")
    var schedule: ScheduleKind = .cosine
    @Option(help: ArgumentHelp("Warmup steps (default: 5% of the steps, at most 200).", valueName: "steps"))
    var warmup: Int?
    @Option(name: .customLong("decay-fraction"), help: "wsd: share of the steps in the final decay.")
    var decayFraction: Double = 0.2
    @Option(name: .customLong("min-lr-fraction"), help: "Final learning rate as a fraction of the peak.")
    var minLRFraction: Double = 0.1
    @Option(name: .customLong("weight-decay"), help: "AdamW decoupled weight decay (matrices only).")
    var weightDecay: Double = 0.1
    @Option(help: "Sequences per micro-batch.")
    var batch: Int = 16
    @Option(help: "Tokens per sequence.")
    var seq: Int = 256
    @Option(help: "Micro-batches per optimizer step (gradient accumulation).")
    var accumulate: Int = 1
    @Option(help: "Clip the global gradient norm at this value (0: off).")
    var clip: Double = 1.0
    @Option(help: "Seed of the batch sampler.")
    var seed: UInt64 = 0
    @Option(name: .customLong("eval-at"), help: ArgumentHelp("Token counts to evaluate at: 1e5,1e6 or a log-spaced range FROM:TO:COUNT.", valueName: "list"))
    var evalAt: String?
    @Option(name: .customLong("eval-points"), help: "Without --eval-at: this many log-spaced evaluations from one step to the budget.")
    var evalPoints: Int = 12
    @Option(name: .customLong("eval-tokens"), help: "Eval tokens per evaluation (windows spread evenly over the eval split; 0: all).")
    var evalTokens: Int = 65_536
    @Option(name: .customLong("save-every"), help: ArgumentHelp("Checkpoint every N steps as well as at the end (0: end only).", valueName: "steps"))
    var saveEvery: Int = 0

    func settings(tokens: Double) throws -> TrainingSettings {
        guard tokens.isFinite, tokens >= 1, tokens < 1e15 else { throw ValidationError("--tokens: expected a positive count, got \(tokens)") }
        var s = TrainingSettings(tokens: Int(tokens.rounded()))
        s.learningRate = lr
        s.schedule = schedule
        s.warmupSteps = warmup
        s.decayFraction = decayFraction
        s.minLRFraction = minLRFraction
        s.weightDecay = weightDecay
        s.batchSize = batch
        s.sequenceLength = seq
        s.accumulate = accumulate
        s.clip = clip
        s.seed = seed
        s.evalPoints = evalPoints
        s.evalTokens = evalTokens
        s.saveEvery = saveEvery
        if let evalAt { s.evalAt = try KeyValues.tokenList(evalAt, flag: "--eval-at").map { Int($0.rounded()) } }
        try s.validate()
        return s
    }
}

/// Threads for the model's kernels and for OpenBLAS.
struct ComputeOptions: ParsableArguments {
    @Option(help: "Threads for the model and BLAS (0: all cores). Results are bit-reproducible for a fixed count.")
    var threads: Int = 0

    /// Sets BLAS's thread count and returns the model's.
    func apply() -> Int {
        let n = threads > 0 ? threads : Parallel.defaultThreads
        BLAS.threads = n
        return n
    }
}

extension ScheduleKind: ExpressibleByArgument {}
extension DataSplit: ExpressibleByArgument {}

/// Where `train` may write: a new or empty folder, or (with --resume) the folder of a run it
/// saved; never the checkpoint it reads, nor a folder of other files it would overwrite.
enum TrainOutput {
    static func checkNotSource(out: URL, model: URL, resume: Bool) throws {
        if !resume, out.resolvingSymlinksInPath().standardizedFileURL.path == model.resolvingSymlinksInPath().standardizedFileURL.path {
            throw ValidationError("--out \(out.path) is the --model checkpoint; training would overwrite it: choose another --out")
        }
    }

    static func notAFolder(_ out: URL) -> String? {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: out.path, isDirectory: &isDirectory), !isDirectory.boolValue {
            return "\(out.path): exists and is not a directory; choose another --out"
        }
        return nil
    }

    /// Under the folder's lock: finishes a save a crash cut short, removes what killed runs left,
    /// then refuses a folder that holds anything but a run of ours (which needs --resume).
    static func checkContents(out: URL, resume: Bool) throws {
        let fm = FileManager.default
        try DirectoryCommit.recover(out)
        let hasState = fm.fileExists(atPath: out.appendingPathComponent(Trainer.stateFileName).path)
        if resume {
            guard hasState else { throw TrainingError("\(out.path): no \(Trainer.stateFileName) to resume from") }
            return
        }
        if hasState { throw TrainingError("\(out.path) already holds a training run; pass --resume to continue it, or choose another --out") }
        let present = (try? fm.contentsOfDirectory(atPath: out.path))?.filter { $0 != DirectoryLock.fileName } ?? []
        if !present.isEmpty {
            let shown = present.sorted().prefix(3).joined(separator: ", ") + (present.count > 3 ? " and \(present.count - 3) more" : "")
            throw TrainingError("\(out.path): exists and holds files that are not a training run (\(shown)); choose another --out (nothing was changed)")
        }
    }
}
