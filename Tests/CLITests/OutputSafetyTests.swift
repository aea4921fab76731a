import Foundation
import Model
import Persistence
import TestSupport
import Testing

/// Output folders: a command replaces only what PruneScale wrote, never the user's files or the
/// checkpoint it reads, and two writers of one folder exclude each other.
@Suite(.serialized) struct OutputSafetyTests {
    func oneLine(_ r: CLI.Result) -> Bool { r.stderr.split(separator: "\n").filter { !$0.isEmpty }.count == 1 }

    @Test func fitNeverDeletesTheUsersFilesInOut() throws {
        let dir = try Fixture.tempDir("cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let d = dir.appendingPathComponent("d")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        let csv = try CLI.sampleCSV(in: d)
        let before = try Data(contentsOf: csv)
        for out in [d.path, d.path + "/."] {
            let r = try CLI.run(["fit", "--data", csv.path, "--starts", "2", "--out", out])
            #expect(r.status != 0)
            #expect(oneLine(r) && r.stderr.contains("records.csv"), "\(r.stderr)")
            #expect(try Data(contentsOf: csv) == before)
            #expect(contents(d) == ["records.csv"])
        }
        // The same command may replace its own results, again and again.
        let own = dir.appendingPathComponent("fit")
        for _ in 0..<2 {
            let r = try CLI.run(["fit", "--data", csv.path, "--starts", "2", "--out", own.path])
            #expect(r.status == 0, "\(r.stderr)")
        }
        #expect(contents(dir) == ["d", "fit"])
    }

    @Test func planAndCompareRefuseAFolderOfTheUsers() throws {
        let dir = try Fixture.tempDir("cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let csv = try CLI.sampleCSV(in: dir)
        let fit = dir.appendingPathComponent("fit")
        #expect(try CLI.run(["fit", "--data", csv.path, "--starts", "2", "--out", fit.path]).status == 0)
        let plan = try CLI.run(["plan", "--fit", fit.appendingPathComponent("fit.json").path, "--n0", "7e9", "--rho", "0.25",
                                "--loss0", "2", "--target-loss", "2.3", "--out", dir.path])
        #expect(plan.status != 0 && oneLine(plan), "\(plan.stderr)")
        let compare = try CLI.run(["compare", "--data", csv.path, "--laws", "p2,chinchilla", "--starts", "2", "--out", dir.path])
        #expect(compare.status != 0 && oneLine(compare), "\(compare.stderr)")
        #expect(contents(dir) == ["fit", "records.csv"])
    }

    @Test func trainRefusesToOverwriteItsSourceOrAUsersFolder() throws {
        let s = try CrashResumeTests.setup()
        defer { try? FileManager.default.removeItem(at: s.dir) }
        let before = try Data(contentsOf: s.base.appendingPathComponent("model.safetensors"))
        let common = ["--tokens", "512", "--batch", "4", "--seq", "32", "--eval-tokens", "256", "--corpus", s.corpus.path,
                      "--cache", s.cache.path, "--threads", "1"]
        for out in [s.base.path, s.base.path + "/", s.base.path + "/."] {
            let r = try CLI.run(["train", "--model", s.base.path, "--out", out] + common)
            #expect(r.status != 0 && r.stderr.contains("--model"), "\(r.stderr)")
        }
        #expect(try Data(contentsOf: s.base.appendingPathComponent("model.safetensors")) == before)
        // A folder of the user's (here: the corpus) is not a training run.
        let r = try CLI.run(["train", "--model", s.base.path, "--out", s.corpus.path] + common)
        #expect(r.status != 0 && r.stderr.contains("a.txt") && oneLine(r), "\(r.stderr)")
        #expect(contents(s.corpus) == ["a.txt"])
    }

    @Test func aSecondWriterOfOneFolderIsRefused() throws {
        let s = try CrashResumeTests.setup()
        defer { try? FileManager.default.removeItem(at: s.dir) }
        let out = s.dir.appendingPathComponent("run")
        let args = ["train", "--model", s.base.path, "--out", out.path, "--batch", "4", "--seq", "32", "--eval-tokens", "256",
                    "--corpus", s.corpus.path, "--cache", s.cache.path, "--threads", "1"]
        // Build the token cache first, so the first run reaches its lock at once.
        #expect(try CLI.run(["data", "info", "--corpus", s.corpus.path, "--cache", s.cache.path]).status == 0)
        let first = try CrashResumeTests.start(args + ["--tokens", "2e6"])
        defer { if first.isRunning { kill(first.processIdentifier, SIGKILL); first.waitUntilExit() } }
        let lock = out.appendingPathComponent(DirectoryLock.fileName)
        let deadline = Date().addingTimeInterval(30)
        while (try? String(contentsOf: lock, encoding: .utf8))?.contains("pid") != true, Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        let second = try CLI.run(args + ["--tokens", "512"])
        #expect(second.status != 0 && second.stderr.contains("in use by pid \(first.processIdentifier)") && oneLine(second), "\(second.stderr)")
        let resume = try CLI.run(["train", "--resume", "--model", s.base.path, "--out", out.path, "--corpus", s.corpus.path, "--cache", s.cache.path])
        #expect(resume.status != 0 && resume.stderr.contains("in use"), "\(resume.stderr)")
    }

    @Test func fileErrorsNameThePathInWords() throws {
        let dir = try Fixture.tempDir("cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        for args in [["fit", "--data", dir.path], ["plan", "--fit", dir.path, "--n0", "7e9", "--rho", "0.25", "--loss0", "2", "--target-loss", "2.3"],
                     ["fit", "--data", "/nonexistent/runs.csv"], ["fit", "--data", try CLI.sampleCSV(in: dir).path, "--starts", "2", "--out", "/proc/x"]] {
            let r = try CLI.run(args)
            #expect(r.status != 0 && oneLine(r), "\(args): \(r.stderr)")
            #expect(!r.stderr.contains("Domain") && !r.stderr.contains("error 256") && !r.stderr.contains(".partial-"), "\(args): \(r.stderr)")
        }
    }

    /// `fit --bootstrap` killed again and again used to leave `.partial-PID`, `.old-PID` and
    /// temporary files behind (39 after 120 kills); the next run removes those of dead processes.
    @Test func killedFitsLeaveNothingBehindTheNextRun() throws {
        let dir = try Fixture.tempDir("cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let csv = try CLI.sampleCSV(in: dir, noise: 0.002)
        let args = ["fit", "--data", csv.path, "--starts", "2", "--bootstrap", "40", "--threads", "1", "--out", dir.appendingPathComponent("fit").path]
        let t0 = Date()
        #expect(try CLI.run(args).status == 0)
        let window = Date().timeIntervalSince(t0)
        var x: UInt64 = 12345
        for _ in 0..<20 {
            x = x &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let p = try CrashResumeTests.start(args)
            CrashResumeTests.wait(p, upTo: window * Double(x >> 11) * 0x1.0p-53)
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
            p.waitUntilExit()
        }
        #expect(try CLI.run(args).status == 0)
        let hidden = ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { $0.hasPrefix(".") }
        #expect(hidden.isEmpty, "\(hidden)")
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("fit/fit.json").path))
    }

    func contents(_ dir: URL) -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { !$0.hasPrefix(".") }.sorted() }
}
