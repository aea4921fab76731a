import Foundation
import Model
import Testing

/// Checkpoints written by the reference tools open here. Requires python3 with `safetensors` and
/// `numpy` (CI: `pip install safetensors numpy`); without them these tests fail, saying so,
/// rather than pass without checking anything.
@Suite struct CheckpointInteropTests {
    static func fixture(_ name: String) -> URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(name)")
    }

    /// Runs a fixture script and returns its standard output; throws a readable error when Python cannot.
    @discardableResult
    func runPython(_ script: String, _ arguments: [String]) throws -> Data {
        let python = ProcessInfo.processInfo.environment["PYTHON"] ?? "python3"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, Self.fixture(script).path] + arguments
        // stderr to a file, so a chatty failure cannot fill a pipe while we read stdout.
        let errorURL = FileManager.default.temporaryDirectory.appendingPathComponent("prunescale-py-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: errorURL.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errorURL) }
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = try FileHandle(forWritingTo: errorURL)
        do { try process.run() } catch {
            throw ModelError("cannot run \(python) for the interop fixture (\(error)); this test needs python3 with: pip install safetensors numpy")
        }
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let errorText = (try? String(contentsOf: errorURL, encoding: .utf8)) ?? ""
            throw ModelError("\(python) \(script) failed (status \(process.terminationStatus)): \(errorText.trimmingCharacters(in: .whitespacesAndNewlines)) — this test needs python3 with: pip install safetensors numpy")
        }
        return output
    }

    /// The fixture's values, recomputed (see make_hf_llama.py).
    func expected(_ name: String, count: Int) -> [Float] {
        let s = name.utf8.reduce(0) { $0 + Int($1) } % 97
        return (0..<count).map { i in Float(((7 * i + 13 * s) % 101) - 50) / 64 }
    }

    @Test(arguments: [("float32", false), ("float16", true)])
    func opensASavePretrainedCheckpoint(dtype: String, tied: Bool) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("prunescale-hf-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try runPython("make_hf_llama.py", [dir.path, "--dtype", dtype] + (tied ? ["--tied"] : []))

        let loaded = try Checkpoint.load(from: dir)
        #expect(loaded.config == LlamaConfig(vocabSize: 256, hidden: 64, headDim: 16,
                                             blocks: Array(repeating: BlockShape(heads: 4, kvHeads: 2, mlpHidden: 96), count: 2),
                                             ropeTheta: 10_000, normEps: 1e-6, tiedEmbeddings: tied, maxSequence: 512))
        #expect(loaded.metadata == ["format": "pt"])
        let layout = ParameterLayout(loaded.config)
        for e in layout.entries {
            let got = Array(loaded.parameters[e.offset..<e.offset + e.count])
            #expect(got == expected(e.name, count: e.count), "\(e.name)")
        }

        // What we save from it reads back identically (and keeps the Hugging Face layout).
        let copy = dir.appendingPathComponent("copy")
        try Checkpoint.save(config: loaded.config, parameters: loaded.parameters, to: copy)
        let again = try Checkpoint.load(from: copy)
        #expect(again.config == loaded.config)
        #expect(again.parameters == loaded.parameters)
    }

    /// The other direction: the reference reader opens what we write, with our names, shapes and values.
    @Test func referenceReaderOpensOurCheckpoint() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("prunescale-ours-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        var config = LlamaConfig.uniform(vocabSize: 256, hidden: 32, layers: 2, heads: 4, kvHeads: 2, mlpHidden: 48)
        config.blocks[1] = BlockShape(heads: 2, kvHeads: 1, mlpHidden: 24)
        let layout = ParameterLayout(config)
        let parameters = (0..<layout.totalCount).map { Float(($0 * 37) % 255) / 128 - 1 }
        try Checkpoint.save(config: config, parameters: parameters, to: dir, metadata: ["step": "7"])

        let output = try runPython("describe_safetensors.py", [dir.appendingPathComponent("model.safetensors").path])
        let json = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any])
        #expect(json["metadata"] as? [String: String] == ["format": "pt", "step": "7"])
        let tensors = try #require(json["tensors"] as? [String: [String: Any]])
        #expect(Set(tensors.keys) == Set(layout.entries.map(\.name)))
        for e in layout.entries {
            let t = try #require(tensors[e.name])
            #expect(t["dtype"] as? String == "float32")
            #expect(t["shape"] as? [Int] == e.shape, "\(e.name)")
            let sum = parameters[e.offset..<e.offset + e.count].reduce(0.0) { $0 + Double($1) }
            #expect(abs((t["sum"] as? Double ?? .nan) - sum) <= 1e-9 * max(1, abs(sum)), "\(e.name)")
        }
    }
}
