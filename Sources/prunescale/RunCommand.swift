import ArgumentParser
import Experiments
import Foundation
import Persistence
import Training
import TextData

/// The spec argument and store of every experiment command.
struct ExperimentOptions: ParsableArguments {
    @Argument(help: ArgumentHelp("Experiment spec (YAML, see experiments/README.md).", valueName: "spec"))
    var spec: String

    @Option(help: ArgumentHelp("Result store folder (default: the spec's output).", valueName: "dir"))
    var store: String?

    /// The resolved plan; a bad spec exits with code 2 after one `file:line:column: problem` line.
    func plan(cache: URL = DataCache.defaultDirectory()) throws -> RunPlan {
        do {
            let s = try ExperimentSpec.load(path: spec)
            return try ExperimentRunner.plan(s, store: store.map { URL(fileURLWithPath: $0) },
                                             cache: cache)
        } catch let e as ExperimentSpecError {
            FileHandle.standardError.write(Data("Error: \(e)\n".utf8))
            throw ExitCode(2)
        } catch let e as SpecError {
            FileHandle.standardError.write(Data("Error: \(e)\n".utf8))
            throw ExitCode(2)
        }
    }
}

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run an experiment spec: prune, post-train, record, fit, plan, report; resumable.",
        discussion: """
            Does what the store lacks, cell by cell: pre-trains ladder bases whose folders hold no \
            finished run, then for every cell of the grid (base × pruning × seed, plus an unpruned \
            control per base) prunes the base, post-trains the pruned model with the spec's recipe \
            and evaluates it at log-spaced token counts (0 = right after pruning). A finished cell \
            is stored with all its evaluations in one transaction and never redone; running the \
            spec again does only what is missing. Kill it at any moment and run it again: it \
            continues where it stopped, and the export is bit-identical to an uninterrupted run's \
            at the same --threads and --jobs.

            A cell that fails (a rate the model cannot reach, a diverging loss) is recorded as \
            failed with its error and the rest of the grid goes on (--retry-failed runs them again).

            Then it fits the spec's laws per pruning family with each held-out protocol, plans \
            the spec's targets and writes the report folder STORE/report/: records.csv, fits.csv, \
            predictions.csv, plans.csv, summary.md and figures/.

            Where things go: STORE/store.sqlite (results), STORE/cells/ID/ (each cell's pruned \
            model and training checkpoints), STORE/bases/ (base losses), STORE/report/. Ladder \
            bases are pre-trained into the ladder spec's own output folder and reused from there.

            Progress: a line per finished cell; on a terminal an overall bar with ETA, otherwise a \
            line every 10 s. --dry-run lists the cells, their cost and what is done, and runs nothing.

            The spec (every key in experiments/README.md; a bad one stops with file:line:column \
            and exit code 2):
              name, output (store folder), ladder (default experiments/ladder.yaml), corpus
              bases:     [xs, s] (ladder sizes) or {checkpoint: DIR, name: N}
              pruning:   grid: [{structure: depth|width, methods: [...], rates: [...]},
                                {pattern: "2:4", methods: [...]}], control (true),
                         calibration_windows (32), batch (8), seed (0)
              posttrain: tokens | tokens_per_param, eval_points (12), protocol (curve |
                         loss-at-budget), lr (3e-4), schedule (constant), warmup (0),
                         decay_fraction (0.2), min_lr_fraction (0.1), weight_decay, clip,
                         batch (16), seq (256), accumulate, eval_tokens (65536),
                         seeds ([0]), split (posttrain), checkpoints (10)
              fit:       laws ([p2, p2-nodelta, p2-additive]), holdouts ([tokens=0.2,
                         n0=max, rho=max]), per_family (true), starts, bootstrap, seed,
                         confidence, space, objective
              plans:     [{label, family, n0, rho | n, loss0, target-loss | max-slope |
                         recovery + loss-pruned}]

            Examples:
              prunescale run experiments/quickstart.yaml
              prunescale run experiments/quickstart.yaml --dry-run
              prunescale run experiments/paper-replica.yaml --threads 2 --jobs 1
            """)

    @OptionGroup var experiment: ExperimentOptions
    @OptionGroup var compute: ComputeOptions

    @Option(help: "Cells run side by side (each gets threads / jobs threads).")
    var jobs: Int = 1

    @OptionGroup var cache: CacheOptions

    @Flag(help: "List the cells, their estimated cost and state; run nothing.")
    var dryRun = false

    @Flag(name: .customLong("retry-failed"), help: "Run cells recorded as failed again.")
    var retryFailed = false

    @Option(help: "Output on stdout: text or json.")
    var format: OutputFormat = .text

    func validate() throws {
        guard jobs >= 1, jobs <= 256 else { throw ValidationError("--jobs must be in 1...256, got \(jobs)") }
    }

    func run() throws {
        let plan = try experiment.plan(cache: cache.url)
        let cacheURL = cache.url
        if dryRun {
            let estimate = try CostEstimate.make(plan, threads: compute.apply())
            try estimate.print(format)
            return
        }
        let started = ProcessInfo.processInfo.systemUptime
        let threads = compute.apply()
        var runner = ExperimentRunner(plan: plan, cache: cacheURL, threads: threads)
        runner.jobs = jobs
        runner.retryFailed = retryFailed
        let statuses = try runner.run()
        let store = try ResultStore(directory: plan.store)
        let records = try ExperimentExport.records(plan, store: store)
        let report = try ExperimentReport.write(plan: plan, records: records, statuses: statuses, to: plan.reportDirectory)
        let t = runner.times, wall = ProcessInfo.processInfo.systemUptime - started
        // With one job the cells' work is their pruning and training; with several it overlaps,
        // and only the time outside the cells' phase is the runner's for sure.
        let other = jobs == 1 ? wall - t.work : wall - t.pretrain - t.cellsPhase
        FileHandle.standardError.write(Data(String(format: "wall %.1f s: pre-training %.1f s, pruning %.1f s, post-training and evaluation %.1f s%@; runner, fits and report %.1f s (%.1f %%)\n",
                                                   wall, t.pretrain, t.prune, t.train, jobs == 1 ? "" : String(format: " (summed over %d jobs, %.1f s of wall)", jobs, t.cellsPhase),
                                                   other, 100 * other / max(wall, 1e-9)).utf8))
        try StatusSummary(plan: plan, statuses: statuses).print(format, report: report)
    }
}

extension CostEstimate {
    func print(_ format: OutputFormat) throws {
        switch format {
        case .json: try JSONOutput.print(self)
        case .text:
            for (name, m) in pretrain.sorted(by: { $0.key < $1.key }) { Swift.print(String(format: "pre-train base %@: %.1f min", name, m)) }
            Swift.print("state    cell              train tokens  eval tokens  GFLOP      min   label")
            for r in cells {
                Swift.print(r.state.padding(toLength: 9, withPad: " ", startingAt: 0) + r.id.padding(toLength: 18, withPad: " ", startingAt: 0)
                            + String(format: "%12d  %11d  %9.1f  %6.2f   ", r.trainTokens, r.evalTokens, r.flops / 1e9, r.minutes) + r.label)
            }
            let speeds = tokensPerSecond.sorted { $0.key < $1.key }.map { String(format: "%@ %.0f tok/s", $0.key, $0.value) }.joined(separator: ", ")
            Swift.print(String(format: "%d cells, %d done; about %.1f min left at the measured speed (%@)", cells.count,
                               cells.filter { $0.state == "done" }.count, minutesLeft, speeds))
        }
    }
}
