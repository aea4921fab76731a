import Foundation
import LossRecords

/// Maps the solver's free variables `u` to the law's parameters `p`: fixed parameters drop out,
/// bounded ones go through a smooth bijection, the rest are identical. Bounds are opt-in: a bound
/// changes the answer, so it is never applied silently.
struct ParameterMap: Sendable {
    enum Transform: Sendable {
        case identity
        case fixed(Double)
        /// p = lower + exp(u)
        case lower(Double)
        /// p = upper - exp(u)
        case upper(Double)
        /// p = lower + (upper - lower) (1 + tanh u) / 2
        case interval(Double, Double)
    }

    let transforms: [Transform]
    /// Indices into the parameter vector of the free parameters, in order.
    let free: [Int]

    /// Parameters from validated options (`FitOptions.problem`): fixed values finite, bounds in order.
    init(_ parameters: [Parameter]) throws {
        let t: [Transform] = parameters.map { p in
            if let v = p.fixedValue { return .fixed(v) }
            switch (p.bounds.lower, p.bounds.upper) {
            case let (lo?, hi?): return .interval(lo, hi)
            case let (lo?, nil): return .lower(lo)
            case let (nil, hi?): return .upper(hi)
            case (nil, nil): return .identity
            }
        }
        transforms = t
        free = t.indices.filter { if case .fixed = t[$0] { return false } else { return true } }
        guard !free.isEmpty else { throw LawError("every parameter is fixed: nothing to fit") }
    }

    var count: Int { transforms.count }

    /// Full parameter vector from free variables, and `dp/du` for each free variable.
    func parameters(from u: UnsafePointer<Double>, into p: UnsafeMutablePointer<Double>, slopes: UnsafeMutablePointer<Double>?) {
        var k = 0
        for (j, t) in transforms.enumerated() {
            switch t {
            case .fixed(let v):
                p[j] = v
                continue
            case .identity:
                p[j] = u[k]
                slopes?[k] = 1
            case .lower(let lo):
                let e = Foundation.exp(u[k])
                p[j] = lo + e
                slopes?[k] = e
            case .upper(let hi):
                let e = Foundation.exp(u[k])
                p[j] = hi - e
                slopes?[k] = -e
            case .interval(let lo, let hi):
                let th = Foundation.tanh(u[k])
                p[j] = lo + (hi - lo) * (1 + th) / 2
                slopes?[k] = (hi - lo) * (1 - th * th) / 2
            }
            k += 1
        }
    }

    func parameters(from u: [Double]) -> [Double] {
        var p = [Double](repeating: 0, count: count)
        u.withUnsafeBufferPointer { up in p.withUnsafeMutableBufferPointer { parameters(from: up.baseAddress!, into: $0.baseAddress!, slopes: nil) } }
        return p
    }

    /// Free variables for a full parameter vector; values on or beyond a bound are pulled just inside.
    func freeVariables(from p: [Double]) -> [Double] {
        free.map { j in
            switch transforms[j] {
            case .identity: return p[j]
            case .fixed: return 0
            case .lower(let lo): return Foundation.log(max(p[j] - lo, 1e-12 * max(1, abs(lo))))
            case .upper(let hi): return Foundation.log(max(hi - p[j], 1e-12 * max(1, abs(hi))))
            case .interval(let lo, let hi):
                let z = 2 * (p[j] - lo) / (hi - lo) - 1
                return Foundation.atanh(min(max(z, -1 + 1e-9), 1 - 1e-9))
            }
        }
    }

    /// Whether the parameter sits at (numerically on) a bound, where its standard error means little.
    func isAtBound(_ j: Int, value: Double) -> Bool {
        switch transforms[j] {
        case .lower(let lo): return abs(value - lo) <= 1e-6 * max(1, abs(lo))
        case .upper(let hi): return abs(value - hi) <= 1e-6 * max(1, abs(hi))
        case .interval(let lo, let hi): return min(abs(value - lo), abs(value - hi)) <= 1e-6 * (hi - lo)
        default: return false
        }
    }
}
