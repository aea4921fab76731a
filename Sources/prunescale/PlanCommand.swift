import ArgumentParser
import Foundation
import Persistence
import Reports
import ScalingLaw
import LossRecords

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Give the post-training token budget a target model needs, with its interval.",
        discussion: """
            Solves the fitted law (fit.json) for the smallest token count meeting one criterion:
              --target-loss L    the loss falls to L;
              --max-slope TAU    the loss falls by at most TAU per 1e9 further tokens (diminishing returns);
              --recovery F       a fraction F of the gap between the loss right after pruning \
            (--loss-pruned) and the law's floor L(D→∞) is closed.
            The interval comes from re-solving under each bootstrap sample of the fit. When the \
            criterion cannot be met under the fitted law (a target below the law's floor, say), the plan \
            says so instead of giving a number. Inputs outside the fitted range are flagged.

            Example:
              prunescale plan --fit out/p2/fit.json --n0 70e9 --rho 0.25 \\
                  --loss0 1.9 --target-loss 2.2 --out out/plan70b
            """)

    @Option(help: ArgumentHelp("A fit.json written by `prunescale fit`.", valueName: "file"))
    var fit: String
    @OptionGroup var targetOptions: TargetOptions

    @Option(name: .customLong("target-loss"), parsing: .unconditional, help: "Criterion: the loss to reach (> 0).")
    var targetLoss: NumberArg?
    @Option(name: .customLong("max-slope"), parsing: .unconditional, help: "Criterion: stop when the loss falls by at most this much (> 0) per 1e9 tokens.")
    var maxSlope: NumberArg?
    @Option(parsing: .unconditional, help: "Criterion: the fraction, in (0, 1), of the pruned-to-floor gap to close; needs --loss-pruned.")
    var recovery: NumberArg?
    @Option(name: .customLong("loss-pruned"), parsing: .unconditional, help: "Loss right after pruning, before any post-training (for --recovery).")
    var lossPruned: NumberArg?

    @Option(help: ArgumentHelp("Directory for plan.json and figures/plan.svg.", valueName: "dir"))
    var out: String?
    @Option(help: "Output on stdout: text, or json ({\"tokens\": ..., \"interval\": [lo, hi], ...}).")
    var format: OutputFormat = .text

    /// The one criterion given; a usage problem is one line like every other error.
    func criterion() throws -> PlanCriterion {
        let given = [targetLoss != nil, maxSlope != nil, recovery != nil].filter { $0 }.count
        guard given == 1 else { throw InputError("plan", "give exactly one criterion: --target-loss, --max-slope or --recovery") }
        if let targetLoss { return .targetLoss(try targetLoss.double("--target-loss")) }
        if let maxSlope { return .maxSlope(try maxSlope.double("--max-slope")) }
        guard let lossPruned else { throw InputError("--recovery", "needs --loss-pruned (the loss right after pruning)") }
        return .recovery(fraction: try recovery!.double("--recovery"), lossPruned: try lossPruned.double("--loss-pruned"))
    }

    /// The flag that gives each value of a criterion.
    static func flag(_ input: PlanCriterion.Input) -> String {
        switch input {
        case .targetLoss: "--target-loss"
        case .maxSlope: "--max-slope"
        case .fraction: "--recovery"
        case .lossPruned: "--loss-pruned"
        }
    }

    func run() throws {
        let criterion = try criterion()
        let target = try targetOptions.target()
        let (fitResult, law) = try FitFile.read(path: fit)
        let planner = try Planner(law: law, fit: fitResult)
        if let problem = criterion.problem(naming: Self.flag) { throw problem }
        try TargetOptions.check(target, for: planner)
        let plan = try planner.plan(target, criterion: criterion)
        if let out {
            try OutputDirectory.write(to: URL(fileURLWithPath: out)) { dir in
                let figures = dir.appendingPathComponent("figures")
                try FileManager.default.createDirectory(at: figures, withIntermediateDirectories: true)
                try AtomicFile.write(Figures.plan(plan), to: figures.appendingPathComponent("plan.svg"))
                try AtomicFile.write(JSONOutput.data(plan), to: dir.appendingPathComponent("plan.json"))
            }
        }
        switch format {
        case .json: try JSONOutput.print(plan)
        case .text:
            print(TextReport.plan(plan, confidence: fitResult.options.confidence))
            if let out { print("wrote \(out)/: plan.json, figures/plan.svg") }
        }
    }
}
