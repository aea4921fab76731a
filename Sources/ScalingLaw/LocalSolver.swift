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
    /// The predicted reduction of the last trial step, relative to the sum of squares, as the
    /// subproblem computed it for the driver's gain ratio; read by the relative-reduction test.
    var predictedReduction = Double.infinity

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
        params.trs = UnsafePointer(TrustRegionTables.shared.table(options.trustRegion))
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
            status = iterate(w, context: ctx)
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

    /// `gsl_multifit_nlinear_driver`'s loop and its tests (xtol, gtol), plus MINPACK's relative-
    /// reduction test, which GSL 2.7 does not implement (its ftol test is compiled out): stop once
    /// an accepted step both reduced and was predicted to reduce the sum of squares by at most
    /// `ftol` (relative). Without it a fit at its optimum only ends after GSL rejects 16 trial
    /// steps in a row (rounding keeps gtol's absolute test from passing): 16 of the P2 fit's 62
    /// function evaluations.
    private func iterate(_ w: UnsafeMutablePointer<gsl_multifit_nlinear_workspace>, context ctx: SolverContext) -> Int32 {
        let f = w.pointee.f!
        var status = gslSuccess
        for iteration in 0..<options.maxIterations {
            let before = gsl_blas_dnrm2(f)
            ctx.predictedReduction = .infinity
            let stepStatus = gsl_multifit_nlinear_iterate(w)
            // As the driver: no acceptable step from the start means no fit; later, GSL has reset
            // its damping and the tests decide.
            if stepStatus == gslNoProgress && iteration == 0 { return gslMaxIterations }
            var info: Int32 = 0
            status = gsl_multifit_nlinear_test(options.xtol, options.gtol, options.ftol, &info, w)
            if status == gslSuccess { return gslSuccess }
            // Tolerances below machine precision: converged as far as it can (as the driver).
            if status == Int32(GSL_ETOLX) || status == Int32(GSL_ETOLG) || status == Int32(GSL_ETOLF) { return gslSuccess }
            if status != Int32(GSL_CONTINUE) { return status }
            if stepStatus == gslSuccess, before > 0 {
                let ratio = gsl_blas_dnrm2(f) / before
                let actual = 1 - ratio * ratio
                let predicted = ctx.predictedReduction
                // MINPACK also asks for actual <= 2 predicted; at 1e-14 that compares rounding errors.
                if actual <= options.ftol, predicted <= options.ftol { return gslSuccess }
            }
        }
        return status == Int32(GSL_CONTINUE) ? gslMaxIterations : status
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

/// GSL's trust-region subproblems behind a thin wrapper (GSL's `gsl_multifit_nlinear_trs` is a
/// table of C functions meant to be supplied). It forwards every call and changes two things:
///
/// - **Initial damping.** GSL starts the Levenberg–Marquardt parameter at 1e-3 of the largest
///   scaled diagonal of `J^T J` and lowers it by at most 3x per accepted step (Nielsen's rule).
///   On P2's narrow valley (scaled `J^T J` has eigenvalues down to ~1e-15) steps stay damped for
///   ~35 iterations. MINPACK starts with a trust radius 100 times the scaled size of `x`, i.e.
///   nearly Gauss–Newton steps; starting the damping at `initialDamping` of GSL's value does the
///   same, and a rejected step still raises it (x2, x4, x8, ...) as before.
/// - **Predicted reduction.** Each trial step's predicted reduction goes to the solver context,
///   for `LocalSolver.iterate`'s relative-reduction test.
private enum WrappedTRS {
    /// Times GSL's start, i.e. 1e-7 of the largest scaled curvature. From the benchmark starts
    /// (iterations / f evaluations): 1 gives P2 41/46, Chinchilla 28/32; 1e-3 P2 7/11, Chinchilla
    /// 28/36; 1e-4 P2 6/7 (MINPACK's count), Chinchilla 32/39; 1e-5 P2 6/7, Chinchilla 35/43.
    static let initialDamping = 1e-4

    /// What the wrapper's state points to: the wrapped method and its own state.
    struct State {
        var inner: UnsafePointer<gsl_multifit_nlinear_trs>
        var state: UnsafeMutableRawPointer
        /// The solver context, taken from the first call that carries it (`init`; the driver's
        /// gain-ratio call to `preduction` passes no `fdf`).
        var context: UnsafeMutableRawPointer?
    }

    static func alloc(_ inner: UnsafePointer<gsl_multifit_nlinear_trs>, _ params: UnsafeRawPointer?, _ n: Int, _ p: Int) -> UnsafeMutableRawPointer? {
        guard let state = inner.pointee.alloc(params, n, p) else { return nil }
        let box = UnsafeMutablePointer<State>.allocate(capacity: 1)
        box.initialize(to: State(inner: inner, state: state, context: nil))
        return UnsafeMutableRawPointer(box)
    }

    static func unbox(_ v: UnsafeMutableRawPointer?) -> State { v!.assumingMemoryBound(to: State.self).pointee }

    /// The same table for every method but `alloc`, which must name the method it wraps.
    static func table(alloc: @escaping @convention(c) (UnsafeRawPointer?, Int, Int) -> UnsafeMutableRawPointer?,
                      name: UnsafePointer<CChar>?) -> gsl_multifit_nlinear_trs {
        gsl_multifit_nlinear_trs(
            name: name,
            alloc: alloc,
            init: { ts, v in
                let s = WrappedTRS.unbox(v)
                let status = s.inner.pointee.`init`(ts, s.state)
                let trust = ts!.assumingMemoryBound(to: gsl_multifit_nlinear_trust_state.self).pointee
                v!.assumingMemoryBound(to: State.self).pointee.context = trust.fdf?.pointee.params
                // The driver has just set mu (nielsen_init) and hands the subproblem a pointer to it.
                UnsafeMutablePointer(mutating: trust.mu!).pointee *= WrappedTRS.initialDamping
                return status
            },
            preloop: { ts, v in let s = WrappedTRS.unbox(v); return s.inner.pointee.preloop(ts, s.state) },
            step: { ts, delta, dx, v in let s = WrappedTRS.unbox(v); return s.inner.pointee.step(ts, delta, dx, s.state) },
            preduction: { ts, dx, pred, v in
                let s = WrappedTRS.unbox(v)
                let status = s.inner.pointee.preduction(ts, dx, pred, s.state)
                if let context = s.context {
                    Unmanaged<SolverContext>.fromOpaque(context).takeUnretainedValue().predictedReduction = status == gslSuccess ? pred!.pointee : .infinity
                }
                return status
            },
            free: { v in
                let box = v!.assumingMemoryBound(to: State.self)
                box.pointee.inner.pointee.free(box.pointee.state)
                box.deinitialize(count: 1)
                box.deallocate()
            })
    }
}

/// One wrapped table per trust-region method, built once and never freed (GSL keeps a pointer).
private final class TrustRegionTables: @unchecked Sendable {
    static let shared = TrustRegionTables()
    private let tables: [TrustRegion: UnsafeMutablePointer<gsl_multifit_nlinear_trs>]

    private init() {
        func make(_ inner: UnsafePointer<gsl_multifit_nlinear_trs>,
                  _ alloc: @escaping @convention(c) (UnsafeRawPointer?, Int, Int) -> UnsafeMutableRawPointer?) -> UnsafeMutablePointer<gsl_multifit_nlinear_trs> {
            let t = UnsafeMutablePointer<gsl_multifit_nlinear_trs>.allocate(capacity: 1)
            t.initialize(to: WrappedTRS.table(alloc: alloc, name: inner.pointee.name))
            return t
        }
        // C callbacks cannot capture, so each alloc names its method.
        tables = [
            .lm: make(prunescale_gsl_trs_lm(), { WrappedTRS.alloc(prunescale_gsl_trs_lm(), $0, $1, $2) }),
            .lmaccel: make(prunescale_gsl_trs_lmaccel(), { WrappedTRS.alloc(prunescale_gsl_trs_lmaccel(), $0, $1, $2) }),
            .dogleg: make(prunescale_gsl_trs_dogleg(), { WrappedTRS.alloc(prunescale_gsl_trs_dogleg(), $0, $1, $2) }),
            .ddogleg: make(prunescale_gsl_trs_ddogleg(), { WrappedTRS.alloc(prunescale_gsl_trs_ddogleg(), $0, $1, $2) }),
            .subspace2D: make(prunescale_gsl_trs_subspace2D(), { WrappedTRS.alloc(prunescale_gsl_trs_subspace2D(), $0, $1, $2) }),
        ]
    }

    func table(_ method: TrustRegion) -> UnsafeMutablePointer<gsl_multifit_nlinear_trs> { tables[method]! }
}

@inline(__always)
func huberLoss(_ r: Double, delta: Double) -> Double {
    let a = abs(r)
    return a <= delta ? 0.5 * r * r : delta * (a - 0.5 * delta)
}
