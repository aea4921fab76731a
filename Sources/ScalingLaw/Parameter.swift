import Foundation
import LossRecords

/// One parameter of a law as a fit sees it, after lmfit's `Parameter`: its first start, where
/// other starts are drawn from, its bounds, and whether it is held at a value instead of fitted.
/// A law declares its parameters with their defaults; a fit applies `FitOptions.overrides` to
/// them (`FitOptions.parameters(of:)`).
public struct Parameter: Sendable, Equatable {
    public var name: String
    /// The first start (also the centre of the start design).
    public var start: Double
    /// Where a multi-start design draws this parameter's other starts.
    public var startRange: StartRange
    /// The levels a grid design takes; nil: evenly spaced over `startRange`.
    public var gridLevels: [Double]?
    /// Enforced by a smooth change of variables. Unbounded unless asked: a bound changes the answer.
    public var bounds: ParameterBound
    /// The value the parameter is held at; nil when it is fitted.
    public var fixedValue: Double?

    public var isFixed: Bool { fixedValue != nil }

    public init(_ name: String, start: Double, range: StartRange, gridLevels: [Double]? = nil,
                bounds: ParameterBound = ParameterBound(), fixedValue: Double? = nil) {
        self.name = name
        self.start = start
        startRange = range
        self.gridLevels = gridLevels
        self.bounds = bounds
        self.fixedValue = fixedValue
    }
}

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

/// A bound on one parameter, enforced by a smooth change of variables inside the fit.
public struct ParameterBound: Sendable, Equatable, Codable {
    public var lower: Double?
    public var upper: Double?
    public init(lower: Double? = nil, upper: Double? = nil) {
        self.lower = lower
        self.upper = upper
    }
}

/// What one fit changes about one of the law's parameters; a field left nil keeps the law's default.
public struct ParameterOverride: Sendable, Equatable {
    public var start: Double?
    /// Hold the parameter at this value instead of fitting it.
    public var fixed: Double?
    public var bounds: ParameterBound?
    /// Levels for a grid design.
    public var gridLevels: [Double]?

    public init(start: Double? = nil, fixed: Double? = nil, bounds: ParameterBound? = nil, gridLevels: [Double]? = nil) {
        self.start = start
        self.fixed = fixed
        self.bounds = bounds
        self.gridLevels = gridLevels
    }

    /// The law's parameter with this override applied.
    func applied(to parameter: Parameter) -> Parameter {
        var p = parameter
        if let start { p.start = start }
        if let fixed { p.fixedValue = fixed }
        if let bounds { p.bounds = bounds }
        if let gridLevels { p.gridLevels = gridLevels }
        return p
    }
}
