import Foundation

/// A model checkpoint as a directory in Hugging Face's layout: `config.json` (see `HFConfig`) and
/// `model.safetensors` (F32 tensors named and shaped per `ParameterLayout`). transformers'
/// `LlamaForCausalLM.from_pretrained` opens it, and `load` opens what `save_pretrained` writes.
public enum Checkpoint {
    public static let configFileName = "config.json"
    public static let weightsFileName = "model.safetensors"
    static let shardIndexFileName = "model.safetensors.index.json"

    /// Writes (or replaces) the checkpoint in `directory`, creating it if needed; other files in
    /// the directory are left alone. Each file is replaced atomically (temporary file, flush,
    /// rename), weights first and config.json last, so a reader never sees a partial file. A
    /// crash between the two renames can pair new weights with the previous config.json; `load`
    /// then reports the shape mismatch rather than loading a wrong model.
    ///
    /// `metadata` goes into the safetensors header; `"format": "pt"` is added unless given,
    /// because transformers refuses safetensors files without a known format.
    public static func save(config: LlamaConfig, parameters: [Float], to directory: URL, metadata: [String: String] = [:]) throws {
        let configData = try HFConfig.encode(config)
        let layout = ParameterLayout(config)
        guard parameters.count == layout.totalCount else {
            throw ModelError("\(directory.path): cannot save \(parameters.count) parameters for a config that has \(layout.totalCount)")
        }
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw ModelError("\(directory.path): cannot create the checkpoint directory: \(error.localizedDescription)")
        }
        var meta = metadata
        if meta["format"] == nil { meta["format"] = "pt" }
        let entries = layout.entries.map { SafeTensors.Entry(name: $0.name, shape: $0.shape, offset: $0.offset) }
        try SafeTensors.write(entries, from: parameters, metadata: meta, to: directory.appendingPathComponent(weightsFileName))
        try AtomicFile.write(configData, to: directory.appendingPathComponent(configFileName))
    }

    /// Reads a checkpoint: the config, the flat parameter buffer in `ParameterLayout` order
    /// (F16/BF16/F64 tensors converted to float32) and the safetensors metadata.
    ///
    /// Every tensor of the layout must be present with its shape. Tolerated extras: a tied
    /// `lm_head.weight` equal to the embedding (some tools write it) and the RoPE `inv_freq`
    /// buffers older transformers versions saved. Anything else is an error naming the tensor.
    public static func load(from directory: URL) throws -> (config: LlamaConfig, parameters: [Float], metadata: [String: String]) {
        let fm = FileManager.default
        let dir = directory.path
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: dir, isDirectory: &isDir) else { throw ModelError("\(dir): no such checkpoint directory") }
        guard isDir.boolValue else { throw ModelError("\(dir): not a directory (a checkpoint is a directory with \(configFileName) and \(weightsFileName))") }
        let weightsURL = directory.appendingPathComponent(weightsFileName)
        let configURL = directory.appendingPathComponent(configFileName)
        if !fm.fileExists(atPath: weightsURL.path) {
            if fm.fileExists(atPath: directory.appendingPathComponent(shardIndexFileName).path) {
                throw ModelError("\(dir): sharded checkpoints (\(shardIndexFileName)) are not supported yet; re-save as one file, e.g. save_pretrained(dir, max_shard_size=\"100GB\")")
            }
            if fm.fileExists(atPath: directory.appendingPathComponent("pytorch_model.bin").path) {
                throw ModelError("\(dir): only safetensors checkpoints are supported, found pytorch_model.bin; re-save with save_pretrained(dir, safe_serialization=True)")
            }
            throw ModelError("\(dir): no \(weightsFileName) (not a checkpoint directory?)")
        }
        guard fm.fileExists(atPath: configURL.path) else { throw ModelError("\(dir): no \(configFileName) beside \(weightsFileName)") }

        let config = try HFConfig.read(from: configURL)
        let file = try SafeTensors(contentsOf: weightsURL)
        let layout = ParameterLayout(config)
        let source = weightsURL.path

        let missing = layout.entries.map(\.name).filter { file[$0] == nil }
        if let first = missing.first {
            throw ModelError("\(source): missing tensor \(first)\(missing.count > 1 ? " and \(missing.count - 1) more" : "") that \(configFileName) calls for")
        }
        for e in layout.entries where file[e.name]!.shape != e.shape {
            throw ModelError("\(source): tensor \(e.name) has shape \(file[e.name]!.shape) but \(configFileName) implies \(e.shape)")
        }

        var parameters = [Float](repeating: 0, count: layout.totalCount)
        try parameters.withUnsafeMutableBufferPointer { buffer in
            for e in layout.entries {
                try file.read(e.name, into: UnsafeMutableBufferPointer(rebasing: buffer[e.offset..<e.offset + e.count]))
            }
        }

        var unexpected: [String] = []
        for t in file.tensors where layout[t.name] == nil {
            if t.name.hasSuffix(".rotary_emb.inv_freq") { continue }
            if t.name == "lm_head.weight", config.tiedEmbeddings {
                let embedding = layout["model.embed_tokens.weight"]!
                let same = try t.shape == embedding.shape
                    && file.floats(t.name).map(\.bitPattern) == parameters[embedding.offset..<embedding.offset + embedding.count].map(\.bitPattern)
                guard same else {
                    throw ModelError("\(source): lm_head.weight differs from model.embed_tokens.weight but \(configFileName) says tie_word_embeddings true")
                }
                continue
            }
            unexpected.append(t.name)
        }
        if let first = unexpected.first {
            throw ModelError("\(source): unexpected tensor \(first)\(unexpected.count > 1 ? " and \(unexpected.count - 1) more" : "") that \(configFileName) does not call for")
        }
        return (config, parameters, file.metadata)
    }
}
