import Foundation

/// Chinchilla (Hoffmann et al. 2022): `L = E + A/N^alpha + B/D^beta`, N the parameters of the
/// model being trained (here `n`, the pruned size), D the tokens.
public struct ChinchillaLaw: Law {
    public init() {}
    public let name = "chinchilla"
    public let formula = "L = E + A/N^alpha + B/D^beta"
    public let parameterNames = ["E", "A", "B", "alpha", "beta"]
    public let variables: [Variable] = [.n, .tokens]
    public let defaultStart = [1.7, 400.0, 400.0, 0.34, 0.28]
    public let startRanges = [
        StartRange(0.5, 3), StartRange(10, 1e4, log: true), StartRange(10, 1e4, log: true),
        StartRange(0.1, 0.8), StartRange(0.1, 0.8),
    ]

    public func value(_ p: UnsafeBufferPointer<Double>, at x: LawPoint, gradient g: UnsafeMutablePointer<Double>?) -> Double {
        chinchillaValue(p, a: Foundation.exp(-p[3] * x.logN), b: Foundation.exp(-p[4] * x.logTokens), at: x, gradient: g)
    }

    public func tokenDerivative(_ p: UnsafeBufferPointer<Double>, at x: LawPoint) -> Double {
        -p[2] * p[4] * Foundation.exp(-(p[4] + 1) * x.logTokens)
    }
}

/// Chinchilla from its powers `a = N^-alpha` and `b = D^-beta`: the one place its value and
/// gradient are computed, so `ChinchillaLaw.value` and the batch evaluator agree to the bit.
@inline(__always)
private func chinchillaValue(_ p: UnsafeBufferPointer<Double>, a: Double, b: Double, at x: LawPoint,
                             gradient g: UnsafeMutablePointer<Double>?) -> Double {
    if let g {
        g[0] = 1
        g[1] = a
        g[2] = b
        g[3] = -p[1] * a * x.logN
        g[4] = -p[2] * b * x.logTokens
    }
    return p[0] + p[1] * a + p[2] * b
}

extension ChinchillaLaw: BatchEvaluable {
    var sharedInputs: [Variable] { [.n, .tokens] }

    func batchEvaluator(for data: FitData) -> (any BatchEvaluator)? {
        guard let n = data.distinct[.n], let tokens = data.distinct[.tokens] else { return nil }
        return ChinchillaBatchEvaluator(points: data.points, n: n, tokens: tokens)
    }
}

/// Chinchilla on a whole data set: `N^-alpha` once per distinct size and `D^-beta` once per
/// distinct token count (loss curves share their checkpoints), then combined per point.
final class ChinchillaBatchEvaluator: BatchEvaluator {
    private let points: [LawPoint]
    private let n: DistinctValues, tokens: DistinctValues
    private var sizePower: [Double], tokenPower: [Double]

    init(points: [LawPoint], n: DistinctValues, tokens: DistinctValues) {
        self.points = points
        self.n = n
        self.tokens = tokens
        sizePower = [Double](repeating: 0, count: n.points.count)
        tokenPower = [Double](repeating: 0, count: tokens.points.count)
    }

    private func evaluate(_ p: UnsafeBufferPointer<Double>, into values: UnsafeMutablePointer<Double>, gradients: UnsafeMutablePointer<Double>?) {
        for (u, x) in n.points.enumerated() { sizePower[u] = Foundation.exp(-p[3] * x.logN) }
        for (u, x) in tokens.points.enumerated() { tokenPower[u] = Foundation.exp(-p[4] * x.logTokens) }
        let count = p.count
        // Buffers taken once: per-element access to a class's arrays costs an exclusivity check.
        sizePower.withUnsafeBufferPointer { sp in
            tokenPower.withUnsafeBufferPointer { tp in
                n.index.withUnsafeBufferPointer { ni in
                    tokens.index.withUnsafeBufferPointer { ti in
                        points.withUnsafeBufferPointer { xs in
                            for i in xs.indices {
                                values[i] = chinchillaValue(p, a: sp[Int(ni[i])], b: tp[Int(ti[i])], at: xs[i],
                                                            gradient: gradients.map { $0 + i * count })
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

/// Sparsity law (Frantar et al. 2023):
/// `L = (aS (1-S)^bS + cS) (1/N)^bN + (aD/D)^bD + c`, S the sparsity (here `rho`), N the
/// non-zero parameters (here `n`), D the tokens.
public struct SparsityLaw: Law {
    public init() {}
    public let name = "sparsity"
    public let formula = "L = (aS*(1-S)^bS + cS) * (1/N)^bN + (aD/D)^bD + c"
    public let parameterNames = ["aS", "bS", "cS", "bN", "aD", "bD", "c"]
    public let variables: [Variable] = [.n, .rho, .tokens]
    public let defaultStart = [100.0, 1.0, 100.0, 0.3, 1e6, 0.3, 1.5]
    public let startRanges = [
        StartRange(1, 1e5, log: true), StartRange(0.1, 3), StartRange(1, 1e5, log: true),
        StartRange(0.1, 0.6), StartRange(1e3, 1e9, log: true), StartRange(0.1, 0.6), StartRange(0.5, 3),
    ]

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
