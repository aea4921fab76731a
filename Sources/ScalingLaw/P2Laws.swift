import Foundation
import LossRecords

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
    public let parameters = [
        Parameter("NC", start: 300, range: StartRange(1, 1e5, log: true)),
        Parameter("DC", start: 1000, range: StartRange(1, 1e5, log: true)),
        Parameter("E", start: 0.5, range: StartRange(-2, 3)),
        Parameter("alpha", start: 0.3, range: StartRange(0.05, 1)),
        Parameter("beta", start: 0.3, range: StartRange(0.05, 1)),
        Parameter("gamma", start: -0.5, range: StartRange(-2, 0)),
        Parameter("delta", start: 0.05, range: StartRange(0, 0.5)),
    ]
    public let variables: [Variable] = [.n0, .rho, .loss0, .tokens]

    public func value(_ p: UnsafeBufferPointer<Double>, at x: LawPoint, gradient g: UnsafeMutablePointer<Double>?) -> Double {
        valueFromPowers(p, at: x, gradient: g)
    }

    public func tokenDerivative(_ p: UnsafeBufferPointer<Double>, at x: LawPoint) -> Double {
        p2TokenDerivative(p, at: x, withDelta: true)
    }
}

/// Alternative 1: L1 without the `(1/N0)^delta` factor (six parameters).
/// `L = L0 + (1/rho)^gamma * (NC/N0^alpha + DC/D^beta + E)`.
public struct P2NoDeltaLaw: Law {
    public init() {}
    public let name = "p2-nodelta"
    public let formula = "L = L0 + (1/rho)^gamma * (NC/N0^alpha + DC/D^beta + E)"
    public let parameters = [
        Parameter("NC", start: 100, range: StartRange(0.1, 1e5, log: true)),
        Parameter("DC", start: 300, range: StartRange(1, 1e5, log: true)),
        Parameter("E", start: 0.2, range: StartRange(-2, 3)),
        Parameter("alpha", start: 0.3, range: StartRange(0.05, 1)),
        Parameter("beta", start: 0.3, range: StartRange(0.05, 1)),
        Parameter("gamma", start: -0.5, range: StartRange(-2, 0)),
    ]
    public let variables: [Variable] = [.n0, .rho, .loss0, .tokens]

    public func value(_ p: UnsafeBufferPointer<Double>, at x: LawPoint, gradient g: UnsafeMutablePointer<Double>?) -> Double {
        valueFromPowers(p, at: x, gradient: g)
    }

    public func tokenDerivative(_ p: UnsafeBufferPointer<Double>, at x: LawPoint) -> Double {
        p2TokenDerivative(p, at: x, withDelta: false)
    }
}

// P2 and p2-nodelta share their parameters' order (p2-nodelta lacks the last, delta) and one
// computation from the powers `N0^-alpha`, `rho^-gamma`, `D^-beta` and, for P2, `N0^-delta`.

/// The inputs of P2's powers, in power order; p2-nodelta takes the first three.
private let p2PowerInputs: [Variable] = [.n0, .rho, .tokens, .n0]
private let p2NoDeltaPowerInputs = Array(p2PowerInputs.prefix(3))

@inline(__always)
private func p2Power(_ k: Int, _ p: UnsafeBufferPointer<Double>, at x: LawPoint) -> Double {
    switch k {
    case 0: Foundation.exp(-p[3] * x.logN0)
    case 1: rateFactor(p[5], x)
    case 2: Foundation.exp(-p[4] * x.logTokens)
    default: Foundation.exp(-p[6] * x.logN0)
    }
}

/// P2's value and gradient from its powers `w`, with `m = rho^-gamma N0^-delta` (just
/// `rho^-gamma` without delta): the one place they are computed.
@inline(__always)
private func p2Combine(_ p: UnsafeBufferPointer<Double>, powers w: Powers, at x: LawPoint,
                       gradient g: UnsafeMutablePointer<Double>?, withDelta: Bool) -> Double {
    let (nc, dc, e) = (p[0], p[1], p[2])
    let (a, b) = (w[0], w[2])
    let m = withDelta ? w[1] * w[3] : w[1]
    let inner = nc * a + dc * b + e
    if let g {
        g[0] = m * a
        g[1] = m * b
        g[2] = m
        g[3] = -m * nc * a * x.logN0
        g[4] = -m * dc * b * x.logTokens
        g[5] = -safeLogRho(x) * m * inner
        if withDelta { g[6] = -x.logN0 * m * inner }
    }
    return x.loss0 + m * inner
}

private func p2TokenDerivative(_ p: UnsafeBufferPointer<Double>, at x: LawPoint, withDelta: Bool) -> Double {
    let m = withDelta ? p2Power(1, p, at: x) * p2Power(3, p, at: x) : p2Power(1, p, at: x)
    return -m * p[1] * p[4] * Foundation.exp(-(p[4] + 1) * x.logTokens)
}

extension P2Law: PowerTableLaw {
    var powerInputs: [Variable] { p2PowerInputs }

    func power(_ k: Int, _ p: UnsafeBufferPointer<Double>, at x: LawPoint) -> Double { p2Power(k, p, at: x) }

    func combine(_ p: UnsafeBufferPointer<Double>, powers w: Powers, at x: LawPoint,
                 gradient g: UnsafeMutablePointer<Double>?) -> Double {
        p2Combine(p, powers: w, at: x, gradient: g, withDelta: true)
    }
}

extension P2NoDeltaLaw: PowerTableLaw {
    var powerInputs: [Variable] { p2NoDeltaPowerInputs }

    func power(_ k: Int, _ p: UnsafeBufferPointer<Double>, at x: LawPoint) -> Double { p2Power(k, p, at: x) }

    func combine(_ p: UnsafeBufferPointer<Double>, powers w: Powers, at x: LawPoint,
                 gradient g: UnsafeMutablePointer<Double>?) -> Double {
        p2Combine(p, powers: w, at: x, gradient: g, withDelta: false)
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
    public let parameters = [
        Parameter("A", start: 10, range: StartRange(0.01, 1e4, log: true)),
        Parameter("DC", start: 300, range: StartRange(1, 1e5, log: true)),
        Parameter("E", start: 0, range: StartRange(-1, 1)),
        Parameter("alpha", start: 0.1, range: StartRange(0, 0.6)),
        Parameter("beta", start: 0.3, range: StartRange(0.05, 1)),
        Parameter("gamma", start: 1, range: StartRange(0.2, 3)),
    ]
    public let variables: [Variable] = [.n0, .rho, .loss0, .tokens]

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
    public let parameters = [
        Parameter("NC", start: 300, range: StartRange(1, 1e5, log: true)),
        Parameter("DC", start: 300, range: StartRange(1, 1e5, log: true)),
        Parameter("E", start: 1.5, range: StartRange(0, 4)),
        Parameter("alpha", start: 0.3, range: StartRange(0.05, 1)),
        Parameter("beta", start: 0.3, range: StartRange(0.05, 1)),
        Parameter("gamma", start: 1, range: StartRange(0, 5)),
    ]
    public let variables: [Variable] = [.n0, .n, .tokens]

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
