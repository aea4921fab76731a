import Foundation

/// Goodness of fit on one set of records.
public struct FitMetrics: Sendable, Equatable, Codable {
    public var count: Int
    public var r2: Double
    public var rmse: Double
    /// Mean absolute percentage error, in percent.
    public var mape: Double
    /// Mean Huber loss of the linear residuals with the fit's `huberDelta`.
    public var huber: Double
    /// Average slope difference on raw tokens (brief, section 2).
    public var asd: Double
    /// The same with slopes taken against `log(tokens)` (scale-free).
    public var asdLog: Double

    enum CodingKeys: String, CodingKey {
        case count, r2, rmse, mape, huber, asd
        case asdLog = "asd_log"
    }

    public init(count: Int, r2: Double, rmse: Double, mape: Double, huber: Double, asd: Double, asdLog: Double) {
        self.count = count
        self.r2 = r2
        self.rmse = rmse
        self.mape = mape
        self.huber = huber
        self.asd = asd
        self.asdLog = asdLog
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
        guard parts.count == 2 else { throw LawError("holdout '\(text)': expected tokens=FRACTION, n0=max|VALUE or rho=max|VALUE") }
        let value = parts[1]
        switch parts[0] {
        case "tokens":
            guard let f = Double(value), f > 0, f < 1 else { throw LawError("holdout '\(text)': the token fraction must be a number in (0, 1)") }
            self = .tokens(fraction: f)
        case "n0", "rho":
            let v: Double?
            if value == "max" { v = nil } else if let d = Double(value), d.isFinite { v = d } else {
                throw LawError("holdout '\(text)': expected 'max' or a number after '='")
            }
            self = parts[0] == "n0" ? .n0(v) : .rho(v)
        default:
            throw LawError("holdout '\(text)': unknown protocol '\(parts[0])' (use tokens, n0 or rho)")
        }
    }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        try self.init(parsing: text)
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
