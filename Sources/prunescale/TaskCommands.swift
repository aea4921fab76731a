import ArgumentParser
import Experiments
import Foundation
import TextData

/// `prepare-base`, `run-cell`, `collect`: the pieces `submit` schedules as Slurm array tasks,
/// usable by hand too.
struct PrepareBaseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prepare-base",
        abstract: "Pre-train one base of an experiment if it needs it, and measure its loss (a task of `submit`).",
        discussion: """
            A ladder base whose folder holds no finished run is pre-trained (under the folder's \
            lock; a second task for it is refused), then its eval loss on the cells' eval windows \
            is cached in STORE/bases/. Cells of the base can run after this.

            Example:
              prunescale prepare-base experiments/paper-replica.yaml --base s4
            """)
    @OptionGroup var experiment: ExperimentOptions
    @Option(help: "Base name.") var base: String
    @OptionGroup var compute: ComputeOptions
    @OptionGroup var cache: CacheOptions

    func run() throws {
        let plan = try experiment.plan(cache: cache.url)
        let threads = compute.apply()
        try ExperimentTasks.prepareBase(plan, name: base, cache: cache.url,
                                        threads: threads, log: { FileHandle.standardError.write(Data(($0 + "\n").utf8)) })
    }
}

struct RunCellCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run-cell",
        abstract: "Run one cell of an experiment into a result shard (a task of `submit`).",
        discussion: """
            Runs the cell (by id or label, as `status` lists them) unless the store or a shard \
            holds it already, and writes STORE/shards/ID.json in one atomic step; a task killed \
            midway leaves no shard and resumes from the cell's checkpoints when run again. \
            `prunescale collect` moves shards into the store.

            Example:
              prunescale run-cell experiments/quickstart.yaml --cell xs/width/wanda/0.25/s0
            """)
    @OptionGroup var experiment: ExperimentOptions
    @Option(help: "Cell id or label.") var cell: String
    @OptionGroup var compute: ComputeOptions
    @OptionGroup var cache: CacheOptions

    func run() throws {
        let plan = try experiment.plan(cache: cache.url)
        let threads = compute.apply()
        try ExperimentTasks.runCell(plan, id: cell, cache: cache.url,
                                    threads: threads, log: { FileHandle.standardError.write(Data(($0 + "\n").utf8)) })
    }
}

struct CollectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collect",
        abstract: "Move an experiment's result shards into its store (idempotent).",
        discussion: """
            Every shard of a cell of the spec (STORE/shards/ID.json, written by `run-cell` tasks) \
            is recorded in STORE/store.sqlite in one transaction per cell; a cell the store holds \
            already is skipped, so collecting twice leaves the same store. Then `prunescale report \
            SPEC` fits and writes the report.

            Example:
              prunescale collect experiments/paper-replica.yaml && prunescale report experiments/paper-replica.yaml
            """)
    @OptionGroup var experiment: ExperimentOptions

    func run() throws {
        let plan = try experiment.plan()
        let r = try ExperimentTasks.collect(plan)
        print("collected \(r.added) cell(s); \(r.already) already in the store")
    }
}
