import Foundation
import LossRecords

// Symbolic differentiation. Trees are rebuilt through simplifying constructors so that the
// derivative programs carry no dead work (`0 * x`, `x + 0`, `x ^ 1`, folded constants): most
// terms of a law do not depend on a given parameter and their derivative collapses to 0.

/// What a derivative is taken with respect to.
enum DerivativeTarget: Equatable, Sendable {
    case parameter(String)
    case variable(Variable)
}

extension Expr {
    var isZero: Bool { constantValue == 0 }
    var isOne: Bool { constantValue == 1 }

    // MARK: Simplifying constructors. Constants fold with the same Double operations evaluation
    // uses, so folding never changes a result (except `0 * x` = 0 where x is inf or NaN).

    static func negation(_ a: Expr) -> Expr {
        if let c = a.constantValue { return .constant(-c) }
        if case .negate(let inner) = a { return inner }
        return .negate(a)
    }

    static func apply(_ f: ExprFunction, _ a: Expr) -> Expr {
        if let c = a.constantValue { return .constant(f.apply(c)) }
        return .function(f, a)
    }

    static func sum(_ a: Expr, _ b: Expr) -> Expr {
        if let x = a.constantValue, let y = b.constantValue { return .constant(x + y) }
        if a.isZero { return b }
        if b.isZero { return a }
        if case .negate(let inner) = b { return .binary(.subtract, a, inner) }
        return .binary(.add, a, b)
    }

    static func difference(_ a: Expr, _ b: Expr) -> Expr {
        if let x = a.constantValue, let y = b.constantValue { return .constant(x - y) }
        if b.isZero { return a }
        if a.isZero { return negation(b) }
        if case .negate(let inner) = b { return .binary(.add, a, inner) }
        return .binary(.subtract, a, b)
    }

    static func product(_ a: Expr, _ b: Expr) -> Expr {
        if let x = a.constantValue, let y = b.constantValue { return .constant(x * y) }
        if a.isZero || b.isZero { return .constant(0) }
        if a.isOne { return b }
        if b.isOne { return a }
        if a.constantValue == -1 { return negation(b) }
        if b.constantValue == -1 { return negation(a) }
        // Pull signs outward so they cancel rather than pile up in chain-rule products.
        if case .negate(let x) = a { return negation(product(x, b)) }
        if case .negate(let y) = b { return negation(product(a, y)) }
        return .binary(.multiply, a, b)
    }

    static func quotient(_ a: Expr, _ b: Expr) -> Expr {
        if let x = a.constantValue, let y = b.constantValue { return .constant(x / y) }
        if a.isZero { return .constant(0) }
        if b.isOne { return a }
        if b.constantValue == -1 { return negation(a) }
        if case .negate(let x) = a { return negation(quotient(x, b)) }
        return .binary(.divide, a, b)
    }

    static func power(_ a: Expr, _ b: Expr) -> Expr {
        if let x = a.constantValue, let y = b.constantValue { return .constant(Foundation.pow(x, y)) }
        if b.isZero || a.isOne { return .constant(1) }  // as Foundation.pow: pow(x, 0) = pow(1, y) = 1
        if b.isOne { return a }
        return .binary(.power, a, b)
    }

    static func combine(_ op: ExprOperator, _ a: Expr, _ b: Expr) -> Expr {
        switch op {
        case .add: sum(a, b)
        case .subtract: difference(a, b)
        case .multiply: product(a, b)
        case .divide: quotient(a, b)
        case .power: power(a, b)
        }
    }

    /// The same function, rebuilt bottom-up through the simplifying constructors.
    func simplified() -> Expr {
        switch self {
        case .constant, .variable, .parameter: self
        case .negate(let a): .negation(a.simplified())
        case .function(let f, let a): .apply(f, a.simplified())
        case .binary(let op, let a, let b): .combine(op, a.simplified(), b.simplified())
        }
    }

    // MARK: Differentiation

    /// `d self / d target`, simplified. `self` should already be simplified (the result reuses
    /// its subtrees as they are).
    func derivative(_ t: DerivativeTarget) -> Expr {
        switch self {
        case .constant:
            return .constant(0)
        case .variable(let v):
            return .constant(t == .variable(v) ? 1 : 0)
        case .parameter(let p):
            return .constant(t == .parameter(p) ? 1 : 0)
        case .negate(let a):
            return .negation(a.derivative(t))
        case .function(let f, let a):
            let da = a.derivative(t)
            if da.isZero { return .constant(0) }
            switch f {
            case .log: return .quotient(da, a)
            case .exp: return .product(self, da)
            case .sqrt: return .quotient(da, .product(.constant(2), self))
            case .log1p: return .quotient(da, .sum(.constant(1), a))
            case .abs: return .product(.apply(.sign, a), da)
            case .sign: return .constant(0)
            }
        case .binary(let op, let a, let b):
            let da = a.derivative(t)
            let db = b.derivative(t)
            switch op {
            case .add:
                return .sum(da, db)
            case .subtract:
                return .difference(da, db)
            case .multiply:
                return .sum(.product(da, b), .product(a, db))
            case .divide:
                // (a/b)' = a'/b - a b' / b^2
                return .difference(.quotient(da, b), .quotient(.product(a, db), .power(b, .constant(2))))
            case .power:
                switch (da.isZero, db.isZero) {
                case (true, true):
                    return .constant(0)
                case (false, true):
                    // Constant exponent: b a^(b-1) a'.
                    return .product(.product(b, .power(a, .difference(b, .constant(1)))), da)
                case (true, false):
                    // Constant base: a^b log(a) b'.
                    return .product(.product(self, .apply(.log, a)), db)
                case (false, false):
                    // a^b (b' log a + b a' / a).
                    return .product(self, .sum(.product(db, .apply(.log, a)), .quotient(.product(b, da), a)))
                }
            }
        }
    }
}
