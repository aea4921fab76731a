import Foundation
import JSON
import Persistence

/// `LlamaConfig` <-> Hugging Face `config.json` (transformers' `LlamaConfig`), so checkpoints open
/// in transformers and transformers' checkpoints open here.
///
/// Writing: the standard fields, keys sorted and indented as transformers writes them. Blocks of
/// different shapes (width pruning) have no standard field: they go into `"prunescale_blocks":
/// [{"heads", "kv_heads", "mlp_hidden"}]`, one per layer, and the uniform fields
/// (`num_attention_heads`, `num_key_value_heads`, `intermediate_size`) hold block 0's values —
/// always a consistent triple, unlike per-field maxima. transformers ignores the extra field, so it
/// would build uniform blocks and refuse the differently shaped tensors loudly rather than run a
/// wrong model. The interleaved RoPE layout is recorded as `"prunescale_rope_layout":
/// "interleaved"` (absent means Hugging Face's half-split).
///
/// Biases: `attention_bias` / `mlp_bias` are transformers' flags and set `attentionBias` /
/// `mlpBias`. In transformers they put biases on q, k, v and o (gate, up and down); this engine has
/// them on o_proj and down_proj only, so `Checkpoint` writes the others as zeros and refuses
/// non-zero ones.
///
/// Reading: tolerates everything transformers adds (`bos_token_id`, `rope_scaling: null`,
/// `use_cache`, …) and rejects, in words, what this engine cannot run: RoPE scaling, activations
/// other than SiLU, other architectures. Missing optional fields
/// take transformers' `LlamaConfig` defaults (`head_dim` = hidden_size / num_attention_heads,
/// `rms_norm_eps` 1e-6, `rope_theta` 10000, `tie_word_embeddings` false, 2048 positions).
public enum HFConfig {
    public static let architecture = "LlamaForCausalLM"
    static let blocksKey = "prunescale_blocks"
    static let ropeLayoutKey = "prunescale_rope_layout"

    /// config.json text (UTF-8, trailing newline).
    public static func encode(_ c: LlamaConfig) throws -> Data {
        try c.validate()
        guard c.ropeTheta.isFinite, c.normEps.isFinite else { throw ModelError("model config: ropeTheta and normEps must be finite") }
        let first = c.blocks.first
        // With no blocks the per-block fields are moot; write a shape transformers can parse.
        let heads = first?.heads ?? max(1, c.hidden / c.headDim)
        var o = JSONObject()
        o["architectures"] = .array([.string(architecture)])
        o["attention_bias"] = .bool(c.attentionBias)
        o["attention_dropout"] = .number(0.0)
        o["head_dim"] = .number(c.headDim)
        o["hidden_act"] = .string("silu")
        o["hidden_size"] = .number(c.hidden)
        o["intermediate_size"] = .number(first?.mlpHidden ?? 0)
        o["max_position_embeddings"] = .number(c.maxSequence)
        o["mlp_bias"] = .bool(c.mlpBias)
        o["model_type"] = .string("llama")
        o["num_attention_heads"] = .number(heads)
        o["num_hidden_layers"] = .number(c.blocks.count)
        o["num_key_value_heads"] = .number(first?.kvHeads ?? heads)
        if let first, c.blocks.contains(where: { $0 != first }) {
            o[blocksKey] = .array(c.blocks.map { b in
                .object(JSONObject([("heads", .number(b.heads)), ("kv_heads", .number(b.kvHeads)), ("mlp_hidden", .number(b.mlpHidden))]))
            })
        }
        if c.ropeLayout != .halfSplit { o[ropeLayoutKey] = .string(c.ropeLayout.rawValue) }
        o["rms_norm_eps"] = .number(c.normEps)
        o["rope_scaling"] = .null
        o["rope_theta"] = .number(c.ropeTheta)
        o["tie_word_embeddings"] = .bool(c.tiedEmbeddings)
        o["torch_dtype"] = .string("float32")
        o["vocab_size"] = .number(c.vocabSize)
        var sorted = JSONObject()
        for k in o.keys.sorted() { sorted[k] = o[k] }
        return Data((JSONValue.object(sorted).serialized(indent: 2) + "\n").utf8)
    }

    public static func read(from url: URL) throws -> LlamaConfig {
        guard FileManager.default.fileExists(atPath: url.path) else { throw ModelError("\(url.path): no such file") }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ModelError("\(url.path): cannot read: \(FileError.words(error, path: url.path))")
        }
        return try decode(data, source: url.path)
    }

    /// Parses config.json text; `source` names the file in errors.
    public static func decode(_ data: Data, source: String = "config.json") throws -> LlamaConfig {
        func fail(_ m: String) -> ModelError { ModelError("\(source): \(m)") }
        let root: JSONValue
        do { root = try JSONParser.parse(Array(data)) } catch {
            throw fail("malformed JSON (\(error.message))")
        }
        guard let o = root.object else { throw fail("not a JSON object") }

        // Absent and null both mean "use the default", as in transformers.
        func given(_ key: String) -> JSONValue? {
            guard let v = o[key], !v.isNull else { return nil }
            return v
        }
        func int(_ key: String, default d: Int? = nil) throws -> Int {
            guard let v = given(key) else {
                guard let d else { throw fail("missing \(key)") }
                return d
            }
            guard let n = v.int else { throw fail("\(key) must be an integer, not \(v.summary)") }
            return n
        }
        func double(_ key: String, in object: JSONObject? = nil, default d: Double) throws -> Double {
            let found: JSONValue? = if let object { object[key] } else { given(key) }
            guard let v = found, !v.isNull else { return d }
            guard let x = v.double else { throw fail("\(key) must be a number, not \(v.summary)") }
            return x
        }
        func bool(_ key: String, default d: Bool) throws -> Bool {
            guard let v = given(key) else { return d }
            guard let b = v.bool else { throw fail("\(key) must be true or false, not \(v.summary)") }
            return b
        }
        func string(_ key: String) throws -> String? {
            guard let v = given(key) else { return nil }
            guard let s = v.string else { throw fail("\(key) must be a string, not \(v.summary)") }
            return s
        }

        // What it is.
        if let t = try string("model_type"), t != "llama" {
            throw fail("model_type \"\(t)\" is not supported (only llama)")
        }
        if let a = given("architectures") {
            let names = a.array?.compactMap(\.string) ?? []
            guard names.contains(architecture) else {
                throw fail("architectures \(a.summary) is not supported (only \(architecture))")
            }
        }
        // What this engine cannot run.
        if let act = try string("hidden_act"), act != "silu", act != "swish" {
            throw fail("hidden_act \"\(act)\" is not supported (only silu, for SwiGLU)")
        }
        func plainRope(_ key: String) throws -> JSONObject? {
            guard let v = given(key) else { return nil }
            guard let s = v.object else { throw fail("\(key) must be an object or null, not \(v.summary)") }
            let type = s["rope_type"]?.string ?? s["type"]?.string ?? "default"
            guard type == "default" else { throw fail("\(key) \(v.summary) is not supported (only plain RoPE)") }
            return s
        }
        _ = try plainRope("rope_scaling")
        // transformers 5 moves rope_theta into rope_parameters.
        let ropeParameters = try plainRope("rope_parameters")
        for k in o.keys where k.hasPrefix("prunescale_") && k != blocksKey && k != ropeLayoutKey {
            throw fail("unknown field \(k) (written by a newer PruneScale?)")
        }

        let vocab = try int("vocab_size")
        let hidden = try int("hidden_size")
        let layers = try int("num_hidden_layers")
        let heads = try int("num_attention_heads")
        let kvHeads = try int("num_key_value_heads", default: heads)
        let mlp = try int("intermediate_size")
        guard layers >= 0 else { throw fail("num_hidden_layers \(layers) is negative") }
        let headDim: Int
        if given("head_dim") != nil {
            headDim = try int("head_dim")
        } else {
            guard heads > 0, hidden % heads == 0 else {
                throw fail("head_dim is missing and hidden_size \(hidden) is not a multiple of num_attention_heads \(heads)")
            }
            headDim = hidden / heads
        }
        let theta: Double
        if given("rope_theta") != nil || ropeParameters == nil {
            theta = try double("rope_theta", default: 10_000)
        } else {
            theta = try double("rope_theta", in: ropeParameters, default: 10_000)
        }

        let blocks: [BlockShape]
        if let v = given(blocksKey) {
            guard let list = v.array else { throw fail("\(blocksKey) must be a list") }
            guard list.count == layers else {
                throw fail("\(blocksKey) has \(list.count) entries but num_hidden_layers is \(layers)")
            }
            blocks = try list.enumerated().map { i, b in
                guard let bo = b.object, let h = bo["heads"]?.int, let kv = bo["kv_heads"]?.int, let m = bo["mlp_hidden"]?.int else {
                    throw fail("\(blocksKey)[\(i)] must be {\"heads\": int, \"kv_heads\": int, \"mlp_hidden\": int}, not \(b.summary)")
                }
                return BlockShape(heads: h, kvHeads: kv, mlpHidden: m)
            }
        } else {
            // Uniform blocks: size the model from the fields before materialising num_hidden_layers
            // of them, so a corrupt count is refused in words instead of allocating. Negative fields
            // count as 0 here; `validate` names them below.
            let shape = BlockShape(heads: heads, kvHeads: kvHeads, mlpHidden: mlp)
            let sizing = BlockShape(heads: max(heads, 0), kvHeads: max(kvHeads, 0), mlpHidden: max(mlp, 0))
            try ModelFootprint(vocabSize: max(vocab, 0), hidden: max(hidden, 0), headDim: max(headDim, 0), blockRuns: [(sizing, layers)],
                               tiedEmbeddings: try bool("tie_word_embeddings", default: false),
                               maxSequence: max(try int("max_position_embeddings", default: 2048), 0))
                .requireModelFits(place: source)
            blocks = Array(repeating: shape, count: layers)
        }
        var layout = RopeLayout.halfSplit
        if let s = try string(ropeLayoutKey) {
            guard let l = RopeLayout(rawValue: s) else {
                throw fail("\(ropeLayoutKey) \"\(s)\" is not one of \(RopeLayout.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            layout = l
        }

        let c = LlamaConfig(vocabSize: vocab, hidden: hidden, headDim: headDim, blocks: blocks,
                            ropeTheta: theta, ropeLayout: layout,
                            normEps: try double("rms_norm_eps", default: 1e-6),
                            tiedEmbeddings: try bool("tie_word_embeddings", default: false),
                            maxSequence: try int("max_position_embeddings", default: 2048),
                            attentionBias: try bool("attention_bias", default: false),
                            mlpBias: try bool("mlp_bias", default: false))
        do { try c.validate() } catch let e as ModelError { throw fail(e.message) }
        return c
    }
}
