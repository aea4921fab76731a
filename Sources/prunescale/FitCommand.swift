import ArgumentParser
import Foundation
import Persistence
import Reports
import ScalingLaw
import LossRecords

struct FitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fit",
        abstract: "Fit a scaling law to loss records.",
        discussion: """
            Fits the law with GSL's Levenberg–Marquardt trust-region solver and an exact Jacobian, \
            from several starting points, keeping the best. Reports each parameter with its standard \
            error (from the Jacobian at the optimum) and, with --bootstrap N, a percentile interval from \
            N refits on data sets made by --interval (default ar-wild: the fitted curves plus each run's \
            residuals with their correlation along the run kept; a run is one pruned model's loss \
            curve). The refits are kept in fit.json, so predict and plan give intervals of the same kind. \
            Metrics: R², RMSE, MAPE (%), mean Huber loss, and ASD (average slope difference between \
            consecutive checkpoints of each run, on raw and on log tokens). A metric the records do not \
            define (ASD when every run has a single point, as in one-model-per-row tables; R² when the \
            loss is constant) is printed as n/a with the reason, null in fit.json (reason under \
            metrics.undefined) and an empty cell in CSVs; the fit itself succeeds.

            With --holdout the law is fitted on the rest and the metrics of the held-out records are \
            reported separately. Warnings say when the data cannot pin a parameter down.

            --out DIR writes fit.json (what `predict` and `plan` read), predictions.csv, summary.md and \
            SVG figures, all at once: an interrupted run leaves no partial directory.

            Examples:
              prunescale fit --data data/sample-p2.csv --law p2 \\
                  --holdout tokens=0.2 --out out/p2
              prunescale fit --data runs.csv --columns loss=val_loss \\
                  --law chinchilla --objective huber --space log --design grid
              prunescale fit --data runs.csv --law custom \\
                  --expression 'E + A/n^alpha + B/tokens^beta' \\
                  --start A=400,B=400,alpha=0.3,beta=0.3,E=1.7
            """)

    @OptionGroup var input: DataOptions
    @OptionGroup var lawOptions: LawOptions
    @OptionGroup var fitter: FitterOptions

    @Option(help: ArgumentHelp("Directory for fit.json, predictions.csv, summary.md and figures/.", valueName: "dir"))
    var out: String?

    @Option(help: "Output on stdout: text, or json (the fit.json object).")
    var format: OutputFormat = .text

    func run() throws {
        let options = try fitter.options()
        let law = try lawOptions.make(start: options.values(\.start))
        let records = try input.load().requiring(law.variables, law: law.name)
        try FitterOptions.checkParameters(options, of: law)
        let analysis: FitAnalysis
        do {
            analysis = try ScalingLawFitter.fit(records.records, law: law, options: options, holdout: try fitter.parsedHoldout(), file: input.data)
        } catch let failure as FitFailure {
            throw FitterOptions.phrased(failure)
        }
        var written: [String] = []
        if let out {
            written = try FitOutput.write(analysis, plan: nil, to: URL(fileURLWithPath: out))
        }
        switch format {
        case .json: try JSONOutput.print(analysis.result)
        case .text:
            print(TextReport.fit(analysis.result))
            if let out { print("\nwrote \(out)/: \(written.joined(separator: ", "))") }
        }
    }
}

enum FitOutput {
    /// Reports first, fit.json last, all inside one staged directory.
    static func write(_ analysis: FitAnalysis, plan: PlanResult?, to dir: URL) throws -> [String] {
        try OutputDirectory.write(to: dir) { staging in
            let report = FitReport(fit: analysis.result, law: analysis.law, rows: analysis.rows, plan: plan)
            let files = try ReportWriter.write(report, to: staging)
            try AtomicFile.write(FitFile.encode(analysis.result), to: staging.appendingPathComponent("fit.json"))
            let base = staging.standardizedFileURL.path
            return ["fit.json"] + files.map { $0.standardizedFileURL.path.replacingOccurrences(of: base + "/", with: "") }
        }
    }
}
