import Foundation
import LossRecords

/// A scaling-law form: `L = f(x; p)` with an exact gradient in the parameters.
///
/// Implementations are value types with no mutable state, so one instance can be shared by
/// concurrent fits (bootstrap replicates run in parallel).
public protocol Law: Sendable {
    /// Registry name (`p2`, `chinchilla`, ...), or `custom` for expression laws.
    var name: String { get }
    /// The formula in plain text, for reports.
    var formula: String { get }
    /// In the order of the parameter vector `value` takes, each with a sensible first start and
    /// the range a multi-start design draws from; none is bounded or fixed.
    var parameters: [Parameter] { get }
    /// Inputs the law reads; records must provide them.
    var variables: [Variable] { get }

    /// `L(x; p)`. When `gradient` is not nil, also writes `dL/dp_j` to `gradient[j]` for every parameter.
    func value(_ p: UnsafeBufferPointer<Double>, at x: LawPoint, gradient: UnsafeMutablePointer<Double>?) -> Double

    /// `dL/dtokens`, exact (the planner's diminishing-returns criterion).
    func tokenDerivative(_ p: UnsafeBufferPointer<Double>, at x: LawPoint) -> Double

    /// How to rebuild this law from `fit.json`.
    var spec: LawSpec { get }
}

extension Law {
    public var parameterNames: [String] { parameters.map(\.name) }
    /// The first start: every parameter's `start`.
    public var defaultStart: [Double] { parameters.map(\.start) }
    public var startRanges: [StartRange] { parameters.map(\.startRange) }
    public var parameterCount: Int { parameters.count }

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

    public func parameterIndex(_ name: String) -> Int? { parameters.firstIndex { $0.name == name } }

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
