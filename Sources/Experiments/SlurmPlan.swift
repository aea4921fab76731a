import Foundation
import Persistence

/// The sbatch scripts of an experiment on a Slurm cluster: one job array preparing the bases
/// (pre-training those that need it), one array per base running its missing cells once that
/// base's task succeeded (`--dependency=afterok:JOB_TASK`), and a last job that collects the
/// shards into the store and writes the report once every cell task has ended (`afterany`).
public struct SlurmPlan: Sendable {
    public struct Options: Sendable {
        public var partition: String?
        public var time: String?
        public var cpusPerTask = 2
        /// At most this many tasks of an array at once (`%M`); nil: Slurm's choice.
        public var arrayMax: Int?
        public init() {}
    }

    public struct Script: Sendable {
        public var name: String
        public var url: URL
        public var text: String
        /// Base task this array waits for (index into the bases array), if any.
        public var dependsOnBase: Int?
        public var tasks: Int
    }

    public var bases: Script?
    public var cells: [Script]
    public var collect: Script
    public var directory: URL

    /// Scripts for what the store lacks. `binary`, `spec` and `cache` are written as absolute paths.
    public static func make(_ plan: RunPlan, statuses: [CellStatus], binary: String, cache: URL, options: Options) -> SlurmPlan {
        let dir = plan.store.appendingPathComponent("slurm")
        let logs = dir.appendingPathComponent("logs").path
        let spec = URL(fileURLWithPath: plan.spec.file).standardizedFileURL.path
        func header(_ job: String, array: Int?) -> String {
            var h = "#!/bin/bash\n# Written by `prunescale submit`; safe to resubmit: finished work is skipped.\n"
            h += "#SBATCH --job-name=prunescale-\(plan.spec.name)-\(job)\n"
            if let array { h += "#SBATCH --array=0-\(array - 1)" + (options.arrayMax.map { "%\($0)" } ?? "") + "\n" }
            h += "#SBATCH --cpus-per-task=\(options.cpusPerTask)\n"
            if let p = options.partition { h += "#SBATCH --partition=\(p)\n" }
            if let t = options.time { h += "#SBATCH --time=\(t)\n" }
            h += "#SBATCH --output=\(logs)/\(job)-%A_%a.out\nset -euo pipefail\n"
            return h
        }
        let args = "\(shell(spec)) --store \(shell(plan.store.path))"
        let compute = "--threads \(options.cpusPerTask) --cache \(shell(cache.path))"

        // Every base is prepared (pre-training only those that need it; the loss0 cache for all).
        let names = plan.bases.map(\.identity.name)
        let basesScript = Script(
            name: "bases", url: dir.appendingPathComponent("bases.sbatch"),
            text: header("bases", array: names.count) + "names=(\(names.map(shell).joined(separator: " ")))\n"
                + "exec \(shell(binary)) prepare-base \(args) --base \"${names[$SLURM_ARRAY_TASK_ID]}\" \(compute)\n",
            dependsOnBase: nil, tasks: names.count)

        var cells: [Script] = []
        let missing = Set(statuses.filter { $0.state != .done }.map(\.id))
        for (i, name) in names.enumerated() {
            let ids = plan.cells.filter { $0.base == name && missing.contains($0.id) }.map(\.id)
            guard !ids.isEmpty else { continue }
            cells.append(Script(
                name: "cells-\(name)", url: dir.appendingPathComponent("cells-\(name).sbatch"),
                text: header("cells-\(name)", array: ids.count) + "cells=(\(ids.joined(separator: " ")))\n"
                    + "exec \(shell(binary)) run-cell \(args) --cell \"${cells[$SLURM_ARRAY_TASK_ID]}\" \(compute)\n",
                dependsOnBase: i, tasks: ids.count))
        }
        let collect = Script(
            name: "collect", url: dir.appendingPathComponent("collect.sbatch"),
            text: header("collect", array: nil).replacingOccurrences(of: "-%A_%a.out", with: "-%j.out")
                + "\(shell(binary)) collect \(args)\nexec \(shell(binary)) report \(args)\n",
            dependsOnBase: nil, tasks: 1)
        return SlurmPlan(bases: basesScript, cells: cells, collect: collect, directory: dir)
    }

    /// Writes the scripts (and the logs folder).
    public func write() throws {
        try AtomicFile.createDirectory(directory.appendingPathComponent("logs"))
        for s in [bases].compactMap({ $0 }) + cells + [collect] { try AtomicFile.write(s.text, to: s.url) }
    }

    static func shell(_ s: String) -> String {
        s.allSatisfy({ $0.isLetter || $0.isNumber || "/._-=:,".contains($0) }) ? s : "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
