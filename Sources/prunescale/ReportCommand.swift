import ArgumentParser
import Experiments
import Foundation
import Persistence

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Redo an experiment's fits, plans and report from its store, without training.",
        discussion: """
            Reads the stored evaluations of the spec's cells and rewrites STORE/report/ \
            (records.csv, fits.csv, holdouts.csv, predictions.csv, plans.csv, recovery.csv, summary.md, \
            figures/), e.g. after \
            changing the spec's fit or plans sections, which do not change any cell.

            Example:
              prunescale report experiments/quickstart.yaml
            """)

    @OptionGroup var experiment: ExperimentOptions
    @Option(help: "Output on stdout: text or json.")
    var format: OutputFormat = .text

    func run() throws {
        let plan = try experiment.plan()
        guard FileManager.default.fileExists(atPath: plan.store.appendingPathComponent(ResultStore.fileName).path) else {
            throw ValidationError("\(plan.store.path): no result store yet (run the spec first)")
        }
        let store = try ResultStore(directory: plan.store)
        let records = try ExperimentExport.records(plan, store: store)
        let report = try ExperimentReport.write(plan: plan, records: records, statuses: try ExperimentRunner.status(plan), to: plan.reportDirectory)
        try StatusSummary(plan: plan, statuses: try ExperimentRunner.status(plan)).print(format, report: report)
    }
}
