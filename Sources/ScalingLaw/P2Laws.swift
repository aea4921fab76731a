import Foundation

// The post-training scaling law after pruning ("P2 law") and the project's own alternatives.
// Inputs: n0 parameters before pruning, rho pruning rate, loss0 loss before pruning, tokens D.

/// `rho^-gamma`, with the unpruned limit made explicit: at `rho = 0` the rate factor is 0 (the
/// law is only meaningful there for gamma < 0, where `L -> L0`), and so is its gamma-derivative.
@inline(__always)
private func rateFactor(_ gamma: Double, _ x: LawPoint) -> Double {
    x.rho == 0 ? 0 : Foundation.exp(-gamma * x.logRho)
}

@inline(__always)
private func safeLogRho(_ x: LawPoint) -> Double { x.rho == 0 ? 0 : x.logRho }

/// Form L1 of the paper: `L = L0 + (1/rho)^gamma (1/N0)^delta (NC/N0^alpha + DC/D^beta + E)`.
public struct P2Law: Law {
    public init() {}
    public let name = "p2"
    public let formula = "L = L0 + (1/rho)^gamma * (1/N0)^delta * (NC/N0^alpha + DC/D^beta + E)"
    public let parameterNames = ["NC", "DC", "E", "alpha", "beta", "gamma", "delta"]
    public let variables: [Variable] = [.n0, .rho, .loss0, .tokens]
    public let defaultStart = [300.0, 1000.0, 0.5, 0.3, 0.3, -0.5, 0.05]
    public let startRanges = [
        StartRange(1, 1e5, log: true), StartRange(1, 1e5, log: true), StartRange(-2, 3),
        StartRange(0.05, 1), StartRange(0.05, 1), StartRange(-2, 0), StartRange(0, 0.5),
    ]

    public func value(_ p: UnsafeBufferPointer<Double>, at x: LawPoint, gradient g: UnsafeMutablePointer<Double>?) -> Double {
        let (alpha, beta, gamma, delta) = (p[3], p[4], p[5], p[6])
        let a = Foundation.exp(-alpha * x.logN0)
        let b = Foundation.exp(-beta * x.logTokens)
        let m = rateFactor(gamma, x) * Foundation.exp(-delta * x.logN0)
        return p2Value(p, a: a, b: b, m: m, at: x, gradient: g)
    }

    public func tokenDerivative(_ p: UnsafeBufferPointer<Double>, at x: LawPoint) -> Double {
        let m = rateFactor(p[5], x) * Foundation.exp(-p[6] * x.logN0)
        return -m * p[1] * p[4] * Foundation.exp(-(p[4] + 1) * x.logTokens)
    }
}

/// P2 from its powers `a = N0^-alpha`, `b = D^-beta` and `m = rho^-gamma N0^-delta`: the one
/// place the law's value and gradient are computed, so `P2Law.value` and `P2BatchEvaluator`
/// agree to the bit.
@inline(__always)
private func p2Value(_ p: UnsafeBufferPointer<Double>, a: Double, b: Double, m: Double, at x: LawPoint,
                     gradient g: UnsafeMutablePointer<Double>?) -> Double {
    let (nc, dc, e) = (p[0], p[1], p[2])
    let inner = nc * a + dc * b + e
    if let g {
        g[0] = m * a
        g[1] = m * b
        g[2] = m
        g[3] = -m * nc * a * x.logN0
        g[4] = -m * dc * b * x.logTokens
        g[5] = -safeLogRho(x) * m * inner
        g[6] = -x.logN0 * m * inner
    }
    return x.loss0 + m * inner
}

extension P2Law: BatchEvaluable {
    var sharedInputs: [Variable] { [.n0, .rho, .tokens] }

    func batchEvaluator(for data: FitData) -> (any BatchEvaluator)? {
        guard let n0 = data.distinct[.n0], let rho = data.distinct[.rho], let tokens = data.distinct[.tokens] else { return nil }
        return P2BatchEvaluator(points: data.points, n0: n0, rho: rho, tokens: tokens)
    }
}

/// P2 on a whole data set: the four powers are taken once per distinct n0, rho and token count
/// (a few dozen `exp` per evaluation instead of four per point), then combined per point.
final class P2BatchEvaluator: BatchEvaluator {
    private let points: [LawPoint]
    private let n0: DistinctValues, rho: DistinctValues, tokens: DistinctValues
    /// Per distinct value: `N0^-alpha`, `N0^-delta`, `rho^-gamma`, `D^-beta`.
    private var sizePower: [Double], sizeDelta: [Double], ratePower: [Double], tokenPower: [Double]

    init(points: [LawPoint], n0: DistinctValues, rho: DistinctValues, tokens: DistinctValues) {
        self.points = points
        self.n0 = n0
        self.rho = rho
        self.tokens = tokens
        sizePower = [Double](repeating: 0, count: n0.points.count)
        sizeDelta = sizePower
        ratePower = [Double](repeating: 0, count: rho.points.count)
        tokenPower = [Double](repeating: 0, count: tokens.points.count)
    }

    /// The same expressions as `P2Law.value`, on each distinct input.
    private func powers(_ p: UnsafeBufferPointer<Double>) {
        let (alpha, beta, gamma, delta) = (p[3], p[4], p[5], p[6])
        for (u, x) in n0.points.enumerated() {
            sizePower[u] = Foundation.exp(-alpha * x.logN0)
            sizeDelta[u] = Foundation.exp(-delta * x.logN0)
        }
        for (u, x) in rho.points.enumerated() { ratePower[u] = rateFactor(gamma, x) }
        for (u, x) in tokens.points.enumerated() { tokenPower[u] = Foundation.exp(-beta * x.logTokens) }
    }

    private func evaluate(_ p: UnsafeBufferPointer<Double>, into values: UnsafeMutablePointer<Double>, gradients: UnsafeMutablePointer<Double>?) {
        powers(p)
        let count = p.count
        sizePower.withUnsafeBufferPointer { sa in
            sizeDelta.withUnsafeBufferPointer { sd in
                ratePower.withUnsafeBufferPointer { rp in
                    tokenPower.withUnsafeBufferPointer { tp in
                        n0.index.withUnsafeBufferPointer { ni in
                            rho.index.withUnsafeBufferPointer { ri in
                                tokens.index.withUnsafeBufferPointer { ti in
                                    points.withUnsafeBufferPointer { xs in
                                        for i in xs.indices {
                                            let u = Int(ni[i])
                                            let m = rp[Int(ri[i])] * sd[u]
                                            values[i] = p2Value(p, a: sa[u], b: tp[Int(ti[i])], m: m, at: xs[i],
                                                                gradient: gradients.map { $0 + i * count })
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    func values(_ p: UnsafeBufferPointer<Double>, into values: UnsafeMutablePointer<Double>) {
        evaluate(p, into: values, gradients: nil)
    }

    func values(_ p: UnsafeBufferPointer<Double>, into values: UnsafeMutablePointer<Double>, gradients: UnsafeMutablePointer<Double>) {
        evaluate(p, into: values, gradients: gradients)
    }
}

/// Alternative 1: L1 without the `(1/N0)^delta` factor (six parameters).
/// `L = L0 + (1/rho)^gamma * (NC/N0^alpha + DC/D^beta + E)`.
public struct P2NoDeltaLaw: Law {
    public init() {}
    public let name = "p2-nodelta"
    public let formula = "L = L0 + (1/rho)^gamma * (NC/N0^alpha + DC/D^beta + E)"
    public let parameterNames = ["NC", "DC", "E", "alpha", "beta", "gamma"]
    public let variables: [Variable] = [.n0, .rho, .loss0, .tokens]
    public let defaultStart = [100.0, 300.0, 0.2, 0.3, 0.3, -0.5]
    public let startRanges = [
        StartRange(0.1, 1e5, log: true), StartRange(1, 1e5, log: true), StartRange(-2, 3),
        StartRange(0.05, 1), StartRange(0.05, 1), StartRange(-2, 0),
    ]

    public func value(_ p: UnsafeBufferPointer<Double>, at x: LawPoint, gradient g: UnsafeMutablePointer<Double>?) -> Double {
        let (nc, dc, e, alpha, beta, gamma) = (p[0], p[1], p[2], p[3], p[4], p[5])
        let a = Foundation.exp(-alpha * x.logN0)
        let b = Foundation.exp(-beta * x.logTokens)
        let m = rateFactor(gamma, x)
        let inner = nc * a + dc * b + e
        if let g {
            g[0] = m * a
            g[1] = m * b
            g[2] = m
            g[3] = -m * nc * a * x.logN0
            g[4] = -m * dc * b * x.logTokens
            g[5] = -safeLogRho(x) * m * inner
        }
        return x.loss0 + m * inner
    }

    public func tokenDerivative(_ p: UnsafeBufferPointer<Double>, at x: LawPoint) -> Double {
        -rateFactor(p[5], x) * p[1] * p[4] * Foundation.exp(-(p[4] + 1) * x.logTokens)
    }
}

/// Alternative 2: the rate enters additively, as its own size-dependent penalty, beside a
/// token term shared by all runs.
/// `L = L0 + A * rho^gamma / N0^alpha + DC/D^beta + E`.
/// As D grows the loss settles at `L0 + E + A rho^gamma / N0^alpha`: a floor that rises with
/// rho; unlike L1 the token term does not depend on how hard the model was pruned.
public struct P2AdditiveLaw: Law {
    public init() {}
    public let name = "p2-additive"
    public let formula = "L = L0 + A * rho^gamma / N0^alpha + DC/D^beta + E"
    public let parameterNames = ["A", "DC", "E", "alpha", "beta", "gamma"]
    public let variables: [Variable] = [.n0, .rho, .loss0, .tokens]
    public let defaultStart = [10.0, 300.0, 0.0, 0.1, 0.3, 1.0]
    public let startRanges = [
        StartRange(0.01, 1e4, log: true), StartRange(1, 1e5, log: true), StartRange(-1, 1),
        StartRange(0, 0.6), StartRange(0.05, 1), StartRange(0.2, 3),
    ]

    public func value(_ p: UnsafeBufferPointer<Double>, at x: LawPoint, gradient g: UnsafeMutablePointer<Double>?) -> Double {
        let (aa, dc, e, alpha, beta, gamma) = (p[0], p[1], p[2], p[3], p[4], p[5])
        // rho^gamma (gamma > 0 expected): 0 at rho = 0.
        let r = x.rho == 0 ? 0 : Foundation.exp(gamma * x.logRho)
        let a = Foundation.exp(-alpha * x.logN0)
        let b = Foundation.exp(-beta * x.logTokens)
        let penalty = aa * r * a
        if let g {
            g[0] = r * a
            g[1] = b
            g[2] = 1
            g[3] = -penalty * x.logN0
            g[4] = -dc * b * x.logTokens
            g[5] = penalty * safeLogRho(x)
        }
        return x.loss0 + penalty + dc * b + e
    }

    public func tokenDerivative(_ p: UnsafeBufferPointer<Double>, at x: LawPoint) -> Double {
        -p[1] * p[4] * Foundation.exp(-(p[4] + 1) * x.logTokens)
    }
}

/// Alternative 3, on the first version's inputs (parameter counts before and after pruning plus
/// tokens, no L0): a Chinchilla-like law in the pruned size whose token term is amplified by the
/// compression ratio. `L = E + NC/N^alpha + DC/D^beta * (N0/N)^gamma`.
public struct P2CountsLaw: Law {
    public init() {}
    public let name = "p2-counts"
    public let formula = "L = E + NC/N^alpha + DC/D^beta * (N0/N)^gamma"
    public let parameterNames = ["NC", "DC", "E", "alpha", "beta", "gamma"]
    public let variables: [Variable] = [.n0, .n, .tokens]
    public let defaultStart = [300.0, 300.0, 1.5, 0.3, 0.3, 1.0]
    public let startRanges = [
        StartRange(1, 1e5, log: true), StartRange(1, 1e5, log: true), StartRange(0, 4),
        StartRange(0.05, 1), StartRange(0.05, 1), StartRange(0, 5),
    ]

    public func value(_ p: UnsafeBufferPointer<Double>, at x: LawPoint, gradient g: UnsafeMutablePointer<Double>?) -> Double {
        let (nc, dc, e, alpha, beta, gamma) = (p[0], p[1], p[2], p[3], p[4], p[5])
        let logRatio = x.logN0 - x.logN
        let a = Foundation.exp(-alpha * x.logN)
        let t = Foundation.exp(-beta * x.logTokens + gamma * logRatio)
        if let g {
            g[0] = a
            g[1] = t
            g[2] = 1
            g[3] = -nc * a * x.logN
            g[4] = -dc * t * x.logTokens
            g[5] = dc * t * logRatio
        }
        return e + nc * a + dc * t
    }

    public func tokenDerivative(_ p: UnsafeBufferPointer<Double>, at x: LawPoint) -> Double {
        let t = Foundation.exp(-p[4] * x.logTokens + p[5] * (x.logN0 - x.logN))
        return -p[1] * p[4] * t / x.tokens
    }
}
