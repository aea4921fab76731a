import Foundation
import ScalingLaw
import LossRecords
import Testing

/// Custom expression laws: parsing, exact symbolic derivatives, agreement with the built-in
/// laws they restate, error messages, and concurrent use.
@Suite struct ExpressionTests {
    static let points: [LawPoint] = [
        LawPoint(n0: 1e9, n: 0.75e9, rho: 0.25, loss0: 2.1, tokens: 3e8),
        LawPoint(n0: 8e9, n: 5.2e9, rho: 0.35, loss0: 1.8, tokens: 2e10),
        LawPoint(n0: 1.2e8, n: 1.02e8, rho: 0.15, loss0: 3.0, tokens: 1e7),
    ]

    static func relativeError(_ a: Double, _ b: Double) -> Double {
        a == b ? 0 : abs(a - b) / max(abs(a), abs(b))
    }

    /// Expects `law` and `reference` (same parameters, possibly in another order) to agree in
    /// value, every gradient component and dL/dtokens.
    static func expectAgreement(_ law: CustomLaw, _ reference: any Law, parameters p: [Double], tolerance: Double) {
        let order = reference.parameterNames.map { law.parameterIndex($0)! }
        var q = [Double](repeating: .nan, count: p.count)
        for (j, k) in order.enumerated() { q[k] = p[j] }
        for x in points {
            let (v, g) = law.gradient(q, at: x)
            let (rv, rg) = reference.gradient(p, at: x)
            #expect(relativeError(v, rv) < tolerance, "value at \(x): \(v) vs \(rv)")
            #expect(law.value(q, at: x) == v, "value without gradient differs")
            for (j, k) in order.enumerated() {
                #expect(relativeError(g[k], rg[j]) < tolerance, "d/d\(reference.parameterNames[j]): \(g[k]) vs \(rg[j])")
            }
            let d = law.tokenDerivative(q, at: x)
            let rd = reference.tokenDerivative(p, at: x)
            #expect(relativeError(d, rd) < tolerance, "dL/dD: \(d) vs \(rd)")
        }
    }

    // MARK: Parsing

    /// Precedence and associativity, with values exact in binary floating point.
    @Test(arguments: [
        ("a + 2 * 3", 1.0, 7.0),
        ("(a + 2) * 3", 1, 9),
        ("a - 3 - 2", 10, 5),
        ("a - (3 - 2)", 10, 9),
        ("a / 4 / 2", 16, 2),
        ("a / (4 / 2)", 16, 8),
        ("a ^ 3 ^ 2", 2, 512),
        ("(a ^ 3) ^ 2", 2, 64),
        ("-a ^ 2", 3, -9),
        ("(-a) ^ 2", 3, 9),
        ("-a^2 + 10", 3, 1),
        ("a * -2 ^ 2", 3, -12),
        ("a ^ -1", 4, 0.25),
        ("2 ^ -a ^ 2", 1, 0.5),
        ("2 * -a", 3, -6),
        ("a - -2", 1, 3),
        ("+a - +1", 5, 4),
        ("--a", 5, 5),
        ("a - 2 * 3 ^ 2 / 6", 10, 7),
        ("a * .5 + 1e2", 2, 101),
        ("2.5e-1 * a + 1E+1", 4, 11),
        ("pow(a, 2) + sqrt(a * 4)", 4, 20),
        ("pow(2, pow(a, 2))", 2, 16),
        ("abs(-a) + abs(a) + log1p(0) + exp(0) + log(1)", 2, 5),
        ("a*n + n0 - rho / loss0 + tokens", 2, 2 * 3 + 8 - 0.5 / 0.25 + 1024),
        ("a*N + N0 - D + L0", 2, 2 * 3 + 8 - 1024 + 0.25),
        ("( ( a ) )", 7, 7),
    ] as [(String, Double, Double)])
    func precedenceAndAssociativity(source: String, a: Double, expected: Double) throws {
        let law = try CustomLaw(expression: source, start: ["a": a])
        let x = LawPoint(n0: 8, n: 3, rho: 0.5, loss0: 0.25, tokens: 1024)
        #expect(law.parameterNames == ["a"])
        #expect(law.value(law.defaultStart, at: x) == expected, "\(source)")
    }

    @Test func parametersInOrderOfFirstAppearance() throws {
        let law = try CustomLaw(expression: "E + A / n^alpha + B / tokens^beta + A * 0")
        #expect(law.parameterNames == ["E", "A", "alpha", "B", "beta"])
        #expect(law.variables == [.n, .tokens])
        let aliased = try CustomLaw(expression: "L0 + x * D / N + y * N0 ^ z")
        #expect(aliased.parameterNames == ["x", "y", "z"])
        #expect(aliased.variables == [.n0, .n, .loss0, .tokens])
        // Names only start with a letter or '_', and may contain digits.
        #expect(try CustomLaw(expression: "_k1 * n0 + k_2").parameterNames == ["_k1", "k_2"])
    }

    @Test func lawMetadata() throws {
        let law = try CustomLaw(expression: "a + b * n + c / tokens", parameters: ["c", "b", "a"], start: ["a": 2, "b": 0, "c": -3])
        #expect(law.name == "custom")
        #expect(law.formula == "L = a + b * n + c / tokens")
        #expect(law.expression == "a + b * n + c / tokens")
        #expect(law.parameterNames == ["c", "b", "a"])
        #expect(law.defaultStart == [-3, 0, 2])
        #expect(law.startRanges == [StartRange(-30, -0.3), StartRange(-1, 1), StartRange(0.2, 20, log: true)])
        #expect(law.spec == LawSpec(name: "custom", expression: "a + b * n + c / tokens", parameters: ["c", "b", "a"]))
        #expect(try CustomLaw(expression: "k * rho").defaultStart == [1])
    }

    // MARK: Agreement with built-in laws

    @Test func chinchillaForm() throws {
        let reference = ChinchillaLaw()
        for source in ["E + A / n^alpha + B / tokens^beta", "E + A * N^-alpha + B * pow(D, -beta)"] {
            let law = try CustomLaw(expression: source, parameters: reference.parameterNames)
            #expect(law.variables == reference.variables)
            for p in [reference.defaultStart, [1.69, 406.4, 410.7, 0.34, 0.28], [-0.5, 3.0, 1e4, 0.05, 0.9]] {
                Self.expectAgreement(law, reference, parameters: p, tolerance: 1e-12)
            }
        }
        // The default (first-appearance) order gives the same law, permuted.
        let unordered = try CustomLaw(expression: "E + A / n^alpha + B / tokens^beta")
        Self.expectAgreement(unordered, reference, parameters: reference.defaultStart, tolerance: 1e-12)
    }

    @Test func p2Form() throws {
        let reference = P2Law()
        let law = try CustomLaw(
            expression: "L0 + (1/rho)^gamma * (1/N0)^delta * (NC/N0^alpha + DC/D^beta + E)",
            parameters: reference.parameterNames)
        #expect(law.variables == reference.variables)
        for p in [reference.defaultStart, [30, 3000, -0.2, 0.5, 0.2, -1.5, 0.3]] {
            Self.expectAgreement(law, reference, parameters: p, tolerance: 1e-12)
        }
    }

    @Test func sparsityForm() throws {
        let reference = SparsityLaw()
        let law = try CustomLaw(
            expression: "(aS*(1-rho)^bS + cS) * (1/n)^bN + (aD/tokens)^bD + c", parameters: reference.parameterNames)
        Self.expectAgreement(law, reference, parameters: reference.defaultStart, tolerance: 1e-11)
    }

    // MARK: Derivatives

    /// Every function and operator, including powers whose base and exponent both depend on the
    /// parameter, against central finite differences in each parameter and in tokens.
    @Test(arguments: [
        "a * log(b * n) + exp(-c * rho) - sqrt(d + tokens / 1e9) / log1p(e * rho)",
        "abs(a - 2) ^ b + pow(c, d) - a / (b + c) + -e * (a - d) * tokens / 1e9",
        "a ^ (a * b) + (c * rho) ^ (d + rho) + e ^ 2 ^ a - pow(tokens / 1e8, -b * c)",
        "log(abs(a * b - loss0 * c)) * sqrt(pow(d, 2) + e) / (1 + exp(-a * (log(tokens) - 18)))",
        "(a + b / N0^c) * (1/rho)^d + e * log1p(-rho) ^ 2 + abs(-a - tokens / 1e9)",
    ])
    func derivativesMatchFiniteDifferences(source: String) throws {
        let start = ["a": 0.7, "b": 1.3, "c": 0.4, "d": 2.2, "e": 0.9]
        let law = try CustomLaw(expression: source, start: start)
        let p = law.defaultStart
        for x in Self.points {
            let (v, g) = law.gradient(p, at: x)
            #expect(v.isFinite, "\(source) at \(x)")
            for j in p.indices {
                let h = 1e-6 * max(abs(p[j]), 1e-3)
                var up = p, down = p
                up[j] += h
                down[j] -= h
                let fd = (law.value(up, at: x) - law.value(down, at: x)) / (2 * h)
                #expect(abs(fd - g[j]) / max(abs(fd), abs(g[j]), 1e-8) < 1e-6,
                        "\(source) d/d\(law.parameterNames[j]) at \(x): exact \(g[j]) vs FD \(fd)")
            }
            let h = 1e-5 * x.tokens
            let fd = (law.value(p, at: x.with(.tokens, x.tokens + h)) - law.value(p, at: x.with(.tokens, x.tokens - h))) / (2 * h)
            let d = law.tokenDerivative(p, at: x)
            #expect(abs(fd - d) / max(abs(fd), abs(d), 1e-300) < 1e-5, "\(source) dL/dD at \(x): exact \(d) vs FD \(fd)")
        }
    }

    @Test func exactDerivativesOfSimpleForms() throws {
        let x = LawPoint(n0: 8, n: 3, rho: 0.5, loss0: 0.25, tokens: 1024)
        // No tokens: dL/dD is exactly 0. A linear parameter's derivative is its coefficient.
        let law = try CustomLaw(expression: "a + 3 * b * n - a * 0", start: ["a": 2, "b": 5])
        #expect(law.tokenDerivative(law.defaultStart, at: x) == 0)
        #expect(law.gradient(law.defaultStart, at: x).gradient == [1, 9])
        // d/dD (k * D^2) = 2 k D; d/dk = D^2.
        let square = try CustomLaw(expression: "k * D^2", start: ["k": 3])
        #expect(square.tokenDerivative(square.defaultStart, at: x) == 6 * 1024)
        #expect(square.gradient(square.defaultStart, at: x).gradient == [1024 * 1024])
        // -k^2 is -(k^2): derivative -2k.
        let negSquare = try CustomLaw(expression: "-k^2", start: ["k": 3])
        #expect(negSquare.gradient(negSquare.defaultStart, at: x).gradient == [-6])
    }

    // MARK: Errors

    @Test(arguments: [
        // Syntax, with the column.
        ("E + * A", nil, [:], ["expression 'E + * A'", "column 5", "expected a number, name or '('"]),
        ("", nil, [:], ["column 1"]),
        ("A +", nil, [:], ["column 4"]),
        ("(E + A", nil, [:], ["column 7", "')'", "column 1"]),
        ("E + A)", nil, [:], ["column 6", "unmatched ')'"]),
        ("pow(A, (B)", nil, [:], ["column 11", "')'"]),
        ("A B", nil, [:], ["column 3", "'B'"]),
        ("A, B", nil, [:], ["column 2", "','"]),
        ("2A", nil, [:], ["column 2", "'A'"]),
        ("A + 1e", nil, [:], ["column 5", "malformed number '1e'"]),
        ("A + .", nil, [:], ["column 5", "malformed number"]),
        ("A # 2", nil, [:], ["column 3", "'#'"]),
        ("A + 1e999", nil, [:], ["column 5", "out of range"]),
        // Functions.
        ("A * foo(n)", nil, [:], ["column 5", "unknown function 'foo'"]),
        ("A * sign(n)", nil, [:], ["unknown function 'sign'"]),
        ("pow(A)", nil, [:], ["column 1", "pow takes 2 arguments, got 1"]),
        ("A + log(n, 2)", nil, [:], ["column 5", "log takes 1 argument, got 2"]),
        ("A + exp()", nil, [:], ["exp takes 1 argument, got 0"]),
        ("log + A", nil, [:], ["column 1", "'log' is a function"]),
        // Parameters.
        ("2 * n + log(tokens)", nil, [:], ["no parameters"]),
        ("A * n", ["A", "Z"], [:], ["'Z'", "does not appear"]),
        ("A + B * n", ["A"], [:], ["'B'", "parameter list"]),
        ("A * n", ["A", "n"], [:], ["'n'", "variable"]),
        ("A * N", ["A", "N"], [:], ["'N'", "variable"]),
        ("A * n", ["A", "A"], [:], ["'A'", "twice"]),
        ("A * n", [], [:], ["'A'"]),
        ("A * n", nil, ["Q": 1], ["'Q'", "not a parameter"]),
        ("A * n", nil, ["A": .infinity], ["'A'", "not finite"]),
    ] as [(String, [String]?, [String: Double], [String])])
    func errorsNameTheProblem(source: String, parameters: [String]?, start: [String: Double], expected: [String]) {
        do {
            _ = try CustomLaw(expression: source, parameters: parameters, start: start)
            Issue.record("'\(source)' should not be accepted")
        } catch let error as LawError {
            #expect(error.message.hasPrefix("expression '\(source)': "), "\(error.message)")
            #expect(!error.message.contains("\n"))
            for fragment in expected {
                #expect(error.message.contains(fragment), "'\(error.message)' lacks '\(fragment)'")
            }
        } catch {
            Issue.record("'\(source)': unexpected error type \(error)")
        }
    }

    // MARK: Concurrency

    /// One law shared by many tasks gives bit-identical results to sequential evaluation.
    @Test func concurrentEvaluationIsDeterministic() async throws {
        let law = try CustomLaw(
            expression: "L0 + (1/rho)^gamma * (1/N0)^delta * (NC/N0^alpha + DC/D^beta + E)",
            parameters: P2Law().parameterNames, start: Dictionary(uniqueKeysWithValues: zip(P2Law().parameterNames, P2Law().defaultStart)))
        let inputs: [LawPoint] = (0..<400).map { i in
            let t = Double(i)
            return LawPoint(n0: 1e8 * (1 + t), n: 0.5e8 * (1 + t), rho: 0.1 + 0.002 * t, loss0: 2 + 0.001 * t, tokens: 1e7 * (1 + t))
        }
        let p = law.defaultStart
        @Sendable func evaluate(_ x: LawPoint) -> [Double] {
            let (v, g) = law.gradient(p, at: x)
            return [v, law.tokenDerivative(p, at: x)] + g
        }
        let sequential = inputs.map(evaluate)
        let concurrent = await withTaskGroup(of: (Int, [Double]).self) { group in
            for round in 0..<8 {
                for i in inputs.indices where i % 8 == round {
                    group.addTask { (i, evaluate(inputs[i])) }
                }
            }
            var out = [[Double]](repeating: [], count: inputs.count)
            for await (i, r) in group { out[i] = r }
            return out
        }
        #expect(concurrent == sequential)
        #expect(sequential.allSatisfy { $0.allSatisfy(\.isFinite) })
    }
}
