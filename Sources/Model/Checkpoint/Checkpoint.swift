import Foundation
import Persistence

/// A model checkpoint as a directory in Hugging Face's layout: `config.json` (see `HFConfig`) and
/// `model.safetensors` (F32 tensors named and shaped per `ParameterLayout`). transformers'
/// `LlamaForCausalLM.from_pretrained` opens it, and `load` opens what `save_pretrained` writes.
public enum Checkpoint {
    public static let configFileName = "config.json"
    public static let weightsFileName = "model.safetensors"
    static let shardIndexFileName = "model.safetensors.index.json"

    /// Writes (or replaces) the checkpoint in `directory`, creating it if needed, as one unit
    /// (`DirectoryCommit`): config.json, model.safetensors, the mask (when `mask` pins any weight;
    /// a stale mask.safetensors is removed otherwise) and whatever `alsoWrite` adds (the trainer's
    /// optimizer and state) replace the previous set together, so a crash at any moment leaves the
    /// old checkpoint or the new one, never new weights beside an old config. Other files in the
    /// directory are left alone.
    ///
    /// `metadata` goes into the safetensors header; `"format": "pt"` is added unless given,
    /// because transformers refuses safetensors files without a known format. With bias flags set,
    /// the biases transformers expects but this engine lacks (`zeroBiases`) are written as zeros,
    /// each right after its weight, so `LlamaForCausalLM` loads the folder without missing keys.
    public static func save(config: LlamaConfig, parameters: [Float], mask: [Float]? = nil, to directory: URL,
                            metadata: [String: String] = [:], alsoWrite: (URL) throws -> Void = { _ in }) throws {
        let layout = ParameterLayout(config)
        guard parameters.count == layout.totalCount else {
            throw ModelError("\(directory.path): cannot save \(parameters.count) parameters for a config that has \(layout.totalCount)")
        }
        try DirectoryCommit.write(into: directory, owned: [configFileName, weightsFileName, MaskFile.fileName]) { staging in
            try writeFiles(config: config, parameters: parameters, metadata: metadata, into: staging)
            if let mask { try MaskFile.save(mask, layout: layout, to: staging) }
            try alsoWrite(staging)
        }
    }

    /// config.json and model.safetensors into `directory` (a commit's staging folder).
    static func writeFiles(config: LlamaConfig, parameters: [Float], metadata: [String: String], into directory: URL) throws {
        let configData = try HFConfig.encode(config)
        let layout = ParameterLayout(config)
        var meta = metadata
        if meta["format"] == nil { meta["format"] = "pt" }
        let zeros = zeroBiases(config)
        var entries: [SafeTensors.Entry] = []
        var values = parameters
        if !zeros.isEmpty {
            // One run of zeros after the parameters serves every zero tensor.
            let zeroStart = values.count
            values += repeatElement(0, count: zeros.map(\.count).max()!)
            let byWeight = Dictionary(uniqueKeysWithValues: zeros.map { (String($0.name.dropLast("bias".count)) + "weight", $0) })
            for e in layout.entries {
                entries.append(SafeTensors.Entry(name: e.name, shape: e.shape, offset: e.offset))
                if let z = byWeight[e.name] { entries.append(SafeTensors.Entry(name: z.name, shape: [z.count], offset: zeroStart)) }
            }
        } else {
            entries = layout.entries.map { SafeTensors.Entry(name: $0.name, shape: $0.shape, offset: $0.offset) }
        }
        try SafeTensors.write(entries, from: values, metadata: meta, to: directory.appendingPathComponent(weightsFileName))
        try AtomicFile.write(configData, to: directory.appendingPathComponent(configFileName))
    }

    /// Reads a checkpoint: the config, the flat parameter buffer in `ParameterLayout` order
    /// (F16/BF16/F64 tensors converted to float32) and the safetensors metadata.
    ///
    /// The weights are `model.safetensors` or, without it, the shards `model.safetensors.index.json`
    /// lists (its `weight_map` names each tensor's shard; see `ShardedSafeTensors`). Every tensor
    /// of the layout must be present with its shape. Tolerated extras: a tied
    /// `lm_head.weight` equal to the embedding (some tools write it), the RoPE `inv_freq`
    /// buffers older transformers versions saved, and with a bias flag set the q/k/v (gate/up)
    /// biases transformers pairs with it, if every value is exactly zero. Anything else is an
    /// error naming the tensor.
    public static func load(from directory: URL) throws -> (config: LlamaConfig, parameters: [Float], metadata: [String: String]) {
        let fm = FileManager.default
        let dir = directory.path
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: dir, isDirectory: &isDir) else { throw ModelError("\(dir): no such checkpoint directory") }
        guard isDir.boolValue else { throw ModelError("\(dir): not a directory (a checkpoint is a directory with \(configFileName) and \(weightsFileName))") }
        // A save cut short by a crash is finished first, so the files read below are one set.
        try recoverInterruptedSave(directory)
        let weightsURL = directory.appendingPathComponent(weightsFileName)
        let indexURL = directory.appendingPathComponent(shardIndexFileName)
        let configURL = directory.appendingPathComponent(configFileName)
        // As in transformers, a single file wins over an index beside it.
        let sharded = !fm.fileExists(atPath: weightsURL.path) && fm.fileExists(atPath: indexURL.path)
        if !sharded && !fm.fileExists(atPath: weightsURL.path) {
            if fm.fileExists(atPath: directory.appendingPathComponent("pytorch_model.bin").path) {
                throw ModelError("\(dir): only safetensors checkpoints are supported, found pytorch_model.bin; re-save with save_pretrained(dir, safe_serialization=True)")
            }
            throw ModelError("\(dir): no \(weightsFileName) (not a checkpoint directory?)")
        }
        guard fm.fileExists(atPath: configURL.path) else {
            throw ModelError("\(dir): no \(configFileName) beside \(sharded ? shardIndexFileName : weightsFileName)")
        }

        let config = try HFConfig.read(from: configURL)
        if sharded {
            let shards = try ShardedSafeTensors(index: indexURL)
            return (config, try parameters(config, from: shards), shards.metadata)
        }
        let file = try SafeTensors(contentsOf: weightsURL)
        return (config, try parameters(config, from: file), file.metadata)
    }

    /// The flat parameter buffer of `config` from named tensors (one safetensors file, shards, a
    /// GGUF file): the one place that maps Hugging Face names to `ParameterLayout` offsets, checks
    /// shapes and decides which extra tensors are tolerated (see `load`).
    static func parameters(_ config: LlamaConfig, from file: some CheckpointTensors) throws -> [Float] {
        let layout = ParameterLayout(config)
        let source = file.source, configName = file.configName

        let missing = layout.entries.map(\.name).filter { file.shape($0) == nil }
        if let first = missing.first {
            throw ModelError("\(source): missing tensor \(file.label(first))\(missing.count > 1 ? " and \(missing.count - 1) more" : "") that \(configName) calls for")
        }
        for e in layout.entries where file.shape(e.name)! != e.shape {
            throw ModelError("\(file.source(of: e.name)): tensor \(file.label(e.name)) has \(file.shapeWord) \(file.fileShape(file.shape(e.name)!)) but \(configName) implies \(file.fileShape(e.shape))")
        }

        var parameters = [Float](repeating: 0, count: layout.totalCount)
        try parameters.withUnsafeMutableBufferPointer { buffer in
            for e in layout.entries {
                // Non-finite weights would only show as a NaN loss (eval) or a late failure (train).
                try file.readFinite(e.name, into: UnsafeMutableBufferPointer(rebasing: buffer[e.offset..<e.offset + e.count]))
            }
        }

        let zeros = Dictionary(uniqueKeysWithValues: zeroBiases(config).map { ($0.name, $0) })
        var unexpected: [String] = []
        for name in file.names where layout[name] == nil {
            let shape = file.shape(name)!
            if name.hasSuffix(".rotary_emb.inv_freq") { continue }
            if let z = zeros[name] {
                guard shape == [z.count] else {
                    throw ModelError("\(file.source(of: name)): tensor \(file.label(name)) has \(file.shapeWord) \(file.fileShape(shape)) but \(configName) implies [\(z.count)]")
                }
                // A non-zero one would change the model's outputs and we cannot represent it.
                guard try file.floats(name).allSatisfy({ $0 == 0 }) else {
                    throw ModelError("\(file.source(of: name)): \(z.short) of block \(z.block) is not zero; PruneScale supports biases only on o_proj and down_proj")
                }
                continue
            }
            if name == "lm_head.weight", config.tiedEmbeddings {
                let embedding = layout["model.embed_tokens.weight"]!
                let same = try shape == embedding.shape
                    && file.floats(name).map(\.bitPattern) == parameters[embedding.offset..<embedding.offset + embedding.count].map(\.bitPattern)
                guard same else {
                    throw ModelError("\(file.source(of: name)): \(file.label(name)) differs from \(file.label(embedding.name)) but \(configName) says tie_word_embeddings true")
                }
                continue
            }
            unexpected.append(name)
        }
        if let first = unexpected.first {
            throw ModelError("\(file.source(of: first)): unexpected tensor \(file.label(first))\(unexpected.count > 1 ? " and \(unexpected.count - 1) more" : "") that \(configName) does not call for")
        }
        return parameters
    }

    /// The biases transformers' Llama has under `attention_bias` (q, k, v) and `mlp_bias` (gate,
    /// up) beside the o_proj / down_proj ones this engine keeps: saved as zeros, loaded only as zeros.
    static func zeroBiases(_ c: LlamaConfig) -> [(block: Int, short: String, name: String, count: Int)] {
        var out: [(block: Int, short: String, name: String, count: Int)] = []
        for (i, b) in c.blocks.enumerated() {
            var list: [(String, Int)] = []
            if c.attentionBias {
                list += [("self_attn.q_proj", b.heads * c.headDim), ("self_attn.k_proj", b.kvHeads * c.headDim), ("self_attn.v_proj", b.kvHeads * c.headDim)]
            }
            if c.mlpBias { list += [("mlp.gate_proj", b.mlpHidden), ("mlp.up_proj", b.mlpHidden)] }
            for (module, n) in list {
                let short = String(module.split(separator: ".").last!) + ".bias"
                out.append((i, short, "model.layers.\(i).\(module).bias", n))
            }
        }
        return out
    }

    /// Finishes a checkpoint save a crash interrupted (`DirectoryCommit.recover`); refuses with
    /// one line when the folder cannot be repaired (read-only).
    public static func recoverInterruptedSave(_ directory: URL) throws {
        guard DirectoryCommit.isInterrupted(directory) else { return }
        do { try DirectoryCommit.recover(directory) } catch {
            throw ModelError("\(directory.path): a save was interrupted and cannot be completed here (\(error)); open it once with write access")
        }
    }
}
