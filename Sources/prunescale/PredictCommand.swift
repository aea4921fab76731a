import ArgumentParser
import Foundation
import ScalingLaw
import LossRecords

/// Target-model flags shared by predict and plan. Negative values are taken (and refused by the
/// planner with a reason) rather than read as flags.
struct TargetOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Parameters of the target model before pruning, e.g. 70e9.")
    var n0: NumberArg?
    @Option(parsing: .unconditional,
            help: "Parameters after pruning (or give --rho). With both, they must agree: |1 - n/n0 - rho| <= 5e-4.")
    var n: NumberArg?
    @Option(parsing: .unconditional, help: "Pruning rate in [0, 1): the fraction of parameters removed.")
    var rho: NumberArg?
    @Option(parsing: .unconditional, help: "Loss of the target model before pruning.")
    var loss0: NumberArg?

    func target() throws -> PlanTarget {
        PlanTarget(n0: try n0?.double("--n0"), n: try n?.double("--n"), rho: try rho?.double("--rho"), loss0: try loss0?.double("--loss0"))
    }

    /// Throws naming the flags of a target value out of range, of `--n` and `--rho` when they
    /// describe different models, or of what `planner`'s law still lacks.
    static func check(_ target: PlanTarget, for planner: Planner) throws {
        let flag = { (v: Variable) in "--\(v.rawValue)" }
        if let problem = target.problem(naming: flag) { throw problem }
        let missing = planner.missingInputs(for: target)
        guard missing.isEmpty else {
            throw LawError("law \(planner.law.name) needs \(missing.map(flag).joined(separator: ", ")) for the target model")
        }
    }
}

struct PredictResult: Encodable {
    var target: PlanTarget
    var law: String
    var confidence: Double
    var predictions: [LossPrediction]
    var extrapolation: [String]
}

struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Predict the loss of a target model after given post-training token counts.",
        discussion: """
            Evaluates a fitted law (fit.json) at the target model and token counts. Intervals come from \
            the fit's bootstrap samples (fit with --bootstrap N); without them only the point estimate \
            is given. Inputs outside the range the law was fitted on are flagged as extrapolation.

            Example:
              prunescale predict --fit out/p2/fit.json --n0 70e9 --rho 0.25 \\
                  --loss0 1.9 --tokens 1e8,1e9,1e10
            """)

    @Option(help: ArgumentHelp("A fit.json written by `prunescale fit`.", valueName: "file"))
    var fit: String
    @OptionGroup var targetOptions: TargetOptions
    @Option(parsing: .unconditional,
            help: ArgumentHelp("Token counts: a list 1e8,1e9 or a log-spaced range FROM:TO:COUNT; at most 100,000 counts.", valueName: "list"))
    var tokens: String
    @Option(help: "Output on stdout: text or json.")
    var format: OutputFormat = .text

    func run() throws {
        let target = try targetOptions.target()
        let list = try TokenList.parse(tokens, flag: "--tokens")
        let (fitResult, law) = try FitFile.read(path: fit)
        let planner = try Planner(law: law, fit: fitResult)
        try TargetOptions.check(target, for: planner)
        let predictions = try planner.predict(target, tokens: list)
        let result = PredictResult(target: target, law: law.name, confidence: fitResult.options.confidence,
                                   predictions: predictions, extrapolation: try planner.extrapolation(target, tokens: list))
        switch format {
        case .json: try JSONOutput.print(result)
        case .text:
            let level = Int((fitResult.options.confidence * 100).rounded())
            print(TextReport.pad("tokens", 14) + TextReport.pad("loss", 12) + (predictions.first?.interval != nil ? "\(level)% interval" : ""))
            for p in predictions {
                print(TextReport.pad(TextReport.g(p.tokens, 4), 14) + TextReport.pad(TextReport.g(p.loss, 6), 12)
                      + (p.interval.map { "[\(TextReport.g($0[0], 5)), \(TextReport.g($0[1], 5))]" } ?? ""))
            }
            if predictions.first?.interval == nil { print("(no intervals: the fit has no bootstrap samples; refit with --bootstrap N)") }
            for e in result.extrapolation { print("extrapolation: \(e)") }
        }
    }
}
