import Foundation
import OpenBLASRuntime
import Model
import ScalingLaw
import LossRecords
import Tensor
import TestSupport
import Testing
@testable import Training
@testable import TextData

/// Tiny models on pseudo-random byte streams: fast, and every number is reproducible on one thread.
enum TrainFixture {
    static let config = LlamaConfig.uniform(vocabSize: 256, hidden: 16, layers: 2, heads: 2, kvHeads: 1, mlpHidden: 32, maxSequence: 64)

    static func tokenFile(_ tokens: [UInt16], in dir: URL, name: String) throws -> TokenFile {
        let url = dir.appendingPathComponent(name)
        try tokens.map(\.littleEndian).withUnsafeBytes { Data($0) }.write(to: url)
        return try TokenFile(url: url)
    }

    /// A stream with some structure (a repeating phrase with noise) so training lowers the loss.
    static func stream(_ n: Int, seed: UInt64) -> [UInt16] {
        let phrase = Array("to be or not to be, that is the question. ".utf8)
        let noise = Fixture.bytes(n, seed: seed)
        return (0..<n).map { i in UInt16(noise[i] % 7 == 0 ? noise[i] : phrase[i % phrase.count]) }
    }

    static func settings() -> TrainingSettings {
        var s = TrainingSettings(tokens: 8 * 4 * 16 * 2)  // 8 steps
        s.batchSize = 4
        s.sequenceLength = 16
        s.accumulate = 2
        s.learningRate = 1e-2
        s.warmupSteps = 2
        s.clip = 0.5
        s.weightDecay = 0.1
        s.seed = 5
        s.evalPoints = 3
        s.evalTokens = 128
        return s
    }

    static func bits(_ b: FloatBuffer) -> [UInt32] { b.array.map(\.bitPattern) }

    /// Entries whose bits differ (a count keeps failure messages short).
    static func differing(_ a: [UInt32], _ b: [UInt32]) -> Int {
        a.count == b.count ? zip(a, b).filter { $0 != $1 }.count : max(a.count, b.count)
    }
}

@Suite(.serialized) struct TrainerTests {
    init() { BLAS.threads = 1 }

    @Test func resumeIsBitIdenticalToAnUnbrokenRun() throws {
        let root = try Fixture.tempDir("train")
        defer { try? FileManager.default.removeItem(at: root) }
        let train = try TrainFixture.tokenFile(TrainFixture.stream(6000, seed: 1), in: root, name: "train.u16")
        let eval = try TrainFixture.tokenFile(TrainFixture.stream(1000, seed: 2), in: root, name: "eval.u16")
        let s = TrainFixture.settings()
        #expect(s.totalSteps == 8)

        let straightModel = try LlamaModel(config: TrainFixture.config, seed: 3, threads: 1)
        let initial = TrainFixture.bits(straightModel.params)
        let straight = try Trainer(model: straightModel, settings: s, train: train, eval: eval, run: "r")
        try straight.run()

        let dir = root.appendingPathComponent("ckpt")
        let first = try Trainer(model: try LlamaModel(config: TrainFixture.config, seed: 3, threads: 1), settings: s, train: train, eval: eval, run: "r")
        try first.run(stopAt: 4, checkpoint: dir)
        #expect(first.state.step == 4 && !first.state.finished)
        let halfway = TrainFixture.bits(first.model.params)
        for f in ["config.json", "model.safetensors", Trainer.optimizerFileName, Trainer.stateFileName] {
            #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent(f).path), "missing \(f)")
        }

        let resumed = try Trainer.resume(from: dir, train: train, eval: eval, threads: 1)
        #expect(resumed.state.step == 4 && resumed.optimizer.stepCount == 4)
        try resumed.run()

        // Training moved the weights, and the halfway point differs from the end: the comparison has teeth.
        let end = TrainFixture.bits(straight.model.params)
        #expect(TrainFixture.differing(end, initial) > 0)
        #expect(TrainFixture.differing(end, halfway) > 0)
        #expect(TrainFixture.differing(TrainFixture.bits(resumed.model.params), end) == 0)
        #expect(TrainFixture.differing(TrainFixture.bits(resumed.optimizer.m), TrainFixture.bits(straight.optimizer.m)) == 0)
        #expect(TrainFixture.differing(TrainFixture.bits(resumed.optimizer.v), TrainFixture.bits(straight.optimizer.v)) == 0)
        #expect(resumed.state.records == straight.state.records)
        #expect(resumed.state.tokens == straight.state.tokens)
    }

    @Test func resumeRefusesMismatchedFiles() throws {
        let root = try Fixture.tempDir("train")
        defer { try? FileManager.default.removeItem(at: root) }
        let train = try TrainFixture.tokenFile(TrainFixture.stream(3000, seed: 1), in: root, name: "train.u16")
        let dir = root.appendingPathComponent("ckpt")
        let t = try Trainer(model: try LlamaModel(config: TrainFixture.config, seed: 3, threads: 1), settings: TrainFixture.settings(),
                            train: train, eval: nil, run: "r")
        try t.run(stopAt: 2, checkpoint: dir)
        let keep = try Data(contentsOf: dir.appendingPathComponent(Trainer.optimizerFileName))
        try t.run(stopAt: 3, checkpoint: dir)
        try keep.write(to: dir.appendingPathComponent(Trainer.optimizerFileName))  // an optimizer file from step 2
        #expect(throws: TrainingError.self) { try Trainer.resume(from: dir, train: train, eval: nil, threads: 1) }
    }

    @Test func recordsFollowThePlannerSchema() throws {
        let root = try Fixture.tempDir("train")
        defer { try? FileManager.default.removeItem(at: root) }
        let train = try TrainFixture.tokenFile(TrainFixture.stream(6000, seed: 1), in: root, name: "train.u16")
        let eval = try TrainFixture.tokenFile(TrainFixture.stream(1000, seed: 2), in: root, name: "eval.u16")
        var s = TrainFixture.settings()
        s.evalPoints = 4
        let model = try LlamaModel(config: TrainFixture.config, seed: 3, threads: 1)
        let t = try Trainer(model: model, settings: s, train: train, eval: eval, run: "tiny", labels: ["stage": "test"])
        try t.run()

        let csv = Trainer.recordsCSV(t.lossRecords())
        let url = root.appendingPathComponent("records.csv")
        try csv.write(to: url, atomically: true, encoding: .utf8)
        let set = try RecordReader.read(path: url.path)
        #expect(set.records.count == s.evalSteps.count && set.records.count >= 3)
        let tokens = set.records.compactMap(\.tokens)
        #expect(tokens.count == set.records.count)
        #expect(zip(tokens, tokens.dropFirst()).allSatisfy { $0 < $1 }, "tokens must increase: \(tokens)")
        #expect(tokens.last == Double(s.totalSteps * s.tokensPerStep))
        let n0 = Double(ParameterCounts(TrainFixture.config).nonEmbedding)
        for r in set.records {
            #expect(r.run == "tiny" && r.n0 == n0 && r.labels["stage"] == "test")
            #expect(r.n! <= n0 && r.n! > 0.99 * n0)
            #expect(abs(r.rho! - (1 - r.n! / n0)) < 1e-12)
            #expect(r.loss0 == t.state.initialEval!.loss)  // no metadata: loss0 is the starting eval
        }
        #expect(set.variables.isSuperset(of: [.n0, .n, .rho, .loss0, .tokens]))
        // The structured stream is learnable: the last eval beats the starting one.
        #expect(set.records.last!.loss < t.state.initialEval!.loss)
    }

    @Test func givenN0AndLoss0AreUsed() throws {
        let root = try Fixture.tempDir("train")
        defer { try? FileManager.default.removeItem(at: root) }
        let train = try TrainFixture.tokenFile(TrainFixture.stream(3000, seed: 1), in: root, name: "train.u16")
        let eval = try TrainFixture.tokenFile(TrainFixture.stream(500, seed: 2), in: root, name: "eval.u16")
        var s = TrainFixture.settings()
        s.tokens = s.tokensPerStep * 2
        s.evalAt = [s.tokensPerStep]
        let t = try Trainer(model: try LlamaModel(config: TrainFixture.config, seed: 3, threads: 1), settings: s, train: train, eval: eval,
                            run: "p", n0: 123_456, loss0: 2.5)
        try t.run()
        let records = t.lossRecords()
        #expect(records.map(\.tokens) == [Double(s.tokensPerStep), Double(2 * s.tokensPerStep)])
        #expect(records.allSatisfy { $0.n0 == 123_456 && $0.loss0 == 2.5 && $0.rho! > 0.9 })
    }

    @Test func defaultEvalPointsAreLogSpacedSteps() {
        var s = TrainingSettings(tokens: 4096 * 1000)
        s.batchSize = 16
        s.sequenceLength = 256
        let steps = s.evalSteps
        #expect(s.totalSteps == 1000)
        #expect(steps.first == 1 && steps.last == 1000 && steps.count == 12)
        #expect(zip(steps, steps.dropFirst()).allSatisfy { $0 < $1 })
        s.evalAt = [100_000, 1_000_000]
        #expect(s.evalSteps == [25, 245, 1000])  // rounded up to whole steps, plus the end
    }

    @Test func schedulesFollowTheSettings() {
        var s = TrainingSettings(tokens: 4096 * 100)
        s.warmupSteps = 10
        s.learningRate = 1e-3
        #expect(s.lrSchedule.learningRate(at: 0) == 1e-4)
        #expect(abs(s.lrSchedule.learningRate(at: 99) - 1e-4) < 1e-12)  // cosine ends at min_lr_fraction
        s.schedule = .wsd
        #expect(s.lrSchedule.learningRate(at: 50) == 1e-3)  // stable phase
        #expect(abs(s.lrSchedule.learningRate(at: 99) - 1e-4) < 1e-12)
        s.schedule = .constant
        #expect(s.lrSchedule.learningRate(at: 0) == 1e-3)
    }
}

@Suite(.serialized) struct EvalAndGenerateTests {
    init() { BLAS.threads = 1 }

    @Test func lossAtInitialisationIsLnVocab() throws {
        let root = try Fixture.tempDir("eval")
        defer { try? FileManager.default.removeItem(at: root) }
        let text = root.appendingPathComponent("sample.txt")
        try Data(Array(String(repeating: "It is a truth universally acknowledged. ", count: 40).utf8)).write(to: text)
        let model = try LlamaModel(config: TrainFixture.config, seed: 9, threads: 1)
        let bytes = try [UInt8](Data(contentsOf: text))
        let r = try Evaluator.evaluate(model, tokens: ByteTokenizer().encode(bytes), sequenceLength: 32, batchSize: 4)
        #expect(abs(r.loss - Foundation.log(256)) < 0.05, "loss \(r.loss)")
        #expect(abs(r.perplexity - Foundation.exp(r.loss)) < 1e-9)
        #expect(r.tokens == (bytes.count - 1) / 32 * 32 && r.windows == (bytes.count - 1) / 32)
        let capped = try Evaluator.evaluate(model, tokens: ByteTokenizer().encode(bytes), sequenceLength: 32, batchSize: 4, maxTokens: 100)
        #expect(capped.tokens == 96)
        // A text shorter than one window is scored as one shorter window.
        let short = try Evaluator.evaluate(model, tokens: ByteTokenizer().encode("hello"), sequenceLength: 32, batchSize: 4)
        #expect(short.tokens == 4 && short.sequenceLength == 4)
    }

    /// A capped score samples windows spread over the whole text (a mixed corpus's split holds
    /// its corpora one after another), each window the same as when scored alone.
    @Test func aCappedEvaluationSpreadsItsWindows() throws {
        let model = try LlamaModel(config: TrainFixture.config, seed: 9, threads: 1)
        let tokens = TrainFixture.stream(32 * 20 + 1, seed: 6)
        let capped = try Evaluator.evaluate(model, tokens: tokens, sequenceLength: 32, batchSize: 3, maxTokens: 32 * 7)
        #expect(capped.windows == 7)
        var sum = 0.0
        for k in 0..<7 {
            let start = (k * 20 / 7) * 32
            sum += try Evaluator.evaluate(model, tokens: Array(tokens[start...(start + 32)]), sequenceLength: 32, batchSize: 1).loss
        }
        #expect(abs(capped.loss - sum / 7) < 1e-6, "\(capped.loss) vs \(sum / 7)")
    }

    @Test func evaluationScoresTheSequentialBatchesWindows() throws {
        let root = try Fixture.tempDir("eval")
        defer { try? FileManager.default.removeItem(at: root) }
        let file = try TrainFixture.tokenFile(TrainFixture.stream(777, seed: 4), in: root, name: "eval.u16")
        let model = try LlamaModel(config: TrainFixture.config, seed: 9, threads: 1)
        let seq = try SequentialBatches(tokens: file, batchSize: 3, sequenceLength: 16)
        var sum = 0.0
        for b in seq {
            model.forward(tokens: b.inputs, targets: b.targets, batch: b.batchSize, seqLen: 16)
            for l in model.positionLosses { sum += Double(l) }
        }
        let r = try Evaluator.evaluate(model, file: file, sequenceLength: 16, batchSize: 3)
        #expect(r.tokens == seq.predictedTokens)
        #expect(r.loss == sum / Double(seq.predictedTokens))
        // Another batch size regroups the rows (BLAS rounding may move the last digits only).
        let other = try Evaluator.evaluate(model, file: file, sequenceLength: 16, batchSize: 5)
        #expect(other.tokens == r.tokens && abs(other.loss - r.loss) < 1e-6)
    }

    @Test func generationIsSeededAndCounted() throws {
        let model = try LlamaModel(config: TrainFixture.config, seed: 9, threads: 1)
        let prompt = ByteTokenizer().encode("ROMEO:")
        let opts = SamplingOptions(temperature: 1.0, topK: 50, seed: 3)
        let a = try Generator.generate(model, prompt: prompt, count: 25, options: opts)
        let b = try Generator.generate(model, prompt: prompt, count: 25, options: opts)
        var other = opts
        other.seed = 4
        let c = try Generator.generate(model, prompt: prompt, count: 25, options: other)
        #expect(a.count == 25 && a == b)
        #expect(a != c)
        #expect(try Generator.generate(model, prompt: prompt, count: 0, options: opts).isEmpty)
        // Greedy: the argmax every time, whatever the seed.
        let g1 = try Generator.generate(model, prompt: prompt, count: 10, options: SamplingOptions(temperature: 0, seed: 1))
        let g2 = try Generator.generate(model, prompt: prompt, count: 10, options: SamplingOptions(temperature: 0, seed: 2))
        #expect(g1 == g2)
        // top-k 1 is greedy too.
        #expect(try Generator.generate(model, prompt: prompt, count: 10, options: SamplingOptions(temperature: 1, topK: 1, seed: 7)) == g1)
        // A window shorter than the text: only the latest tokens are fed.
        let w = try Generator.generate(model, prompt: prompt, count: 12, options: SamplingOptions(temperature: 1, seed: 3, context: 4))
        #expect(w.count == 12)
    }
}

@Suite struct ProgressTests {
    let snapshot = ProgressSnapshot(label: "xs", step: 120, totalSteps: 400, tokens: 491_520, totalTokens: 1_638_400, loss: 2.34567,
                                    learningRate: 1.2e-3, tokensPerSecond: 12_345, eta: 83)

    @Test func plainLines() {
        var out: [String] = []
        let p = ProgressReporter(mode: .lines, interval: 1000) { out.append($0) }
        p.update(snapshot, force: true)
        p.update(snapshot)  // throttled: within the interval
        p.message("eval at 491520 tokens: loss 2.1")
        p.finish()
        #expect(out == ["xs step 120/400 (30.0%) tokens 492k/1.64M loss 2.3457 lr 1.20e-03 12.3k tok/s ETA 1m23s\n",
                        "eval at 491520 tokens: loss 2.1\n"])
        #expect(!out.joined().contains("\r"))
    }

    @Test func liveBarRedrawsInPlace() {
        var out: [String] = []
        let p = ProgressReporter(mode: .live) { out.append($0) }
        p.update(snapshot, force: true)
        p.message("saved")
        p.update(snapshot, force: true)
        p.finish()
        #expect(out[0].hasPrefix("\r\u{1B}[2Kxs [#######.................] step 120/400"))
        #expect(out[1] == "\r\u{1B}[2Ksaved\n")
        #expect(out.last == "\n")
    }

    @Test func numbersAndDurations() {
        #expect(ProgressReporter.count(999) == "999")
        #expect(ProgressReporter.count(45_678) == "45.7k")
        #expect(ProgressReporter.count(3_210_000_000) == "3.21G")
        #expect(ProgressReporter.duration(45) == "45s")
        #expect(ProgressReporter.duration(187) == "3m07s")
        #expect(ProgressReporter.duration(7500) == "2h05m")
    }
}
