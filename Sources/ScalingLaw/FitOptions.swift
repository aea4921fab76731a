import Foundation
import LossRecords

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

/// Every choice a fit makes, recorded in `fit.json` so a fit can be repeated exactly.
public struct FitOptions: Sendable, Equatable {
    public var objective: Objective = .lsq
    public var huberDelta: Double = 1e-3
    public var space: FitSpace = .linear
    /// Number of starting points (the law's default start counts as the first).
    public var starts: Int = 16
    public var design: StartDesign = .random
    public var seed: UInt64 = 0
    /// What this fit changes about the law's parameters, by name: a start, a value to hold one
    /// at, bounds (none unless asked: a bound changes the answer), levels for `design = grid`.
    public var overrides: [String: ParameterOverride] = [:]
    /// Bootstrap replicates behind the intervals (each a refit); 0 = no intervals.
    public var bootstrap: Int = 0
    /// How the replicates are made (`IntervalMethod`).
    public var interval: IntervalMethod = .arWild
    /// Two-sided level of reported intervals.
    public var confidence: Double = 0.95
    public var trustRegion: TrustRegion = .lm
    public var linearSolver: LinearSolver = .cholesky
    public var maxIterations: Int = 400
    /// GSL's tests (`gsl_multifit_nlinear_test`): every step component below xtol relative, or the
    /// gradient (times max(x, 1)) below gtol times max(SSR / 2, 1).
    public var xtol: Double = 1e-12
    public var gtol: Double = 1e-12
    /// MINPACK's test: an accepted step reduced the sum of squares by at most ftol (relative), and
    /// was predicted to. 0 turns it off.
    public var ftol: Double = 1e-12
    /// Worker threads for starts and bootstrap replicates (0 = all cores). Results do not depend on it.
    public var threads: Int = 0

    public init() {}

    /// `law`'s parameters with this fit's overrides applied. Throws a `LawError` for an override
    /// of a parameter the law does not have.
    public func parameters(of law: any Law) throws -> [Parameter] {
        let parameters = law.parameters
        for name in overrides.keys.sorted() where !parameters.contains(where: { $0.name == name }) {
            throw LawError("law \(law.name) has no parameter '\(OneLine.quoted(name, limit: 40))' (it has \(law.parameterNames.joined(separator: ", ")))")
        }
        return parameters.map { p in overrides[p.name].map { $0.applied(to: p) } ?? p }
    }

    /// One field of the overrides, by parameter name, for those that set it: `values(\.fixed)`.
    public func values<T>(_ field: KeyPath<ParameterOverride, T?>) -> [String: T] {
        overrides.compactMapValues { $0[keyPath: field] }
    }
}

/// fit.json keeps the overrides as one object per field (`start`, `fixed`, `bounds`, `grid`),
/// each keyed by parameter name.
extension FitOptions: Codable {
    enum CodingKeys: String, CodingKey {
        case objective, huberDelta, space, starts, design, seed, grid, start, fixed, bounds, bootstrap, interval, confidence
        case trustRegion, linearSolver, maxIterations, xtol, gtol, ftol, threads
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        objective = try c.decode(Objective.self, forKey: .objective)
        huberDelta = try c.decode(Double.self, forKey: .huberDelta)
        space = try c.decode(FitSpace.self, forKey: .space)
        starts = try c.decode(Int.self, forKey: .starts)
        design = try c.decode(StartDesign.self, forKey: .design)
        seed = try c.decode(UInt64.self, forKey: .seed)
        let grid = try c.decode([String: [Double]].self, forKey: .grid)
        let start = try c.decode([String: Double].self, forKey: .start)
        let fixed = try c.decode([String: Double].self, forKey: .fixed)
        let bounds = try c.decode([String: ParameterBound].self, forKey: .bounds)
        bootstrap = try c.decode(Int.self, forKey: .bootstrap)
        // Fits written before there was a choice used the pairs bootstrap; their samples are that.
        interval = try c.decodeIfPresent(IntervalMethod.self, forKey: .interval) ?? .pairs
        confidence = try c.decode(Double.self, forKey: .confidence)
        trustRegion = try c.decode(TrustRegion.self, forKey: .trustRegion)
        linearSolver = try c.decode(LinearSolver.self, forKey: .linearSolver)
        maxIterations = try c.decode(Int.self, forKey: .maxIterations)
        xtol = try c.decode(Double.self, forKey: .xtol)
        gtol = try c.decode(Double.self, forKey: .gtol)
        ftol = try c.decode(Double.self, forKey: .ftol)
        threads = try c.decode(Int.self, forKey: .threads)
        for (name, v) in grid { overrides[name, default: ParameterOverride()].gridLevels = v }
        for (name, v) in start { overrides[name, default: ParameterOverride()].start = v }
        for (name, v) in fixed { overrides[name, default: ParameterOverride()].fixed = v }
        for (name, v) in bounds { overrides[name, default: ParameterOverride()].bounds = v }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(objective, forKey: .objective)
        try c.encode(huberDelta, forKey: .huberDelta)
        try c.encode(space, forKey: .space)
        try c.encode(starts, forKey: .starts)
        try c.encode(design, forKey: .design)
        try c.encode(seed, forKey: .seed)
        try c.encode(values(\.gridLevels), forKey: .grid)
        try c.encode(values(\.start), forKey: .start)
        try c.encode(values(\.fixed), forKey: .fixed)
        try c.encode(values(\.bounds), forKey: .bounds)
        try c.encode(bootstrap, forKey: .bootstrap)
        try c.encode(interval, forKey: .interval)
        try c.encode(confidence, forKey: .confidence)
        try c.encode(trustRegion, forKey: .trustRegion)
        try c.encode(linearSolver, forKey: .linearSolver)
        try c.encode(maxIterations, forKey: .maxIterations)
        try c.encode(xtol, forKey: .xtol)
        try c.encode(gtol, forKey: .gtol)
        try c.encode(ftol, forKey: .ftol)
        try c.encode(threads, forKey: .threads)
    }
}

extension FitOptions {
    /// An option outside what the fitter accepts: the option (`starts`, `bounds`), its path in
    /// fit.json's `options` (`bounds.alpha`), and the problem. The same checks guard a fit, the
    /// command line (which names its flag instead of the option) and a fit.json read back.
    public struct Problem: Sendable, Equatable {
        public var option: String
        public var key: String
        public var problem: String
    }

    /// The first option outside its limits (`InputLimits`), or nil.
    public var problem: Problem? {
        func p(_ option: String, name: String? = nil, _ problem: String) -> Problem {
            Problem(option: option, key: name.map { "\(option).\($0)" } ?? option, problem: problem)
        }
        let count = InputLimits.grouped
        if !(huberDelta > 0 && huberDelta.isFinite) {
            return p("huberDelta", "expected a positive number, got \(NumberText.short(huberDelta))")
        }
        if !(1...InputLimits.starts).contains(starts) {
            return p("starts", "expected 1 to \(count(InputLimits.starts)) starting points, got \(starts)")
        }
        if !(0...InputLimits.bootstrapReplicates).contains(bootstrap) {
            return p("bootstrap", "expected 0 to \(count(InputLimits.bootstrapReplicates)) replicates, got \(bootstrap)")
        }
        if !(confidence > 0 && confidence < 1) {
            return p("confidence", "expected a level in (0, 1), got \(NumberText.short(confidence))")
        }
        if !(1...InputLimits.iterations).contains(maxIterations) {
            return p("maxIterations", "expected 1 to \(count(InputLimits.iterations)) iterations, got \(maxIterations)")
        }
        if !(0...InputLimits.threads).contains(threads) {
            return p("threads", "expected 0 (all cores) to \(count(InputLimits.threads)) threads, got \(threads)")
        }
        for (key, v) in [("xtol", xtol), ("gtol", gtol), ("ftol", ftol)] where !(v >= 0 && v.isFinite) {
            return p(key, "expected a finite tolerance of 0 or more, got \(NumberText.short(v))")
        }
        for (key, values) in [("start", values(\.start)), ("fixed", values(\.fixed))] {
            for name in values.keys.sorted() where !values[name]!.isFinite {
                return p(key, name: name, "\(name) is not a finite number")
            }
        }
        let bounds = values(\.bounds)
        for name in bounds.keys.sorted() {
            let b = bounds[name]!
            if b.lower == nil && b.upper == nil { return p("bounds", name: name, "\(name) has neither a lower nor an upper bound") }
            for v in [b.lower, b.upper].compactMap({ $0 }) where !v.isFinite {
                return p("bounds", name: name, "\(name)'s bound \(NumberText.short(v)) is not finite")
            }
            if let lo = b.lower, let hi = b.upper, !(lo < hi) {
                return p("bounds", name: name, "\(name): lower bound \(NumberText.short(lo)) is not below upper bound \(NumberText.short(hi))")
            }
        }
        let grid = values(\.gridLevels)
        var points = 1.0
        for name in grid.keys.sorted() {
            let levels = grid[name]!
            if !(1...InputLimits.gridLevels).contains(levels.count) {
                return p("grid", name: name, "\(name) has \(levels.count) levels; give 1 to \(count(InputLimits.gridLevels))")
            }
            if levels.contains(where: { !$0.isFinite }) { return p("grid", name: name, "\(name) has a level that is not a finite number") }
            points *= Double(levels.count)
        }
        if points > InputLimits.gridPoints {
            return p("grid", "the full factorial has \(NumberText.short(points)) points; at most \(NumberText.short(InputLimits.gridPoints))")
        }
        return nil
    }

    /// Throws an `InputError` naming the first option outside its limits.
    public func validate() throws {
        if let problem { throw InputError(problem.option, problem.problem) }
    }
}
