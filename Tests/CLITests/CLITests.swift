import Foundation
import OpenBLASRuntime
import ScalingLaw
import LossRecords
import Tensor
import TestSupport
import Testing

/// Runs the `prunescale` binary built beside the test bundle.
struct CLI {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static var binary: URL {
        // Test bundles live in the products directory next to the executables.
        var dir = Bundle.main.bundleURL
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") { dir = bundle.bundleURL.deletingLastPathComponent() }
        let candidate = dir.appendingPathComponent("prunescale")
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("prunescale")
    }

    /// Runs the binary to its end.
    static func run(_ args: [String], environment extra: [String: String] = [:]) throws -> Result {
        try launch(binary, args, environment: extra)
    }

    /// Runs another program found on PATH (`/usr/bin/env NAME ...`).
    static func runTool(_ args: [String]) throws -> Result {
        try launch(URL(fileURLWithPath: "/usr/bin/env"), args)
    }

    /// Runs a program with posix_spawn and waits with waitpid, its output in files: for scripts
    /// that start daemons, whose exit Foundation's `Process` was seen to miss (the script stayed
    /// a zombie and `waitUntilExit` never returned).
    static func spawn(_ args: [String]) throws -> Result {
        let dir = try Fixture.tempDir("cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out").path, err = dir.appendingPathComponent("err").path
        var actions: posix_spawn_file_actions_t = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let argv = (["/usr/bin/env"] + args).map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, "/usr/bin/env", &actions, nil, argv, environ)
        guard rc == 0 else { throw CocoaError(.fileReadUnknown) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Result(status: code, stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
    }

    /// stderr is drained on another thread, so a program that writes much to both streams cannot
    /// block on a full pipe.
    static func launch(_ executable: URL, _ args: [String], environment extra: [String: String] = [:]) throws -> Result {
        let p = Process()
        p.executableURL = executable
        p.arguments = args
        if !extra.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(extra) { $1 } }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let stderrData = ErrorStream(err.fileHandleForReading)
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = stderrData.wait()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    /// Reads a stream to its end on a thread of its own.
    final class ErrorStream: @unchecked Sendable {
        private var data = Data()
        private let done = DispatchSemaphore(value: 0)
        init(_ handle: FileHandle) {
            Thread.detachNewThread { [self] in
                data = handle.readDataToEndOfFile()
                done.signal()
            }
        }
        func wait() -> Data {
            done.wait()
            return data
        }
    }


    /// Noise-free P2 records written as CSV.
    static func sampleCSV(in dir: URL, noise: Double = 0) throws -> URL {
        let records = Synthetic.records(law: P2Law(), params: [500, 2000, 1, 0.3, 0.35, -0.8, 0.05],
                                        design: SyntheticDesign(noise: noise, seed: 5))
        let url = dir.appendingPathComponent("records.csv")
        try RecordWriter.csv(RecordSet(file: url.path, records: records)).write(to: url, atomically: true, encoding: .utf8)
        return url
    }
}

@Suite(.serialized) struct CLITests {
    /// The binary runs OpenBLAS's fastest kernels for this CPU, whatever OpenBLAS detected by
    /// itself (0.3.21 takes newer Xeons for generic SSE3 machines), and a user's choice stands.
    @Test func theBinaryRunsTheCPUsFastestBLASKernels() throws {
        let r = try CLI.run(["--version"])
        #expect(r.status == 0 && r.stdout.hasPrefix("prunescale "), "\(r.stdout) \(r.stderr)")
        if let best = BLASCore.best() { #expect(r.stdout.contains("(OpenBLAS \(best))"), "\(r.stdout)") }
        let chosen = try CLI.run(["--version"], environment: ["OPENBLAS_CORETYPE": "Haswell"])
        #expect(chosen.stdout.contains("(OpenBLAS Haswell)"), "\(chosen.stdout)")
    }

    @Test func fitPrintsOneJSONObjectAndWritesTheReport() throws {
        let dir = try Fixture.tempDir("cli")
        let csv = try CLI.sampleCSV(in: dir, noise: 0.002)
        let out = dir.appendingPathComponent("fit")
        let r = try CLI.run(["fit", "--data", csv.path, "--law", "p2", "--starts", "4", "--bootstrap", "20", "--holdout", "tokens=0.2",
                             "--out", out.path, "--format", "json"])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let params = try #require(json["params"] as? [String: Double])
        #expect(Set(params.keys) == ["NC", "DC", "E", "alpha", "beta", "gamma", "delta"])
        let metrics = try #require(json["metrics"] as? [String: Any])
        for key in ["r2", "rmse", "mape", "huber", "asd"] { #expect(metrics[key] is Double, "metrics.\(key)") }
        for file in ["fit.json", "predictions.csv", "summary.md", "figures/loss-vs-tokens.svg", "figures/predicted-vs-observed.svg"] {
            #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent(file).path), "\(file) missing")
        }
        // fit.json is the same object that was printed.
        let saved = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("fit.json"))) as? [String: Any]
        #expect(saved?["params"] as? [String: Double] == params)
        // Nothing staged is left beside the output.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).allSatisfy { !$0.hasPrefix(".") })

        let plan = try CLI.run(["plan", "--fit", out.appendingPathComponent("fit.json").path, "--n0", "70e9", "--rho", "0.25",
                                "--loss0", "1.9", "--target-loss", "2.2", "--format", "json"])
        #expect(plan.status == 0, "stderr: \(plan.stderr)")
        let pj = try #require(try JSONSerialization.jsonObject(with: Data(plan.stdout.utf8)) as? [String: Any])
        let tokens = try #require(pj["tokens"] as? Double)
        let iv = try #require(pj["interval"] as? [Double])
        #expect(iv.count == 2 && iv[0] <= tokens && tokens <= iv[1])
        #expect((pj["extrapolation"] as? [String])?.isEmpty == false, "n0 = 70e9 lies outside the fitted sizes")

        let unreachable = try CLI.run(["plan", "--fit", out.appendingPathComponent("fit.json").path, "--n0", "70e9", "--rho", "0.25",
                                       "--loss0", "1.9", "--target-loss", "1.0", "--format", "json"])
        #expect(unreachable.status == 0)
        let uj = try #require(try JSONSerialization.jsonObject(with: Data(unreachable.stdout.utf8)) as? [String: Any])
        #expect(uj["tokens"] is NSNull)
        #expect((uj["message"] as? String)?.hasPrefix("unreachable") == true)

        let predict = try CLI.run(["predict", "--fit", out.appendingPathComponent("fit.json").path, "--n0", "3e9", "--rho", "0.25",
                                   "--loss0", "2.3", "--tokens", "1e8,1e9,1e10", "--format", "json"])
        #expect(predict.status == 0, "stderr: \(predict.stderr)")
        let prj = try #require(try JSONSerialization.jsonObject(with: Data(predict.stdout.utf8)) as? [String: Any])
        #expect((prj["predictions"] as? [[String: Any]])?.count == 3)
    }

    /// --interval is kept in fit.json and named in the text report; predict then gives intervals
    /// from those replicates.
    @Test func theIntervalMethodIsChosenAndKept() throws {
        let dir = try Fixture.tempDir("cli")
        let csv = try CLI.sampleCSV(in: dir, noise: 0.002)
        let out = dir.appendingPathComponent("fit")
        let r = try CLI.run(["fit", "--data", csv.path, "--law", "p2", "--starts", "2", "--bootstrap", "10", "--interval", "wild-run",
                             "--out", out.path])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        #expect(r.stdout.contains("bootstrap (wild-run): "), "\(r.stdout)")
        let saved = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("fit.json"))) as? [String: Any]
        #expect((saved?["options"] as? [String: Any])?["interval"] as? String == "wild-run")
        let predict = try CLI.run(["predict", "--fit", out.appendingPathComponent("fit.json").path, "--n0", "3e9", "--rho", "0.25",
                                   "--loss0", "2.3", "--tokens", "1e9", "--format", "json"])
        let prj = try #require(try JSONSerialization.jsonObject(with: Data(predict.stdout.utf8)) as? [String: Any])
        #expect(((prj["predictions"] as? [[String: Any]])?.first?["interval"] as? [Double])?.count == 2)
        let bad = try CLI.run(["fit", "--data", csv.path, "--law", "p2", "--interval", "jackknife"])
        #expect(bad.status != 0 && bad.stderr.contains("--interval"), "\(bad.stderr)")
    }

    /// Every bad input: one line naming file, place and problem; non-zero exit; no output directory.
    @Test(arguments: [
        ("run,n0,rho,loss0,tokens,loss\na,1e9,0.2,2.0,1e8,nan\n", "records.csv:2:", "NaN"),
        ("run,n0,rho,loss0,tokens,loss\na,1e9,0.2,2.0,-5,2.5\n", "records.csv:2:", "tokens"),
        ("run,n0,rho,loss0,tokens,loss\na,1e9,1.2,2.0,1e8,2.5\n", "records.csv:2:", "rho"),
        ("run,n0,rho,loss0,tokens,loss\na,1e9,0.2,2.0,1e8,abc\n", "records.csv:2:", "not a number"),
        ("run,n0,rho,tokens,loss\na,1e9,0.2,1e8,2.5\n", "records.csv", "loss0"),
        ("run,n0,rho,loss0,tokens\na,1e9,0.2,2.0,1e8\n", "records.csv", "loss"),
        ("run,n0,rho,loss0,tokens,loss\na,1e9,0.2,2.0,1e8\n", "records.csv:2:", "field"),
    ])
    func badRecordsStopWithOneClearLine(text: String, place: String, problem: String) throws {
        let dir = try Fixture.tempDir("cli")
        let csv = dir.appendingPathComponent("records.csv")
        try text.write(to: csv, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("fit")
        let r = try CLI.run(["fit", "--data", csv.path, "--law", "p2", "--out", out.path])
        #expect(r.status != 0)
        let lines = r.stderr.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        #expect(lines.count == 1, "stderr: \(r.stderr)")
        #expect(r.stderr.contains(place) && r.stderr.contains(problem), "stderr: \(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out.path), "no output directory after a failed read")
        #expect(r.stdout.isEmpty)
    }

    @Test func aTruncatedFitFileIsRejectedClearly() throws {
        let dir = try Fixture.tempDir("cli")
        let csv = try CLI.sampleCSV(in: dir)
        let out = dir.appendingPathComponent("fit")
        #expect(try CLI.run(["fit", "--data", csv.path, "--starts", "2", "--out", out.path]).status == 0)
        let fitURL = out.appendingPathComponent("fit.json")
        let whole = try Data(contentsOf: fitURL)
        try whole.prefix(whole.count / 2).write(to: fitURL)
        let r = try CLI.run(["plan", "--fit", fitURL.path, "--n0", "1e9", "--rho", "0.2", "--loss0", "2", "--target-loss", "2.5"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("fit.json") && r.stderr.contains("not a PruneScale fit.json"), "stderr: \(r.stderr)")
    }

    @Test func aFailedFitKeepsThePreviousResults() throws {
        let dir = try Fixture.tempDir("cli")
        let csv = try CLI.sampleCSV(in: dir)
        let out = dir.appendingPathComponent("fit")
        #expect(try CLI.run(["fit", "--data", csv.path, "--starts", "2", "--out", out.path]).status == 0)
        let before = try Data(contentsOf: out.appendingPathComponent("fit.json"))
        let r = try CLI.run(["fit", "--data", csv.path, "--starts", "2", "--holdout", "rho=0.9", "--out", out.path])
        #expect(r.status != 0)
        #expect(try Data(contentsOf: out.appendingPathComponent("fit.json")) == before)
    }

    @Test func columnMappingReadsOtherNames() throws {
        let dir = try Fixture.tempDir("cli")
        let csv = try CLI.sampleCSV(in: dir)
        let text = try String(contentsOf: csv, encoding: .utf8).replacingOccurrences(of: "tokens,loss", with: "step_tokens,val_loss")
        try text.write(to: csv, atomically: true, encoding: .utf8)
        let plain = try CLI.run(["fit", "--data", csv.path, "--starts", "2"])
        #expect(plain.status != 0)
        let mapped = try CLI.run(["fit", "--data", csv.path, "--starts", "2", "--columns", "loss=val_loss,tokens=step_tokens", "--format", "json"])
        #expect(mapped.status == 0, "stderr: \(mapped.stderr)")
    }

    @Test func compareRanksLawsOnTheHeldOutRecords() throws {
        let dir = try Fixture.tempDir("cli")
        let csv = try CLI.sampleCSV(in: dir, noise: 0.001)
        let r = try CLI.run(["compare", "--data", csv.path, "--laws", "p2,p2-alt1,p2-alt2,p2-alt3,chinchilla", "--holdout", "tokens=0.2",
                             "--starts", "8", "--format", "json"])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let ranking = try #require(json["ranking"] as? [[String: Any]])
        #expect(ranking.count == 5)
        let r2 = ranking.compactMap { ($0["holdout_metrics"] as? [String: Any])?["r2"] as? Double }
        #expect(r2 == r2.sorted(by: >), "ranked by held-out R², best first")
        #expect(ranking.first?["law"] as? String == "p2", "data drawn from p2 should rank p2 first: \(ranking.map { $0["law"] ?? "" })")
    }

    @Test(arguments: ["fit", "compare", "predict", "plan", "simulate", "laws"])
    func everySubcommandHasHelp(command: String) throws {
        let r = try CLI.run([command, "--help"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("USAGE: prunescale \(command)"))
        #expect(r.stdout.contains("--format") || command == "simulate")
    }
}
