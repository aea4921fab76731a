import Foundation

/// Where a multi-start design draws a parameter's starting values from.
public struct StartRange: Sendable, Equatable, Codable {
    public var lower: Double
    public var upper: Double
    /// Draw uniformly in log space (positive coefficients spanning decades).
    public var logScale: Bool
    public init(_ lower: Double, _ upper: Double, log logScale: Bool = false) {
        precondition(lower <= upper)
        precondition(!logScale || lower > 0)
        self.lower = lower
        self.upper = upper
        self.logScale = logScale
    }
    /// The point at fraction `u` in [0, 1] of the range.
    public func at(_ u: Double) -> Double {
        if logScale { return Foundation.exp(Foundation.log(lower) + u * (Foundation.log(upper) - Foundation.log(lower))) }
        return lower + u * (upper - lower)
    }
}

/// A scaling-law form: `L = f(x; p)` with an exact gradient in the parameters.
///
/// Implementations are value types with no mutable state, so one instance can be shared by
/// concurrent fits (bootstrap replicates run in parallel).
public protocol Law: Sendable {
    /// Registry name (`p2`, `chinchilla`, ...), or `custom` for expression laws.
    var name: String { get }
    /// The formula in plain text, for reports.
    var formula: String { get }
    var parameterNames: [String] { get }
    /// Inputs the law reads; records must provide them.
    var variables: [Variable] { get }
    /// A sensible first start (also the centre of the start design).
    var defaultStart: [Double] { get }
    /// Per-parameter ranges the multi-start design draws from.
    var startRanges: [StartRange] { get }

    /// `L(x; p)`. When `gradient` is not nil, also writes `dL/dp_j` to `gradient[j]` for every parameter.
    func value(_ p: UnsafeBufferPointer<Double>, at x: LawPoint, gradient: UnsafeMutablePointer<Double>?) -> Double

    /// `dL/dtokens`, exact (the planner's diminishing-returns criterion).
    func tokenDerivative(_ p: UnsafeBufferPointer<Double>, at x: LawPoint) -> Double

    /// How to rebuild this law from `fit.json`.
    var spec: LawSpec { get }
}

extension Law {
    public var parameterCount: Int { parameterNames.count }

    /// Convenience for callers holding parameters in an array.
    public func value(_ p: [Double], at x: LawPoint) -> Double {
        p.withUnsafeBufferPointer { value($0, at: x, gradient: nil) }
    }

    public func gradient(_ p: [Double], at x: LawPoint) -> (value: Double, gradient: [Double]) {
        var g = [Double](repeating: 0, count: parameterCount)
        let v = p.withUnsafeBufferPointer { pp in
            g.withUnsafeMutableBufferPointer { value(pp, at: x, gradient: $0.baseAddress) }
        }
        return (v, g)
    }

    public func tokenDerivative(_ p: [Double], at x: LawPoint) -> Double {
        p.withUnsafeBufferPointer { tokenDerivative($0, at: x) }
    }

    public func parameterIndex(_ name: String) -> Int? { parameterNames.firstIndex(of: name) }

    public var spec: LawSpec { LawSpec(name: name) }
}

/// The serialisable identity of a law: a registry name, or a custom expression with its parameters.
public struct LawSpec: Sendable, Equatable, Codable {
    public var name: String
    /// For custom laws: the expression text.
    public var expression: String?
    /// For custom laws: the parameter names in order.
    public var parameters: [String]?
    public init(name: String, expression: String? = nil, parameters: [String]? = nil) {
        self.name = name
        self.expression = expression
        self.parameters = parameters
    }
}

/// Errors in choosing or defining a law; one line (a quoted expression may hold newlines).
public struct LawError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { OneLine.escaped(message) }
    public var errorDescription: String? { description }
}
