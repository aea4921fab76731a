import ArgumentParser
import Experiments
import Foundation
import Persistence
import TextData

struct SubmitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Run an experiment on a Slurm cluster as job arrays.",
        discussion: """
            What runs where: writes STORE/slurm/*.sbatch and submits them with sbatch:
              bases.sbatch        one task per base: pre-trains a ladder base that needs it
                                  (prunescale prepare-base) and caches its loss;
              cells-BASE.sbatch   one task per missing cell of that base (prunescale run-cell),
                                  started once the base's task succeeded
                                  (--dependency=afterok:JOB_TASK);
              collect.sbatch      once every cell task has ended (afterany): collects the
                                  shards into the store and writes the report.
            Each cell task writes its own result shard, STORE/shards/ID.json (SQLite is not safe
            for concurrent writers on a network file system); `prunescale collect SPEC` merges
            shards into STORE/store.sqlite and can be run any number of times.

            Where results land: as for `prunescale run` (STORE/store.sqlite, STORE/cells/,
            STORE/report/), plus task logs in STORE/slurm/logs/. The store, the spec, the cache
            and the binary must be on a file system every node sees.

            To resume after a failure, a timeout or scancel: submit again. Finished cells and
            shards are skipped, and a killed cell continues from its checkpoints.

            To see progress: `prunescale status SPEC` (cells done / running / failed / missing,
            and Slurm's squeue view of the experiment's jobs), and the task logs.

            Examples:
              prunescale submit experiments/paper-replica.yaml --slurm --cpus-per-task 2 --time 12:00:00
              prunescale submit experiments/quickstart.yaml --slurm --dry-run
            """)

    @OptionGroup var experiment: ExperimentOptions
    @Flag(help: "Submit to Slurm (the only scheduler supported).") var slurm = false
    @Option(help: "Slurm partition (default: the cluster's default).") var partition: String?
    @Option(help: ArgumentHelp("Time limit of each task, as sbatch takes it (e.g. 2:00:00).", valueName: "time")) var time: String?
    @Option(name: .customLong("cpus-per-task"), help: "CPUs of each task (its threads).") var cpusPerTask: Int = 2
    @Option(name: .customLong("array-max"), help: "At most this many tasks of an array at once.") var arrayMax: Int?
    @OptionGroup var cache: CacheOptions
    @Flag(help: "Write the scripts and print the sbatch commands; submit nothing.") var dryRun = false

    func validate() throws {
        guard slurm else { throw ValidationError("--slurm is required (the only scheduler supported)") }
        guard (1...1024).contains(cpusPerTask) else { throw ValidationError("--cpus-per-task must be in 1...1024, got \(cpusPerTask)") }
        if let arrayMax, arrayMax < 1 { throw ValidationError("--array-max must be positive, got \(arrayMax)") }
    }

    func run() throws {
        let plan = try experiment.plan()
        try ExperimentRunner.checkStoreFolder(plan.store)
        var options = SlurmPlan.Options()
        options.partition = partition
        options.time = time
        options.cpusPerTask = cpusPerTask
        options.arrayMax = arrayMax
        let binary = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let cacheURL = URL(fileURLWithPath: cache.url.path).standardizedFileURL
        let slurmPlan = SlurmPlan.make(plan, statuses: try ExperimentRunner.status(plan), binary: binary, cache: cacheURL, options: options)
        try slurmPlan.write()
        var jobs: [String] = []
        func sbatch(_ script: SlurmPlan.Script, dependency: String?) throws -> String {
            let args = ["--parsable"] + (dependency.map { ["--dependency=\($0)"] } ?? []) + [script.url.path]
            if dryRun {
                print("sbatch " + args.joined(separator: " "))
                return "\(script.name)-JOB"
            }
            let id = try Slurm.sbatch(args)
            print("submitted \(script.name) (\(script.tasks) task\(script.tasks == 1 ? "" : "s")): job \(id)")
            jobs.append(id)
            return id
        }
        guard let basesScript = slurmPlan.bases else { return }
        let basesJob = try sbatch(basesScript, dependency: nil)
        var cellJobs: [String] = []
        for s in slurmPlan.cells {
            cellJobs.append(try sbatch(s, dependency: s.dependsOnBase.map { "afterok:\(basesJob)_\($0)" }))
        }
        _ = try sbatch(slurmPlan.collect, dependency: "afterany:" + ([basesJob] + cellJobs).joined(separator: ":"))
        if !dryRun {
            try AtomicFile.write(jobs.joined(separator: "\n") + "\n", to: slurmPlan.directory.appendingPathComponent("jobs"))
            print("scripts and logs in \(slurmPlan.directory.path); `prunescale status \(experiment.spec)` shows progress")
        }
    }
}

/// The Slurm commands PruneScale calls.
enum Slurm {
    static func sbatch(_ args: [String]) throws -> String {
        let out = try command("sbatch", args)
        let id = out.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
        guard !id.isEmpty, id.allSatisfy(\.isNumber) else { throw ValidationError("sbatch printed no job id: \(out)") }
        return id
    }

    /// squeue's lines for the given jobs (nil when squeue is not there).
    static func queue(jobs: [String]) -> String? {
        guard !jobs.isEmpty else { return nil }
        return try? command("squeue", ["--jobs=" + jobs.joined(separator: ","), "--array", "--format=%.18i %.30j %.8T %.10M %R"])
    }

    static func command(_ name: String, _ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [name] + args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        do { try p.run() } catch { throw ValidationError("\(name): cannot run (\(FileError.words(error)))") }
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            let message = String(decoding: e, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw ValidationError("\(name) failed: \(message.isEmpty ? "exit \(p.terminationStatus)" : message)")
        }
        return String(decoding: o, as: UTF8.self)
    }
}
