import Foundation

/// What the fit minimises.
public enum Objective: String, Sendable, Codable, CaseIterable {
    /// Sum of squared residuals.
    case lsq
    /// Sum of Huber losses with threshold `huberDelta`, by iteratively reweighted least squares.
    case huber
}

/// Where residuals are taken.
public enum FitSpace: String, Sendable, Codable, CaseIterable {
    /// `r = f(x) - L`.
    case linear
    /// `r = log f(x) - log L` (Hoffmann et al. fit Chinchilla this way).
    case log
}

/// How the multi-start design places its starting points.
public enum StartDesign: String, Sendable, Codable, CaseIterable {
    /// Seeded Latin hypercube over each parameter's start range (log-uniform where the range is).
    case random
    /// A full-factorial grid (levels per parameter from `grid`, or evenly spaced over the start
    /// range), thinned evenly to `starts` points when it is larger.
    case grid
}

/// GSL's trust-region subproblem (`gsl_multifit_nlinear_trs_*`).
public enum TrustRegion: String, Sendable, Codable, CaseIterable {
    /// Levenberg–Marquardt steps, the paper's method and the default.
    case lm
    /// Levenberg–Marquardt with geodesic acceleration.
    case lmaccel
    /// Powell's dogleg.
    case dogleg
    /// Double dogleg.
    case ddogleg
    /// Two-dimensional subspace.
    case subspace2D = "subspace2d"
}

/// How GSL solves each step's linear system.
public enum LinearSolver: String, Sendable, Codable, CaseIterable {
    /// QR of the Jacobian: the most robust on ill-conditioned problems.
    case qr
    /// Cholesky of the normal equations `J^T J`: cheaper per iteration; squares the condition number.
    case cholesky
    /// SVD: slowest, handles rank-deficient Jacobians.
    case svd
}

/// A bound on one parameter, enforced by a smooth change of variables inside the fit.
public struct ParameterBound: Sendable, Equatable, Codable {
    public var lower: Double?
    public var upper: Double?
    public init(lower: Double? = nil, upper: Double? = nil) {
        self.lower = lower
        self.upper = upper
    }
}

/// Every choice a fit makes, recorded in `fit.json` so a fit can be repeated exactly.
public struct FitOptions: Sendable, Equatable, Codable {
    public var objective: Objective = .lsq
    public var huberDelta: Double = 1e-3
    public var space: FitSpace = .linear
    /// Number of starting points (the law's default start counts as the first).
    public var starts: Int = 16
    public var design: StartDesign = .random
    public var seed: UInt64 = 0
    /// Explicit grid levels per parameter for `design = grid`.
    public var grid: [String: [Double]] = [:]
    /// Overrides of the law's default start.
    public var start: [String: Double] = [:]
    /// Parameters held at a value, not fitted.
    public var fixed: [String: Double] = [:]
    /// Explicit bounds. No parameter is bounded unless asked: a bound changes the answer.
    public var bounds: [String: ParameterBound] = [:]
    /// Cluster-bootstrap replicates (whole runs resampled); 0 = none.
    public var bootstrap: Int = 0
    /// Two-sided level of reported intervals.
    public var confidence: Double = 0.95
    public var trustRegion: TrustRegion = .lm
    public var linearSolver: LinearSolver = .cholesky
    public var maxIterations: Int = 400
    public var xtol: Double = 1e-12
    public var gtol: Double = 1e-12
    public var ftol: Double = 0
    /// Worker threads for starts and bootstrap replicates (0 = all cores). Results do not depend on it.
    public var threads: Int = 0

    public init() {}
}
