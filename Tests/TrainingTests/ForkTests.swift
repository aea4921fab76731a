import Foundation
import OpenBLASRuntime
import Model
import Tensor
import TestSupport
import Testing
@testable import Training

/// A decay branch forked from a warmup-stable-decay trunk is exactly the run of its own budget:
/// the loss-at-budget protocol rests on this.
@Suite(.serialized) struct ForkTests {
    init() { BLAS.threads = 1 }

    @Test func aForkedBranchEqualsAStandaloneRunOfItsBudget() throws {
        let root = try Fixture.tempDir("fork")
        defer { try? FileManager.default.removeItem(at: root) }
        let train = try TrainFixture.tokenFile(TrainFixture.stream(8000, seed: 1), in: root, name: "train.u16")
        let eval = try TrainFixture.tokenFile(TrainFixture.stream(1000, seed: 2), in: root, name: "eval.u16")
        func wsd(steps: Int) -> TrainingSettings {
            var s = TrainFixture.settings()
            s.tokens = steps * s.tokensPerStep
            s.schedule = .wsd
            s.decayFraction = 0.25
            s.warmupSteps = 2
            s.evalAt = [s.tokens]
            return s
        }
        let long = wsd(steps: 16), short = wsd(steps: 8)
        let forkStep = short.totalSteps - Int((Double(short.totalSteps) * short.decayFraction).rounded())
        #expect(forkStep == 6)

        // Trunk to the fork point, fork, and run the branch from its folder.
        let trunk = try Trainer(model: try LlamaModel(config: TrainFixture.config, seed: 3, threads: 1), settings: long, train: train, eval: eval, run: "t")
        try trunk.run(stopAt: forkStep)
        let branchDir = root.appendingPathComponent("branch")
        try trunk.saveFork(to: branchDir, settings: short, run: "b")
        let branch = try Trainer.resume(from: branchDir, train: train, eval: eval, threads: 1)
        #expect(branch.state.records.isEmpty && branch.state.step == forkStep)
        try branch.run()

        let alone = try Trainer(model: try LlamaModel(config: TrainFixture.config, seed: 3, threads: 1), settings: short, train: train, eval: eval, run: "b")
        try alone.run()
        #expect(TrainFixture.differing(TrainFixture.bits(branch.model.params), TrainFixture.bits(alone.model.params)) == 0)
        #expect(branch.state.records.map(\.loss) == alone.state.records.map(\.loss))
        #expect(branch.state.initialEval == alone.state.initialEval)
        // Every record says how many passes over its training split it had made.
        let last = try #require(alone.state.records.last)
        #expect(last.epochs == Double(last.tokens) / Double(train.count))
        #expect(Trainer.recordsCSV(alone.lossRecords()).split(separator: "\n").first?.contains("epochs") == true)

        // The trunk goes on unchanged by the fork.
        try trunk.run()
        #expect(trunk.state.step == long.totalSteps)
        #expect(throws: TrainingError.self) { try trunk.saveFork(to: root.appendingPathComponent("late"), settings: short, run: "x") }
    }
}
