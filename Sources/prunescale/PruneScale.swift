import ArgumentParser

@main
struct PruneScale: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prunescale",
        abstract: "Plan post-training token budgets for pruned language models from scaling-law fits.")
}
