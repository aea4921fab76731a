/// One structured (depth or width) pruning method: it reads its own options and scores the source
/// model's blocks or units, and may choose the units to keep itself. Everything after that
/// (allocation, surgery, the loss after, the rate check, the report) `StructuredPruner` does once
/// for all methods. `DepthMethod.scorer` and `WidthMethod.scorer` name each method's type.
protocol MethodScorer {
    /// The `--option` names the method reads; `StructuredPruner` refuses any other before any work.
    static var optionNames: [String] { get }
    /// The method with its default options.
    init()
    /// The method with its options read (their names already checked); a bad value is refused here.
    init(options: [String: String]) throws
    func score(_ context: ScoringContext, log: (String) -> Void) throws -> Scoring
}

extension MethodScorer {
    static var optionNames: [String] { [] }

    init(options: [String: String]) throws { self.init() }

    /// Refuses the first option, by name, that the method does not read.
    static func refuseUnknownOptions(_ options: [String: String]) throws {
        guard let unknown = options.keys.sorted().first(where: { !optionNames.contains($0) }) else { return }
        throw PruningError("option '\(unknown)' means nothing to this method"
                           + (optionNames.isEmpty ? " (it takes no options)" : " (it takes: \(optionNames.sorted().joined(separator: ", ")))"))
    }
}
