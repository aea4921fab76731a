import Foundation
import Testing

/// `prunescale submit --slurm` on a one-node Slurm started by `scripts/slurm-local` (Debian's
/// packages, installed by `scripts/install-deps`): the tiny spec runs to completion as job
/// arrays, its export equals a local run's, `collect` is idempotent, and a cell task cancelled
/// midway is redone by a resubmission without duplicates.
@Suite(.serialized) struct SlurmCLITests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/slurm-local")

    /// Starts the cluster; returns the environment its clients need.
    static func up() throws -> [String: String] {
        let r = try CLI.spawn([script.path, "up"])
        try #require(r.status == 0, "slurm-local up: \(r.stderr)")
        let line = try #require(r.stdout.split(separator: "\n").first { $0.hasPrefix("export SLURM_CONF=") })
        return ["SLURM_CONF": String(line.dropFirst("export SLURM_CONF=".count)).trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))]
    }

    static func waitUntilDone(_ s: RunCLITests.Setup, store: URL, cells: Int, env: [String: String], timeout: Double = 300) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let r = try CLI.run(s.args("status", ["--store", store.path, "--format", "json"]), environment: env)
            if let json = try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any],
               (json["counts"] as? [String: Int])?["done"] == cells,
               FileManager.default.fileExists(atPath: store.appendingPathComponent("report/summary.md").path) {
                // The collect job writes the report last; give it a moment to exit.
                Thread.sleep(forTimeInterval: 1)
                return
            }
            Thread.sleep(forTimeInterval: 0.5)
        }
        Issue.record("the submitted run did not finish within \(timeout) s")
    }

    /// One cluster for both parts: a stop and a quick restart can leave the controller's port
    /// busy for a moment.
    @Test func submittedSpecsRunToTheLocalRecordsAndACancelledTaskIsRedone() throws {
        let env = try Self.up()
        defer { _ = try? CLI.spawn([Self.script.path, "down"]) }
        try submittedSpecRunsAsJobArraysAndExportsTheLocalRecords(env)
        try cancelledTaskIsRedoneByAResubmissionWithoutDuplicates(env)
    }

    func submittedSpecRunsAsJobArraysAndExportsTheLocalRecords(_ env: [String: String]) throws {
        let s = try RunCLITests.setup()
        defer { try? FileManager.default.removeItem(at: s.dir) }
        #expect(try RunCLITests.run(s, s.args("run")).status == 0)
        let local = try CLI.run(s.args("export")).stdout

        let store = s.dir.appendingPathComponent("slurm-store")
        let submit = try CLI.run(s.args("submit", ["--store", store.path, "--slurm", "--cpus-per-task", "1", "--cache", s.cache.path]), environment: env)
        #expect(submit.status == 0 && submit.stdout.contains("submitted cells-a (3 tasks)"), "\(submit.stdout) \(submit.stderr)")
        try Self.waitUntilDone(s, store: store, cells: 6, env: env)
        #expect(try CLI.run(s.args("export", ["--store", store.path])).stdout == local)
        let db = try Data(contentsOf: store.appendingPathComponent("store.sqlite"))
        #expect(try CLI.run(s.args("collect", ["--store", store.path])).stdout.contains("collected 0 cell(s); 6 already"))
        #expect(try Data(contentsOf: store.appendingPathComponent("store.sqlite")) == db)
    }

    func cancelledTaskIsRedoneByAResubmissionWithoutDuplicates(_ env: [String: String]) throws {
        let s = try RunCLITests.setup()
        defer { try? FileManager.default.removeItem(at: s.dir) }
        // Longer cells, so that one is caught running.
        let text = try String(contentsOf: s.spec, encoding: .utf8).replacingOccurrences(of: "tokens: 2048", with: "tokens: 40960")
        try text.write(to: s.spec, atomically: true, encoding: .utf8)
        #expect(try RunCLITests.run(s, s.args("run")).status == 0)
        let local = try CLI.run(s.args("export")).stdout

        let store = s.dir.appendingPathComponent("slurm-store")
        let submit = try CLI.run(s.args("submit", ["--store", store.path, "--slurm", "--cpus-per-task", "1", "--cache", s.cache.path]), environment: env)
        #expect(submit.status == 0, "\(submit.stderr)")
        // Cancel the first cell task seen running.
        var cancelled: String?
        let deadline = Date().addingTimeInterval(120)
        while cancelled == nil, Date() < deadline {
            let q = try CLI.runTool(["env", "SLURM_CONF=\(env["SLURM_CONF"]!)", "squeue", "--noheader", "--states=RUNNING", "--format=%i %j"])
            if let line = q.stdout.split(separator: "\n").first(where: { $0.contains("-cells-") }) {
                let id = String(line.split(separator: " ")[0])
                _ = try CLI.runTool(["env", "SLURM_CONF=\(env["SLURM_CONF"]!)", "scancel", id])
                cancelled = id
            } else {
                Thread.sleep(forTimeInterval: 0.2)
            }
        }
        try #require(cancelled != nil, "no cell task was seen running")
        // Everything else finishes; the cancelled cell is missing until a resubmission.
        let quiet = Date().addingTimeInterval(300)
        while Date() < quiet {
            let q = try CLI.runTool(["env", "SLURM_CONF=\(env["SLURM_CONF"]!)", "squeue", "--noheader"])
            if q.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { break }
            Thread.sleep(forTimeInterval: 0.5)
        }
        let status = try CLI.run(s.args("status", ["--store", store.path, "--format", "json"]), environment: env)
        let counts = try #require((try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])?["counts"] as? [String: Int])
        #expect(counts["done"] == 5, "\(status.stdout)")

        let again = try CLI.run(s.args("submit", ["--store", store.path, "--slurm", "--cpus-per-task", "1", "--cache", s.cache.path]), environment: env)
        let resubmitted = again.stdout.split(separator: "\n").filter { $0.hasPrefix("submitted cells-") }
        #expect(again.status == 0 && resubmitted.count == 1 && resubmitted[0].contains("(1 task)"), "\(again.stdout) \(again.stderr)")
        try Self.waitUntilDone(s, store: store, cells: 6, env: env)
        #expect(try CLI.run(s.args("export", ["--store", store.path])).stdout == local)
    }
}
