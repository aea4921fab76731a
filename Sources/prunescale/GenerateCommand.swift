import ArgumentParser
import Foundation
import Model
import Training

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Sample a continuation of a prompt from a checkpoint.",
        discussion: """
            Feeds the prompt's bytes (byte tokenizer) and samples --tokens new tokens, each from \
            softmax(logits / temperature) over the --top-k most likely tokens (temperature 0: the \
            most likely one). The same checkpoint, prompt, options, seed and thread count give the \
            same text. Prints the prompt and its continuation as raw bytes.

            Example:
              prunescale generate --model out/ladder/xs --prompt 'ROMEO:' --tokens 200
            """)

    @Option(help: ArgumentHelp("Checkpoint directory.", valueName: "dir"))
    var model: String

    @Option(help: "Text to continue (empty: start from a newline).")
    var prompt: String = ""

    @Option(help: "New tokens (bytes) to sample.")
    var tokens: Int = 200

    @Option(help: "Softmax temperature (0: greedy).")
    var temperature: Double = 0.8

    @Option(name: .customLong("top-k"), help: "Sample among the k most likely tokens (0: all).")
    var topK: Int = 40

    @Option(help: "Seed of the sampler.")
    var seed: UInt64 = 0

    @Option(help: ArgumentHelp("Longest context fed to the model (default: min(max sequence, 256)).", valueName: "n"))
    var context: Int?

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
        let (m, _) = try TrainingData.loadModel(URL(fileURLWithPath: model), threads: threads)
        let tok = ByteTokenizer()
        let options = SamplingOptions(temperature: temperature, topK: topK, seed: seed, context: context)
        let out = try Generator.generate(m, prompt: tok.encode(prompt), count: tokens, options: options)
        switch format {
        case .json: try JSONOutput.print(Output(prompt: prompt, text: tok.decodeText(out), tokens: out.count))
        case .text:
            FileHandle.standardOutput.write(Data(prompt.utf8) + Data(tok.decode(out)) + Data("\n".utf8))
        }
    }
}
