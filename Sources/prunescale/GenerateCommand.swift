import ArgumentParser
import Foundation
import Model
import TextData

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Sample a continuation of a prompt from a checkpoint.",
        discussion: """
            Feeds the prompt in the model's tokens (bytes for PruneScale's models; its BPE, with BOS \
            if it asks, for a GGUF or a folder with tokenizer.json) and samples up to --tokens new \
            tokens, each from softmax(logits / temperature) over the --top-k most likely tokens \
            (temperature 0: the most likely one), stopping after the model's end-of-text token. \
            The same model, prompt, options, seed and thread count give the same text. Prints the \
            prompt and its continuation.

            Example:
              prunescale generate --model out/ladder/xs --prompt 'ROMEO:' --tokens 200
              prunescale generate --model smollm2 --prompt 'The capital of France is' --tokens 8 --temperature 0
            """)

    @Option(help: ArgumentHelp("Checkpoint folder, .gguf file, or model name (smollm2: fetched into the cache).", valueName: "model"))
    var model: String

    @Option(help: "Text to continue (empty: start from a newline).")
    var prompt: String = ""

    @Option(help: "New tokens to sample (at most).")
    var tokens: Int = 200

    @Option(help: "Softmax temperature (0: greedy).")
    var temperature: Double = 0.8

    @Option(name: .customLong("top-k"), help: "Sample among the k most likely tokens (0: all).")
    var topK: Int = 40

    @Option(help: "Seed of the sampler.")
    var seed: UInt64 = 0

    @Option(help: ArgumentHelp("Longest context fed to the model (default: min(max sequence, 256)).", valueName: "n"))
    var context: Int?

    @OptionGroup var cache: CacheOptions

    @OptionGroup var compute: ComputeOptions

    @Option(help: "Output on stdout: text, or json ({\"prompt\", \"text\", \"tokens\"}).")
    var format: OutputFormat = .text

    struct Output: Encodable {
        var prompt: String
        var text: String
        var tokens: Int
    }

    func run() throws {
        if let context, context <= 0 { throw ValidationError("--context must be positive") }
        guard tokens >= 0 else { throw ValidationError("--tokens must be ≥ 0") }
        // The sampled ids, the growing context and the decoded text: about 8 bytes a token.
        try ModelFootprint.requireFits(8 * Double(tokens), "sampling \(tokens) tokens", place: "--tokens")
        let threads = compute.apply()
        let source = try ModelSource.resolve(model, cache: cache.url) {
            FileHandle.standardError.write(Data(($0 + "\n").utf8))
        }
        let (m, _) = try TrainingData.loadModel(source, threads: threads)
        let tok = try TrainingData.tokenizer(for: source)
        let options = SamplingOptions(temperature: temperature, topK: topK, seed: seed, context: context)
        var input = tok.encodeInput(prompt)
        if input.isEmpty { input = tok.encode("\n") }
        let out = try Generator.generate(m, prompt: input, count: tokens, options: options, stop: tok.endOfText)
        switch format {
        case .json: try JSONOutput.print(Output(prompt: prompt, text: tok.decodeText(out), tokens: out.count))
        case .text:
            FileHandle.standardOutput.write(Data(prompt.utf8) + Data(tok.decode(out)) + Data("\n".utf8))
        }
    }
}
