import ArgumentParser
import Experiments
import Foundation
import Persistence

extension ExperimentExport.Format: ExpressibleByArgument {}

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write an experiment's evaluations as loss records (CSV or JSON Lines).",
        discussion: """
            Every stored evaluation of the spec's cells, one row each, in the planner's schema \
            (run, n0, n, rho, loss0, tokens, loss) plus the labels base, structure, method, rate, \
            pattern, seed, family, protocol, cell, point, epochs, train_loss and step, in grid \
            order: `prunescale fit --data` reads it directly. Rows at 0 tokens are the loss right \
            after pruning (laws in log tokens set them aside); control cells have rho 0.

            Examples:
              prunescale export experiments/quickstart.yaml --format csv --out runs.csv
              prunescale fit --data runs.csv --law p2
            """)

    @OptionGroup var experiment: ExperimentOptions
    @Option(help: "csv or jsonl.")
    var format: ExperimentExport.Format = .csv
    @Option(help: ArgumentHelp("Write here instead of stdout (replaced atomically).", valueName: "file"))
    var out: String?

    func run() throws {
        let plan = try experiment.plan()
        guard FileManager.default.fileExists(atPath: plan.store.appendingPathComponent(ResultStore.fileName).path) else {
            throw ValidationError("\(plan.store.path): no result store yet (run the spec first)")
        }
        let records = try ExperimentExport.records(plan, store: try ResultStore(directory: plan.store))
        let text = ExperimentExport.text(records, format: format)
        if let out { try AtomicFile.write(text, to: URL(fileURLWithPath: out)) } else { FileHandle.standardOutput.write(Data(text.utf8)) }
    }
}
