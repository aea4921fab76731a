import Foundation
import LossRecords

/// A law typed by the user as an expression, e.g. `E + A / n^alpha + B / tokens^beta`.
///
/// The expression is parsed once; its value, its derivative in every parameter and its
/// derivative in `tokens` are each differentiated symbolically and compiled to a postfix
/// program, so gradients are exact, as for the built-in laws.
///
/// Language: numbers (`1`, `2.5`, `1e9`, `.5`), names, `+ - * / ^` (`^` right-associative and
/// tighter than unary minus: `-x^2 = -(x^2)`), parentheses, and the functions `log` (natural),
/// `exp`, `sqrt`, `log1p`, `abs`, `pow(a, b)`. The names `n0 n rho loss0 tokens` (and `N0 N D L0`)
/// are variables; every other name is a parameter.
public struct CustomLaw: Law {
    public let expression: String
    public let name = "custom"
    public let formula: String
    public let parameters: [Parameter]
    public let variables: [Variable]

    private let valueProgram: CompiledExpression
    /// `d value / d parameter j`, in parameter order.
    private let gradientPrograms: [CompiledExpression]
    private let tokenProgram: CompiledExpression
    /// Scratch slots enough for any of the programs.
    private let stackDepth: Int

    /// - Parameters:
    ///   - expression: the right-hand side of `L = ...`.
    ///   - parameters: parameter names in order; nil = every name that is not a variable, in
    ///     order of first appearance. A given list must name exactly the expression's parameters.
    ///   - start: starting values by name; 1 for a parameter not given.
    /// - Throws: `LawError`, one line naming the problem (and the column, for syntax errors).
    public init(expression: String, parameters: [String]? = nil, start: [String: Double] = [:]) throws {
        let parsed = try parseExpression(expression)
        func failure(_ message: String) -> LawError { LawError("expression '\(OneLine.quoted(expression, limit: 200))': \(message)") }
        let variableNames = "variables are n0, n, rho, loss0, tokens (also N0, N, D, L0)"

        let names: [String]
        if let parameters {
            var seen = Set<String>()
            for name in parameters {
                if Variable(expressionName: name) != nil {
                    throw failure("parameter '\(name)' is the name of a variable (\(variableNames))")
                }
                if !seen.insert(name).inserted { throw failure("parameter '\(name)' is listed twice") }
                if !parsed.parameters.contains(name) {
                    throw failure("parameter '\(name)' does not appear in the expression")
                }
            }
            if let missing = parsed.parameters.first(where: { !seen.contains($0) }) {
                throw failure("'\(missing)' is neither a variable nor in the parameter list \(parameters)")
            }
            names = parameters
        } else {
            names = parsed.parameters
        }
        guard !names.isEmpty else { throw failure("no parameters to fit (\(variableNames))") }

        for (name, value) in start.sorted(by: { $0.key < $1.key }) {
            guard names.contains(name) else {
                throw failure("start value for '\(name)', which is not a parameter (parameters: \(names.joined(separator: ", ")))")
            }
            guard value.isFinite else { throw failure("start value for '\(name)' is not finite") }
        }

        self.expression = expression
        formula = "L = \(expression)"
        // What the expression reads as written, even if simplification drops a term.
        variables = parsed.tree.variables.sorted()
        self.parameters = names.map { name in
            let s = start[name] ?? 1
            return Parameter(name, start: s, range: Self.startRange(around: s))
        }

        let tree = parsed.tree.simplified()
        let index = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
        valueProgram = CompiledExpression(tree, parameterIndex: index)
        gradientPrograms = names.map { CompiledExpression(tree.derivative(.parameter($0)), parameterIndex: index) }
        tokenProgram = CompiledExpression(tree.derivative(.variable(.tokens)), parameterIndex: index)
        stackDepth = ([valueProgram, tokenProgram] + gradientPrograms).map(\.stackDepth).max()!
    }

    /// A decade either side of `s`, kept finite and, in log scale, above zero (`s / 10`
    /// underflows for a subnormal start).
    private static func startRange(around s: Double) -> StartRange {
        let lo = s / 10, hi = s * 10
        if s > 0 { return lo > 0 && hi.isFinite ? StartRange(lo, hi, log: true) : StartRange(s / 2, s) }
        if s == 0 { return StartRange(-1, 1) }
        return hi.isFinite ? StartRange(hi, lo) : StartRange(s, s / 2)
    }

    public var spec: LawSpec { LawSpec(name: name, expression: expression, parameters: parameterNames) }

    public func value(_ p: UnsafeBufferPointer<Double>, at x: LawPoint, gradient g: UnsafeMutablePointer<Double>?) -> Double {
        assert(p.count >= parameters.count)
        guard let g else { return valueProgram.evaluate(p, at: x) }
        // One scratch stack shared by all the programs of this call.
        return withUnsafeTemporaryAllocation(of: Double.self, capacity: max(stackDepth, 1)) { buffer in
            let stack = buffer.baseAddress!
            for j in gradientPrograms.indices {
                g[j] = gradientPrograms[j].evaluate(p, at: x, stack: stack)
            }
            return valueProgram.evaluate(p, at: x, stack: stack)
        }
    }

    public func tokenDerivative(_ p: UnsafeBufferPointer<Double>, at x: LawPoint) -> Double {
        tokenProgram.evaluate(p, at: x)
    }
}
