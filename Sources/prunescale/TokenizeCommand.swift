import ArgumentParser
import Foundation
import Persistence
import Training
import TextData

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Print the token ids a model reads for a text.",
        discussion: """
            Uses the model's own tokenizer: bytes for PruneScale's models, the BPE of a GGUF file \
            (its tokenizer.ggml.* metadata) or of a checkpoint folder's tokenizer.json. --prompt \
            is encoded as a prompt (with BOS when the model asks for it, as generate does); --text \
            FILE as corpus text (no BOS), which is how token budgets and token files count.

            Examples:
              prunescale tokenize --model smollm2 --prompt 'The capital of France is'
              prunescale tokenize --model smollm2 --text notes.txt --format json
            """)

    @Option(help: ArgumentHelp("Checkpoint folder, .gguf file, or model name (smollm2: fetched into the cache).", valueName: "model"))
    var model: String

    @Option(help: ArgumentHelp("A text file to encode as corpus text.", valueName: "file"))
    var text: String?

    @Option(help: "A prompt to encode as a model input.")
    var prompt: String?

    @OptionGroup var cache: CacheOptions

    @Option(help: "Output on stdout: text (the ids, space-separated) or json ({\"ids\": [...], \"count\": N}).")
    var format: OutputFormat = .text

    struct Output: Encodable {
        var ids: [Int]
        var count: Int
    }

    func validate() throws {
        guard (text == nil) != (prompt == nil) else { throw ValidationError("give exactly one of --text FILE and --prompt TEXT") }
    }

    func run() throws {
        let source = try ModelSource.resolve(model, cache: cache.url) {
            FileHandle.standardError.write(Data(($0 + "\n").utf8))
        }
        let tokenizer = try TrainingData.tokenizer(for: source)
        let ids: [UInt16]
        if let text {
            let bytes: Data
            do { bytes = try Data(contentsOf: URL(fileURLWithPath: text)) } catch {
                throw TrainingError("\(text): cannot read: \(FileError.words(error, path: text))")
            }
            ids = tokenizer.encode([UInt8](bytes))
        } else {
            ids = tokenizer.encodeInput(prompt ?? "")
        }
        switch format {
        case .json: try JSONOutput.print(Output(ids: ids.map(Int.init), count: ids.count))
        case .text: print(ids.map(String.init).joined(separator: " "))
        }
    }
}
