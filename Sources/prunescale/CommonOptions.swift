import ArgumentParser
import Foundation
import ScalingLaw

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
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
}

/// How the fitter works; every choice is recorded in fit.json.
struct FitterOptions: ParsableArguments {
    @Option(help: "Objective: lsq (least squares) or huber (Huber loss by iteratively reweighted least squares).")
    var objective: Objective = .lsq

    @Option(name: .customLong("huber-delta"), help: "Huber threshold, in the units of the residuals (log units with --space log). Hoffmann et al. used 1e-3 on log L.")
    var huberDelta: Double = 1e-3

    @Option(help: "Residual space: linear (L) or log (log L).")
    var space: FitSpace = .linear

    @Option(help: "Number of starting points; the best optimum is kept and the count of starts reaching it reported.")
    var starts: Int = 16

    @Option(help: "Start design: random (seeded Latin hypercube over each parameter's start range; the law's default start first) or grid (full factorial, thinned evenly).")
    var design: StartDesign = .random

    @Option(help: "Seed for the start design and the bootstrap. Same seed, same numbers.")
    var seed: UInt64 = 0

    @Option(help: ArgumentHelp("Starting values, e.g. alpha=0.3,E=1.5 (replace the law's default start).", valueName: "name=value,..."))
    var start: String?

    @Option(help: ArgumentHelp("Grid levels for --design grid, e.g. 'alpha=0.1:0.3:0.5;beta=0.2:0.4' (levels separated by ':', parameters by ';').", valueName: "spec"))
    var grid: String?

    @Option(help: ArgumentHelp("Hold parameters at a value instead of fitting them, e.g. delta=0.", valueName: "name=value,..."))
    var fix: String?

    @Option(help: ArgumentHelp(
        "Bound parameters (enforced by a smooth change of variables), e.g. 'alpha=0:1,E=0:'. Nothing is bounded unless asked; a bound that binds is reported.",
        valueName: "name=lo:hi,..."))
    var bound: String?

    @Option(help: "Cluster-bootstrap replicates: whole runs are resampled, the law refitted, and percentile intervals reported.")
    var bootstrap: Int = 0

    @Option(help: "Two-sided level of the reported intervals.")
    var confidence: Double = 0.95

    @Option(help: ArgumentHelp("Held-out protocol: tokens=0.2 (last 20% of every run), n0=max (largest model), rho=max (highest rate), or n0=VALUE / rho=VALUE.", valueName: "spec"))
    var holdout: String?

    @Option(help: "Worker threads for starts and bootstrap (0 = all cores). Results do not depend on it.")
    var threads: Int = 0

    @Option(name: .customLong("max-iterations"), help: "Iteration limit of each Levenberg–Marquardt solve.")
    var maxIterations: Int = 400

    @Option(name: .customLong("trust-region"), help: "GSL trust-region step: lm (Levenberg–Marquardt, as the paper), lmaccel (with geodesic acceleration), dogleg, ddogleg or subspace2d.")
    var trustRegion: TrustRegion = .lm

    @Option(name: .customLong("linear-solver"), help: "How each step is solved: cholesky (normal equations, fastest; a start that fails is retried with qr), qr (most robust) or svd.")
    var linearSolver: LinearSolver = .cholesky

    func options() throws -> FitOptions {
        var o = FitOptions()
        o.objective = objective
        o.huberDelta = huberDelta
        o.space = space
        o.starts = starts
        o.design = design
        o.seed = seed
        o.bootstrap = bootstrap
        o.confidence = confidence
        o.threads = threads
        o.maxIterations = maxIterations
        o.trustRegion = trustRegion
        o.linearSolver = linearSolver
        o.start = try KeyValues.numbers(start, flag: "--start")
        o.fixed = try KeyValues.numbers(fix, flag: "--fix")
        o.bounds = try KeyValues.bounds(bound)
        o.grid = try KeyValues.grid(grid)
        return o
    }

    func parsedHoldout() throws -> Holdout? { try holdout.map { try Holdout(parsing: $0) } }
}

extension Objective: ExpressibleByArgument {}
extension FitSpace: ExpressibleByArgument {}
extension StartDesign: ExpressibleByArgument {}
extension TrustRegion: ExpressibleByArgument {}
extension LinearSolver: ExpressibleByArgument {}

/// Parsers for the `name=value,...` options.
enum KeyValues {
    static func pairs(_ text: String?, separator: Character = ",", flag: String) throws -> [(String, String)] {
        guard let text, !text.isEmpty else { return [] }
        return try text.split(separator: separator).map { item in
            let kv = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard kv.count == 2, !kv[0].isEmpty else { throw ValidationError("\(flag): expected name=value, got '\(item)'") }
            return (kv[0], kv[1])
        }
    }

    static func number(_ text: String, flag: String, name: String) throws -> Double {
        guard let v = Double(text), v.isFinite else { throw ValidationError("\(flag): \(name)=\(text) is not a finite number") }
        return v
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
            guard parts.count == 2 else { throw ValidationError("--bound \(k)=\(v): expected lo:hi, lo: or :hi") }
            let lo = parts[0].isEmpty ? nil : try number(parts[0], flag: "--bound", name: k)
            let hi = parts[1].isEmpty ? nil : try number(parts[1], flag: "--bound", name: k)
            guard lo != nil || hi != nil else { throw ValidationError("--bound \(k): give at least one of lo and hi") }
            out[k] = ParameterBound(lower: lo, upper: hi)
        }
        return out
    }

    static func grid(_ text: String?) throws -> [String: [Double]] {
        var out: [String: [Double]] = [:]
        for (k, v) in try pairs(text, separator: ";", flag: "--grid") {
            out[k] = try v.split(separator: ":").map { try number(String($0), flag: "--grid", name: k) }
        }
        return out
    }

    /// `1e8,1e9` or a log-spaced range `1e8:1e10:5` (from:to:count).
    static func tokenList(_ text: String, flag: String) throws -> [Double] {
        if text.contains(":") {
            let parts = text.split(separator: ":").map(String.init)
            guard parts.count == 3, let lo = Double(parts[0]), let hi = Double(parts[1]), let n = Int(parts[2]), lo > 0, hi > lo, n >= 2 else {
                throw ValidationError("\(flag): expected a list like 1e8,1e9 or a log-spaced range FROM:TO:COUNT, got '\(text)'")
            }
            return SyntheticDesign.logSpaced(lo, hi, count: n)
        }
        return try text.split(separator: ",").map { item in
            guard let v = Double(item.trimmingCharacters(in: .whitespaces)), v.isFinite, v > 0 else {
                throw ValidationError("\(flag): '\(item)' is not a positive number")
            }
            return v
        }
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

/// Reads fit.json with a clear error if it is not one.
enum FitFile {
    static func load(_ path: String) throws -> (FitResult, any Law) {
        let url = URL(fileURLWithPath: path)
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw DataError(file: path, "cannot read: \(error.localizedDescription)") }
        let fit: FitResult
        do { fit = try JSONDecoder().decode(FitResult.self, from: data) } catch {
            throw DataError(file: path, "not a PruneScale fit.json (\(describe(error)))")
        }
        return (fit, try LawRegistry.law(spec: fit.law, start: fit.params))
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let ctx): "missing '\(([key] + []).map(\.stringValue).joined())' at \(path(ctx))"
        case DecodingError.typeMismatch(_, let ctx), DecodingError.valueNotFound(_, let ctx): "\(ctx.debugDescription) at \(path(ctx))"
        case DecodingError.dataCorrupted(let ctx): ctx.debugDescription
        default: "\(error)"
        }
    }

    static func path(_ ctx: DecodingError.Context) -> String {
        ctx.codingPath.isEmpty ? "top level" : ctx.codingPath.map(\.stringValue).joined(separator: ".")
    }
}
