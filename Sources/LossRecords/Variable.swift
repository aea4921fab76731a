/// An input of a scaling law, named as in the record schema (`run, n0, n, rho, loss0, tokens, loss`).
public enum Variable: String, CaseIterable, Sendable, Codable, Comparable {
    /// Parameters before pruning.
    case n0
    /// Parameters after pruning (for the sparsity law: non-zero parameters).
    case n
    /// Pruning rate, the fraction of counted parameters removed: `n = (1 - rho) * n0`.
    case rho
    /// Loss of the model before pruning.
    case loss0
    /// Post-training tokens.
    case tokens

    public static func < (a: Variable, b: Variable) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// One point at which a law is evaluated, with the logarithms laws need precomputed once per
/// dataset (a power `x^-a` becomes `exp(-a * log x)`, which is what makes fitting fast).
/// Absent inputs are NaN.
public struct LawPoint: Sendable, Equatable {
    public var n0: Double
    public var n: Double
    public var rho: Double
    public var loss0: Double
    public var tokens: Double
    public private(set) var logN0: Double
    public private(set) var logN: Double
    public private(set) var logRho: Double
    public private(set) var logTokens: Double

    public init(n0: Double = .nan, n: Double = .nan, rho: Double = .nan, loss0: Double = .nan, tokens: Double = .nan) {
        self.n0 = n0
        self.n = n
        self.rho = rho
        self.loss0 = loss0
        self.tokens = tokens
        logN0 = Foundation.log(n0)
        logN = Foundation.log(n)
        logRho = Foundation.log(rho)
        logTokens = Foundation.log(tokens)
    }

    public subscript(_ v: Variable) -> Double {
        switch v {
        case .n0: n0
        case .n: n
        case .rho: rho
        case .loss0: loss0
        case .tokens: tokens
        }
    }

    /// A copy with one variable replaced (logs recomputed).
    public func with(_ v: Variable, _ value: Double) -> LawPoint {
        var x = (n0: n0, n: n, rho: rho, loss0: loss0, tokens: tokens)
        switch v {
        case .n0: x.n0 = value
        case .n: x.n = value
        case .rho: x.rho = value
        case .loss0: x.loss0 = value
        case .tokens: x.tokens = value
        }
        return LawPoint(n0: x.n0, n: x.n, rho: x.rho, loss0: x.loss0, tokens: x.tokens)
    }
}

import Foundation
