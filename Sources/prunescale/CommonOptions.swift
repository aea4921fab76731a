import ArgumentParser
import Foundation
import ScalingLaw
import TextData
import LossRecords

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

/// Where corpora, token files and fetched models are cached.
struct CacheOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Cache for corpora, token files and models (default: $PRUNESCALE_CACHE, else ~/.cache/prunescale).", valueName: "dir"))
    var cache: String?

    var url: URL { cache.map { URL(fileURLWithPath: $0) } ?? DataCache.defaultDirectory() }
}

/// Where the loss records come from.
struct DataOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Loss records: CSV, or JSON Lines (.jsonl/.ndjson/.json).", valueName: "file"))
    var data: String

    @Option(name: .long, help: ArgumentHelp(
        "Map schema names to your column names, e.g. loss=val_loss,tokens=step_tokens. Schema: run, n0, n, rho, loss0, tokens, loss.",
        valueName: "map"))
    var columns: String?

    func load() throws -> RecordSet {
        let mapping = try columns.map { try ColumnMapping(parsing: $0) } ?? ColumnMapping()
        return try RecordReader.read(path: data, columns: mapping)
    }
}

/// Which law to fit.
struct LawOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Law: p2 (form L1), p2-nodelta, p2-additive, p2-counts (aliases p2-alt1..3), chinchilla, sparsity, or custom. `prunescale laws` lists their formulas.",
        valueName: "name"))
    var law: String = "p2"

    @Option(name: .long, help: ArgumentHelp(
        "For --law custom: the law as an expression over n0, n, rho, loss0, tokens (aliases N0, N, D, L0), e.g. 'E + A/n^alpha + B/tokens^beta'.",
        valueName: "expr"))
    var expression: String?

    @Option(name: .long, help: ArgumentHelp("For --law custom: parameter names in order (default: every other name in the expression).", valueName: "a,b,..."))
    var params: String?

    func make(start: [String: Double]) throws -> any Law {
        if law.lowercased() == "custom" || expression != nil {
            guard let expression else { throw LawError("--law custom needs --expression") }
            let names = params?.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            return try CustomLaw(expression: expression, parameters: names, start: start)
        }
        return try LawRegistry.law(named: law)
    }

    /// A built-in law by name (`compare --laws`), where `custom` cannot be given its expression.
    static func builtin(named name: String) throws -> any Law {
        if name.lowercased() == "custom" { throw LawError("law 'custom' needs --expression (and optionally --params)") }
        return try LawRegistry.law(named: name)
    }
}

/// A numeric option's text. It is read with `NumberText` (decimal only: no `0x10`, `nan` or
/// `inf`) in `run()`, so a bad value gets the one-line `--flag: problem` error rather than
/// ArgumentParser's message plus the usage. Options of this type are declared with
/// `parsing: .unconditional`, so `--n0 -70e9` is a value (rejected with a reason), not a flag.
struct NumberArg: ExpressibleByArgument, CustomStringConvertible, Sendable {
    var text: String
    init(_ text: String) { self.text = text }
    init?(argument: String) { text = argument }
    var description: String { text }

    func double(_ flag: String) throws -> Double { try NumberText.finite(text, flag: flag) }
    func int(_ flag: String) throws -> Int { try NumberText.integer(text, flag: flag) }
    func uint64(_ flag: String) throws -> UInt64 {
        guard let v = UInt64(text.trimmingCharacters(in: .whitespaces)) else {
            throw InputError(flag, "expected a whole number from 0 to \(UInt64.max), got '\(OneLine.quoted(text))'")
        }
        return v
    }
}

/// How the fitter works; every choice is recorded in fit.json.
struct FitterOptions: ParsableArguments {
    @Option(help: "Objective: lsq (least squares) or huber (Huber loss by iteratively reweighted least squares).")
    var objective: Objective = .lsq

    @Option(name: .customLong("huber-delta"), parsing: .unconditional,
            help: "Huber threshold (> 0), in the units of the residuals (log units with --space log). Hoffmann et al. used 1e-3 on log L.")
    var huberDelta = NumberArg("1e-3")

    @Option(help: "Residual space: linear (L) or log (log L).")
    var space: FitSpace = .linear

    @Option(parsing: .unconditional,
            help: "Number of starting points (1 to 100,000); the best optimum is kept and the count of starts reaching it reported.")
    var starts = NumberArg("16")

    @Option(help: "Start design: random (seeded Latin hypercube over each parameter's start range; the law's default start first) or grid (full factorial, thinned evenly).")
    var design: StartDesign = .random

    @Option(parsing: .unconditional, help: "Seed for the start design and the bootstrap (0 to 2^64-1). Same seed, same numbers.")
    var seed = NumberArg("0")

    @Option(help: ArgumentHelp("Starting values, e.g. alpha=0.3,E=1.5 (replace the law's default start).", valueName: "name=value,..."))
    var start: String?

    @Option(help: ArgumentHelp(
        "Grid levels for --design grid, e.g. 'alpha=0.1:0.3:0.5;beta=0.2:0.4' (levels separated by ':', parameters by ';'); at most 1,000 levels per parameter and 1e15 grid points before thinning.",
        valueName: "spec"))
    var grid: String?

    @Option(help: ArgumentHelp("Hold parameters at a value instead of fitting them, e.g. delta=0.", valueName: "name=value,..."))
    var fix: String?

    @Option(help: ArgumentHelp(
        "Bound parameters (enforced by a smooth change of variables), e.g. 'alpha=0:1,E=0:'. Nothing is bounded unless asked; a bound that binds is reported.",
        valueName: "name=lo:hi,..."))
    var bound: String?

    @Option(parsing: .unconditional,
            help: "Bootstrap replicates (0 to 100,000): data sets made by --interval, the law refitted to each, percentile intervals reported and the refits kept in fit.json for predict and plan.")
    var bootstrap = NumberArg("0")

    @Option(help: ArgumentHelp("""
        How the bootstrap makes its data sets. ar-wild (default): the fitted curves plus each run's residuals, \
        prewhitened along its checkpoints with one AR(1) coefficient, each innovation given a random sign, then \
        recoloured; assumes a run's noise is independent or decays geometrically from checkpoint to checkpoint \
        and that no run sits off the law as a whole (then its intervals are far too narrow, and the fit warns). wild-run: the \
        fitted curves plus each run's left-out residuals times one random weight per run; assumes only that \
        runs are independent (any correlation within a run, run-level offsets included), a little narrow with \
        9 runs. pairs: whole runs drawn with replacement (before 2026-11-30); too narrow with few runs. \
        Measured coverage: README, "Intervals".
        """, valueName: "method"))
    var interval: IntervalMethod = .arWild

    @Option(parsing: .unconditional, help: "Two-sided level of the reported intervals, in (0, 1).")
    var confidence = NumberArg("0.95")

    @Option(help: ArgumentHelp("Held-out protocol: tokens=0.2 (last 20% of every run), n0=max (largest model), rho=max (highest rate; rates within 0.01 of it count as the same level), or n0=VALUE / rho=VALUE.", valueName: "spec"))
    var holdout: String?

    @Option(parsing: .unconditional, help: "Worker threads for starts and bootstrap (0 = all cores, at most 1,024). Results do not depend on it.")
    var threads = NumberArg("0")

    @Option(name: .customLong("max-iterations"), parsing: .unconditional, help: "Iteration limit of each Levenberg–Marquardt solve (1 to 100,000).")
    var maxIterations = NumberArg("400")

    @Option(name: .customLong("trust-region"), help: "GSL trust-region step: lm (Levenberg–Marquardt, as the paper), lmaccel (with geodesic acceleration), dogleg, ddogleg or subspace2d.")
    var trustRegion: TrustRegion = .lm

    @Option(name: .customLong("linear-solver"), help: "How each step is solved: cholesky (normal equations, fastest; a start that fails is retried with qr), qr (most robust) or svd.")
    var linearSolver: LinearSolver = .cholesky

    /// The options, checked against the fitter's limits before any work starts.
    func options() throws -> FitOptions {
        var o = FitOptions()
        o.objective = objective
        o.huberDelta = try huberDelta.double("--huber-delta")
        o.space = space
        o.starts = try starts.int("--starts")
        o.design = design
        o.seed = try seed.uint64("--seed")
        o.bootstrap = try bootstrap.int("--bootstrap")
        o.interval = interval
        o.confidence = try confidence.double("--confidence")
        o.threads = try threads.int("--threads")
        o.maxIterations = try maxIterations.int("--max-iterations")
        o.trustRegion = trustRegion
        o.linearSolver = linearSolver
        for (name, v) in try KeyValues.numbers(start, flag: "--start") { o.overrides[name, default: ParameterOverride()].start = v }
        for (name, v) in try KeyValues.numbers(fix, flag: "--fix") { o.overrides[name, default: ParameterOverride()].fixed = v }
        for (name, v) in try KeyValues.bounds(bound) { o.overrides[name, default: ParameterOverride()].bounds = v }
        for (name, v) in try KeyValues.grid(grid) { o.overrides[name, default: ParameterOverride()].gridLevels = v }
        if let p = o.problem { throw InputError(Self.flags[p.option] ?? p.option, p.problem) }
        return o
    }

    /// The flag that sets each of `FitOptions`' options (xtol, gtol and ftol have none).
    static let flags = [
        "huberDelta": "--huber-delta", "starts": "--starts", "seed": "--seed", "bootstrap": "--bootstrap",
        "confidence": "--confidence", "threads": "--threads", "maxIterations": "--max-iterations",
        "start": "--start", "fixed": "--fix", "bounds": "--bound", "grid": "--grid",
    ]

    /// Throws a `LawError` naming the flag that gives `law` a parameter it does not have.
    static func checkParameters(_ o: FitOptions, of law: any Law) throws {
        let names = law.parameterNames
        let listing = "(it has \(names.joined(separator: ", ")))"
        let given = [("--fix", Array(o.values(\.fixed).keys)), ("--bound", Array(o.values(\.bounds).keys)), ("--start", Array(o.values(\.start).keys))]
        for (flag, keys) in given {
            for name in keys.sorted() where !names.contains(name) {
                throw LawError("\(flag) \(name): the law has no parameter '\(name)' \(listing)")
            }
        }
        for name in o.values(\.gridLevels).keys.sorted() where !names.contains(name) {
            throw LawError("--grid \(name): the law has no parameter '\(name)'")
        }
    }

    /// The fitter's failure with the flags that may help.
    static func phrased(_ failure: FitFailure) -> LawError {
        LawError("law \(failure.law): every one of \(failure.starts) starts failed numerically; try --start values near a plausible answer, --space linear, or more --starts")
    }

    func parsedHoldout() throws -> Holdout? { try holdout.map { try Holdout(parsing: $0) } }
}

extension Objective: ExpressibleByArgument {}
extension FitSpace: ExpressibleByArgument {}
extension StartDesign: ExpressibleByArgument {}
extension TrustRegion: ExpressibleByArgument {}
extension LinearSolver: ExpressibleByArgument {}
extension IntervalMethod: ExpressibleByArgument {}

/// Parsers for the `name=value,...` options; numbers are read with `NumberText` (decimal only).
enum KeyValues {
    static func pairs(_ text: String?, separator: Character = ",", flag: String) throws -> [(String, String)] {
        guard let text, !text.isEmpty else { return [] }
        var seen = Set<String>()
        return try text.split(separator: separator).map { item in
            let kv = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard kv.count == 2, !kv[0].isEmpty else { throw InputError(flag, "expected name=value, got '\(OneLine.quoted(String(item)))'") }
            // The later value would silently win.
            guard seen.insert(kv[0]).inserted else { throw InputError(flag, "\(OneLine.quoted(kv[0])) is given twice") }
            return (kv[0], kv[1])
        }
    }

    static func number(_ text: String, flag: String, name: String) throws -> Double {
        try NumberText.finite(text, flag: flag, name: name)
    }

    static func numbers(_ text: String?, flag: String) throws -> [String: Double] {
        var out: [String: Double] = [:]
        for (k, v) in try pairs(text, flag: flag) { out[k] = try number(v, flag: flag, name: k) }
        return out
    }

    static func bounds(_ text: String?) throws -> [String: ParameterBound] {
        var out: [String: ParameterBound] = [:]
        for (k, v) in try pairs(text, flag: "--bound") {
            let parts = v.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2 else { throw InputError("--bound", "\(k)=\(OneLine.quoted(v)): expected lo:hi, lo: or :hi") }
            let lo = parts[0].isEmpty ? nil : try number(parts[0], flag: "--bound", name: k)
            let hi = parts[1].isEmpty ? nil : try number(parts[1], flag: "--bound", name: k)
            guard lo != nil || hi != nil else { throw InputError("--bound", "\(k): give at least one of lo and hi") }
            out[k] = ParameterBound(lower: lo, upper: hi)
        }
        return out
    }

    static func grid(_ text: String?) throws -> [String: [Double]] {
        var out: [String: [Double]] = [:]
        for (k, v) in try pairs(text, separator: ";", flag: "--grid") {
            let levels = v.split(separator: ":")
            // Counted before parsing: FitOptions refuses more, and a pasted megabyte costs nothing.
            guard levels.count <= InputLimits.gridLevels else {
                throw InputError("--grid", "\(k) has \(levels.count) levels; give 1 to \(InputLimits.grouped(InputLimits.gridLevels))")
            }
            out[k] = try levels.map { try number(String($0), flag: "--grid", name: k) }
        }
        return out
    }

    /// `1e8,1e9` or a log-spaced range `1e8:1e10:5` (from:to:count); see `TokenList`.
    static func tokenList(_ text: String, flag: String) throws -> [Double] { try TokenList.parse(text, flag: flag) }

    /// A comma-separated list of numbers, e.g. `--n0 1e9,3e9`, at most `InputLimits.listValues`.
    static func list(_ text: String, flag: String) throws -> [Double] {
        let items = text.split(separator: ",", omittingEmptySubsequences: false)
        guard items.count <= InputLimits.listValues else { throw InputError(flag, "at most \(InputLimits.grouped(InputLimits.listValues)) values, got \(items.count)") }
        return try items.map { try NumberText.finite(String($0), flag: flag) }
    }
}

/// Prints JSON the same way everywhere: sorted keys, so output is stable and diffable.
enum JSONOutput {
    static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return e
    }

    static func data<T: Encodable>(_ value: T) throws -> Data { try encoder().encode(value) }

    static func print<T: Encodable>(_ value: T) throws {
        Swift.print(String(decoding: try data(value), as: UTF8.self))
    }
}
