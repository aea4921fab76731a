import Foundation
import Model
import Persistence
import TestSupport
import Testing
import Training

/// `train` and `pretrain` killed with SIGKILL at random moments: after every kill the output
/// folder is one consistent step (weights, mask, optimizer moments and trainer state agree), the
/// run resumes, and its final weights equal an uninterrupted run's bit for bit (one thread).
@Suite(.serialized) struct CrashResumeTests {
    static let kills = 20

    struct Setup {
        var dir, base, corpus, cache: URL
    }

    /// A small masked checkpoint and a corpus big enough for every split.
    static func setup() throws -> Setup {
        let dir = try Fixture.tempDir("cli")
        let c = LlamaConfig.uniform(vocabSize: 256, hidden: 32, layers: 2, heads: 4, kvHeads: 2, mlpHidden: 64, maxSequence: 32)
        let m = try LlamaModel(config: c, seed: 11, initStd: 0.1, threads: 1)
        // Pin every fourth weight of the first q_proj, so the mask travels through every save.
        var mask = [Float](repeating: 1, count: m.layout.totalCount)
        let q = try #require(m.layout["model.layers.0.self_attn.q_proj.weight"])
        var params = m.params.array
        for k in stride(from: q.offset, to: q.offset + q.count, by: 4) { mask[k] = 0; params[k] = 0 }
        let base = dir.appendingPathComponent("base")
        try Checkpoint.save(config: c, parameters: params, mask: mask, to: base)
        let corpus = dir.appendingPathComponent("corpus")
        var text = ""
        for i in 0..<4000 { text += "Line \(i): when \(i % 7) stars and \(i % 11) moons align, the \(i % 5 == 0 ? "king" : "fool") speaks.\n" }
        try AtomicFile.write(text, to: corpus.appendingPathComponent("a.txt"))
        return Setup(dir: dir, base: base, corpus: corpus, cache: dir.appendingPathComponent("cache"))
    }

    /// Waits up to `seconds` for `p` to end (polling, so a run that ends early costs no more).
    static func wait(_ p: Process, upTo seconds: Double) {
        let deadline = Date().addingTimeInterval(seconds)
        while p.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.005) }
    }

    /// Starts the binary with its output discarded.
    static func start(_ args: [String]) throws -> Process {
        let p = Process()
        p.executableURL = CLI.binary
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// Runs `args` again and again, each time killing it after a random delay below `window`
    /// seconds, until `kills` kills have landed; `check` looks at the folder after every kill.
    /// `args(resume)` gives the command line for a fresh start or a resumption.
    static func killRepeatedly(window: Double, seed: UInt64, args: (Bool) -> [String], hasState: () -> Bool,
                               reset: () throws -> Void, check: () throws -> Void) throws -> Int {
        var state = seed | 1, kills = 0, attempts = 0
        while kills < Self.kills {
            attempts += 1
            try #require(attempts < 20 * Self.kills, "the runs keep finishing before the kill")
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let delay = window * Double(state >> 11) * 0x1.0p-53
            let p = try start(args(hasState()))
            wait(p, upTo: delay)
            if p.isRunning {
                kill(p.processIdentifier, SIGKILL)
                p.waitUntilExit()
                if p.terminationReason == .uncaughtSignal { kills += 1 }
            } else {
                p.waitUntilExit()
            }
            if p.terminationReason == .exit {
                // It finished (or refused): start over so the next kills land in a run again.
                try #require(p.terminationStatus == 0, "an interrupted run could not continue")
                try reset()
                continue
            }
            try check()
        }
        return kills
    }

    /// Every step-stamped file of a training folder names the same step.
    static func expectOneStep(_ dir: URL) throws {
        guard FileManager.default.fileExists(atPath: dir.appendingPathComponent(Trainer.stateFileName).path)
              || DirectoryCommit.isInterrupted(dir) else { return }
        let state = try Trainer.loadState(from: dir)  // finishes an interrupted commit first
        let ckpt = try Checkpoint.load(from: dir)
        let optimizer = try SafeTensors(contentsOf: dir.appendingPathComponent(Trainer.optimizerFileName))
        #expect(ckpt.metadata["prunescale.step"] == "\(state.step)", "weights vs trainer_state.json")
        #expect(optimizer.metadata["prunescale.step"] == "\(state.step)", "optimizer vs trainer_state.json")
        #expect(!DirectoryCommit.isInterrupted(dir))
    }

    /// After the final run, nothing a killed run left behind remains (only the lock file).
    static func expectNoLeftovers(_ dir: URL) {
        let hidden = ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { $0.hasPrefix(".") && $0 != DirectoryLock.fileName }
        #expect(hidden.isEmpty, "\(hidden)")
    }

    static func expectSameFiles(_ a: URL, _ b: URL, _ names: [String]) throws {
        for name in names {
            let x = try Data(contentsOf: a.appendingPathComponent(name)), y = try Data(contentsOf: b.appendingPathComponent(name))
            #expect(x == y, "\(name) differs from the uninterrupted run's")
        }
    }

    @Test func trainKilledAtRandomMomentsResumesBitIdentically() throws {
        let s = try Self.setup()
        defer { try? FileManager.default.removeItem(at: s.dir) }
        func args(_ out: URL, resume: Bool) -> [String] {
            (resume ? ["train", "--resume", "--model", s.base.path] :
                ["train", "--model", s.base.path, "--tokens", "6144", "--batch", "4", "--seq", "32", "--eval-tokens", "256",
                 "--eval-points", "4", "--save-every", "2", "--run", "crash"])
                + ["--out", out.path, "--corpus", s.corpus.path, "--cache", s.cache.path, "--threads", "1"]
        }
        let reference = s.dir.appendingPathComponent("reference")
        let t0 = Date()
        let r = try CLI.run(args(reference, resume: false))
        try #require(r.status == 0, "\(r.stderr)")
        let window = Date().timeIntervalSince(t0)

        let out = s.dir.appendingPathComponent("crashed")
        let kills = try Self.killRepeatedly(
            window: window, seed: 1, args: { args(out, resume: $0) },
            hasState: { FileManager.default.fileExists(atPath: out.appendingPathComponent(Trainer.stateFileName).path) || DirectoryCommit.isInterrupted(out) },
            reset: { try FileManager.default.removeItem(at: out) },
            check: { try Self.expectOneStep(out) })
        #expect(kills >= Self.kills)
        let resume = FileManager.default.fileExists(atPath: out.appendingPathComponent(Trainer.stateFileName).path)
        let last = try CLI.run(args(out, resume: resume))
        try #require(last.status == 0, "\(last.stderr)")
        try Self.expectSameFiles(reference, out, ["model.safetensors", Trainer.optimizerFileName, MaskFile.fileName, "records.csv"])
        Self.expectNoLeftovers(out)
    }

    @Test func pretrainKilledAtRandomMomentsResumesBitIdentically() throws {
        let s = try Self.setup()
        defer { try? FileManager.default.removeItem(at: s.dir) }
        func spec(_ output: URL) throws -> URL {
            let yaml = """
                output: \(output.path)
                tokens_per_param: 20
                seq_len: 32
                batch: 4
                lr: 3.0e-3
                warmup: 4
                eval_tokens: 256
                eval_points: 4
                save_every: 2
                sizes:
                  - name: tiny
                    hidden: 16
                    layers: 2
                    heads: 2
                    mlp_hidden: 32
                """
            let url = s.dir.appendingPathComponent("\(output.lastPathComponent).yaml")
            try AtomicFile.write(yaml, to: url)
            return url
        }
        func args(_ output: URL) throws -> [String] {
            ["pretrain", "--config", try spec(output).path, "--tokens", "8192", "--corpus", s.corpus.path, "--cache", s.cache.path, "--threads", "1"]
        }
        let reference = s.dir.appendingPathComponent("reference")
        let t0 = Date()
        let r = try CLI.run(try args(reference))
        try #require(r.status == 0, "\(r.stderr)")
        let window = Date().timeIntervalSince(t0)

        let output = s.dir.appendingPathComponent("crashed")
        let command = try args(output)
        let size = output.appendingPathComponent("tiny")
        let kills = try Self.killRepeatedly(
            window: window, seed: 2, args: { _ in command }, hasState: { true },
            reset: { try FileManager.default.removeItem(at: output) },
            check: { try Self.expectOneStep(size) })
        #expect(kills >= Self.kills)
        let last = try CLI.run(command)
        try #require(last.status == 0, "\(last.stderr)")
        try Self.expectSameFiles(reference.appendingPathComponent("tiny"), size,
                                 ["model.safetensors", Trainer.optimizerFileName, "records.csv", "config.json"])
        Self.expectNoLeftovers(size)
    }
}
