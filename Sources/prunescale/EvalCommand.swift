import ArgumentParser
import Foundation
import Persistence
import Model
import Training
import TextData

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Print a checkpoint's loss and perplexity on the eval split or a text file.",
        discussion: """
            Scores every non-overlapping window of --seq tokens (each token predicted once, with \
            the same context every time; the tail that does not fill a window is left out) and \
            prints the mean cross-entropy in nats per token, the perplexity exp(loss), and the \
            number of tokens scored, in the model's own tokens (bytes for PruneScale's models, \
            its BPE for a GGUF or a folder with tokenizer.json). --text FILE scores a file \
            instead (a file shorter than one window is scored as one shorter window).

            --seq defaults to the length the checkpoint was trained at (its trainer_state.json), \
            else 256.

            Examples:
              prunescale eval --model out/ladder/xs
              prunescale eval --model out/ladder/xs --text notes.txt --format json
              prunescale eval --model smollm2 --text notes.txt --seq 512
            """)

    @Option(help: ArgumentHelp("Checkpoint folder, .gguf file, or model name (smollm2: fetched into the cache).", valueName: "model"))
    var model: String

    @Option(help: ArgumentHelp("Score this text file (in the model's tokens) instead of a corpus split.", valueName: "file"))
    var text: String?

    @Option(help: "Split to score when no --text: eval, posttrain or pretrain.")
    var split: DataSplit = .eval

    @Option(help: ArgumentHelp("Window length in tokens.", valueName: "n"))
    var seq: Int?

    @Option(help: "Windows per forward pass.")
    var batch: Int = 8

    @Option(name: .customLong("max-tokens"), help: ArgumentHelp("Score only N tokens, in windows spread evenly over the text (0: all).", valueName: "n"))
    var maxTokens: Int = 0

    @OptionGroup var corpus: CorpusOptions
    @OptionGroup var compute: ComputeOptions

    @Option(help: "Output on stdout: text, or json ({\"loss\", \"perplexity\", \"tokens\"}).")
    var format: OutputFormat = .text

    struct Output: Encodable {
        var loss: Double
        var perplexity: Double
        var tokens: Int
    }

    func run() throws {
        guard batch > 0, maxTokens >= 0 else { throw ValidationError("--batch must be positive and --max-tokens ≥ 0") }
        if let seq, seq <= 0 { throw ValidationError("--seq must be positive") }
        let threads = compute.apply()
        let log: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
        let source = try ModelSource.resolve(model, cache: corpus.cacheURL, log: log)
        let (m, _) = try TrainingData.loadModel(source, threads: threads)
        let tokenizer = try TrainingData.tokenizer(for: source)
        let T = seq ?? TrainingData.trainedSequenceLength(source.url) ?? min(256, m.config.maxSequence)
        let rows = min(T, m.config.maxSequence)  // the evaluator clamps longer windows to the model's maximum
        try ModelFootprint.requireFits(ModelFootprint(m.config).inferenceBytes(batch: batch, sequence: rows),
                                       "a batch of \(batch) windows of \(rows) tokens", place: "--batch")
        let result: EvalResult, scored: String
        if let text {
            let bytes: Data
            do { bytes = try Data(contentsOf: URL(fileURLWithPath: text)) } catch {
                throw TrainingError("\(text): cannot read: \(FileError.words(error, path: text))")
            }
            guard bytes.count >= 2 else { throw TrainingError("\(text): needs at least 2 bytes to score, has \(bytes.count)") }
            result = try Evaluator.evaluate(m, tokens: tokenizer.encode([UInt8](bytes)), sequenceLength: T, batchSize: batch, maxTokens: maxTokens)
            scored = text
        } else {
            let data = try TrainingData.tokens(corpus: corpus.corpus, cache: corpus.cacheURL, tokenizer: tokenizer, log: log)
            result = try Evaluator.evaluate(m, file: data.tokens(split), sequenceLength: T, batchSize: batch, maxTokens: maxTokens)
            scored = "\(split.rawValue) split of \(corpus.corpus)"
        }
        switch format {
        case .json: try JSONOutput.print(Output(loss: result.loss, perplexity: result.perplexity, tokens: result.tokens))
        case .text:
            print(String(format: "loss %.4f nats/token, perplexity %.3f", result.loss, result.perplexity))
            print("\(result.tokens) tokens in \(result.windows) windows of \(result.sequenceLength) from \(scored)")
        }
    }
}
