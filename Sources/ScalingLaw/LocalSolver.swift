import CGSL
import COpenBLAS
import Foundation
import LossRecords


/// A residual standing in for a value the law cannot produce at a trial point (non-finite, or
/// non-positive in log space): large enough that the trust region rejects the step.
private let rejectedResidual = 1e50

/// State the GSL callbacks read through their `params` pointer (C callbacks cannot capture).
/// Its buffers are allocated once per local fit and held as pointers, as in `PowerTables`: the
/// callbacks run hundreds of times, and element access to a class's arrays would pay an
/// exclusivity check and a retain per point.
private final class SolverContext {
    let evaluator: any BatchEvaluator
    let space: FitSpace
    let map: ParameterMap
    let count: Int
    let parameterCount: Int
    let observed: UnsafeMutableBufferPointer<Double>
    let logObserved: UnsafeMutableBufferPointer<Double>
    /// The map's free parameters, in variable order.
    let free: UnsafeMutableBufferPointer<Int>
    /// sqrt of the IRLS weights (all 1 for least squares).
    let sqrtWeights: UnsafeMutableBufferPointer<Double>
    /// Full parameters at the current variables, and d(parameter)/d(variable) of each free one.
    let p: UnsafeMutableBufferPointer<Double>
    let slopes: UnsafeMutableBufferPointer<Double>
    /// The variables when GSL hands them over strided.
    let contiguous: UnsafeMutableBufferPointer<Double>
    /// The law's value at every point, and (row-major, one row per point) its gradients.
    let values: UnsafeMutableBufferPointer<Double>
    let gradients: UnsafeMutableBufferPointer<Double>

    init(evaluator: any BatchEvaluator, data: FitData, map: ParameterMap, space: FitSpace) {
        func buffer<T>(_ items: [T]) -> UnsafeMutableBufferPointer<T> {
            let b = UnsafeMutableBufferPointer<T>.allocate(capacity: items.count)
            _ = b.initialize(fromContentsOf: items)
            return b
        }
        self.evaluator = evaluator
        self.space = space
        self.map = map
        count = data.count
        parameterCount = map.count
        observed = buffer(data.observed)
        logObserved = buffer(data.logObserved)
        free = buffer(map.free)
        sqrtWeights = buffer([Double](repeating: 1, count: data.count))
        p = buffer([Double](repeating: 0, count: map.count))
        slopes = buffer([Double](repeating: 0, count: map.free.count))
        contiguous = buffer([Double](repeating: 0, count: map.free.count))
        values = buffer([Double](repeating: 0, count: data.count))
        gradients = buffer([Double](repeating: 0, count: data.count * map.count))
    }

    deinit {
        // Trivial element types: nothing to deinitialise.
        for b in [observed, logObserved, sqrtWeights, p, slopes, contiguous, values, gradients] { b.deallocate() }
        free.deallocate()
    }

    /// Residuals in the fit's space at full parameters `q`, without weights (NaN where the law
    /// is undefined), through the same evaluator as the solver's callbacks.
    func unweightedResiduals(_ q: [Double]) -> [Double] {
        q.withUnsafeBufferPointer { evaluator.values($0, into: values.baseAddress!) }
        return (0..<count).map { i in
            let v = values[i]
            switch space {
            case .linear: return v - observed[i]
            case .log: return v > 0 ? Foundation.log(v) - logObserved[i] : .nan
            }
        }
    }

    func loadParameters(_ x: UnsafePointer<gsl_vector>) {
        var u = UnsafePointer(x.pointee.data!)
        let stride = x.pointee.stride
        // gsl vectors may be strided; the solver's are contiguous but do not rely on it.
        if stride != 1 {
            for k in contiguous.indices { contiguous[k] = u[k * stride] }
            u = UnsafePointer(contiguous.baseAddress!)
        }
        map.parameters(from: u, into: p.baseAddress!, slopes: slopes.baseAddress!)
    }

    /// Weighted residuals, `sqrt(w) * (model - observed)` in the fit's space.
    func residuals(into f: UnsafeMutablePointer<gsl_vector>) {
        let out = f.pointee.data!
        let stride = f.pointee.stride
        evaluator.values(UnsafeBufferPointer(p), into: values.baseAddress!)
        for i in 0..<count {
            let v = values[i]
            let r: Double
            switch space {
            case .linear: r = v.isFinite ? v - observed[i] : rejectedResidual
            case .log: r = (v.isFinite && v > 0) ? Foundation.log(v) - logObserved[i] : rejectedResidual
            }
            out[i * stride] = sqrtWeights[i] * r
        }
    }

    /// Jacobian of the weighted residuals with respect to the free variables.
    func jacobian(into jm: UnsafeMutablePointer<gsl_matrix>) {
        let out = jm.pointee.data!
        let tda = jm.pointee.tda
        let width = parameterCount
        evaluator.values(UnsafeBufferPointer(p), into: values.baseAddress!, gradients: gradients.baseAddress!)
        for i in 0..<count {
            let v = values[i]
            let g = gradients.baseAddress! + i * width
            let row = out + i * tda
            var scale = sqrtWeights[i]
            let valid: Bool
            switch space {
            case .linear: valid = v.isFinite
            case .log:
                valid = v.isFinite && v > 0
                scale /= v
            }
            if valid {
                for k in free.indices {
                    let d = scale * g[free[k]] * slopes[k]
                    row[k] = d.isFinite ? d : 0
                }
            } else {
                for k in free.indices { row[k] = 0 }
            }
        }
    }
}

private let residualCallback: @convention(c) (UnsafePointer<gsl_vector>?, UnsafeMutableRawPointer?, UnsafeMutablePointer<gsl_vector>?) -> Int32 = { x, params, f in
    let ctx = Unmanaged<SolverContext>.fromOpaque(params!).takeUnretainedValue()
    ctx.loadParameters(x!)
    ctx.residuals(into: f!)
    return gslSuccess
}

private let jacobianCallback: @convention(c) (UnsafePointer<gsl_vector>?, UnsafeMutableRawPointer?, UnsafeMutablePointer<gsl_matrix>?) -> Int32 = { x, params, j in
    let ctx = Unmanaged<SolverContext>.fromOpaque(params!).takeUnretainedValue()
    ctx.loadParameters(x!)
    ctx.jacobian(into: j!)
    return gslSuccess
}

// GSL status constants import as Int; its functions return Int32.
private let gslSuccess = Int32(GSL_SUCCESS)
private let gslMaxIterations = Int32(GSL_EMAXITER)
private let gslNoProgress = Int32(GSL_ENOPROG)

/// GSL's default handler aborts the process; turn it off once, status codes become Swift values.
private let gslErrorHandlerOff: Void = { _ = gsl_set_error_handler_off() }()

/// The outcome of one local fit from one start.
struct LocalFit: Sendable {
    var parameters: [Double]
    /// The objective in the fit's space: sum of squares (lsq) or sum of Huber losses.
    var objective: Double
    var iterations: Int
    /// GSL status of the last solve (0 success; 27 "no progress" also ends at an optimum).
    var status: Int32
    var ok: Bool { objective.isFinite && parameters.allSatisfy(\.isFinite) }
}

/// One Levenberg–Marquardt trust-region fit (GSL `gsl_multifit_nlinear`, analytic Jacobian),
/// with Huber loss by iteratively reweighted least squares on top.
struct LocalSolver {
    let law: any Law
    let map: ParameterMap
    let options: FitOptions
    /// `law` as a `PowerTableLaw` when it is one, looked up once rather than once per fit.
    let tabled: (any PowerTableLaw)?

    init(law: any Law, map: ParameterMap, options: FitOptions) {
        self.law = law
        self.map = map
        self.options = options
        tabled = law as? any PowerTableLaw
    }

    /// Data laid out for this solver: with the distinct inputs its law's power tables use.
    func data(points: [LawPoint], observed: [Double]) -> FitData {
        FitData(points: points, observed: observed, distinct: tabled?.sharedInputs ?? [])
    }

    func fit(_ data: FitData, from start: [Double]) -> LocalFit {
        let result = solve(data, from: start, linearSolver: options.linearSolver)
        // Cholesky of J^T J squares the condition number; if it breaks down on a nearly singular
        // problem, the same start is solved again with QR rather than lost.
        if !result.ok, options.linearSolver == .cholesky {
            return solve(data, from: start, linearSolver: .qr)
        }
        return result
    }

    private func solve(_ data: FitData, from start: [Double], linearSolver: LinearSolver) -> LocalFit {
        _ = gslErrorHandlerOff
        let n = data.count
        let k = map.free.count
        guard n >= k else { return LocalFit(parameters: start, objective: .infinity, iterations: 0, status: Int32(GSL_EBADLEN)) }
        let ctx = SolverContext(evaluator: makeEvaluator(law: law, tabled: tabled, data: data), data: data, map: map, space: options.space)
        let unmanaged = Unmanaged.passRetained(ctx)
        defer { unmanaged.release() }

        var params = gsl_multifit_nlinear_default_parameters()
        params.trs = switch options.trustRegion {
        case .lm: prunescale_gsl_trs_lm()
        case .lmaccel: prunescale_gsl_trs_lmaccel()
        case .dogleg: prunescale_gsl_trs_dogleg()
        case .ddogleg: prunescale_gsl_trs_ddogleg()
        case .subspace2D: prunescale_gsl_trs_subspace2D()
        }
        params.solver = switch linearSolver {
        case .qr: prunescale_gsl_solver_qr()
        case .cholesky: prunescale_gsl_solver_cholesky()
        case .svd: prunescale_gsl_solver_svd()
        }
        // Moré scaling: invariant to the very different magnitudes of coefficients and exponents.
        params.scale = prunescale_gsl_scale_more()
        guard let w = gsl_multifit_nlinear_alloc(prunescale_gsl_trust(), &params, n, k) else {
            return LocalFit(parameters: start, objective: .infinity, iterations: 0, status: Int32(GSL_ENOMEM))
        }
        defer { gsl_multifit_nlinear_free(w) }

        var fdf = gsl_multifit_nlinear_fdf()
        fdf.f = residualCallback
        fdf.df = jacobianCallback
        fdf.fvv = nil
        fdf.n = n
        fdf.p = k
        fdf.params = unmanaged.toOpaque()

        var u = map.freeVariables(from: start)
        let x = gsl_vector_alloc(k)!
        defer { gsl_vector_free(x) }

        var totalIterations = 0
        var status: Int32 = gslSuccess
        let rounds = options.objective == .huber ? 100 : 1
        var previousObjective = Double.infinity
        for round in 0..<rounds {
            for i in 0..<k { gsl_vector_set(x, i, u[i]) }
            status = gsl_multifit_nlinear_init(x, &fdf, w)
            if status != gslSuccess { break }
            var info: Int32 = 0
            status = gsl_multifit_nlinear_driver(options.maxIterations, options.xtol, options.gtol, options.ftol, nil, nil, &info, w)
            totalIterations += Int(gsl_multifit_nlinear_niter(w))
            let pos = gsl_multifit_nlinear_position(w)!
            u = (0..<k).map { gsl_vector_get(pos, $0) }
            guard options.objective == .huber else { break }

            // IRLS: Huber weights from the unweighted residuals at the new point. Each round
            // minimises a quadratic majoriser of the Huber objective, so the objective falls.
            let p = map.parameters(from: u)
            let r = ctx.unweightedResiduals(p)
            let objective = r.reduce(0) { $0 + huberLoss($1, delta: options.huberDelta) }
            for i in 0..<n {
                let a = abs(r[i])
                ctx.sqrtWeights[i] = a <= options.huberDelta ? 1 : Foundation.sqrt(options.huberDelta / a)
            }
            if round > 0, abs(previousObjective - objective) <= 1e-13 * max(objective, 1e-300) { break }
            previousObjective = objective
        }
        let p = map.parameters(from: u)
        let r = ctx.unweightedResiduals(p)
        let objective: Double = switch options.objective {
        case .lsq: r.reduce(0) { $0 + $1 * $1 }
        case .huber: r.reduce(0) { $0 + huberLoss($1, delta: options.huberDelta) }
        }
        let ok = status == gslSuccess || status == gslMaxIterations || status == gslNoProgress
        return LocalFit(parameters: p, objective: ok ? objective : .infinity, iterations: totalIterations, status: status)
    }

    /// Covariance of the free parameters, `s^2 (J^T J)^-1` with J taken in parameter space (not
    /// in the solver's transformed variables) so errors are in the law's own units. For Huber the
    /// final IRLS weights enter J and s^2. Returns nil when the matrix is singular.
    func covariance(at p: [Double], data: FitData) -> [[Double]]? {
        _ = gslErrorHandlerOff
        let n = data.count
        let k = map.free.count
        guard n > k else { return nil }
        let jm = gsl_matrix_alloc(n, k)!
        let cov = gsl_matrix_alloc(k, k)!
        defer {
            gsl_matrix_free(jm)
            gsl_matrix_free(cov)
        }
        // Values and gradients from the same evaluator the solver used.
        let evaluator = makeEvaluator(law: law, tabled: tabled, data: data)
        let m = map.count
        var values = [Double](repeating: 0, count: n)
        var gradients = [Double](repeating: 0, count: n * m)
        p.withUnsafeBufferPointer { pp in
            values.withUnsafeMutableBufferPointer { vp in
                gradients.withUnsafeMutableBufferPointer { evaluator.values(pp, into: vp.baseAddress!, gradients: $0.baseAddress!) }
            }
        }
        var chi2 = 0.0
        for i in 0..<n {
            let v = values[i]
            let r: Double = switch options.space {
            case .linear: v - data.observed[i]
            case .log: v > 0 ? Foundation.log(v) - data.logObserved[i] : .nan
            }
            var w = 1.0
            if options.objective == .huber, abs(r) > options.huberDelta { w = options.huberDelta / abs(r) }
            chi2 += w * r * r
            let scale = Foundation.sqrt(w) / (options.space == .log ? v : 1)
            // As in the solver's Jacobian: a non-finite entry (0 * inf at an unpruned rho = 0 in a
            // custom law, say) carries no information and counts as 0.
            for (c, j) in map.free.enumerated() {
                let d = scale * gradients[i * m + j]
                gsl_matrix_set(jm, i, c, d.isFinite ? d : 0)
            }
        }
        guard chi2.isFinite else { return nil }
        guard gsl_multifit_nlinear_covar(jm, 1e-14, cov) == gslSuccess else { return nil }
        let s2 = chi2 / Double(n - k)
        var out = [[Double]](repeating: [Double](repeating: 0, count: k), count: k)
        for a in 0..<k { for b in 0..<k { out[a][b] = s2 * gsl_matrix_get(cov, a, b) } }
        return out
    }
}

@inline(__always)
func huberLoss(_ r: Double, delta: Double) -> Double {
    let a = abs(r)
    return a <= delta ? 0.5 * r * r : delta * (a - 0.5 * delta)
}
