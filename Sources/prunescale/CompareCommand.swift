import ArgumentParser
import Foundation
import Persistence
import Reports
import ScalingLaw
import LossRecords

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Fit several laws to the same data and holdout, and rank them.",
        discussion: """
            Each law is fitted with the same options and the same held-out protocol, then ranked by \
            one metric: on the held-out records when --holdout is given (how well a law extrapolates is \
            what the planner relies on), else on the fitted ones. Laws the data cannot feed (a missing \
            column) are listed as skipped with the reason. A metric the records do not define (ASD when \
            every run has a single point, R² when the loss is constant) is n/a in the table, null in \
            comparison.json and an empty cell in comparison.csv, with the reason printed; a law whose \
            ranking metric is n/a ranks last.

            Example:
              prunescale compare --data data/sample-p2.csv \\
                  --laws p2,p2-alt1,p2-alt2,p2-alt3 --holdout tokens=0.2
            """)

    @OptionGroup var input: DataOptions
    @Option(help: ArgumentHelp("Laws to compare (comma-separated names; `prunescale laws` lists them).", valueName: "a,b,..."))
    var laws: String = "p2,p2-nodelta,p2-additive,p2-counts"
    @OptionGroup var fitter: FitterOptions
    @Option(name: .customLong("rank-by"), help: "Ranking metric: r2, rmse, mape, huber, asd or asd_log (r2 ranks high first, the rest low first).")
    var rankBy: RankMetric = .r2
    @Option(help: ArgumentHelp("Directory for comparison.csv and comparison.json.", valueName: "dir"))
    var out: String?
    @Option(help: "Output on stdout: text or json.")
    var format: OutputFormat = .text

    enum RankMetric: String, ExpressibleByArgument, CaseIterable, Encodable {
        case r2, rmse, mape, huber, asd
        case asdLog = "asd_log"
        /// Lower ranks first; nil when the metric is undefined on these records.
        func value(_ m: FitMetrics) -> Double? {
            guard let v = m[FitMetrics.Metric(rawValue: rawValue)!] else { return nil }
            return self == .r2 ? -v : v
        }
    }

    struct Entry: Encodable {
        var rank: Int
        var law: String
        var formula: String
        var parameters: Int
        var params: [String: Double]
        var metrics: FitMetrics
        var holdoutMetrics: FitMetrics?
        var warnings: [String]
        enum CodingKeys: String, CodingKey {
            case rank, law, formula, parameters, params, metrics, warnings
            case holdoutMetrics = "holdout_metrics"
        }
    }

    struct Skipped: Encodable {
        var law: String
        var reason: String
    }

    struct Comparison: Encodable {
        var rankBy: String
        var on: String
        var holdout: String?
        var ranking: [Entry]
        var skipped: [Skipped]
        enum CodingKeys: String, CodingKey {
            case rankBy = "rank_by", on, holdout, ranking, skipped
        }
    }

    func run() throws {
        let options = try fitter.options()
        let holdout = try fitter.parsedHoldout()
        let records = try input.load()
        let names = laws.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !names.isEmpty else { throw InputError("--laws", "no law named") }
        var seen = Set<String>()
        for name in names {
            // Fitting one law twice would only rank it against itself.
            let law = try LawOptions.builtin(named: name)
            guard seen.insert(law.name).inserted else { throw InputError("--laws", "\(OneLine.quoted(name)) names law \(law.name) a second time") }
        }
        var fits: [FitResult] = []
        var skipped: [Skipped] = []
        for name in names {
            let law = try LawOptions.builtin(named: name)
            do {
                let usable = try records.requiring(law.variables, law: law.name)
                try FitterOptions.checkParameters(options, of: law)
                fits.append(try ScalingLawFitter.fit(usable.records, law: law, options: options, holdout: holdout, file: input.data).result)
            } catch let e as DataError {
                skipped.append(Skipped(law: law.name, reason: e.description))
            } catch let e as LawError {
                skipped.append(Skipped(law: law.name, reason: e.message))
            } catch let failure as FitFailure {
                skipped.append(Skipped(law: law.name, reason: FitterOptions.phrased(failure).message))
            }
        }
        guard !fits.isEmpty else { throw LawError("no law could be fitted: " + skipped.map { "\($0.law): \($0.reason)" }.joined(separator: "; ")) }
        let key = { (f: FitResult) -> Double in
            rankBy.value(holdout != nil ? (f.holdoutMetrics ?? f.metrics) : f.metrics) ?? .infinity
        }
        let ranked = fits.sorted { key($0) < key($1) }
        let comparison = Comparison(
            rankBy: rankBy.rawValue, on: holdout != nil ? "held-out records" : "fitted records", holdout: holdout?.description,
            ranking: ranked.enumerated().map { i, f in
                Entry(rank: i + 1, law: f.law.name, formula: f.formula, parameters: f.parameterNames.count, params: f.params,
                      metrics: f.metrics, holdoutMetrics: f.holdoutMetrics, warnings: f.warnings)
            },
            skipped: skipped)

        let table = csv(comparison)
        if let out {
            try OutputDirectory.write(to: URL(fileURLWithPath: out)) { dir in
                try AtomicFile.write(table.text, to: dir.appendingPathComponent("comparison.csv"))
                try AtomicFile.write(JSONOutput.data(comparison), to: dir.appendingPathComponent("comparison.json"))
            }
        }
        switch format {
        case .json: try JSONOutput.print(comparison)
        case .text:
            print("ranked by \(rankBy.rawValue) on the \(comparison.on)" + (holdout.map { " (\($0))" } ?? ""))
            let header = ["rank", "law", "k", "R²", "RMSE", "MAPE %", "ASD", "ASD log"] + (holdout != nil ? ["R² held", "RMSE held", "ASD held"] : []) + ["warnings"]
            let widths = [5, 14, 4, 10, 11, 9, 11, 11] + (holdout != nil ? [10, 11, 11] : []) + [8]
            print(zip(header, widths).map { TextReport.pad($0, $1) }.joined())
            for e in comparison.ranking {
                let m = TextReport.metric
                var cells = ["\(e.rank)", e.law, "\(e.parameters)", m(e.metrics.r2, 5), m(e.metrics.rmse, 4),
                             m(e.metrics.mape, 4), m(e.metrics.asd, 3), m(e.metrics.asdLog, 3)]
                if let h = e.holdoutMetrics { cells += [m(h.r2, 5), m(h.rmse, 4), m(h.asd, 3)] }
                cells.append("\(e.warnings.count)")
                print(zip(cells, widths).map { TextReport.pad($0, $1) }.joined())
            }
            for e in comparison.ranking {
                for note in e.metrics.notes { print("\(e.law): \(note)") }
                for note in e.holdoutMetrics?.notes ?? [] { print("\(e.law), held out: \(note)") }
            }
            for s in skipped { print("skipped \(s.law): \(s.reason)") }
            if let out { print("wrote \(out)/: comparison.csv, comparison.json") }
        }
    }

    func csv(_ c: Comparison) -> CSVTable {
        let metricNames = ["r2", "rmse", "mape", "huber", "asd", "asd_log"]
        var t = CSVTable(header: ["rank", "law", "parameters"] + metricNames + metricNames.map { "holdout_\($0)" } + ["warnings"])
        func cells(_ m: FitMetrics?) -> [String] {
            guard let m else { return [String](repeating: "", count: metricNames.count) }
            // An undefined metric is an empty cell (CSVTable.number), as absent values are.
            return FitMetrics.Metric.allCases.map { CSVTable.number(m[$0]) }
        }
        for e in c.ranking {
            t.append(["\(e.rank)", e.law, "\(e.parameters)"] + cells(e.metrics) + cells(e.holdoutMetrics) + ["\(e.warnings.count)"])
        }
        return t
    }
}
