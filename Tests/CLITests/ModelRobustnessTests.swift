import Foundation
import Model
import TestSupport
import Testing

/// Issue 8 through the real binary: the model commands never report a silently wrong result.
/// Each failure is one line on stderr, a non-zero exit (not a signal), and no output left behind.
@Suite(.serialized) struct ModelRobustnessTests {
    /// The error line of a failed run: exactly one, last on stderr (progress lines may precede it).
    func oneErrorLine(_ r: CLI.Result, _ context: String = "") -> String {
        #expect(r.status != 0, "\(context): exit 0")
        let lines = r.stderr.split(separator: "\n").filter { !$0.isEmpty }
        #expect(lines.filter { $0.hasPrefix("Error:") }.count == 1 && lines.last?.hasPrefix("Error:") == true, "\(context): \(r.stderr)")
        return lines.last.map(String.init) ?? ""
    }

    /// A small corpus directory: enough 4 KiB chunks for all three splits.
    func corpus(in dir: URL) throws -> URL {
        let corpus = dir.appendingPathComponent("corpus")
        try FileManager.default.createDirectory(at: corpus, withIntermediateDirectories: true)
        var text = ""
        for i in 0..<4000 { text += "Line \(i): when \(i % 7) stars and \(i % 11) moons align, the \(i % 5 == 0 ? "king" : "fool") speaks.\n" }
        try text.write(to: corpus.appendingPathComponent("a.txt"), atomically: true, encoding: .utf8)
        return corpus
    }

    // MARK: 1. Non-finite weights

    @Test func evalAndTrainRefuseNonFiniteWeightsUpFront() throws {
        let f = try PruneCLITests.fixture()
        defer { try? FileManager.default.removeItem(at: f.dir) }
        var loaded = try Checkpoint.load(from: f.model)
        let q = ParameterLayout(loaded.config)["model.layers.0.self_attn.q_proj.weight"]!
        loaded.parameters[q.offset + 3] = .nan
        try Checkpoint.save(config: loaded.config, parameters: loaded.parameters, to: f.model)
        let expected = "\(f.model.path)/model.safetensors: non-finite weights in tensor model.layers.0.self_attn.q_proj.weight (first at index 3)"

        let ev = try CLI.run(["eval", "--model", f.model.path, "--text", f.text.path, "--seq", "32", "--threads", "1"])
        #expect(oneErrorLine(ev, "eval").hasSuffix(expected), "\(ev.stderr)")
        #expect(!ev.stdout.contains("loss"), "no loss is printed: \(ev.stdout)")

        let corpus = try corpus(in: f.dir), out = f.dir.appendingPathComponent("trained")
        let tr = try CLI.run(["train", "--model", f.model.path, "--out", out.path, "--tokens", "1024", "--batch", "2", "--seq", "32",
                              "--corpus", corpus.path, "--cache", f.dir.appendingPathComponent("cache").path, "--threads", "1"])
        #expect(oneErrorLine(tr, "train").hasSuffix(expected), "\(tr.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out.path))
    }

    /// config.json describing a 10^12-parameter model: refused from config.json, before the
    /// weights are looked at.
    @Test func aTrillionParameterConfigIsRefused() throws {
        let f = try PruneCLITests.fixture()
        defer { try? FileManager.default.removeItem(at: f.dir) }
        let url = f.model.appendingPathComponent("config.json")
        var json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        json["hidden_size"] = 16384; json["num_attention_heads"] = 128; json["num_key_value_heads"] = 8; json["head_dim"] = 128
        json["intermediate_size"] = 53248; json["num_hidden_layers"] = 320; json["vocab_size"] = 128256
        try JSONSerialization.data(withJSONObject: json).write(to: url)
        let r = try CLI.run(["eval", "--model", f.model.path, "--text", f.text.path])
        let line = oneErrorLine(r, "eval")
        #expect(line.contains("\(url.path): a model of 1.02e+12 parameters") && line.contains("more than this machine's"), "\(line)")
    }

    /// Batch and length flags are sized against the machine too, instead of crashing in an
    /// allocation.
    @Test func hugeFlagsAreOneLine() throws {
        let f = try PruneCLITests.fixture()
        defer { try? FileManager.default.removeItem(at: f.dir) }
        let ev = try CLI.run(["eval", "--model", f.model.path, "--text", f.text.path, "--seq", "64", "--batch", "1000000000000"])
        #expect(oneErrorLine(ev, "eval").hasPrefix("Error: --batch: a batch of 1000000000000 windows of 64 tokens needs "), "\(ev.stderr)")
        let gen = try CLI.run(["generate", "--model", f.model.path, "--tokens", "9223372036854775807"])
        #expect(oneErrorLine(gen, "generate").hasPrefix("Error: --tokens: sampling 9223372036854775807 tokens needs "), "\(gen.stderr)")
        let pr = try PruneCLITests().prune(f, ["--structure", "width", "--rate", "0.2", "--method", "wanda", "--calibration-windows", "1000000000000"])
        #expect(oneErrorLine(pr, "prune").contains("calibration on 1000000000000 windows of 32 tokens"), "\(pr.stderr)")
        try assertNothingWritten(in: f.dir)
    }

    // MARK: 2. and 3. The ladder

    func spec(_ dir: URL, output: String, hidden: Int = 16, extra: String = "") throws -> URL {
        let url = dir.appendingPathComponent("ladder.yaml")
        try """
            output: \(output)
            seq_len: 32
            batch: 4
            eval_tokens: 256
            eval_points: 2
            sizes:
              - name: t
                hidden: \(hidden)
                layers: 1
                heads: 2
                mlp_hidden: 32
            \(extra)
            """.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    /// The issue's two crashes in `pretrain --dry-run` (SIGILL, SIGSEGV) are one line at the size.
    @Test(arguments: [("800000000000", "2"), ("64", "9223372036854775807")])
    func hugeLadderSizesAreOneLine(hidden: String, layers: String) throws {
        let dir = try Fixture.tempDir("cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = try spec(dir, output: dir.appendingPathComponent("out").path,
                           extra: "  - name: big\n    hidden: \(hidden)\n    layers: \(layers)\n    heads: 4\n    mlp_hidden: 8")
        let r = try CLI.run(["pretrain", "--config", url.path, "--dry-run"])
        let error = oneErrorLine(r, "hidden \(hidden), layers \(layers)")
        #expect(error.contains("\(url.path):12: size 'big': training") && error.contains("more than this machine's"), "\(error)")
    }

    @Test(arguments: ["../../x", "a/b"])
    func sizeNamesCannotLeaveTheOutputFolder(name: String) throws {
        let dir = try Fixture.tempDir("cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = try spec(dir, output: dir.appendingPathComponent("nested/out").path).path
        var text = try String(contentsOfFile: url, encoding: .utf8)
        text = text.replacingOccurrences(of: "name: t", with: "name: '\(name)'")
        try text.write(toFile: url, atomically: true, encoding: .utf8)
        let r = try CLI.run(["pretrain", "--config", url, "--tokens", "256"])
        #expect(oneErrorLine(r, name).hasSuffix("\(url):7: size name '\(name)' must be a plain name: letters, digits, '_' and '-', starting with a letter or digit"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["ladder.yaml"])
    }

    /// The issue's reproduction: train a size, change its `hidden` in the spec, pretrain again.
    @Test func pretrainRefusesAFolderHoldingAnotherArchitecture() throws {
        let dir = try Fixture.tempDir("cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out")
        let corpus = try corpus(in: dir), cache = dir.appendingPathComponent("cache")
        let common = ["--tokens", "1024", "--corpus", corpus.path, "--cache", cache.path, "--threads", "1"]
        let first = try CLI.run(["pretrain", "--config", try spec(dir, output: out.path).path] + common)
        #expect(first.status == 0, "\(first.stderr)")
        let trained = try Data(contentsOf: out.appendingPathComponent("t/model.safetensors"))
        let table = try String(contentsOf: out.appendingPathComponent("eval-loss.csv"), encoding: .utf8)

        let narrower = try spec(dir, output: out.path, hidden: 32)
        let again = try CLI.run(["pretrain", "--config", narrower.path] + common)
        let line = oneErrorLine(again, "pretrain")
        #expect(line.hasSuffix("size 't': \(out.path)/t holds a different run (saved → spec: hidden 16 → 32, head width 8 → 16); set another 'output' in \(narrower.path) or remove \(out.path)/t yourself"), "\(line)")
        // --force does not overwrite another model either; nothing was touched.
        let forced = try CLI.run(["pretrain", "--config", narrower.path, "--force"] + common)
        #expect(oneErrorLine(forced, "pretrain --force").contains("holds a different run"))
        #expect(try Data(contentsOf: out.appendingPathComponent("t/model.safetensors")) == trained)
        #expect(try String(contentsOf: out.appendingPathComponent("eval-loss.csv"), encoding: .utf8) == table)

        // The table does not list the old model's loss under the new shape.
        let dry = try CLI.run(["pretrain", "--config", narrower.path, "--dry-run", "--format", "json"])
        #expect(dry.status == 0, "\(dry.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(dry.stdout.utf8)) as? [String: Any])
        let row = try #require((json["sizes"] as? [[String: Any]])?.first)
        #expect(row["loss"] == nil && row["saved_run_differs"] as? String == "hidden 16 → 32, head width 8 → 16", "\(row)")

        // The spec it was trained with still finds it trained.
        let same = try CLI.run(["pretrain", "--config", try spec(dir, output: out.path).path] + common)
        #expect(same.status == 0 && same.stderr.contains("already trained"), "\(same.stderr)")
    }

    // MARK: 4. Unreachable pruning rates

    func assertNothingWritten(in dir: URL) throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(!names.contains { $0 == "pruned" || $0.hasPrefix(".pruned") }, "left behind: \(names)")
    }

    @Test(arguments: ["magnitude", "wanda", "bonsai"])
    func anUnreachableWidthRateFailsAndWritesNothing(method: String) throws {
        let f = try PruneCLITests.fixture()
        defer { try? FileManager.default.removeItem(at: f.dir) }
        let r = try PruneCLITests().prune(f, ["--structure", "width", "--rate", "0.99", "--method", method])
        let line = oneErrorLine(r, method)
        #expect(line.contains("width rate 0.990 asked, at most 0.761 reachable") && line.hasSuffix("width keeps at least one head per KV group and one neuron per block"), "\(line)")
        try assertNothingWritten(in: f.dir)
    }

    @Test func anUnreachableDepthRateFailsAndWritesNothing() throws {
        let dir = try Fixture.tempDir("cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let c = LlamaConfig.uniform(vocabSize: 256, hidden: 32, layers: 2, heads: 4, kvHeads: 2, mlpHidden: 64, maxSequence: 64)
        let model = dir.appendingPathComponent("base")
        try Checkpoint.save(config: c, parameters: try LlamaModel(config: c, seed: 3, initStd: 0.1, threads: 1).params.array, to: model)
        let text = dir.appendingPathComponent("calib.txt")
        try String(repeating: "To be, or not to be, that is the question. ", count: 40).write(to: text, atomically: true, encoding: .utf8)
        let f = (dir: dir, model: model, text: text)
        let r = try PruneCLITests().prune(f, ["--structure", "depth", "--rate", "0.9", "--method", "block-influence"])
        #expect(oneErrorLine(r, "depth").hasSuffix("depth rate 0.900 asked, 0.499 reached: depth keeps at least one block, and 0.499 is the most 2 blocks allow"), "\(r.stderr)")
        try assertNothingWritten(in: dir)
        // Within one block of the rate: fine, as in the README's table.
        let ok = try PruneCLITests().prune(f, ["--structure", "depth", "--rate", "0.35", "--method", "block-influence"])
        #expect(ok.status == 0, "\(ok.stderr)")
    }
}
