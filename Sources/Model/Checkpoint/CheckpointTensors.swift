import Foundation
import JSON
import Persistence

/// Tensors under Hugging Face names, wherever a model is stored (one safetensors file, a sharded
/// set, a GGUF file): what `Checkpoint.parameters` builds the flat parameter buffer from, so the
/// name-to-layout mapping, the shape checks, the tolerated extras and their errors exist once.
protocol CheckpointTensors {
    /// The file errors about the whole set name (the weights file, the shard index).
    var source: String { get }
    /// What the expected shapes come from, for messages ("config.json").
    var configName: String { get }
    /// Every tensor in file order. A tensor without a Hugging Face name gets one no layout has.
    var names: [String] { get }
    /// Hugging Face's shape (`[out, in]` for a linear weight), nil when absent.
    func shape(_ name: String) -> [Int]?
    func floats(_ name: String) throws -> [Float]
    /// Converts a tensor into `destination` (exactly its size), refusing non-finite values.
    func readFinite(_ name: String, into destination: UnsafeMutableBufferPointer<Float>) throws

    // How messages show a tensor: its file, its name there, and a shape in the file's convention.
    func source(of name: String) -> String
    func label(_ name: String) -> String
    var shapeWord: String { get }
    func fileShape(_ shape: [Int]) -> [Int]
}

extension CheckpointTensors {
    var configName: String { Checkpoint.configFileName }
    func source(of name: String) -> String { source }
    func label(_ name: String) -> String { name }
    var shapeWord: String { "shape" }
    func fileShape(_ shape: [Int]) -> [Int] { shape }
}

extension SafeTensors: CheckpointTensors {
    var names: [String] { tensors.map(\.name) }
    func shape(_ name: String) -> [Int]? { self[name]?.shape }
}

/// A Hugging Face checkpoint split over several safetensors files: `model.safetensors.index.json`
/// is `{"metadata": {...}, "weight_map": {tensor name: shard file name}}`, the shards sit beside it.
///
/// The index and the shards must agree exactly: each listed tensor is in the shard the index
/// names, each tensor of a listed shard is listed (under that shard), and shard names are plain
/// file names in the same folder. Each problem is one line naming the index or the shard.
struct ShardedSafeTensors: CheckpointTensors {
    let source: String
    let names: [String]
    /// The shards' safetensors metadata merged (a key in several shards keeps the first shard's value, by file name).
    let metadata: [String: String]
    private let shards: [SafeTensors]
    private let shardOf: [String: Int]

    init(index url: URL) throws {
        let path = url.path
        func fail(_ m: String) -> ModelError { ModelError("\(path): \(m)") }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ModelError("\(path): cannot read: \(FileError.words(error, path: path))")
        }
        let root: JSONValue
        do { root = try JSONParser.parse(Array(data)) } catch {
            if let key = error.duplicateKey { throw fail("duplicate key \"\(key)\"") }
            throw fail("malformed JSON (\(error.message))")
        }
        guard let map = root.object?["weight_map"]?.object else {
            throw fail("no \"weight_map\" object (a shard index maps each tensor name to its shard file)")
        }
        var fileOf: [String: String] = [:]
        for name in map.keys {
            guard let file = map[name]!.string else { throw fail("weight_map: \"\(name)\" maps to \(map[name]!.summary), not a file name") }
            guard !file.isEmpty, file != ".", file != "..", !file.contains("/"), !file.contains("\\") else {
                throw fail("weight_map: shard \"\(file)\" of \"\(name)\" is not a file name in this folder")
            }
            fileOf[name] = file
        }
        guard !fileOf.isEmpty else { throw fail("weight_map is empty") }

        let folder = url.deletingLastPathComponent()
        let files = Set(fileOf.values).sorted()
        var shards: [SafeTensors] = []
        var shardOf: [String: Int] = [:]
        var names: [String] = []
        var metadata: [String: String] = [:]
        // Every shard present before any is read: a missing one is the likeliest problem.
        for file in files where !FileManager.default.fileExists(atPath: folder.appendingPathComponent(file).path) {
            throw fail("shard \(file) is missing (weight_map lists \(fileOf.filter { $0.value == file }.count) tensors in it)")
        }
        for (k, file) in files.enumerated() {
            let shardURL = folder.appendingPathComponent(file)
            let shard = try SafeTensors(contentsOf: shardURL)
            for t in shard.tensors {
                guard let listed = fileOf[t.name] else {
                    throw ModelError("\(shardURL.path): tensor \(t.name) is not in the weight_map of \(Self.shardIndexName)")
                }
                guard listed == file else {
                    throw ModelError("\(shardURL.path): tensor \(t.name) is here but \(Self.shardIndexName) puts it in \(listed)")
                }
                shardOf[t.name] = k
                names.append(t.name)
            }
            metadata.merge(shard.metadata) { first, _ in first }
            shards.append(shard)
        }
        for name in map.keys where shardOf[name] == nil {
            throw fail("weight_map puts tensor \(name) in \(fileOf[name]!), which does not have it")
        }
        self.source = path
        self.names = names
        self.metadata = metadata
        self.shards = shards
        self.shardOf = shardOf
    }

    private static let shardIndexName = Checkpoint.shardIndexFileName

    private func shard(_ name: String) throws -> SafeTensors {
        guard let k = shardOf[name] else { throw ModelError("\(source): no tensor \"\(name)\"") }
        return shards[k]
    }

    func shape(_ name: String) -> [Int]? { shardOf[name].map { shards[$0][name]!.shape } }
    func floats(_ name: String) throws -> [Float] { try shard(name).floats(name) }
    func readFinite(_ name: String, into destination: UnsafeMutableBufferPointer<Float>) throws {
        try shard(name).readFinite(name, into: destination)
    }
    func source(of name: String) -> String { shardOf[name].map { shards[$0].source } ?? source }
}
