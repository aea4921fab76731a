import Foundation
import TestSupport
import Testing

/// `--model smollm2` (a real pretrained GGUF, fetched into the user's cache on first use) through
/// the binary: its tokenizer, a greedy continuation, an evaluation; and `--model` mistakes.
@Suite(.serialized) struct PretrainedModelCLITests {
    @Test func smolLM2TokenizesContinuesAndScores() throws {
        // The ids of the file's own token list for these words (what GGUFSmolLM2Tests feeds).
        let tokens = try CLI.run(["tokenize", "--model", "smollm2", "--prompt", "The capital of France is", "--format", "json"])
        #expect(tokens.status == 0, "\(tokens.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(tokens.stdout.utf8)) as? [String: Any])
        #expect(json["ids"] as? [Int] == [504, 3575, 282, 4649, 314] && json["count"] as? Int == 5, "\(tokens.stdout)")

        let gen = try CLI.run(["generate", "--model", "smollm2", "--prompt", "The capital of France is", "--tokens", "2", "--temperature", "0",
                               "--format", "json"])
        #expect(gen.status == 0, "\(gen.stderr)")
        let text = try #require(try JSONSerialization.jsonObject(with: Data(gen.stdout.utf8)) as? [String: Any])["text"] as? String
        #expect(text?.hasPrefix(" Paris") == true, "\(gen.stdout)")

        // English prose scores far better than the uniform 10.8 nats of 49,152 tokens, and the
        // count of scored tokens is the tokenizer's count less the first (it has no context).
        let dir = try Fixture.tempDir("cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("prose.txt")
        let prose = String(repeating: "The quick brown fox jumps over the lazy dog. It was a bright cold day in April, and the clocks were striking thirteen. ", count: 4)
        try prose.write(to: file, atomically: true, encoding: .utf8)
        let count = try CLI.run(["tokenize", "--model", "smollm2", "--text", file.path, "--format", "json"])
        let n = try #require((try JSONSerialization.jsonObject(with: Data(count.stdout.utf8)) as? [String: Any])?["count"] as? Int)
        let eval = try CLI.run(["eval", "--model", "smollm2", "--text", file.path, "--seq", "512", "--format", "json"])
        #expect(eval.status == 0, "\(eval.stderr)")
        let e = try #require(try JSONSerialization.jsonObject(with: Data(eval.stdout.utf8)) as? [String: Any])
        #expect(e["tokens"] as? Int == n - 1, "\(eval.stdout) vs \(n) tokens")
        let loss = try #require(e["loss"] as? Double)
        #expect(loss > 0 && loss < 3, "\(loss)")
    }

    /// SmolLM2 pruned (2:4 magnitude) and post-trained a few steps on a small text corpus: each
    /// folder is float32 safetensors with the model's tokenizer.json, and reopens with the same
    /// tokenizer (the same ids for a prompt) and a working forward.
    @Test func smolLM2PrunedAndPostTrainedKeepsItsTokenizer() throws {
        let dir = try Fixture.tempDir("cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let corpus = dir.appendingPathComponent("corpus")
        var text = ""
        for i in 0..<3000 { text += "Line \(i): the river runs to the sea, and the sea is never full; \(i % 7) boats sail at dawn.\n" }
        try FileManager.default.createDirectory(at: corpus, withIntermediateDirectories: true)
        try text.write(to: corpus.appendingPathComponent("a.txt"), atomically: true, encoding: .utf8)
        let pruned = dir.appendingPathComponent("pruned"), trained = dir.appendingPathComponent("trained")
        let prune = try CLI.run(["prune", "--model", "smollm2", "--pattern", "2:4", "--method", "magnitude", "--calibration-windows", "2",
                                 "--seq", "64", "--eval-tokens", "256", "--corpus", corpus.path, "--out", pruned.path])
        #expect(prune.status == 0, "\(prune.stderr)")
        let train = try CLI.run(["train", "--model", pruned.path, "--tokens", "256", "--batch", "2", "--seq", "64", "--eval-tokens", "128",
                                 "--eval-points", "1", "--corpus", corpus.path, "--out", trained.path])
        #expect(train.status == 0, "\(train.stderr)")
        let reference = try CLI.run(["tokenize", "--model", "smollm2", "--prompt", "The capital of France is 42."]).stdout
        for folder in [pruned, trained] {
            #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("tokenizer.json").path), "\(folder.lastPathComponent)")
            let config = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("tokenizer_config.json"))) as? [String: Any]
            #expect(config?["eos_token"] as? String == "<|im_end|>" && config?["bos_token"] as? String == "<|im_start|>", "\(String(describing: config))")
            #expect(try CLI.run(["tokenize", "--model", folder.path, "--prompt", "The capital of France is 42."]).stdout == reference)
            let gen = try CLI.run(["generate", "--model", folder.path, "--prompt", "The capital", "--tokens", "1", "--temperature", "0"])
            #expect(gen.status == 0 && gen.stdout.hasPrefix("The capital"), "\(gen.stderr)")
        }
    }

    @Test func aModelThatIsNotThereIsOneLine() throws {
        let dir = try Fixture.tempDir("cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let notes = dir.appendingPathComponent("notes.txt")
        try "hello".write(to: notes, atomically: true, encoding: .utf8)
        for (model, fragment) in [("smollm3", "smollm3: no such checkpoint folder or .gguf file, and not a known model name (smollm2)"),
                                  (notes.path, "a file, but not a .gguf model")] {
            for command in [["eval", "--text", notes.path], ["generate"], ["tokenize", "--prompt", "x"]] {
                let r = try CLI.run([command[0], "--model", model] + command.dropFirst())
                #expect(r.status != 0 && r.stderr.contains(fragment) && r.stderr.split(separator: "\n").count == 1, "\(command) \(model): \(r.stderr)")
            }
        }
    }
}
