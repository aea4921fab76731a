import Foundation
import LossRecords

/// Goodness of fit on one set of records.
///
/// A metric the records do not define (ASD when every run has a single point, R² when the loss
/// is constant) is nil, `null` in JSON, with its reason in `undefined`; it is never NaN, which
/// JSON cannot hold and which would print as a number.
public struct FitMetrics: Sendable, Equatable, Codable {
    /// The metrics, by their JSON keys.
    public enum Metric: String, CaseIterable, Sendable, Codable {
        case r2, rmse, mape, huber, asd
        case asdLog = "asd_log"

        /// How reports name it.
        public var label: String {
            switch self {
            case .r2: "R²"
            case .rmse: "RMSE"
            case .mape: "MAPE %"
            case .huber: "Huber"
            case .asd: "ASD"
            case .asdLog: "ASD (log tokens)"
            }
        }
    }

    public var count: Int
    public var r2: Double?
    public var rmse: Double?
    /// Mean absolute percentage error, in percent.
    public var mape: Double?
    /// Mean Huber loss of the linear residuals with the fit's `huberDelta`.
    public var huber: Double?
    /// Average slope difference on raw tokens (brief, section 2).
    public var asd: Double?
    /// The same with slopes taken against `log(tokens)` (scale-free).
    public var asdLog: Double?
    /// Why each nil metric is undefined, by JSON key: `["asd": "every run has a single point"]`.
    public var undefined: [String: String]

    enum CodingKeys: String, CodingKey {
        case count, r2, rmse, mape, huber, asd, undefined
        case asdLog = "asd_log"
    }

    /// A value that is not finite is stored as nil, with `undefined`'s reason or a generic one.
    public init(count: Int, r2: Double?, rmse: Double?, mape: Double?, huber: Double?, asd: Double?, asdLog: Double?,
                undefined: [String: String] = [:]) {
        self.count = count
        self.r2 = r2
        self.rmse = rmse
        self.mape = mape
        self.huber = huber
        self.asd = asd
        self.asdLog = asdLog
        self.undefined = [:]
        for m in Metric.allCases {
            guard let v = self[m], v.isFinite else {
                self[m] = nil
                self.undefined[m.rawValue] = undefined[m.rawValue] ?? "not a finite number"
                continue
            }
        }
    }

    public subscript(_ m: Metric) -> Double? {
        get {
            switch m {
            case .r2: r2
            case .rmse: rmse
            case .mape: mape
            case .huber: huber
            case .asd: asd
            case .asdLog: asdLog
            }
        }
        set {
            switch m {
            case .r2: r2 = newValue
            case .rmse: rmse = newValue
            case .mape: mape = newValue
            case .huber: huber = newValue
            case .asd: asd = newValue
            case .asdLog: asdLog = newValue
            }
        }
    }

    /// One line per undefined metric, `ASD n/a: every run has a single point`, in metric order.
    public var notes: [String] {
        Metric.allCases.compactMap { m in self[m] == nil ? "\(m.label) n/a: \(undefined[m.rawValue] ?? "undefined")" : nil }
    }

    /// Every metric key is written, `null` when undefined, so a reader need not test for absence.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(count, forKey: .count)
        try c.encode(r2, forKey: .r2)
        try c.encode(rmse, forKey: .rmse)
        try c.encode(mape, forKey: .mape)
        try c.encode(huber, forKey: .huber)
        try c.encode(asd, forKey: .asd)
        try c.encode(asdLog, forKey: .asdLog)
        try c.encode(undefined, forKey: .undefined)
    }

    /// Fits written before metrics could be undefined have numbers everywhere and no `undefined`.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(count: try c.decode(Int.self, forKey: .count),
                  r2: try c.decodeIfPresent(Double.self, forKey: .r2), rmse: try c.decodeIfPresent(Double.self, forKey: .rmse),
                  mape: try c.decodeIfPresent(Double.self, forKey: .mape), huber: try c.decodeIfPresent(Double.self, forKey: .huber),
                  asd: try c.decodeIfPresent(Double.self, forKey: .asd), asdLog: try c.decodeIfPresent(Double.self, forKey: .asdLog),
                  undefined: try c.decodeIfPresent([String: String].self, forKey: .undefined) ?? [:])
    }
}

/// One fitted parameter with its uncertainty.
public struct ParameterEstimate: Sendable, Equatable, Codable {
    public var name: String
    public var value: Double
    /// Asymptotic standard error from the Jacobian at the optimum (nil if fixed or singular).
    public var stderr: Double?
    /// Bootstrap percentile interval at the fit's confidence level (nil without bootstrap).
    public var interval: [Double]?
    public var fixed: Bool

    public init(name: String, value: Double, stderr: Double? = nil, interval: [Double]? = nil, fixed: Bool = false) {
        self.name = name
        self.value = value
        self.stderr = stderr
        self.interval = interval
        self.fixed = fixed
    }
}

/// Which records a held-out protocol sets aside.
public enum Holdout: Sendable, Equatable, Codable, CustomStringConvertible {
    /// The last `fraction` of every run's checkpoints (by tokens).
    case tokens(fraction: Double)
    /// Runs whose `n0` is the largest (`nil`) or equals a value.
    case n0(Double?)
    /// Runs whose `rho` is the highest (`nil`) or equals a value.
    case rho(Double?)

    public var description: String {
        switch self {
        case .tokens(let f): "tokens=\(f)"
        case .n0(let v): "n0=\(v.map { "\($0)" } ?? "max")"
        case .rho(let v): "rho=\(v.map { "\($0)" } ?? "max")"
        }
    }

    /// Parses `tokens=0.2`, `n0=max`, `n0=8e9`, `rho=max`, `rho=0.35`.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2 else { throw LawError("holdout '\(OneLine.quoted(text))': expected tokens=FRACTION, n0=max|VALUE or rho=max|VALUE") }
        let value = parts[1]
        switch parts[0] {
        case "tokens":
            guard case .value(let f) = NumberText.read(value), f > 0, f < 1 else {
                throw LawError("holdout '\(OneLine.quoted(text))': the token fraction must be a number in (0, 1)")
            }
            self = .tokens(fraction: f)
        case "n0", "rho":
            let v: Double?
            if value == "max" { v = nil } else if case .value(let d) = NumberText.read(value) { v = d } else {
                throw LawError("holdout '\(OneLine.quoted(text))': expected 'max' or a number after '='")
            }
            self = parts[0] == "n0" ? .n0(v) : .rho(v)
        default:
            throw LawError("holdout '\(OneLine.quoted(text))': unknown protocol '\(OneLine.quoted(parts[0]))' (use tokens, n0 or rho)")
        }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        let text = try c.decode(String.self)
        // A decoding error keeps the field's path for the reader's message.
        do { try self.init(parsing: text) } catch let e as LawError { throw DecodingError.dataCorruptedError(in: c, debugDescription: e.message) }
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// What the data looked like: enough to flag extrapolation later without the records.
public struct DataSummary: Sendable, Equatable, Codable {
    public var file: String?
    public var records: Int
    public var runs: Int
    /// Records used by the fit (after the holdout and exclusions).
    public var fitted: Int
    public var heldOut: Int
    /// Records left out because the law cannot use them (e.g. `tokens = 0` where `D^-beta` diverges).
    public var excluded: Int
    /// `[min, max]` of every variable over the fitted records.
    public var ranges: [String: [Double]]

    public init(file: String?, records: Int, runs: Int, fitted: Int, heldOut: Int, excluded: Int, ranges: [String: [Double]]) {
        self.file = file
        self.records = records
        self.runs = runs
        self.fitted = fitted
        self.heldOut = heldOut
        self.excluded = excluded
        self.ranges = ranges
    }
}

public struct StartSummary: Sendable, Equatable, Codable {
    public var requested: Int
    /// Starts whose fit finished without a numerical failure.
    public var converged: Int
    /// Starts that ended within a relative 1e-6 of the best objective.
    public var reachedBest: Int
    public init(requested: Int, converged: Int, reachedBest: Int) {
        self.requested = requested
        self.converged = converged
        self.reachedBest = reachedBest
    }
}

public struct BootstrapSummary: Sendable, Equatable, Codable {
    public var replicates: Int
    public var converged: Int
    /// One row of parameters per converged replicate (all parameters, fixed ones included),
    /// kept so `predict` and `plan` can give intervals from `fit.json` alone.
    public var samples: [[Double]]
    public init(replicates: Int, converged: Int, samples: [[Double]]) {
        self.replicates = replicates
        self.converged = converged
        self.samples = samples
    }
}

/// Everything a fit produced; this is `fit.json`.
public struct FitResult: Sendable, Equatable, Codable {
    public var law: LawSpec
    public var formula: String
    public var parameterNames: [String]
    /// Best-fit parameters, `{"name": value}`.
    public var params: [String: Double]
    public var estimates: [ParameterEstimate]
    /// Parameter correlation matrix (free parameters in `parameterNames` order; fixed ones have 0 off the diagonal).
    public var correlation: [[Double]]?
    /// Metrics on the records the law was fitted to.
    public var metrics: FitMetrics
    public var holdout: Holdout?
    /// Metrics on the held-out records.
    public var holdoutMetrics: FitMetrics?
    /// Final objective value (sum of squares, or of Huber losses, in the fit's space).
    public var objectiveValue: Double
    public var data: DataSummary
    public var options: FitOptions
    public var starts: StartSummary
    public var bootstrap: BootstrapSummary?
    /// Plain-language cautions: weakly identified parameters, failed starts, extrapolation.
    public var warnings: [String]

    enum CodingKeys: String, CodingKey {
        case law, formula, parameterNames = "parameter_names", params, estimates, correlation, metrics, holdout
        case holdoutMetrics = "holdout_metrics", objectiveValue = "objective_value", data, options, starts, bootstrap, warnings
    }

    public init(law: LawSpec, formula: String, parameterNames: [String], params: [String: Double], estimates: [ParameterEstimate],
                correlation: [[Double]]?, metrics: FitMetrics, holdout: Holdout?, holdoutMetrics: FitMetrics?, objectiveValue: Double,
                data: DataSummary, options: FitOptions, starts: StartSummary, bootstrap: BootstrapSummary?, warnings: [String]) {
        self.law = law
        self.formula = formula
        self.parameterNames = parameterNames
        self.params = params
        self.estimates = estimates
        self.correlation = correlation
        self.metrics = metrics
        self.holdout = holdout
        self.holdoutMetrics = holdoutMetrics
        self.objectiveValue = objectiveValue
        self.data = data
        self.options = options
        self.starts = starts
        self.bootstrap = bootstrap
        self.warnings = warnings
    }

    /// Best-fit parameters in the law's order.
    public var parameterVector: [Double] { parameterNames.map { params[$0] ?? .nan } }
}

/// Which part of the data a record played in a fit.
public enum RecordRole: String, Sendable, Codable {
    case fit
    case holdout
    /// Not usable by the law (see `DataSummary.excluded`).
    case excluded
}

/// One record beside the law's value for it: a row of `predictions.csv`.
public struct PredictionRow: Sendable, Equatable {
    public var record: LossRecord
    public var fitted: Double
    public var role: RecordRole
    public var residual: Double { record.loss - fitted }
    public init(record: LossRecord, fitted: Double, role: RecordRole) {
        self.record = record
        self.fitted = fitted
        self.role = role
    }
}
