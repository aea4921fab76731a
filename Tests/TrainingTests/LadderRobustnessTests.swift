import Foundation
import Model
import Testing
@testable import Training

/// Ladder specs and training settings are checked in full before anything is built (issue 8):
/// size names stay inside the output folder, every count is sized against the machine in
/// overflow-free arithmetic, and a folder holding another model's run is named, never reused.
@Suite struct LadderRobustnessTests {
    /// `LadderSpecTests.good` with line `line` (1-based) replaced.
    func spec(replacing line: Int, with text: String) -> String {
        var lines = LadderSpecTests.good.components(separatedBy: "\n")
        lines[line - 1] = text
        return lines.joined(separator: "\n")
    }

    func error(_ text: String) -> String? {
        do { _ = try LadderSpec.parse(text, file: "ladder.yaml"); return nil } catch { return "\(error)" }
    }

    @Test(arguments: ["../../x", "a/b", ".hidden", "/abs", "x y", "-a", "ok\\n", "a.b"])
    func sizeNamesArePlain(name: String) {
        #expect(error(spec(replacing: 6, with: "  - name: '\(name)'")) == "ladder.yaml:6: size name '\(name)' must be a plain name: letters, digits, '_' and '-', starting with a letter or digit")
    }

    /// The two crashes of the issue (SIGILL: an Int product trapping; SIGSEGV: an array of 2^63
    /// blocks) and their relatives: one line at the size, saying what the machine cannot hold.
    @Test(arguments: [(7, "    hidden: 800000000000"), (8, "    layers: 9223372036854775807"),
                      (11, "    mlp_hidden: 4611686018427387904"), (3, "seq_len: 9223372036854775807"),
                      (5, "sizes:\n  - name: z\n    hidden: 64\n    layers: 1\n    heads: 4\n    mlp_hidden: 8\n    batch: 9223372036854775807")])
    func hugeCountsAreRefusedAtTheSize(line: Int, text: String) {
        let message = error(spec(replacing: line, with: text))
        #expect(message?.contains("more than this machine's") == true, "\(message ?? "parsed")")
        #expect(message?.hasPrefix("ladder.yaml:") == true && message?.contains("\n") == false, "\(message ?? "parsed")")
        #expect(message?.contains("size '") == true, "\(message ?? "parsed")")
    }

    @Test(arguments: [
        (3, "seq_len: 0", "ladder.yaml:3: 'seq_len' must be at least 1, got 0"),
        (3, "warmup: -1", "ladder.yaml:3: 'warmup' must be ≥ 0, got -1"),
        (3, "eval_points: 1000000000000", "ladder.yaml:3: 'eval_points' must be at most 10000, got 1000000000000"),
        (3, "save_every: -5", "ladder.yaml:3: 'save_every' must be ≥ 0, got -5"),
        (3, "accumulate: 0", "ladder.yaml:3: 'accumulate' must be at least 1, got 0"),
        (3, "eval_tokens: -1", "ladder.yaml:3: 'eval_tokens' must be ≥ 0, got -1"),
    ])
    func countsAreCheckedAtTheirLine(line: Int, text: String, expected: String) {
        #expect(error(spec(replacing: line, with: text)) == expected)
    }

    @Test func aBudgetBeyondTheLimitIsNamed() {
        let message = error(spec(replacing: 2, with: "tokens_per_param: 1e300"))
        #expect(message?.hasPrefix("ladder.yaml:2: size 'a': a budget of 1.86e+304 tokens (tokens_per_param 1e+300") == true, "\(message ?? "parsed")")
    }

    @Test func trainingSettingsAreCheckedWithoutOverflow() throws {
        var s = TrainingSettings(tokens: 1000)
        s.batchSize = Int.max
        #expect(throws: TrainingError.self) { try s.validate() }
        s = TrainingSettings(tokens: TrainingSettings.maxTokens + 1)
        #expect((try? s.validate()) == nil)
        s = TrainingSettings(tokens: 1000)
        s.weightDecay = .infinity
        #expect((try? s.validate()) == nil)
        s = TrainingSettings(tokens: 1000)
        s.evalPoints = 10_001
        #expect((try? s.validate()) == nil)
        // A point far beyond the budget lands on the last step instead of trapping in Int(_:).
        s = TrainingSettings(tokens: 1000)
        s.batchSize = 1; s.sequenceLength = 1
        s.evalAt = [Int.max, 10]
        try s.validate()
        #expect(s.evalSteps == [10, 1000])
    }

    // MARK: The run saved in a size's folder

    /// A folder holding `config` and a trainer state with `settings`, as `pretrain` leaves it.
    func savedRun(_ config: LlamaConfig, _ settings: TrainingSettings, initStd: Double? = 0.02) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("prunescale-ladder-\(UUID().uuidString)/a")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Checkpoint.save(config: config, parameters: [Float](repeating: 0.01, count: ParameterLayout(config).totalCount), to: dir,
                            metadata: initStd.map { [LadderSize.initStdKey: String($0)] } ?? [:])
        let state = TrainerState(run: "a", settings: settings, schedule: settings.lrSchedule, step: settings.totalSteps, tokens: settings.tokens, n0: 1)
        try JSONEncoder().encode(state).write(to: dir.appendingPathComponent(Trainer.stateFileName))
        return dir
    }

    @Test func aFolderHoldingAnotherModelIsRefusedNotReused() throws {
        let size = try LadderSpec.parse(LadderSpecTests.good, file: "ladder.yaml").sizes[0]  // hidden 32
        var wider = size.config
        wider.hidden = 64
        wider.headDim = 16
        let dir = try savedRun(wider, size.settings)
        defer { try? FileManager.default.removeItem(at: dir.deletingLastPathComponent()) }
        #expect(try size.differences(fromRunIn: dir) == ["hidden 64 → 32", "head width 16 → 8"])
        do {
            try size.requireSavedRunMatches(in: dir, specFile: "ladder.yaml")
            Issue.record("accepted a folder holding another model")
        } catch let e as TrainingError {
            #expect(e.message == "size 'a': \(dir.path) holds a different run (saved → spec: hidden 64 → 32, head width 16 → 8); set another 'output' in ladder.yaml or remove \(dir.path) yourself")
        }
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("model.safetensors").path), "nothing is deleted")
    }

    @Test func settingsThatDecideTheWeightsAreCompared() throws {
        let size = try LadderSpec.parse(LadderSpecTests.good, file: "ladder.yaml").sizes[0]
        var other = size.settings
        other.seed = 3
        other.tokens += 1
        other.learningRate = 1e-2
        let dir = try savedRun(size.config, other, initStd: 0.05)
        defer { try? FileManager.default.removeItem(at: dir.deletingLastPathComponent()) }
        #expect(try size.differences(fromRunIn: dir) == ["init_std 0.05 → 0.02", "budget (tokens) \(other.tokens) → \(size.settings.tokens)",
                                                        "lr 0.01 → 0.003", "seed 3 → 0"])
        #expect(try size.differences(fromRunIn: dir, budget: other.tokens).count == 3)
        #expect(try size.differences(fromRunIn: dir, ignoringBudget: true).count == 3)
    }

    @Test func theSameRunOrNoRunMatches() throws {
        let size = try LadderSpec.parse(LadderSpecTests.good, file: "ladder.yaml").sizes[0]
        var evalOnly = size.settings
        evalOnly.evalPoints = 3
        evalOnly.saveEvery = 7
        let dir = try savedRun(size.config, evalOnly, initStd: nil)
        defer { try? FileManager.default.removeItem(at: dir.deletingLastPathComponent()) }
        try size.requireSavedRunMatches(in: dir, specFile: "ladder.yaml")
        try size.requireSavedRunMatches(in: dir.deletingLastPathComponent().appendingPathComponent("absent"), specFile: "ladder.yaml")
    }
}
