import Foundation
import LossRecords

/// A tree flattened to a postfix program. Evaluation only reads the program, so one instance can
/// be shared by concurrent fits; the operand stack is scratch memory the caller provides (sized
/// by `stackDepth`), so a call allocates nothing.
struct CompiledExpression: Sendable {
    enum Instruction: Sendable, Equatable {
        case constant(Double)
        case parameter(Int)
        case variable(Variable)
        /// `log(variable)` from the logs `LawPoint` precomputes.
        case logVariable(Variable)
        /// Pops `e`, pushes `variable ^ e` as `exp(e * log variable)` (a precomputed log) when
        /// the variable is positive: that is how the built-in laws evaluate powers, and faster.
        case powerOfVariable(Variable)
        case negate
        case add, subtract, multiply, divide, power
        case function(ExprFunction)
    }

    let instructions: [Instruction]
    /// Operand-stack slots `evaluate` needs.
    let stackDepth: Int
    /// Set when the whole program is one constant (common for derivatives): no evaluation needed.
    let constant: Double?

    /// `parameterIndex` must map every parameter of `tree`.
    init(_ tree: Expr, parameterIndex: [String: Int]) {
        var code: [Instruction] = []
        var depth = 0
        var maxDepth = 0
        func push(_ i: Instruction) {
            code.append(i)
            depth += 1
            maxDepth = max(maxDepth, depth)
        }
        func pop(_ i: Instruction) {
            code.append(i)
            depth -= 1
        }
        func emit(_ e: Expr) {
            switch e {
            case .constant(let c): push(.constant(c))
            case .variable(let v): push(.variable(v))
            case .parameter(let name):
                guard let j = parameterIndex[name] else { preconditionFailure("unbound parameter '\(name)'") }
                push(.parameter(j))
            case .negate(let a):
                emit(a)
                code.append(.negate)
            case .function(.log, .variable(let v)) where Self.hasPrecomputedLog(v):
                push(.logVariable(v))
            case .function(let f, let a):
                emit(a)
                code.append(.function(f))
            // A constant exponent goes to pow, which is exact for small integers and handles
            // negative bases; a fitted exponent takes the precomputed log.
            case .binary(.power, .variable(let v), let exponent)
            where Self.hasPrecomputedLog(v) && exponent.constantValue == nil:
                emit(exponent)
                code.append(.powerOfVariable(v))
            case .binary(let op, let a, let b):
                emit(a)
                emit(b)
                switch op {
                case .add: pop(.add)
                case .subtract: pop(.subtract)
                case .multiply: pop(.multiply)
                case .divide: pop(.divide)
                case .power: pop(.power)
                }
            }
        }
        emit(tree)
        instructions = code
        stackDepth = maxDepth
        constant = tree.constantValue
    }

    static func hasPrecomputedLog(_ v: Variable) -> Bool { v != .loss0 }

    @inline(__always)
    static func log(_ v: Variable, _ x: LawPoint) -> Double {
        switch v {
        case .n0: x.logN0
        case .n: x.logN
        case .rho: x.logRho
        case .tokens: x.logTokens
        case .loss0: Foundation.log(x.loss0)
        }
    }

    /// Runs the program. `stack` must hold at least `stackDepth` values.
    func evaluate(_ p: UnsafeBufferPointer<Double>, at x: LawPoint, stack: UnsafeMutablePointer<Double>) -> Double {
        if let constant { return constant }
        return instructions.withUnsafeBufferPointer { code in
            var top = -1
            for instruction in code {
                switch instruction {
                case .constant(let c):
                    top += 1
                    stack[top] = c
                case .parameter(let j):
                    top += 1
                    stack[top] = p[j]
                case .variable(let v):
                    top += 1
                    stack[top] = x[v]
                case .logVariable(let v):
                    top += 1
                    stack[top] = Self.log(v, x)
                case .powerOfVariable(let v):
                    let base = x[v]
                    stack[top] = base > 0 ? Foundation.exp(stack[top] * Self.log(v, x)) : Foundation.pow(base, stack[top])
                case .negate:
                    stack[top] = -stack[top]
                case .add:
                    top -= 1
                    stack[top] += stack[top + 1]
                case .subtract:
                    top -= 1
                    stack[top] -= stack[top + 1]
                case .multiply:
                    top -= 1
                    stack[top] *= stack[top + 1]
                case .divide:
                    top -= 1
                    stack[top] /= stack[top + 1]
                case .power:
                    top -= 1
                    stack[top] = Foundation.pow(stack[top], stack[top + 1])
                case .function(let f):
                    stack[top] = f.apply(stack[top])
                }
            }
            return stack[0]
        }
    }

    /// Convenience for one-off evaluation (tests, planning): scratch space on the stack.
    func evaluate(_ p: UnsafeBufferPointer<Double>, at x: LawPoint) -> Double {
        if let constant { return constant }
        return withUnsafeTemporaryAllocation(of: Double.self, capacity: stackDepth) { stack in
            evaluate(p, at: x, stack: stack.baseAddress!)
        }
    }
}
