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

extension FitOptions {
    /// An option outside what the fitter accepts: its key in fit.json's `options`, its flag, and
    /// the problem. The same checks guard the command line and a fit.json read back.
    public struct Problem: Sendable, Equatable {
        public var key: String
        public var flag: String
        public var problem: String
    }

    /// The first option outside its limits (`InputLimits`), or nil.
    public var problem: Problem? {
        func p(_ key: String, _ flag: String, _ problem: String) -> Problem { Problem(key: key, flag: flag, problem: problem) }
        let count = InputLimits.grouped
        if !(huberDelta > 0 && huberDelta.isFinite) {
            return p("huberDelta", "--huber-delta", "expected a positive number, got \(NumberText.short(huberDelta))")
        }
        if !(1...InputLimits.starts).contains(starts) {
            return p("starts", "--starts", "expected 1 to \(count(InputLimits.starts)) starting points, got \(starts)")
        }
        if !(0...InputLimits.bootstrapReplicates).contains(bootstrap) {
            return p("bootstrap", "--bootstrap", "expected 0 to \(count(InputLimits.bootstrapReplicates)) replicates, got \(bootstrap)")
        }
        if !(confidence > 0 && confidence < 1) {
            return p("confidence", "--confidence", "expected a level in (0, 1), got \(NumberText.short(confidence))")
        }
        if !(1...InputLimits.iterations).contains(maxIterations) {
            return p("maxIterations", "--max-iterations", "expected 1 to \(count(InputLimits.iterations)) iterations, got \(maxIterations)")
        }
        if !(0...InputLimits.threads).contains(threads) {
            return p("threads", "--threads", "expected 0 (all cores) to \(count(InputLimits.threads)) threads, got \(threads)")
        }
        for (key, v) in [("xtol", xtol), ("gtol", gtol), ("ftol", ftol)] where !(v >= 0 && v.isFinite) {
            return p(key, key, "expected a finite tolerance of 0 or more, got \(NumberText.short(v))")
        }
        for (key, flag, values) in [("start", "--start", start), ("fixed", "--fix", fixed)] {
            for name in values.keys.sorted() where !values[name]!.isFinite {
                return p("\(key).\(name)", flag, "\(name) is not a finite number")
            }
        }
        for name in bounds.keys.sorted() {
            let b = bounds[name]!
            if b.lower == nil && b.upper == nil { return p("bounds.\(name)", "--bound", "\(name) has neither a lower nor an upper bound") }
            for v in [b.lower, b.upper].compactMap({ $0 }) where !v.isFinite {
                return p("bounds.\(name)", "--bound", "\(name)'s bound \(NumberText.short(v)) is not finite")
            }
            if let lo = b.lower, let hi = b.upper, !(lo < hi) {
                return p("bounds.\(name)", "--bound", "\(name): lower bound \(NumberText.short(lo)) is not below upper bound \(NumberText.short(hi))")
            }
        }
        var points = 1.0
        for name in grid.keys.sorted() {
            let levels = grid[name]!
            if !(1...InputLimits.gridLevels).contains(levels.count) {
                return p("grid.\(name)", "--grid", "\(name) has \(levels.count) levels; give 1 to \(count(InputLimits.gridLevels))")
            }
            if levels.contains(where: { !$0.isFinite }) { return p("grid.\(name)", "--grid", "\(name) has a level that is not a finite number") }
            points *= Double(levels.count)
        }
        if points > InputLimits.gridPoints {
            return p("grid", "--grid", "the full factorial has \(NumberText.short(points)) points; at most \(NumberText.short(InputLimits.gridPoints))")
        }
        return nil
    }

    /// Throws an `InputError` naming the flag of the first option outside its limits.
    public func validate() throws {
        if let problem { throw InputError(problem.flag, problem.problem) }
    }
}
