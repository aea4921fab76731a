import Foundation
@testable import Model
import Testing

/// Hugging Face's sharded layout: `model.safetensors.index.json` and the shards it names.
@Suite struct ShardedCheckpointTests {
    static let config: LlamaConfig = {
        var c = LlamaConfig.uniform(vocabSize: 64, hidden: 16, layers: 3, heads: 4, kvHeads: 2, mlpHidden: 24, tiedEmbeddings: false)
        c.blocks[2] = BlockShape(heads: 2, kvHeads: 1, mlpHidden: 8)
        return c
    }()

    /// A saved checkpoint re-split into two shards (the first tensors in one, the rest in the
    /// other) with an index; model.safetensors removed. Returns the folder and the parameters.
    static func shardedCheckpoint(metadata: [String: String] = ["format": "pt"]) throws -> (dir: URL, parameters: [Float]) {
        let dir = try checkpointScratchDirectory("sharded")
        let layout = ParameterLayout(config)
        let parameters = checkpointTestParameters(layout.totalCount)
        try Checkpoint.save(config: config, parameters: parameters, to: dir)
        try FileManager.default.removeItem(at: dir.appendingPathComponent("model.safetensors"))
        let half = layout.entries.count / 2
        var map: [String: String] = [:]
        for (k, part) in [layout.entries[..<half], layout.entries[half...]].enumerated() {
            let file = "model-0000\(k + 1)-of-00002.safetensors"
            // Each shard's entries start at their own offsets in `parameters`, as the writer allows.
            try SafeTensors.write(part.map { SafeTensors.Entry(name: $0.name, shape: $0.shape, offset: $0.offset) }, from: parameters,
                                  metadata: metadata, to: dir.appendingPathComponent(file))
            for e in part { map[e.name] = file }
        }
        try writeIndex(map, to: dir)
        return (dir, parameters)
    }

    static func writeIndex(_ map: [String: String], to dir: URL, raw: String? = nil) throws {
        let entries = map.keys.sorted().map { "\"\($0)\": \"\(map[$0]!)\"" }.joined(separator: ", ")
        let text = raw ?? "{\"metadata\": {\"total_size\": 12345}, \"weight_map\": {\(entries)}}"
        try Data(text.utf8).write(to: dir.appendingPathComponent("model.safetensors.index.json"))
    }

    @Test func loadsLikeTheSingleFile() throws {
        let (dir, parameters) = try Self.shardedCheckpoint(metadata: ["format": "pt", "step": "3"])
        defer { try? FileManager.default.removeItem(at: dir) }
        let loaded = try Checkpoint.load(from: dir)
        #expect(loaded.config == Self.config)
        #expect(loaded.parameters.map(\.bitPattern) == parameters.map(\.bitPattern))
        #expect(loaded.metadata == ["format": "pt", "step": "3"])
        // Saving replaces it with one file, which then wins over the stale index.
        try Checkpoint.save(config: loaded.config, parameters: loaded.parameters, to: dir)
        #expect(try Checkpoint.load(from: dir).parameters == loaded.parameters)
    }

    @Test func inconsistenciesAreOneLine() throws {
        let (dir, _) = try Self.shardedCheckpoint()
        defer { try? FileManager.default.removeItem(at: dir) }
        let index = dir.appendingPathComponent("model.safetensors.index.json").path
        let shard1 = dir.appendingPathComponent("model-00001-of-00002.safetensors").path
        let good = try String(contentsOfFile: index, encoding: .utf8)
        let first = "model.embed_tokens.weight", last = "lm_head.weight"
        func error(_ edit: (String) -> String) throws -> String? {
            try Data(edit(good).utf8).write(to: URL(fileURLWithPath: index))
            return checkpointErrorMessage { _ = try Checkpoint.load(from: dir) }
        }
        #expect(try error { $0.replacingOccurrences(of: "\"\(first)\": \"model-00001-of-00002.safetensors\", ", with: "") }
            == "\(shard1): tensor \(first) is not in the weight_map of model.safetensors.index.json")
        #expect(try error { $0.replacingOccurrences(of: "\"\(first)\": \"model-00001-of-00002.safetensors\"", with: "\"\(first)\": \"model-00002-of-00002.safetensors\"") }
            == "\(shard1): tensor \(first) is here but model.safetensors.index.json puts it in model-00002-of-00002.safetensors")
        #expect(try error { $0.replacingOccurrences(of: "\"weight_map\": {", with: "\"weight_map\": {\"extra.weight\": \"model-00002-of-00002.safetensors\", ") }
            == "\(index): weight_map puts tensor extra.weight in model-00002-of-00002.safetensors, which does not have it")
        #expect(try error { $0.replacingOccurrences(of: "\"\(last)\": \"model-00002-of-00002.safetensors\"", with: "\"\(last)\": \"../model-00002-of-00002.safetensors\"") }
            == "\(index): weight_map: shard \"../model-00002-of-00002.safetensors\" of \"\(last)\" is not a file name in this folder")
        #expect(try error { $0.replacingOccurrences(of: "\"\(last)\": \"model-00002-of-00002.safetensors\"", with: "\"\(last)\": \"model-00003-of-00003.safetensors\"") }
            == "\(index): shard model-00003-of-00003.safetensors is missing (weight_map lists 1 tensors in it)")
        #expect(try error { $0.replacingOccurrences(of: "\"\(last)\": \"model-00002-of-00002.safetensors\"", with: "\"\(last)\": 7") }
            == "\(index): weight_map: \"\(last)\" maps to 7, not a file name")
        #expect(try error { _ in "{\"metadata\": {}}" } == "\(index): no \"weight_map\" object (a shard index maps each tensor name to its shard file)")
        #expect(try error { _ in "{\"weight_map\": {}}" } == "\(index): weight_map is empty")
        #expect(try error { String($0.dropLast(3)) }?.hasPrefix("\(index): malformed JSON") == true)
        // A shard's own problems name the shard.
        try Data(good.utf8).write(to: URL(fileURLWithPath: index))
        try Data("xx".utf8).write(to: URL(fileURLWithPath: shard1))
        #expect(checkpointErrorMessage { _ = try Checkpoint.load(from: dir) }?.hasPrefix("\(shard1): truncated") == true)
    }

    /// The shape and missing-tensor checks are the single file's: a shard set missing a layer's
    /// tensor (listed nowhere) is refused naming the index.
    @Test func missingTensorsNameTheIndex() throws {
        let dir = try checkpointScratchDirectory("sharded-missing")
        defer { try? FileManager.default.removeItem(at: dir) }
        let layout = ParameterLayout(Self.config)
        let parameters = checkpointTestParameters(layout.totalCount)
        try HFConfig.encode(Self.config).write(to: dir.appendingPathComponent("config.json"))
        let kept = layout.entries.filter { $0.name != "model.layers.2.mlp.up_proj.weight" }
        try SafeTensors.write(kept.map { SafeTensors.Entry(name: $0.name, shape: $0.shape, offset: $0.offset) }, from: parameters,
                              to: dir.appendingPathComponent("only.safetensors"))
        try Self.writeIndex(Dictionary(uniqueKeysWithValues: kept.map { ($0.name, "only.safetensors") }), to: dir)
        #expect(checkpointErrorMessage { _ = try Checkpoint.load(from: dir) }
            == "\(dir.path)/model.safetensors.index.json: missing tensor model.layers.2.mlp.up_proj.weight that config.json calls for")
    }
}
