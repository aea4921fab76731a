import Foundation
import Persistence
import TestSupport
import Testing

/// `prunescale run/status/export/report` through the binary, on a tiny ladder (two sizes of a
/// few thousand parameters) pre-trained by the run itself.
@Suite(.serialized) struct RunCLITests {
    struct Setup {
        var dir, spec, cache: URL
        func args(_ command: String, _ extra: [String] = []) -> [String] {
            [command, spec.path] + extra
        }
    }

    static func setup(protocolKind: String = "curve") throws -> Setup {
        let dir = try Fixture.tempDir("cli")
        let corpus = dir.appendingPathComponent("corpus")
        var text = ""
        for i in 0..<3000 { text += "Line \(i): when \(i % 7) stars and \(i % 11) moons align, the \(i % 5 == 0 ? "king" : "fool") speaks.\n" }
        try AtomicFile.write(text, to: corpus.appendingPathComponent("a.txt"))
        let ladder = """
            output: \(dir.path)/ladder
            corpus: \(corpus.path)
            tokens_per_param: 20
            seq_len: 32
            batch: 8
            lr: 3.0e-3
            warmup: 5
            eval_tokens: 512
            eval_points: 3
            save_every: 10
            sizes:
              - {name: a, hidden: 16, layers: 2, heads: 4, kv_heads: 2, mlp_hidden: 32}
              - {name: b, hidden: 16, layers: 3, heads: 4, kv_heads: 2, mlp_hidden: 48}
            """
        try AtomicFile.write(ladder, to: dir.appendingPathComponent("ladder.yaml"))
        let spec = """
            name: tiny
            output: \(dir.path)/run
            ladder: \(dir.path)/ladder.yaml
            corpus: \(corpus.path)
            bases: [a, b]
            pruning:
              calibration_windows: 4
              grid:
                - {structure: width, methods: [wanda], rates: [0.25]}
                - {pattern: "2:4", methods: [magnitude]}
            posttrain:
              tokens: 2048
              eval_points: 4
              protocol: \(protocolKind)
              lr: 1e-3
              batch: 8
              seq: 32
              eval_tokens: 512
              checkpoints: 4
            fit:
              laws: [p2]
              holdouts: [tokens=0.2]
              starts: 2
              bootstrap: 0
            """
        let url = dir.appendingPathComponent("tiny.yaml")
        try AtomicFile.write(spec, to: url)
        return Setup(dir: dir, spec: url, cache: dir.appendingPathComponent("cache"))
    }

    static func run(_ s: Setup, _ args: [String]) throws -> CLI.Result {
        try CLI.run(args + (["run"].contains(args.first) ? ["--threads", "1", "--cache", s.cache.path] : []))
    }

    @Test func runStoresEveryCellThenDoesNothingAndExportsWhatFitReads() throws {
        let s = try Self.setup()
        defer { try? FileManager.default.removeItem(at: s.dir) }
        let dry = try Self.run(s, s.args("run", ["--dry-run", "--format", "json"]))
        #expect(dry.status == 0, "\(dry.stderr)")
        let estimate = try #require(try JSONSerialization.jsonObject(with: Data(dry.stdout.utf8)) as? [String: Any])
        #expect((estimate["cells"] as? [Any])?.count == 6)
        #expect((estimate["pretrain_minutes"] as? [String: Any])?.count == 2)

        let first = try Self.run(s, s.args("run"))
        #expect(first.status == 0, "\(first.stderr)")
        let report = s.dir.appendingPathComponent("run/report")
        for name in ["records.csv", "fits.csv", "holdouts.csv", "predictions.csv", "plans.csv", "summary.md"] {
            #expect(FileManager.default.fileExists(atPath: report.appendingPathComponent(name).path), "\(name)")
        }
        // holdouts.csv repeats fits.csv's held-out scores, one row per family × holdout × law, ranked.
        func table(_ name: String) throws -> [[String: String]] {
            let lines = try String(contentsOf: report.appendingPathComponent(name), encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
            return lines.dropFirst().map { Dictionary(uniqueKeysWithValues: zip(lines[0], $0)) }
        }
        let heldOut = try table("holdouts.csv"), fitted = try table("fits.csv").filter { $0["holdout"] != "none" }
        #expect(heldOut.count == fitted.count && !heldOut.isEmpty)
        for row in heldOut {
            let twin = fitted.first { $0["family"] == row["family"] && $0["law"] == row["law"] && $0["holdout"] == row["holdout"] }
            #expect(twin?["holdout_mape"] == row["holdout_mape"] && twin?["holdout_asd"] == row["holdout_asd"], "\(row)")
            #expect(row["status"] != "ok" || row["rank"] == "1", "one law per holdout here, so an ok fit ranks first: \(row)")
        }
        let figures = (try? FileManager.default.contentsOfDirectory(atPath: report.appendingPathComponent("figures").path)) ?? []
        #expect(figures.contains { $0.hasPrefix("loss-vs-tokens-width") })

        let status = try CLI.run(s.args("status", ["--format", "json"]))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
        #expect((json["counts"] as? [String: Int])?["done"] == 6, "\(status.stdout)")
        #expect((json["cells"] as? [[String: Any]])?.first?["labels"] != nil)

        let exported = try CLI.run(s.args("export", ["--format", "csv"]))
        #expect(exported.status == 0)
        // 6 cells × (0 tokens + 4 evaluations), plus the header.
        #expect(exported.stdout.split(separator: "\n").count == 1 + 6 * 5, "\(exported.stdout)")

        // A second run does nothing: no cell is run, the store and the export are unchanged.
        let store = s.dir.appendingPathComponent("run/store.sqlite")
        let before = try Data(contentsOf: store)
        let again = try Self.run(s, s.args("run"))
        #expect(again.status == 0 && again.stderr.contains("6 already stored, 0 to run"), "\(again.stderr)")
        #expect(try Data(contentsOf: store) == before)
        #expect(try CLI.run(s.args("export", ["--format", "csv"])).stdout == exported.stdout)

        // The export is what `fit --data` reads.
        let csv = s.dir.appendingPathComponent("runs.csv")
        #expect(try CLI.run(s.args("export", ["--out", csv.path])).status == 0)
        let fit = try CLI.run(["fit", "--data", csv.path, "--law", "p2", "--starts", "2"])
        #expect(fit.status == 0, "\(fit.stderr)")
        let jsonl = try CLI.run(s.args("export", ["--format", "jsonl"]))
        #expect(jsonl.stdout.split(separator: "\n").count == 6 * 5)
        let report2 = try CLI.run(s.args("report"))
        #expect(report2.status == 0, "\(report2.stderr)")

        // The notebook of the run executes headless, and its scipy refit of P2 agrees with ours.
        let notebook = s.dir.appendingPathComponent("tiny.ipynb")
        let nb = try CLI.run(s.args("export-notebook", ["--out", notebook.path]))
        #expect(nb.status == 0, "\(nb.stderr)")
        let executed = s.dir.appendingPathComponent("tiny-run.ipynb")
        let jupyter = try CLI.runTool(["python3", "-m", "nbconvert", "--to", "notebook", "--execute", notebook.path, "--output", executed.path])
        #expect(jupyter.status == 0, "\(jupyter.stderr)")
        #expect((try? String(contentsOf: executed, encoding: .utf8))?.contains("cross-check passed") == true)

        // Two cells side by side, one thread each: the same numbers as one at a time.
        let other = s.dir.appendingPathComponent("jobs2")
        let parallel = try CLI.run(s.args("run", ["--store", other.path, "--jobs", "2", "--threads", "2", "--cache", s.cache.path]))
        #expect(parallel.status == 0, "\(parallel.stderr)")
        #expect(try CLI.run(s.args("export", ["--store", other.path])).stdout == exported.stdout)
    }

    /// The pieces `submit` schedules, run as separate processes side by side: prepare each base,
    /// run each cell into its shard, collect (twice: the second changes nothing); the export
    /// equals a local run's.
    @Test func tasksAndCollectGiveTheLocalRunsRecords() throws {
        let s = try Self.setup()
        defer { try? FileManager.default.removeItem(at: s.dir) }
        #expect(try Self.run(s, s.args("run")).status == 0)
        let local = try CLI.run(s.args("export")).stdout
        let store = s.dir.appendingPathComponent("tasks")
        let submit = try CLI.run(s.args("submit", ["--store", store.path, "--slurm", "--dry-run", "--cpus-per-task", "1", "--cache", s.cache.path]))
        #expect(submit.status == 0 && submit.stdout.contains("--dependency=afterok:bases-JOB_1"), "\(submit.stdout) \(submit.stderr)")
        let script = try String(contentsOf: store.appendingPathComponent("slurm/cells-a.sbatch"), encoding: .utf8)
        #expect(script.contains("#SBATCH --array=0-2") && script.contains("run-cell"), "\(script)")
        for base in ["a", "b"] {
            let r = try CLI.run(s.args("prepare-base", ["--store", store.path, "--base", base, "--threads", "1", "--cache", s.cache.path]))
            #expect(r.status == 0, "\(r.stderr)")
        }
        let status = try JSONSerialization.jsonObject(with: Data(CLI.run(s.args("status", ["--store", store.path, "--format", "json"])).stdout.utf8))
        let ids = try #require((status as? [String: Any])?["cells"] as? [[String: Any]])
        let tasks = try ids.compactMap { $0["id"] as? String }.map {
            try CrashResumeTests.start(s.args("run-cell", ["--store", store.path, "--cell", $0, "--threads", "1", "--cache", s.cache.path]))
        }
        for t in tasks { t.waitUntilExit(); #expect(t.terminationStatus == 0) }
        #expect(try CLI.run(s.args("collect", ["--store", store.path])).stdout.contains("collected 6 cell(s)"))
        let db = try Data(contentsOf: store.appendingPathComponent("store.sqlite"))
        #expect(try CLI.run(s.args("collect", ["--store", store.path])).stdout.contains("collected 0 cell(s); 6 already"))
        #expect(try Data(contentsOf: store.appendingPathComponent("store.sqlite")) == db)
        #expect(try CLI.run(s.args("export", ["--store", store.path])).stdout == local)
    }

    /// A base another process is pre-training (its folder locked) is left alone: the ready base's
    /// cells run, the busy base's wait, and a later run does them.
    @Test func cellsOfABaseBeingPretrainedElsewhereWait() throws {
        let s = try Self.setup()
        defer { try? FileManager.default.removeItem(at: s.dir) }
        var lock: DirectoryLock? = try DirectoryLock(s.dir.appendingPathComponent("ladder/b"), purpose: "a test's pretrain")
        let first = try Self.run(s, s.args("run"))
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stderr.contains("base b: being pre-trained by another process"), "\(first.stderr)")
        #expect(first.stderr.contains("0 already stored, 3 to run, 3 waiting for their base"), "\(first.stderr)")
        let status = try CLI.run(s.args("status", ["--format", "json"]))
        let counts = try #require((try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])?["counts"] as? [String: Int])
        #expect(counts["done"] == 3 && counts["missing"] == 3, "\(status.stdout)")
        lock?.release()
        lock = nil
        let second = try Self.run(s, s.args("run"))
        #expect(second.status == 0 && second.stderr.contains("3 already stored, 3 to run"), "\(second.stderr)")
        #expect(second.stderr.contains("base b: pre-training"), "\(second.stderr)")
    }

    @Test func aBadSpecExitsWithCodeTwoAndItsPlace() throws {
        let s = try Self.setup()
        defer { try? FileManager.default.removeItem(at: s.dir) }
        let text = try String(contentsOf: s.spec, encoding: .utf8)
        for (find, replace, fragment) in [("rates: [0.25]", "rates: [1.25]", "tiny.yaml:9:"), ("methods: [wanda]", "methods: [wandb]", "tiny.yaml:9:"),
                                          ("bases: [a, b]", "bases: [a, c]", "no size 'c'"), ("eval_points: 4", "eval_points: four", "tiny.yaml:13:"),
                                          ("  lr: 1e-3", "  lr: 1e-3\n  learning_rate: 1", "unknown key 'learning_rate'")] {
            try AtomicFile.write(text.replacingOccurrences(of: find, with: replace), to: s.spec)
            for command in ["run", "status", "export"] {
                let r = try Self.run(s, s.args(command))
                #expect(r.status == 2, "\(command) \(replace): \(r.status) \(r.stderr)")
                #expect(r.stderr.contains(fragment) && r.stderr.split(separator: "\n").count == 1, "\(command) \(replace): \(r.stderr)")
            }
        }
        #expect(!FileManager.default.fileExists(atPath: s.dir.appendingPathComponent("run").path), "a bad spec started work")
        #expect(!FileManager.default.fileExists(atPath: s.dir.appendingPathComponent("ladder").path), "a bad spec started work")
    }

    @Test func aFolderOfTheUsersIsNotTakenAsAStore() throws {
        let s = try Self.setup()
        defer { try? FileManager.default.removeItem(at: s.dir) }
        let mine = s.dir.appendingPathComponent("run/notes.txt")
        try AtomicFile.write("mine", to: mine)
        let r = try Self.run(s, s.args("run"))
        #expect(r.status != 0 && r.stderr.contains("not a PruneScale result store (notes.txt)"), "\(r.stderr)")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: mine.deletingLastPathComponent().path)) ?? []) == ["notes.txt"])
        let report = try CLI.run(s.args("report"))
        #expect(report.status != 0 && report.stderr.contains("no result store yet"), "\(report.stderr)")
    }

    /// Killed at 20 random moments (pre-training, pruning, post-training, storing, reporting),
    /// then run to the end: the export equals an uninterrupted run's byte for byte.
    @Test(arguments: ["curve", "loss-at-budget"])
    func aRunKilledAtRandomMomentsExportsTheSameRecords(protocolKind: String) throws {
        let reference = try Self.setup(protocolKind: protocolKind)
        defer { try? FileManager.default.removeItem(at: reference.dir) }
        let t0 = Date()
        let r = try Self.run(reference, reference.args("run"))
        try #require(r.status == 0, "\(r.stderr)")
        var window = Date().timeIntervalSince(t0)
        let expected = try CLI.run(reference.args("export")).stdout

        let crashed = try Self.setup(protocolKind: protocolKind)
        defer { try? FileManager.default.removeItem(at: crashed.dir) }
        var x: UInt64 = protocolKind == "curve" ? 99 : 7
        var kills = 0, attempts = 0
        while kills < 20 {
            attempts += 1
            try #require(attempts < 200)
            x = x &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let started = Date()
            let p = try CrashResumeTests.start(crashed.args("run", ["--threads", "1", "--cache", crashed.cache.path]))
            CrashResumeTests.wait(p, upTo: window * Double(x >> 11) * 0x1.0p-53)
            if p.isRunning {
                kill(p.processIdentifier, SIGKILL)
                kills += 1
            }
            p.waitUntilExit()
            if p.terminationReason == .exit {
                try #require(p.terminationStatus == 0, "a resumed run failed")
                // Finished: start over so that later kills land in a run again, within the time a
                // whole run takes now that the bases are pre-trained.
                window = min(window, Date().timeIntervalSince(started))
                try FileManager.default.removeItem(at: crashed.dir.appendingPathComponent("run"))
            }
        }
        let last = try Self.run(crashed, crashed.args("run"))
        try #require(last.status == 0, "\(last.stderr)")
        #expect(try CLI.run(crashed.args("export")).stdout == expected)
        let status = try CLI.run(crashed.args("status", ["--format", "json"]))
        #expect(status.stdout.contains("\"failed\" : 0"), "\(status.stdout)")
    }
}
