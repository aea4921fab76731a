import Foundation
import Model
import TestSupport
import Testing

/// `prunescale prune` through the real binary: outputs, reports, and one-line errors on bad input.
@Suite(.serialized) struct PruneCLITests {
    /// A small random checkpoint (GQA, vocab 256) and a calibration text.
    static func fixture() throws -> (dir: URL, model: URL, text: URL) {
        let dir = try Fixture.tempDir("cli")
        let c = LlamaConfig.uniform(vocabSize: 256, hidden: 32, layers: 3, heads: 4, kvHeads: 2, mlpHidden: 64, maxSequence: 64)
        let m = try LlamaModel(config: c, seed: 3, initStd: 0.1, threads: 1)
        let model = dir.appendingPathComponent("base")
        try Checkpoint.save(config: c, parameters: m.params.array, to: model)
        let text = dir.appendingPathComponent("calib.txt")
        try String(repeating: "Shall I compare thee to a summer's day? Thou art more lovely and more temperate. ", count: 40)
            .write(to: text, atomically: true, encoding: .utf8)
        return (dir, model, text)
    }

    func prune(_ f: (dir: URL, model: URL, text: URL), _ extra: [String], out: String = "pruned") throws -> CLI.Result {
        try CLI.run(["prune", "--model", f.model.path, "--out", f.dir.appendingPathComponent(out).path, "--calibration", f.text.path,
                     "--calibration-windows", "4", "--seq", "32", "--eval-tokens", "0", "--threads", "1", "--format", "json"] + extra)
    }

    @Test(arguments: [["--structure", "width", "--rate", "0.3", "--method", "wanda"],
                      ["--structure", "depth", "--rate", "0.3", "--method", "block-influence"],
                      ["--pattern", "2:4", "--method", "sparsegpt"]])
    func pruneWritesALoadableCheckpointAndReport(args: [String]) throws {
        let f = try Self.fixture()
        defer { try? FileManager.default.removeItem(at: f.dir) }
        let r = try prune(f, args)
        #expect(r.status == 0, "\(r.stderr)")
        let out = f.dir.appendingPathComponent("pruned")
        for name in ["config.json", "model.safetensors", "pruning.json"] {
            #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent(name).path), "\(name) missing")
        }
        let report = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let before = try #require((report["before"] as? [String: Any])?["non_embedding"] as? Int)
        let rate = try #require(report["rate"] as? Double)
        if args.contains("--pattern") {
            #expect(abs(rate - 0.5 * Double(before - 3 * 2 * 32 - 32) / Double(before)) < 1e-9, "2:4 masks half of every block matrix")
        } else if args.contains("width") {
            #expect(abs(rate - 0.3) <= Double(3 * 32) / Double(before))
        } else {
            #expect(report["removed_blocks"] as? [Int] != [])
        }
        let loaded = try Checkpoint.load(from: out)
        #expect(loaded.metadata["n0"] == String(before))
        let ev = try CLI.run(["eval", "--model", out.path, "--text", f.text.path, "--seq", "32", "--format", "json"])
        #expect(ev.status == 0, "\(ev.stderr)")
    }

    @Test(arguments: [
        (["--structure", "width", "--rate", "1.5", "--method", "wanda"], "--rate"),
        (["--structure", "width", "--rate", "0.2", "--method", "sparsegpt"], "unknown width method"),
        (["--structure", "width", "--method", "wanda"], "--rate"),
        (["--pattern", "4:2", "--method", "wanda"], "4:2"),
        (["--pattern", "2:4", "--method", "flap"], "unknown N:M method"),
        (["--structure", "width", "--rate", "0.2", "--method", "wanda", "--option", "sub-models=3"], "sub-models"),
        (["--pattern", "2:4", "--method", "sparsegpt", "--option", "sub-models=3"], "sub-models"),
    ])
    func badRequestsStopWithOneLineAndNoOutput(args: [String], fragment: String) throws {
        let f = try Self.fixture()
        defer { try? FileManager.default.removeItem(at: f.dir) }
        let r = try prune(f, args)
        #expect(r.status != 0)
        #expect(r.stderr.contains(fragment), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: f.dir.appendingPathComponent("pruned").path))
    }

    @Test func aTruncatedCheckpointIsNamedAndNothingIsWritten() throws {
        let f = try Self.fixture()
        defer { try? FileManager.default.removeItem(at: f.dir) }
        let weights = f.model.appendingPathComponent("model.safetensors")
        let data = try Data(contentsOf: weights)
        try data.prefix(data.count / 2).write(to: weights)
        let r = try prune(f, ["--structure", "width", "--rate", "0.2", "--method", "magnitude"])
        #expect(r.status != 0)
        let lines = r.stderr.split(separator: "\n").filter { !$0.isEmpty }
        #expect(lines.count == 1, "\(r.stderr)")
        #expect(r.stderr.contains("model.safetensors"))
        #expect(!FileManager.default.fileExists(atPath: f.dir.appendingPathComponent("pruned").path))
    }

    @Test func helpListsEveryMethod() throws {
        let r = try CLI.run(["prune", "--help"])
        #expect(r.status == 0)
        for name in ["block-influence", "loss-drop", "taylor-plus", "magnitude", "wanda", "minitron", "taylor", "flap", "bonsai", "saap", "sparsegpt", "admm"] {
            #expect(r.stdout.contains("\(name):"), "\(name) missing from --help")
        }
    }
}

@Suite(.serialized) struct SparsePostTrainingCLITests {
    /// A 2:4 checkpoint carries its mask, and `prunescale train` keeps exactly the masked weights at
    /// zero while the others move; the trained checkpoint carries the mask on.
    @Test func trainingKeepsTheTwoFourMask() throws {
        let f = try PruneCLITests.fixture()
        defer { try? FileManager.default.removeItem(at: f.dir) }
        let pruned = f.dir.appendingPathComponent("pruned")
        let r = try CLI.run(["prune", "--model", f.model.path, "--out", pruned.path, "--calibration", f.text.path, "--calibration-windows", "4",
                             "--seq", "32", "--eval-tokens", "0", "--threads", "1", "--pattern", "2:4", "--method", "sparsegpt"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: pruned.appendingPathComponent(MaskFile.fileName).path))
        // A small corpus directory: enough 4 KiB chunks for all three splits.
        let corpus = f.dir.appendingPathComponent("corpus")
        try FileManager.default.createDirectory(at: corpus, withIntermediateDirectories: true)
        var text = ""
        for i in 0..<4000 { text += "Line \(i): when \(i % 7) stars and \(i % 11) moons align, the \(i % 5 == 0 ? "king" : "fool") speaks.\n" }
        try text.write(to: corpus.appendingPathComponent("a.txt"), atomically: true, encoding: .utf8)
        let trained = f.dir.appendingPathComponent("trained")
        let t = try CLI.run(["train", "--model", pruned.path, "--out", trained.path, "--tokens", "4096", "--batch", "4", "--seq", "32",
                             "--eval-tokens", "256", "--eval-points", "2", "--lr", "1e-2", "--corpus", corpus.path,
                             "--cache", f.dir.appendingPathComponent("cache").path, "--threads", "1"])
        #expect(t.status == 0, "\(t.stderr)")
        let before = try Checkpoint.load(from: pruned), after = try Checkpoint.load(from: trained)
        let mask = try #require(try MaskFile.load(from: pruned, layout: ParameterLayout(before.config)))
        #expect(try MaskFile.load(from: trained, layout: ParameterLayout(after.config)) == mask)
        var moved = 0
        for k in mask.indices {
            if mask[k] == 0 { #expect(after.parameters[k] == 0) } else if after.parameters[k] != before.parameters[k] { moved += 1 }
        }
        #expect(moved > mask.count / 4, "training should move the kept weights (\(moved) moved)")
        // The records' rho is the masked share.
        let records = try String(contentsOf: trained.appendingPathComponent("records.csv"), encoding: .utf8)
        #expect(records.contains("rho"))
    }
}
