import ArgumentParser
import Foundation
import Persistence
import ScalingLaw
import LossRecords

struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Write synthetic loss records drawn from a law with known parameters.",
        discussion: """
            One run per (n0, rho), checkpoints at the given token counts, loss multiplied by \
            (1 + noise × a standard normal draw). loss0 defaults to Hoffmann et al.'s Chinchilla loss at \
            20 tokens per parameter. Useful to see how well a design can pin a law down before paying \
            for the runs.

            Example (how data/sample-p2.csv was made):
              prunescale simulate --law p2 \\
                  --set NC=500,DC=2000,E=1,alpha=0.3,beta=0.35,gamma=-0.8,delta=0.05 \\
                  --n0 1e9,3e9,8e9 --rho 0.15,0.25,0.35 --tokens 1e8:1e10:20 \\
                  --noise 0.002 --seed 1 --out data/sample-p2.csv
            """)

    @OptionGroup var lawOptions: LawOptions
    @Option(help: ArgumentHelp("Every parameter's true value, name=value,...", valueName: "name=value,..."))
    var set: String
    @Option(parsing: .unconditional, help: ArgumentHelp("Model sizes before pruning (distinct, > 0).", valueName: "list"))
    var n0: String = "1e9,3e9,8e9"
    @Option(parsing: .unconditional, help: ArgumentHelp("Pruning rates (distinct, in [0, 1)).", valueName: "list"))
    var rho: String = "0.15,0.25,0.35"
    @Option(parsing: .unconditional, help: ArgumentHelp("loss0 per n0 (same order); default: Chinchilla at 20 tokens/parameter.", valueName: "list"))
    var loss0: String?
    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Checkpoints: a list or FROM:TO:COUNT (log-spaced), at most 100,000. At most 1,000,000 records in all (n0 values × rates × checkpoints).",
        valueName: "list"))
    var tokens: String = "1e8:1e10:20"
    @Option(parsing: .unconditional, help: "Relative Gaussian noise on each loss (0.002 = 0.2%); a draw that makes a loss non-positive is refused.")
    var noise = NumberArg("0")
    @Option(parsing: .unconditional, help: "AR(1) correlation of the noise between neighbouring checkpoints of a run, in (-1, 1); 0 = independent.")
    var correlation = NumberArg("0")
    @Option(name: .customLong("run-offset"), parsing: .unconditional, help: "Relative sd of one offset shared by all checkpoints of a run (0.002 = 0.2%); 0 = none.")
    var runOffset = NumberArg("0")
    @Option(parsing: .unconditional, help: "Noise seed.")
    var seed = NumberArg("0")
    @Option(help: ArgumentHelp("CSV file to write (default: stdout).", valueName: "file"))
    var out: String?

    /// The flag that gives each value `Synthetic.checkedRecords` checks.
    static func flag(_ input: Synthetic.Input) -> String {
        switch input {
        case .params: "--set"
        case .n0, .rho, .tokens, .loss0, .noise, .correlation: "--\(input.rawValue)"
        case .runOffset: "--run-offset"
        }
    }

    func run() throws {
        let values = try KeyValues.numbers(set, flag: "--set")
        let law = try lawOptions.make(start: values)
        let missing = law.parameterNames.filter { values[$0] == nil }
        guard missing.isEmpty else { throw InputError("--set", "lacks \(missing.joined(separator: ", ")) (law \(law.name) has \(law.parameterNames.joined(separator: ", ")))") }
        for k in values.keys.sorted() where law.parameterIndex(k) == nil { throw InputError("--set", "\(OneLine.quoted(k)): law \(law.name) has no such parameter") }
        let design = SyntheticDesign(n0: try KeyValues.list(n0, flag: "--n0"), rho: try KeyValues.list(rho, flag: "--rho"),
                                     tokens: try TokenList.parse(tokens, flag: "--tokens", allowZero: true),
                                     loss0: try loss0.map { try KeyValues.list($0, flag: "--loss0") },
                                     noise: try noise.double("--noise"), seed: try seed.uint64("--seed"),
                                     correlation: try correlation.double("--correlation"), runOffset: try runOffset.double("--run-offset"))
        let records = try Synthetic.checkedRecords(law: law, params: law.parameterNames.map { values[$0]! }, design: design, naming: Self.flag)
        let text = RecordWriter.csv(RecordSet(file: out ?? "stdout", records: records))
        if let out {
            try FileManager.default.createDirectory(at: URL(fileURLWithPath: out).deletingLastPathComponent(), withIntermediateDirectories: true)
            try AtomicFile.write(text, to: URL(fileURLWithPath: out))
            FileHandle.standardError.write(Data("wrote \(records.count) records (\(design.n0.count * design.rho.count) runs) to \(out)\n".utf8))
        } else {
            print(text, terminator: "")
        }
    }
}

struct LawsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "laws",
        abstract: "List the built-in laws with their formulas, parameters and inputs.")

    @Option(help: "Output on stdout: text or json.")
    var format: OutputFormat = .text

    struct Entry: Encodable {
        var name: String
        var formula: String
        var parameters: [String]
        var variables: [String]
        var aliases: [String]
    }

    func run() throws {
        let entries = LawRegistry.builtins.map { law in
            Entry(name: law.name, formula: law.formula, parameters: law.parameterNames, variables: law.variables.map(\.rawValue),
                  aliases: LawRegistry.aliases.filter { $0.value == law.name }.map(\.key).sorted())
        }
        switch format {
        case .json: try JSONOutput.print(["laws": entries])
        case .text:
            for e in entries {
                print("\(e.name)\(e.aliases.isEmpty ? "" : " (\(e.aliases.joined(separator: ", ")))")")
                print("    \(e.formula)")
                print("    parameters: \(e.parameters.joined(separator: " "))   inputs: \(e.variables.joined(separator: " "))")
            }
            print("custom")
            print("    --law custom --expression 'E + A/n^alpha + B/tokens^beta' (inputs n0 n rho loss0 tokens; aliases N0 N D L0)")
        }
    }
}
