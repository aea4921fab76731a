import Foundation
import ScalingLaw
import LossRecords
import Testing

/// Every built-in law's analytic gradient against central finite differences, at points and
/// parameters typical of real data (raw parameter and token counts).
@Suite struct LawGradientTests {
    static let laws: [any Law] = [P2Law(), P2NoDeltaLaw(), P2AdditiveLaw(), P2CountsLaw(), ChinchillaLaw(), SparsityLaw()]

    static let points: [LawPoint] = [
        LawPoint(n0: 1e9, n: 0.75e9, rho: 0.25, loss0: 2.1, tokens: 3e8),
        LawPoint(n0: 8e9, n: 5.2e9, rho: 0.35, loss0: 1.8, tokens: 2e10),
        LawPoint(n0: 1.2e8, n: 1.02e8, rho: 0.15, loss0: 3.0, tokens: 1e7),
    ]

    @Test(arguments: laws.indices)
    func gradientMatchesFiniteDifferences(lawIndex: Int) {
        let law = Self.laws[lawIndex]
        for x in Self.points {
            let p = law.defaultStart
            let (_, g) = law.gradient(p, at: x)
            for j in p.indices {
                let h = 1e-6 * max(abs(p[j]), 1e-3)
                var up = p, dn = p
                up[j] += h
                dn[j] -= h
                let fd = (law.value(up, at: x) - law.value(dn, at: x)) / (2 * h)
                let scale = max(abs(fd), abs(g[j]), 1e-12)
                #expect(abs(fd - g[j]) / scale < 1e-5, "\(law.name) d/d\(law.parameterNames[j]) at \(x): analytic \(g[j]) vs FD \(fd)")
            }
        }
    }

    @Test(arguments: laws.indices)
    func tokenDerivativeMatchesFiniteDifferences(lawIndex: Int) {
        let law = Self.laws[lawIndex]
        for x in Self.points {
            let p = law.defaultStart
            let h = 1e-5 * x.tokens
            let fd = (law.value(p, at: x.with(.tokens, x.tokens + h)) - law.value(p, at: x.with(.tokens, x.tokens - h))) / (2 * h)
            let d = law.tokenDerivative(p, at: x)
            #expect(abs(fd - d) / max(abs(fd), 1e-300) < 1e-5, "\(law.name) dL/dD: \(d) vs FD \(fd)")
        }
    }

    @Test func p2ReducesToL0WhenUnpruned() {
        let p = P2Law().defaultStart  // gamma < 0
        let x = LawPoint(n0: 1e9, rho: 0, loss0: 2.0, tokens: 1e9)
        #expect(P2Law().value(p, at: x) == 2.0)
        let (_, g) = P2Law().gradient(p, at: x)
        #expect(g.allSatisfy { $0 == 0 })
    }
}
