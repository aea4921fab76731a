import ArgumentParser
import Foundation
import Model
import Persistence
import Training
import TextData

struct PretrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pretrain",
        abstract: "Pre-train the model ladder of a spec from scratch.",
        discussion: """
            Reads the ladder spec (YAML; see experiments/ladder.yaml for every key), initialises each \
            size (or only --size NAME) from its seed, and trains it on the pretrain split for \
            tokens_per_param × its non-embedding parameters (at least 20), evaluating on the eval \
            split as `train` does. Each size is written to OUTPUT/NAME/ (checkpoint, optimizer \
            state, trainer_state.json, records.csv); OUTPUT/eval-loss.md and eval-loss.csv tabulate \
            the final eval loss of every size trained so far.

            A size whose directory holds a finished run is skipped (--force retrains it); an \
            unfinished one is resumed. A directory holding a run of another shape or settings \
            (config.json, budget, seed, batch, ... differ from the spec) stops the command before \
            any training, naming what differs; nothing is overwritten or deleted, even with \
            --force: set another output in the spec or remove the old folder yourself. Spec \
            problems are reported as file:line: problem.

            Examples:
              prunescale pretrain --config experiments/ladder.yaml
              prunescale pretrain --config experiments/ladder.yaml --size xs
            """)

    @Option(help: ArgumentHelp("Ladder spec (YAML).", valueName: "file"))
    var config: String

    @Option(help: ArgumentHelp("Train only this size.", valueName: "name"))
    var size: String?

    @Option(help: ArgumentHelp("Corpus (default: the spec's, else shakespeare): a named corpus or a directory of .txt files.", valueName: "name|dir"))
    var corpus: String?

    @OptionGroup var cache: CacheOptions

    @Option(help: ArgumentHelp("Override the token budget (smoke checks only: the run is labelled as such and falls short of the spec).", valueName: "n"))
    var tokens: Double?

    @Flag(help: "Retrain sizes that already finished.")
    var force = false

    @Flag(help: "Only print the sizes, their parameter counts and budgets.")
    var dryRun = false

    @OptionGroup var compute: ComputeOptions

    @Option(help: "Output on stdout: text or json.")
    var format: OutputFormat = .text

    func run() throws {
        let spec = try LadderSpec.load(path: config)
        let sizes = try size.map { [try spec.size(named: $0)] } ?? spec.sizes
        let output = URL(fileURLWithPath: spec.output)
        if dryRun {
            try LadderTable(spec: spec, output: output).print(format)
            return
        }
        let threads = compute.apply()
        let progress = ProgressReporter()
        let log: (String) -> Void = { progress.message($0) }
        let cacheURL = cache.url
        var budget: Int?
        if let tokens {
            guard tokens.isFinite, tokens >= 1, tokens <= Double(TrainingSettings.maxTokens) else {
                throw ValidationError("--tokens: expected a positive count up to 1e15, got \(tokens)")
            }
            budget = Int(tokens.rounded())
        }
        // Every size's folder is checked before any training: a stale run of another shape must
        // stop the command up front, not after hours of training the sizes before it.
        for s in sizes {
            try s.requireSavedRunMatches(in: output.appendingPathComponent(s.name), budget: budget, specFile: spec.file)
        }
        let data = try TrainingData.tokens(corpus: corpus ?? spec.corpus ?? "shakespeare", cache: cacheURL, log: log)

        for s in sizes {
            let dir = output.appendingPathComponent(s.name)
            log("\(s.name): \(s.nonEmbeddingParams) non-embedding parameters, \(s.settings.tokens) tokens in \(s.settings.totalSteps) steps of \(s.settings.tokensPerStep), \(threads) thread(s)")
            let (outcome, trainer) = try LadderPretraining.run(s, in: dir, data: data, threads: threads, specFile: spec.file, budget: budget,
                                                               force: force, progress: progress)
            guard let trainer else {
                log("\(s.name): already trained in \(dir.path); --force retrains")
                continue
            }
            let l = trainer.state.records.last.map { String(format: "%.4f", $0.loss) } ?? "-"
            log("\(s.name): \(outcome == .resumed ? "resumed and " : "")done, eval loss \(l)" + (trainer.lastThroughput.map { ", \(ProgressReporter.count($0)) tok/s" } ?? ""))
        }
        let table = LadderTable(spec: spec, output: output)
        try AtomicFile.write(table.markdown(), to: output.appendingPathComponent("eval-loss.md"))
        try AtomicFile.write(table.csv(), to: output.appendingPathComponent("eval-loss.csv"))
        try table.print(format)
        if format == .text { print("wrote \(output.path)/eval-loss.md and eval-loss.csv") }
    }
}

/// Every size of a spec with its counts, budget and, when trained, its final eval loss.
struct LadderTable: Encodable {
    struct Row: Encodable {
        var name: String
        var hidden, layers, heads, kvHeads, mlpHidden: Int
        var nonEmbeddingParams, totalParams: Int
        var budget: Int
        var tokensPerParam: Double
        var tokensTrained: Int?
        var loss: Double?
        var perplexity: Double?
        var finished: Bool
        /// What differs when the size's folder holds a run of another shape or settings (its
        /// loss is then not this size's and is left out).
        var savedRunDiffers: String?

        enum CodingKeys: String, CodingKey {
            case name, hidden, layers, heads, budget, loss, perplexity, finished, savedRunDiffers = "saved_run_differs"
            case kvHeads = "kv_heads", mlpHidden = "mlp_hidden", nonEmbeddingParams = "non_embedding_params", totalParams = "total_params"
            case tokensPerParam = "tokens_per_param", tokensTrained = "tokens_trained"
        }
    }

    var spec: String
    var output: String
    var sizes: [Row]

    init(spec: LadderSpec, output: URL) {
        self.spec = spec.file
        self.output = output.path
        sizes = spec.sizes.map { s in
            let b = s.config.blocks[0]
            let dir = output.appendingPathComponent(s.name)
            // A smoke run's other budget still describes this model (shown as short); any other
            // difference means the folder holds another model, whose loss must not appear here.
            let differs: String? = {
                do {
                    let d = try s.differences(fromRunIn: dir, ignoringBudget: true)
                    return d.isEmpty ? nil : d.joined(separator: ", ")
                } catch { return "unreadable: \(error)" }
            }()
            let state = differs == nil ? try? Trainer.loadState(from: dir) : nil
            let loss = state?.records.last?.loss
            return Row(name: s.name, hidden: s.config.hidden, layers: s.config.blocks.count, heads: b.heads, kvHeads: b.kvHeads,
                       mlpHidden: b.mlpHidden, nonEmbeddingParams: s.nonEmbeddingParams, totalParams: s.totalParams,
                       budget: s.settings.tokens, tokensPerParam: s.tokensPerParam, tokensTrained: state?.tokens,
                       loss: loss, perplexity: loss.map { Foundation.exp($0) }, finished: state?.finished ?? false, savedRunDiffers: differs)
        }
    }

    static let header = ["size", "hidden", "layers", "heads", "kv_heads", "mlp_hidden", "non_embedding_params", "total_params",
                         "budget_tokens", "tokens_trained", "eval_loss", "perplexity"]

    func cells(_ r: Row) -> [String] {
        [r.name, "\(r.hidden)", "\(r.layers)", "\(r.heads)", "\(r.kvHeads)", "\(r.mlpHidden)", "\(r.nonEmbeddingParams)", "\(r.totalParams)",
         "\(r.budget)", r.savedRunDiffers != nil ? "other run in folder"
            : r.tokensTrained.map { "\($0)" + (!r.finished ? " (unfinished)" : $0 < r.budget ? " (short)" : "") } ?? "",
         r.loss.map { String(format: "%.4f", $0) } ?? "", r.perplexity.map { String(format: "%.3f", $0) } ?? ""]
    }

    func markdown() -> String {
        var out = "# Ladder eval loss\n\nSpec: `\(spec)`. Eval loss: nats per byte on eval_tokens of the eval split (windows spread over it) after the last step "
        out += "(`prunescale eval --model DIR` scores the whole split). Budget = tokens_per_param × non-embedding parameters.\n\n"
        out += "| " + Self.header.joined(separator: " | ") + " |\n"
        out += "|" + String(repeating: " --- |", count: Self.header.count) + "\n"
        for r in sizes { out += "| " + cells(r).map { $0.isEmpty ? "—" : $0 }.joined(separator: " | ") + " |\n" }
        return out
    }

    func csv() -> String {
        ([Self.header.joined(separator: ",")] + sizes.map { cells($0).joined(separator: ",") }).joined(separator: "\n") + "\n"
    }

    func print(_ format: OutputFormat) throws {
        switch format {
        case .json: try JSONOutput.print(self)
        case .text:
            let widths = [6, 7, 7, 6, 9, 11, 21, 13, 14, 16, 10]
            Swift.print(zip(Self.header, widths).map { TextReport.pad($0, $1) }.joined() + Self.header.last!)
            for r in sizes {
                let c = cells(r).map { $0.isEmpty ? "-" : $0 }
                Swift.print(zip(c, widths).map { TextReport.pad($0, $1) }.joined() + c.last!)
            }
        }
    }
}
