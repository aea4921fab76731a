import Foundation
import LossRecords

/// Chinchilla (Hoffmann et al. 2022): `L = E + A/N^alpha + B/D^beta`, N the parameters of the
/// model being trained (here `n`, the pruned size), D the tokens.
public struct ChinchillaLaw: Law {
    public init() {}
    public let name = "chinchilla"
    public let formula = "L = E + A/N^alpha + B/D^beta"
    public let parameters = [
        Parameter("E", start: 1.7, range: StartRange(0.5, 3)),
        Parameter("A", start: 400, range: StartRange(10, 1e4, log: true)),
        Parameter("B", start: 400, range: StartRange(10, 1e4, log: true)),
        Parameter("alpha", start: 0.34, range: StartRange(0.1, 0.8)),
        Parameter("beta", start: 0.28, range: StartRange(0.1, 0.8)),
    ]
    public let variables: [Variable] = [.n, .tokens]

    public func value(_ p: UnsafeBufferPointer<Double>, at x: LawPoint, gradient g: UnsafeMutablePointer<Double>?) -> Double {
        valueFromPowers(p, at: x, gradient: g)
    }

    public func tokenDerivative(_ p: UnsafeBufferPointer<Double>, at x: LawPoint) -> Double {
        -p[2] * p[4] * Foundation.exp(-(p[4] + 1) * x.logTokens)
    }
}

private let chinchillaPowerInputs: [Variable] = [.n, .tokens]

/// Chinchilla from its powers `N^-alpha` and `D^-beta` (loss curves share their checkpoints, so
/// on a data set each is taken once per distinct size and token count).
extension ChinchillaLaw: PowerTableLaw {
    var powerInputs: [Variable] { chinchillaPowerInputs }

    func power(_ k: Int, _ p: UnsafeBufferPointer<Double>, at x: LawPoint) -> Double {
        k == 0 ? Foundation.exp(-p[3] * x.logN) : Foundation.exp(-p[4] * x.logTokens)
    }

    func combine(_ p: UnsafeBufferPointer<Double>, powers w: Powers, at x: LawPoint,
                 gradient g: UnsafeMutablePointer<Double>?) -> Double {
        let (a, b) = (w[0], w[1])
        if let g {
            g[0] = 1
            g[1] = a
            g[2] = b
            g[3] = -p[1] * a * x.logN
            g[4] = -p[2] * b * x.logTokens
        }
        return p[0] + p[1] * a + p[2] * b
    }
}

/// Sparsity law (Frantar et al. 2023):
/// `L = (aS (1-S)^bS + cS) (1/N)^bN + (aD/D)^bD + c`, S the sparsity (here `rho`), N the
/// non-zero parameters (here `n`), D the tokens.
public struct SparsityLaw: Law {
    public init() {}
    public let name = "sparsity"
    public let formula = "L = (aS*(1-S)^bS + cS) * (1/N)^bN + (aD/D)^bD + c"
    public let parameters = [
        Parameter("aS", start: 100, range: StartRange(1, 1e5, log: true)),
        Parameter("bS", start: 1, range: StartRange(0.1, 3)),
        Parameter("cS", start: 100, range: StartRange(1, 1e5, log: true)),
        Parameter("bN", start: 0.3, range: StartRange(0.1, 0.6)),
        Parameter("aD", start: 1e6, range: StartRange(1e3, 1e9, log: true)),
        Parameter("bD", start: 0.3, range: StartRange(0.1, 0.6)),
        Parameter("c", start: 1.5, range: StartRange(0.5, 3)),
    ]
    public let variables: [Variable] = [.n, .rho, .tokens]

    public func value(_ p: UnsafeBufferPointer<Double>, at x: LawPoint, gradient g: UnsafeMutablePointer<Double>?) -> Double {
        let (aS, bS, cS, bN, aD, bD, c) = (p[0], p[1], p[2], p[3], p[4], p[5], p[6])
        let log1mS = Foundation.log1p(-x.rho)
        let s = Foundation.exp(bS * log1mS)
        let nTerm = Foundation.exp(-bN * x.logN)
        let sparse = aS * s + cS
        let logRatio = Foundation.log(aD) - x.logTokens
        let dTerm = Foundation.exp(bD * logRatio)
        if let g {
            g[0] = s * nTerm
            g[1] = aS * s * log1mS * nTerm
            g[2] = nTerm
            g[3] = -sparse * nTerm * x.logN
            g[4] = bD * dTerm / aD
            g[5] = dTerm * logRatio
            g[6] = 1
        }
        return sparse * nTerm + dTerm + c
    }

    public func tokenDerivative(_ p: UnsafeBufferPointer<Double>, at x: LawPoint) -> Double {
        let dTerm = Foundation.exp(p[5] * (Foundation.log(p[4]) - x.logTokens))
        return -p[5] * dTerm / x.tokens
    }
}
