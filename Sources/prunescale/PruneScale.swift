import OpenBLASRuntime
import ArgumentParser
import Experiments
import Persistence
import Tensor

@main
struct PruneScale: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prunescale",
        abstract: "Plan post-training token budgets for pruned language models from scaling-law fits.",
        discussion: """
            PruneScale fits post-training scaling laws (the P2 law of Chen et al. 2024 and its \
            alternatives, Chinchilla, the sparsity law, or your own expression) to loss records, \
            and predicts how many post-training tokens a larger pruned model needs, with intervals.

            Records are CSV or JSON Lines with columns run, n0, n, rho, loss0, tokens, loss \
            (any subset the law needs). A typical session:

              prunescale fit --data data/sample-p2.csv --bootstrap 1000 --out out/p2
              prunescale plan --fit out/p2/fit.json --n0 70e9 --rho 0.25 \\
                  --loss0 1.9 --target-loss 2.2

            Every command that prints results also takes --format json and then prints one JSON \
            object on stdout.

            OpenBLAS runs the fastest kernels this CPU supports (OPENBLAS_CORETYPE chooses others); \
            --version names them. Numbers are reproducible for one kernel family and thread count.
            """,
        version: PruneScaleVersion.withKernels,
        subcommands: [FitCommand.self, CompareCommand.self, PredictCommand.self, PlanCommand.self,
                      SimulateCommand.self, LawsCommand.self, DataCommand.self, PretrainCommand.self, TrainCommand.self,
                      EvalCommand.self, GenerateCommand.self, TokenizeCommand.self, PruneCommand.self,
                      RunCommand.self, StatusCommand.self, ExportCommand.self, ReportCommand.self, ExportNotebookCommand.self,
                      SubmitCommand.self, CollectCommand.self, PrepareBaseCommand.self, RunCellCommand.self])

    /// Runs the command; a Foundation or system error that reaches this far is printed as
    /// `path: problem in words`, never as `NSCocoaErrorDomain Code=…`.
    static func main() {
        // OpenBLAS's fastest kernels for this CPU (0.3.21 falls back to generic ones on newer Xeons).
        BLASCore.selectBestCore()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exit(withError: FileError.from(error) ?? error)
        }
    }
}
