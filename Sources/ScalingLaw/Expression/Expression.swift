import Foundation
import LossRecords

// The expression language of custom laws: a syntax tree, a tokenizer and a recursive-descent
// parser. Variables (and their aliases) are resolved while parsing; every other identifier is a
// parameter, kept by name until a law binds it to an index.

/// A one-argument function.
enum ExprFunction: String, Sendable, CaseIterable {
    case log, exp, sqrt, log1p, abs
    /// `abs`' derivative. Not part of the language: users have no need for it.
    case sign

    func apply(_ x: Double) -> Double {
        switch self {
        case .log: Foundation.log(x)
        case .exp: Foundation.exp(x)
        case .sqrt: x.squareRoot()
        case .log1p: Foundation.log1p(x)
        case .abs: Swift.abs(x)
        // NaN stays NaN so a broken input is not hidden behind a zero derivative.
        case .sign: x > 0 ? 1 : x < 0 ? -1 : x == 0 ? 0 : .nan
        }
    }
}

enum ExprOperator: Sendable {
    case add, subtract, multiply, divide, power

    func apply(_ a: Double, _ b: Double) -> Double {
        switch self {
        case .add: a + b
        case .subtract: a - b
        case .multiply: a * b
        case .divide: a / b
        case .power: Foundation.pow(a, b)
        }
    }
}

/// A syntax tree. `pow(a, b)` and `a ^ b` are the same node.
indirect enum Expr: Equatable, Sendable {
    case constant(Double)
    case variable(Variable)
    case parameter(String)
    case negate(Expr)
    case function(ExprFunction, Expr)
    case binary(ExprOperator, Expr, Expr)

    var constantValue: Double? {
        if case .constant(let c) = self { return c }
        return nil
    }

    /// Every variable the tree reads.
    var variables: Set<Variable> {
        var found = Set<Variable>()
        visit { if case .variable(let v) = $0 { found.insert(v) } }
        return found
    }

    /// Every parameter name the tree reads.
    var parameters: Set<String> {
        var found = Set<String>()
        visit { if case .parameter(let p) = $0 { found.insert(p) } }
        return found
    }

    /// Pre-order walk.
    func visit(_ body: (Expr) -> Void) {
        body(self)
        switch self {
        case .constant, .variable, .parameter: break
        case .negate(let a), .function(_, let a): a.visit(body)
        case .binary(_, let a, let b):
            a.visit(body)
            b.visit(body)
        }
    }
}

extension Variable {
    /// Alternative spellings accepted in expressions (the paper's notation).
    static let aliases: [String: Variable] = ["N0": .n0, "N": .n, "D": .tokens, "L0": .loss0]

    /// The variable an expression identifier names, if any.
    init?(expressionName name: String) {
        if let v = Variable(rawValue: name) ?? Variable.aliases[name] { self = v } else { return nil }
    }
}

/// A parsed expression with its parameters in order of first appearance.
struct ParsedExpression: Sendable {
    var tree: Expr
    var parameters: [String]
}

/// Limits on what an expression may be. A law is a line of algebra; far longer or deeper input
/// would only make the recursive parser, the symbolic derivatives (which grow with depth) and the
/// messages that quote it grow without bound.
enum ExpressionLimits {
    static let characters = 1_000
    /// Nested parentheses, unary signs, powers and calls.
    static let depth = 100
    static let parameters = 64
}

/// Parses `source`; errors are `LawError`s that quote the expression and give a 1-based column.
func parseExpression(_ source: String) throws -> ParsedExpression {
    guard source.count <= ExpressionLimits.characters else {
        throw LawError("expression '\(OneLine.quoted(source))': \(source.count) characters; a law takes at most \(ExpressionLimits.characters)")
    }
    var parser = ExprParser(source: source)
    let parsed = try parser.parse()
    guard parsed.parameters.count <= ExpressionLimits.parameters else {
        throw LawError("expression '\(OneLine.quoted(source))': \(parsed.parameters.count) parameters; a law takes at most \(ExpressionLimits.parameters)")
    }
    return parsed
}

/// Names the parser accepts before `(`.
private let functionArity: [String: Int] = [
    "log": 1, "exp": 1, "sqrt": 1, "log1p": 1, "abs": 1, "pow": 2,
]

struct ExprToken: Sendable {
    enum Kind: Equatable, Sendable {
        case number(Double)
        case identifier(String)
        /// One of `+ - * / ^ ( ) ,`.
        case symbol(Character)
        case end
    }
    var kind: Kind
    /// 1-based, in characters.
    var column: Int
    /// The source text, for messages.
    var text: String
}

private func isDigit(_ c: Character) -> Bool { c.isASCII && c.isNumber }
private func isNameStart(_ c: Character) -> Bool { c == "_" || (c.isASCII && c.isLetter) }
private func isNameChar(_ c: Character) -> Bool { isNameStart(c) || isDigit(c) }

private struct ExprParser {
    let source: String
    var tokens: [ExprToken] = []
    var position = 0
    /// Parameters in order of first appearance.
    var parameterOrder: [String] = []
    /// Current nesting, bounded so the recursion cannot exhaust the stack.
    var depth = 0

    init(source: String) { self.source = source }

    func error(_ column: Int, _ message: String) -> LawError {
        LawError("expression '\(OneLine.quoted(source, limit: 200))': column \(column): \(message)")
    }

    mutating func parse() throws -> ParsedExpression {
        tokens = try tokenize()
        let tree = try parseSum()
        let t = tokens[position]
        switch t.kind {
        case .end: break
        case .symbol(")"): throw error(t.column, "unmatched ')'")
        default: throw error(t.column, "unexpected '\(t.text)' after a complete expression")
        }
        return ParsedExpression(tree: tree, parameters: parameterOrder)
    }

    // MARK: Tokenizer

    func tokenize() throws -> [ExprToken] {
        let chars = Array(source)
        var out: [ExprToken] = []
        var i = 0
        while i < chars.count {
            let c = chars[i]
            let column = i + 1
            if c.isWhitespace {
                i += 1
            } else if isDigit(c) || c == "." {
                let start = i
                var digits = 0
                while i < chars.count, isDigit(chars[i]) { i += 1; digits += 1 }
                if i < chars.count, chars[i] == "." {
                    i += 1
                    while i < chars.count, isDigit(chars[i]) { i += 1; digits += 1 }
                }
                var wellFormed = digits > 0
                if wellFormed, i < chars.count, chars[i] == "e" || chars[i] == "E" {
                    var j = i + 1
                    if j < chars.count, chars[j] == "+" || chars[j] == "-" { j += 1 }
                    if j < chars.count, isDigit(chars[j]) {
                        while j < chars.count, isDigit(chars[j]) { j += 1 }
                    } else {
                        wellFormed = false
                    }
                    i = j
                }
                let text = String(chars[start..<i])
                guard wellFormed, let value = Double(text) else { throw error(column, "malformed number '\(text)'") }
                guard value.isFinite else { throw error(column, "number '\(text)' is out of range") }
                out.append(ExprToken(kind: .number(value), column: column, text: text))
            } else if isNameStart(c) {
                let start = i
                while i < chars.count, isNameChar(chars[i]) { i += 1 }
                let text = String(chars[start..<i])
                out.append(ExprToken(kind: .identifier(text), column: column, text: text))
            } else if "+-*/^(),".contains(c) {
                out.append(ExprToken(kind: .symbol(c), column: column, text: String(c)))
                i += 1
            } else {
                throw error(column, "unexpected character '\(c)'")
            }
        }
        out.append(ExprToken(kind: .end, column: chars.count + 1, text: "end of expression"))
        return out
    }

    // MARK: Grammar
    //   sum     := product (('+' | '-') product)*
    //   product := unary (('*' | '/') unary)*
    //   unary   := ('-' | '+') unary | power
    //   power   := primary ('^' unary)?        -- right-associative; -x^2 = -(x^2), x^-2 = x^(-2)
    //   primary := number | name | name '(' sum (',' sum)* ')' | '(' sum ')'

    var current: ExprToken { tokens[position] }

    mutating func advance() -> ExprToken {
        let t = tokens[position]
        if position < tokens.count - 1 { position += 1 }
        return t
    }

    mutating func accept(_ symbol: Character) -> Bool {
        guard current.kind == .symbol(symbol) else { return false }
        position += 1
        return true
    }

    mutating func parseSum() throws -> Expr {
        var left = try parseProduct()
        while true {
            if accept("+") {
                left = .binary(.add, left, try parseProduct())
            } else if accept("-") {
                left = .binary(.subtract, left, try parseProduct())
            } else {
                return left
            }
        }
    }

    mutating func parseProduct() throws -> Expr {
        var left = try parseUnary()
        while true {
            if accept("*") {
                left = .binary(.multiply, left, try parseUnary())
            } else if accept("/") {
                left = .binary(.divide, left, try parseUnary())
            } else {
                return left
            }
        }
    }

    mutating func parseUnary() throws -> Expr {
        // Every level of nesting passes through here.
        depth += 1
        defer { depth -= 1 }
        guard depth <= ExpressionLimits.depth else {
            throw error(current.column, "nested more than \(ExpressionLimits.depth) levels deep")
        }
        if accept("-") { return .negate(try parseUnary()) }
        if accept("+") { return try parseUnary() }
        return try parsePower()
    }

    mutating func parsePower() throws -> Expr {
        let base = try parsePrimary()
        // The exponent is a unary, which recurses back here: that is the right-associativity.
        if accept("^") { return .binary(.power, base, try parseUnary()) }
        return base
    }

    mutating func parsePrimary() throws -> Expr {
        let t = advance()
        switch t.kind {
        case .number(let value):
            return .constant(value)
        case .identifier(let name):
            if current.kind == .symbol("(") { return try parseCall(name, at: t) }
            if functionArity[name] != nil { throw error(t.column, "'\(name)' is a function; expected '(' after it") }
            if let v = Variable(expressionName: name) { return .variable(v) }
            if !parameterOrder.contains(name) { parameterOrder.append(name) }
            return .parameter(name)
        case .symbol("("):
            let inner = try parseSum()
            guard accept(")") else {
                throw error(current.column, "expected ')' to close the '(' at column \(t.column)")
            }
            return inner
        case .end:
            throw error(t.column, "expected a number, name or '(' but the expression ends")
        default:
            throw error(t.column, "expected a number, name or '('")
        }
    }

    mutating func parseCall(_ name: String, at nameToken: ExprToken) throws -> Expr {
        guard let arity = functionArity[name] else {
            let known = functionArity.keys.sorted().joined(separator: ", ")
            throw error(nameToken.column, "unknown function '\(name)' (known: \(known))")
        }
        let open = advance()  // "("
        var arguments: [Expr] = []
        if !accept(")") {
            repeat { arguments.append(try parseSum()) } while accept(",")
            guard accept(")") else {
                throw error(current.column, "expected ',' or ')' to close the '(' at column \(open.column)")
            }
        }
        guard arguments.count == arity else {
            let plural = arity == 1 ? "argument" : "arguments"
            throw error(nameToken.column, "\(name) takes \(arity) \(plural), got \(arguments.count)")
        }
        if name == "pow" { return .binary(.power, arguments[0], arguments[1]) }
        return .function(ExprFunction(rawValue: name)!, arguments[0])
    }
}
