import Foundation
import Model
import Testing

/// config.json as transformers 4.46 writes it for `LlamaConfig(vocab_size=256, hidden_size=64,
/// intermediate_size=96, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)`.
let transformersConfigJSON = """
{
  "_name_or_path": "tiny",
  "architectures": [
    "LlamaForCausalLM"
  ],
  "attention_bias": false,
  "attention_dropout": 0.0,
  "bos_token_id": 1,
  "eos_token_id": 2,
  "head_dim": 16,
  "hidden_act": "silu",
  "hidden_size": 64,
  "initializer_range": 0.02,
  "intermediate_size": 96,
  "max_position_embeddings": 2048,
  "mlp_bias": false,
  "model_type": "llama",
  "num_attention_heads": 4,
  "num_hidden_layers": 2,
  "num_key_value_heads": 2,
  "pretraining_tp": 1,
  "rms_norm_eps": 1e-06,
  "rope_scaling": null,
  "rope_theta": 10000.0,
  "tie_word_embeddings": false,
  "torch_dtype": "float32",
  "transformers_version": "4.46.3",
  "use_cache": true,
  "vocab_size": 256
}

"""

/// `transformersConfigJSON` with some keys replaced (value as JSON text) or removed (nil).
func editedConfig(_ edits: [String: String?]) -> Data {
    var lines = transformersConfigJSON.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    for (key, value) in edits {
        if let i = lines.firstIndex(where: { $0.hasPrefix("  \"\(key)\":") }) {
            // A list value spans lines up to its closing bracket.
            let end = lines[i].hasSuffix("[") ? lines[i...].firstIndex { $0.hasPrefix("  ]") }! : i
            lines.replaceSubrange(i...end, with: value.map { ["  \"\(key)\": \($0),"] } ?? [])
        } else if let value {
            lines.insert("  \"\(key)\": \(value),", at: 1)
        }
    }
    // Edits at the end leave a trailing comma; JSON forbids it.
    return Data(lines.joined(separator: "\n").replacingOccurrences(of: ",\n}", with: "\n}").utf8)
}

@Suite struct CheckpointHFConfigTests {
    @Test func readsWhatTransformersWrites() throws {
        let c = try HFConfig.decode(Data(transformersConfigJSON.utf8))
        #expect(c == LlamaConfig(vocabSize: 256, hidden: 64, headDim: 16,
                                 blocks: Array(repeating: BlockShape(heads: 4, kvHeads: 2, mlpHidden: 96), count: 2),
                                 ropeTheta: 10_000, ropeLayout: .halfSplit, normEps: 1e-6, tiedEmbeddings: false, maxSequence: 2048))
        // Optional fields fall back to transformers' defaults.
        let sparse = try HFConfig.decode(editedConfig(["head_dim": nil, "num_key_value_heads": nil, "rms_norm_eps": nil, "rope_theta": nil,
                                                       "tie_word_embeddings": nil, "max_position_embeddings": nil, "architectures": nil]))
        #expect(sparse.headDim == 16)
        #expect(sparse.blocks.allSatisfy { $0.kvHeads == 4 })
        #expect(sparse.normEps == 1e-6 && sparse.ropeTheta == 10_000 && !sparse.tiedEmbeddings && sparse.maxSequence == 2048)
        // transformers 5 keeps rope_theta in rope_parameters.
        let v5 = try HFConfig.decode(editedConfig(["rope_theta": nil, "rope_scaling": nil, "rope_parameters": #"{"rope_theta": 500000.0, "rope_type": "default"}"#]))
        #expect(v5.ropeTheta == 500_000)
        #expect(try HFConfig.decode(editedConfig(["rope_scaling": #"{"rope_type": "default"}"#])).ropeTheta == 10_000)
    }

    @Test func rejectsWhatTheEngineCannotRun() {
        let cases: [([String: String?], String)] = [
            (["attention_bias": #""yes""#], "attention_bias must be true or false"),
            (["rope_scaling": #"{"factor": 8.0, "rope_type": "llama3"}"#], "rope_scaling"),
            (["rope_theta": nil, "rope_parameters": #"{"rope_theta": 1e4, "rope_type": "yarn"}"#], "rope_parameters"),
            (["hidden_act": #""gelu""#], #"hidden_act "gelu" is not supported"#),
            (["model_type": #""mistral""#], #"model_type "mistral" is not supported"#),
            (["architectures": #"["LlamaModel"]"#], "architectures"),
            (["vocab_size": nil], "missing vocab_size"),
            (["hidden_size": #""64""#], "hidden_size must be an integer"),
            (["num_key_value_heads": "3"], "not a multiple of 3 KV heads"),
            (["head_dim": nil, "hidden_size": "66"], "head_dim is missing"),
            (["prunescale_blocks": #"[{"heads": 4, "kv_heads": 2, "mlp_hidden": 8}]"#], "1 entries but num_hidden_layers is 2"),
            (["prunescale_blocks": #"[{"heads": 4}, {"heads": 4}]"#], "prunescale_blocks[0]"),
            (["prunescale_rope_layout": #""sideways""#], "prunescale_rope_layout"),
            (["prunescale_sparsity": "0.5"], "unknown field prunescale_sparsity"),
        ]
        for (edits, fragment) in cases {
            let message = checkpointErrorMessage { _ = try HFConfig.decode(editedConfig(edits), source: "c/config.json") }
            #expect(message?.hasPrefix("c/config.json: ") == true && message?.contains(fragment) == true, "\(edits): \(message ?? "accepted")")
        }
        #expect(checkpointErrorMessage { _ = try HFConfig.decode(Data("{\"vocab_size\": 256,".utf8)) }?.hasPrefix("config.json: malformed JSON") == true)
    }

    /// transformers' bias flags map to ours both ways; absent or false means no biases.
    @Test func biasFlagsReadAndWrite() throws {
        let plain = try HFConfig.decode(editedConfig([:]))
        #expect(!plain.attentionBias && !plain.mlpBias)
        #expect(try HFConfig.decode(editedConfig(["attention_bias": nil, "mlp_bias": nil])) == plain)
        let both = try HFConfig.decode(editedConfig(["attention_bias": "true", "mlp_bias": "true"]))
        #expect(both.attentionBias && both.mlpBias)
        let mlpOnly = try HFConfig.decode(editedConfig(["mlp_bias": "true"]))
        #expect(!mlpOnly.attentionBias && mlpOnly.mlpBias)

        // Per-block shapes and the flags together survive a round trip.
        var pruned = LlamaConfig.uniform(vocabSize: 300, hidden: 48, layers: 2, heads: 6, kvHeads: 3, mlpHidden: 128, attentionBias: true)
        pruned.blocks[1] = BlockShape(heads: 2, kvHeads: 1, mlpHidden: 40)
        let text = String(decoding: try HFConfig.encode(pruned), as: UTF8.self)
        #expect(text.contains(#"  "attention_bias": true,"#) && text.contains(#"  "mlp_bias": false,"#))
        #expect(text.contains("prunescale_blocks"))
        #expect(try HFConfig.decode(Data(text.utf8)) == pruned)
    }

    @Test func writesTransformersFieldsAndRoundTrips() throws {
        let uniform = LlamaConfig.uniform(vocabSize: 256, hidden: 64, layers: 3, heads: 4, kvHeads: 2, mlpHidden: 96, tiedEmbeddings: true, maxSequence: 512)
        let text = String(decoding: try HFConfig.encode(uniform), as: UTF8.self)
        for line in [#"  "architectures": ["#, #"    "LlamaForCausalLM""#, #"  "model_type": "llama","#, #"  "hidden_act": "silu","#,
                     #"  "num_key_value_heads": 2,"#, #"  "rms_norm_eps": 1e-05,"#, #"  "rope_theta": 10000.0,"#,
                     #"  "rope_scaling": null,"#, #"  "tie_word_embeddings": true,"#, #"  "torch_dtype": "float32","#,
                     #"  "max_position_embeddings": 512,"#, #"  "head_dim": 16,"#, #"  "vocab_size": 256"#] {
            #expect(text.contains(line + "\n"), "missing line \(line)")
        }
        #expect(!text.contains("prunescale"), "uniform configs stay plain Hugging Face")
        #expect(try HFConfig.decode(Data(text.utf8)) == uniform)

        var pruned = LlamaConfig.uniform(vocabSize: 300, hidden: 48, layers: 3, heads: 6, kvHeads: 3, mlpHidden: 128, ropeTheta: 500_000)
        pruned.blocks[1] = BlockShape(heads: 2, kvHeads: 1, mlpHidden: 40)
        pruned.blocks[2] = BlockShape(heads: 8, kvHeads: 4, mlpHidden: 200)
        pruned.ropeLayout = .interleaved
        pruned.normEps = 1e-6
        let prunedText = String(decoding: try HFConfig.encode(pruned), as: UTF8.self)
        #expect(prunedText.contains(#""prunescale_rope_layout": "interleaved""#))
        #expect(prunedText.contains(#""num_attention_heads": 6,"#), "uniform fields hold block 0")
        #expect(prunedText.contains(#""intermediate_size": 128,"#))
        #expect(prunedText.contains("""
              "prunescale_blocks": [
                {
                  "heads": 6,
                  "kv_heads": 3,
                  "mlp_hidden": 128
                },
            """))
        #expect(try HFConfig.decode(Data(prunedText.utf8)) == pruned)

        var invalid = uniform
        invalid.blocks[0].kvHeads = 3
        #expect(throws: ModelError.self) { _ = try HFConfig.encode(invalid) }
    }
}
