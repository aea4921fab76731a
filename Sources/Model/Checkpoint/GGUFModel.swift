import Foundation

/// A Llama-architecture GGUF file (llama.cpp's conversion of a Hugging Face model) as this
/// engine's `LlamaConfig` and flat parameter buffer, so it runs, prunes, trains and saves as a
/// Hugging Face checkpoint like any other.
///
/// The config comes from the `llama.*` metadata; the weights are dequantised to float32 and
/// renamed (`blk.N.attn_q.weight` → `model.layers.N.self_attn.q_proj.weight`, …), then placed by
/// the same code that places a safetensors checkpoint's (`Checkpoint.parameters`). Without
/// `output.weight` the head is tied to the embeddings.
///
/// llama.cpp's converter permutes the rows of every q and k projection so that RoPE can rotate
/// adjacent pairs (2i, 2i+1); Hugging Face rotates (i, i + d/2). With `.halfSplit` (the default)
/// those rows are put back in Hugging Face's order, so the result saves as an ordinary HF
/// checkpoint; with `.interleaved` they stay as stored and the config says so. Both compute the
/// same function.
public enum GGUFModel {
    /// See `maxSequence(contextLength:)`.
    public static let maxSequenceCap = 131_072

    /// Reads `path`: the config, the parameters in `ParameterLayout` order, and the parsed file
    /// (its metadata holds the tokenizer: `tokenizer.ggml.tokens`, `.merges`, `.token_type`, …).
    public static func load(path: String, ropeLayout: RopeLayout = .halfSplit) throws -> (config: LlamaConfig, parameters: [Float], metadata: GGUFFile) {
        let file = try GGUFFile(contentsOf: URL(fileURLWithPath: path))
        let (config, parameters) = try load(file, ropeLayout: ropeLayout)
        return (config, parameters, file)
    }

    /// `load` on a file already parsed.
    public static func load(_ file: GGUFFile, ropeLayout: RopeLayout = .halfSplit) throws -> (config: LlamaConfig, parameters: [Float]) {
        let config = try self.config(file, ropeLayout: ropeLayout)
        let tensors = GGUFTensors(file, config: config)
        return (config, try Checkpoint.parameters(config, from: tensors))
    }

    /// The positions the model is built for: the file's `context_length`, the length it was
    /// trained at, which also bounds the windows evaluation and training choose; saved as
    /// `max_position_embeddings`, so an HF export keeps it. It sizes only the RoPE tables
    /// (maxSequence × headDim floats: 2 MB for SmolLM2's 8192 × 64), and the cap keeps a corrupt
    /// value from asking for gigabytes of them: 131072 (the longest context of current Llama-family
    /// models) costs at most 64 MB at head dim 128.
    public static func maxSequence(contextLength: Int) -> Int { min(contextLength, maxSequenceCap) }

    /// The config the `llama.*` metadata and the embedding's shape describe.
    public static func config(_ file: GGUFFile, ropeLayout: RopeLayout = .halfSplit) throws -> LlamaConfig {
        func fail(_ m: String) -> ModelError { ModelError("\(file.source): \(m)") }
        guard let arch = try file.string("general.architecture") else { throw fail("no general.architecture in the metadata (not a model file?)") }
        guard arch == "llama" else { throw fail("general.architecture \"\(arch)\" is not supported (only llama)") }
        func required(_ key: String) throws -> Int {
            guard let n = try file.int("llama." + key) else { throw fail("missing metadata llama.\(key)") }
            return n
        }
        // A float32 field as the decimal its writer meant (1e-5, not 9.99999974e-06): what an HF
        // export writes; Float(x) is the same float either way.
        func decimal(_ key: String) throws -> Double? {
            guard let v = try file.float("llama." + key) else { return nil }
            if case .float32(let f) = file[key: "llama." + key] { return Double("\(f)") ?? v }
            return v
        }

        if let experts = try file.int("llama.expert_count"), experts > 0 {
            throw fail("llama.expert_count is \(experts): mixture-of-experts models are not supported")
        }
        if let scaling = try file.string("llama.rope.scaling.type"), scaling != "none" {
            throw fail("llama.rope.scaling.type \"\(scaling)\" is not supported (only plain RoPE)")
        }
        if let scale = try decimal("rope.scale_linear"), scale != 1 {
            throw fail("llama.rope.scale_linear \(scale) is not supported (only plain RoPE)")
        }

        let layers = try required("block_count")
        // Every block has nine tensors: a count the file cannot hold is refused before any
        // per-block array is built from it.
        guard layers >= 0, layers <= file.tensors.count / 9 else {
            throw fail("llama.block_count is \(layers) but the file has \(file.tensors.count) tensors (each block has 9)")
        }
        func perBlock(_ key: String, default d: [Int]? = nil) throws -> [Int] {
            if case .array = file[key: "llama." + key] {
                let list = try file.intArray("llama." + key)!
                guard list.count == layers else { throw fail("llama.\(key) lists \(list.count) values for \(layers) blocks") }
                return list
            }
            if let d, try file.int("llama." + key) == nil { return d }
            return Array(repeating: try required(key), count: layers)
        }
        let hidden = try required("embedding_length")
        let heads = try perBlock("attention.head_count")
        let kvHeads = try perBlock("attention.head_count_kv", default: heads)
        let mlp = try perBlock("feed_forward_length")
        let keyLength = try file.int("llama.attention.key_length"), valueLength = try file.int("llama.attention.value_length")
        if let keyLength, let valueLength, keyLength != valueLength {
            throw fail("llama.attention.key_length \(keyLength) differs from value_length \(valueLength); PruneScale needs one head width")
        }
        let ropeDims = try file.int("llama.rope.dimension_count")
        let headDim: Int
        if let given = keyLength ?? valueLength {
            headDim = given
        } else if let h = heads.first, h > 0, hidden % h == 0 {
            headDim = hidden / h
        } else if let ropeDims {
            headDim = ropeDims
        } else {
            throw fail("cannot tell the head width: no llama.attention.key_length and embedding_length \(hidden) is not a multiple of head_count \(heads.first.map(String.init) ?? "(no blocks)")")
        }
        if let ropeDims, ropeDims != headDim {
            throw fail("llama.rope.dimension_count \(ropeDims) is not the head width \(headDim): partial rotary embeddings are not supported")
        }
        guard let eps = try decimal("attention.layer_norm_rms_epsilon") else { throw fail("missing metadata llama.attention.layer_norm_rms_epsilon") }
        let theta = try decimal("rope.freq_base") ?? 10_000
        let context = try required("context_length")

        // The vocabulary is the embedding's rows; the metadata may restate it but not contradict it.
        guard let embedding = file["token_embd.weight"] else { throw fail("missing tensor token_embd.weight") }
        guard embedding.dims.count == 2 else {
            throw fail("tensor token_embd.weight has dims \(embedding.dims), not [embedding_length, vocabulary]")
        }
        let vocab = embedding.dims[1]
        if let stated = try file.int("llama.vocab_size"), stated != vocab {
            throw fail("llama.vocab_size is \(stated) but token_embd.weight has \(vocab) rows")
        }
        if let tokens = try file.stringArray("tokenizer.ggml.tokens"), tokens.count > vocab {
            throw fail("tokenizer.ggml.tokens has \(tokens.count) tokens but token_embd.weight has only \(vocab) rows")
        }

        let blocks = (0..<layers).map { BlockShape(heads: heads[$0], kvHeads: kvHeads[$0], mlpHidden: mlp[$0]) }
        let c = LlamaConfig(vocabSize: vocab, hidden: hidden, headDim: headDim, blocks: blocks, ropeTheta: theta, ropeLayout: ropeLayout,
                            normEps: eps, tiedEmbeddings: file["output.weight"] == nil, maxSequence: maxSequence(contextLength: context))
        do { try c.validate() } catch let e as ModelError { throw fail(e.message) }
        return c
    }

    /// Hugging Face's name for a GGUF tensor name of the llama architecture, nil for others.
    public static func huggingFaceName(_ name: String) -> String? {
        switch name {
        case "token_embd.weight": return "model.embed_tokens.weight"
        case "output_norm.weight": return "model.norm.weight"
        case "output.weight": return "lm_head.weight"
        default: break
        }
        let parts = name.split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false)
        // "blk.<n>.<tensor>", n in canonical decimal (so exactly one GGUF name maps to each HF name).
        guard parts.count == 3, parts[0] == "blk", let n = Int(parts[1]), n >= 0, String(n) == parts[1],
              let module = blockTensors[String(parts[2])] else { return nil }
        return "model.layers.\(n).\(module)"
    }

    /// The GGUF name of a Hugging Face llama tensor name (the inverse of `huggingFaceName`).
    public static func ggufName(_ name: String) -> String? {
        switch name {
        case "model.embed_tokens.weight": return "token_embd.weight"
        case "model.norm.weight": return "output_norm.weight"
        case "lm_head.weight": return "output.weight"
        default: break
        }
        let parts = name.split(separator: ".", maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "model", parts[1] == "layers", let n = Int(parts[2]), n >= 0, String(n) == parts[2],
              let tensor = blockTensors.first(where: { $0.value == parts[3] })?.key else { return nil }
        return "blk.\(n).\(tensor)"
    }

    static let blockTensors = [
        "attn_norm.weight": "input_layernorm.weight",
        "attn_q.weight": "self_attn.q_proj.weight",
        "attn_k.weight": "self_attn.k_proj.weight",
        "attn_v.weight": "self_attn.v_proj.weight",
        "attn_output.weight": "self_attn.o_proj.weight",
        "ffn_norm.weight": "post_attention_layernorm.weight",
        "ffn_gate.weight": "mlp.gate_proj.weight",
        "ffn_up.weight": "mlp.up_proj.weight",
        "ffn_down.weight": "mlp.down_proj.weight",
    ]

    /// A q or k projection `[heads · headDim, cols]` from GGUF's row order to Hugging Face's: within
    /// each head, GGUF row 2i + s holds Hugging Face row s · headDim/2 + i (s ∈ {0, 1}), the
    /// pairing llama.cpp's converter makes so RoPE rotates adjacent rows.
    public static func unpermuteRows(_ w: [Float], heads: Int, headDim: Int) -> [Float] {
        precondition(heads * headDim > 0 && w.count % (heads * headDim) == 0, "unpermuteRows: \(w.count) values are not \(heads) × \(headDim) rows")
        let cols = w.count / (heads * headDim), half = headDim / 2
        var out = [Float](repeating: 0, count: w.count)
        w.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for h in 0..<heads {
                    for s in 0..<2 {
                        for i in 0..<half {
                            let from = (h * headDim + 2 * i + s) * cols, to = (h * headDim + s * half + i) * cols
                            for j in 0..<cols { dst[to + j] = src[from + j] }
                        }
                    }
                }
            }
        }
        return out
    }
}

/// A GGUF file's tensors under Hugging Face names and shapes (GGUF dims reversed), dequantised,
/// q/k rows in the order `config.ropeLayout` needs. Messages keep the file's names and dims.
struct GGUFTensors: CheckpointTensors {
    let file: GGUFFile
    let names: [String]
    private let ggufName: [String: String]
    /// q/k projections to unpermute, with their head counts (none when the config is interleaved).
    private let permuted: [String: Int]
    private let headDim: Int

    init(_ file: GGUFFile, config: LlamaConfig) {
        self.file = file
        var names: [String] = [], ggufName: [String: String] = [:]
        for t in file.tensors {
            // A name without a Hugging Face equivalent keeps its own behind a prefix no layout
            // name has, so it is reported as unexpected under the name the file gives it.
            let hf = GGUFModel.huggingFaceName(t.name) ?? "gguf:" + t.name
            names.append(hf)
            ggufName[hf] = t.name
        }
        self.names = names
        self.ggufName = ggufName
        var permuted: [String: Int] = [:]
        if config.ropeLayout == .halfSplit {
            for (i, b) in config.blocks.enumerated() {
                permuted["model.layers.\(i).self_attn.q_proj.weight"] = b.heads
                permuted["model.layers.\(i).self_attn.k_proj.weight"] = b.kvHeads
            }
        }
        self.permuted = permuted
        self.headDim = config.headDim
    }

    var source: String { file.source }
    var configName: String { "the GGUF metadata" }
    // Tensors the file lacks are named as it would name them.
    func label(_ name: String) -> String { ggufName[name] ?? GGUFModel.ggufName(name) ?? name }
    var shapeWord: String { "dims" }
    func fileShape(_ shape: [Int]) -> [Int] { shape.reversed() }
    func shape(_ name: String) -> [Int]? { ggufName[name].flatMap { file[$0] }.map { $0.dims.reversed() } }

    private func ordered(_ name: String, _ values: [Float]) -> [Float] {
        guard let heads = permuted[name] else { return values }
        return GGUFModel.unpermuteRows(values, heads: heads, headDim: headDim)
    }

    func floats(_ name: String) throws -> [Float] { ordered(name, try file.floats(label(name))) }

    func readFinite(_ name: String, into destination: UnsafeMutableBufferPointer<Float>) throws {
        let values = ordered(name, try file.finiteFloats(label(name)))
        precondition(values.count == destination.count, "GGUF tensor \(label(name)): \(values.count) values for \(destination.count) places")
        _ = destination.update(from: values)
    }
}
