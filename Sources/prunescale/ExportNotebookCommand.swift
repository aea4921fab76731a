import ArgumentParser
import Experiments
import Foundation
import Persistence

struct ExportNotebookCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-notebook",
        abstract: "Write a Jupyter notebook that reads an experiment's report and cross-checks its P2 fit with scipy.",
        discussion: """
            The notebook loads the report's CSVs (records, fits, plans) with pandas, redraws the \
            loss curves with matplotlib, and refits the P2 law with scipy (an implementation that \
            shares no code with PruneScale), asserting that PruneScale's parameters give the RMSE \
            it reported and that scipy finds no fit better by more than 0.1 % of RMSE. It needs \
            numpy, pandas, matplotlib and scipy; run it headless with
              jupyter nbconvert --to notebook --execute NOTEBOOK

            Example:
              prunescale export-notebook experiments/quickstart.yaml --out notebooks-export/quickstart.ipynb
            """)

    @OptionGroup var experiment: ExperimentOptions
    @Option(help: ArgumentHelp("Notebook file (default: notebooks-export/NAME.ipynb).", valueName: "file"))
    var out: String?
    @Option(help: ArgumentHelp("""
        Report folder the notebook reads (default: STORE/report), e.g. a copy committed under \
        experiments/results/.
        """, valueName: "dir"))
    var report: String?

    func run() throws {
        let plan = try experiment.plan()
        let report = self.report.map { URL(fileURLWithPath: $0) } ?? plan.reportDirectory
        guard FileManager.default.fileExists(atPath: report.appendingPathComponent("records.csv").path) else {
            throw ValidationError("\(report.path): no report yet (run the spec, or `prunescale report` it)")
        }
        let url = URL(fileURLWithPath: out ?? "notebooks-export/\(plan.spec.name).ipynb")
        try AtomicFile.createDirectory(url.deletingLastPathComponent())
        try AtomicFile.write(try NotebookExport.notebook(spec: plan.spec, report: report, folder: url.deletingLastPathComponent()), to: url)
        print("wrote \(url.path)")
    }
}
