import Foundation
@testable import Reports
import ScalingLaw
import LossRecords

/// A self-consistent fake fit of the P2 law: 3 sizes x 3 pruning rates, 8 checkpoints each,
/// observed = law value + a small deterministic wiggle; the last 2 checkpoints of every run held out.
enum ReportFixture {
    static let law = P2Law()
    static let params: [String: Double] = ["NC": 500, "DC": 2000, "E": 1, "alpha": 0.3, "beta": 0.35, "gamma": -0.8, "delta": 0.05]
    static var vector: [Double] { law.parameterNames.map { params[$0]! } }
    static let sizes = [1e9, 3e9, 8e9]
    static let rates = [0.15, 0.25, 0.35]
    static let checkpoints = 8

    static func runID(_ n0: Double, _ rho: Double) -> String {
        "\(Int(n0 / 1e9))B-rho\(rho)"
    }

    static func rows(runs extra: Int = 0) -> [PredictionRow] {
        var rows: [PredictionRow] = []
        var k = 0
        var grid: [(Double, Double)] = sizes.flatMap { n0 in rates.map { (n0, $0) } }
        // Extra runs for legend tests: the same models again under new ids.
        for i in 0..<extra { grid.append((sizes[i % 3], rates[(i / 3) % 3])) }
        for (index, (n0, rho)) in grid.enumerated() {
            let run = index < 9 ? runID(n0, rho) : "extra-\(index - 9)"
            let loss0 = 2.0 + 0.1 * Foundation.log10(8e9 / n0)
            for c in 0..<checkpoints {
                let tokens = Foundation.pow(10, 8 + 2 * Double(c) / Double(checkpoints - 1))
                let record = LossRecord(run: run, n0: n0, n: (1 - rho) * n0, rho: rho, loss0: loss0, tokens: tokens, loss: 0,
                                        labels: index % 2 == 0 ? ["method": "depth"] : ["family": "llama", "method": "width"])
                let fitted = law.value(vector, at: record.point)
                var observed = record
                observed.loss = fitted + 0.004 * Foundation.sin(Double(k) * 1.7)
                k += 1
                rows.append(PredictionRow(record: observed, fitted: fitted, role: c >= checkpoints - 2 ? .holdout : .fit))
            }
        }
        // A checkpoint at tokens = 0: D^-beta diverges, so the fit excluded it.
        let first = rows[0].record
        rows.insert(PredictionRow(record: LossRecord(run: first.run, n0: first.n0, n: first.n, rho: first.rho, loss0: first.loss0,
                                                     tokens: 0, loss: 3.1, labels: first.labels),
                                  fitted: .nan, role: .excluded), at: 0)
        return rows
    }

    static func metrics(_ rows: [PredictionRow]) -> FitMetrics {
        let y = rows.map(\.record.loss)
        let mean = y.reduce(0, +) / Double(y.count)
        let ssRes = rows.map { $0.residual * $0.residual }.reduce(0, +)
        let ssTot = y.map { ($0 - mean) * ($0 - mean) }.reduce(0, +)
        let mape = rows.map { Swift.abs($0.residual / $0.record.loss) }.reduce(0, +) / Double(rows.count) * 100
        return FitMetrics(count: rows.count, r2: 1 - ssRes / ssTot, rmse: (ssRes / Double(rows.count)).squareRoot(),
                          mape: mape, huber: ssRes / Double(rows.count) / 2, asd: 2.1e-6, asdLog: 0.0031)
    }

    static func fit(_ rows: [PredictionRow]) -> FitResult {
        let fitRows = rows.filter { $0.role == .fit }
        let held = rows.filter { $0.role == .holdout }
        let estimates = law.parameterNames.map { name in
            let v = params[name]!
            return ParameterEstimate(name: name, value: v, stderr: Swift.abs(v) * 0.05 + 0.001,
                                     interval: [v - Swift.abs(v) * 0.1 - 0.002, v + Swift.abs(v) * 0.1 + 0.002])
        }
        var correlation = (0..<7).map { i in (0..<7).map { j in i == j ? 1.0 : 0.1 } }
        correlation[0][3] = 0.97
        correlation[3][0] = 0.97
        var options = FitOptions()
        options.bootstrap = 200
        let tokens = fitRows.compactMap(\.record.tokens)
        return FitResult(
            law: law.spec, formula: law.formula, parameterNames: law.parameterNames, params: params, estimates: estimates,
            correlation: correlation, metrics: metrics(fitRows), holdout: .tokens(fraction: 0.25), holdoutMetrics: metrics(held),
            objectiveValue: fitRows.map { $0.residual * $0.residual }.reduce(0, +),
            data: DataSummary(file: "losses.csv", records: rows.count, runs: Set(rows.map(\.record.run)).count,
                              fitted: fitRows.count, heldOut: held.count, excluded: rows.count - fitRows.count - held.count,
                              ranges: ["n0": [1e9, 8e9], "rho": [0.15, 0.35], "loss0": [2.0, 2.09], "tokens": [tokens.min()!, tokens.max()!]]),
            options: options, starts: StartSummary(requested: 16, converged: 15, reachedBest: 11),
            bootstrap: BootstrapSummary(replicates: 200, converged: 197, samples: []),
            warnings: ["NC and alpha are strongly correlated (r = 0.97): each alone is weakly identified."])
    }

    /// A plan for a 3B model pruned 25% to reach loss 2.30, solved on the fixture's law.
    static func plan(reachable: Bool = true) -> PlanResult {
        let target = PlanTarget(n0: 3e9, rho: 0.25, loss0: 2.05)
        let at = LawPoint(n0: 3e9, rho: 0.25, loss0: 2.05)
        let loss = { (t: Double) in law.value(vector, at: at.with(.tokens, t)) }
        let goal = reachable ? 2.30 : 2.0
        var lo = 1e6, hi = 1e14
        for _ in 0..<200 {
            let mid = (lo * hi).squareRoot()
            if loss(mid) > goal { lo = mid } else { hi = mid }
        }
        let budget = reachable ? hi : nil
        let curve = Figures.logSpaced(1e8, 1e12, count: 41).map { t in
            CurvePoint(tokens: t, loss: loss(t), lower: loss(t) - 0.015, upper: loss(t) + 0.02)
        }
        let floor = loss(.infinity)
        let message = reachable
            ? "Post-train the 3B model pruned 25% for about \(Format.significant(hi, 2)) tokens to reach loss 2.3."
            : "The fitted law levels off at \(Format.significant(floor, 3)): loss 2.0 is below its floor."
        return PlanResult(criterion: PlanCriterion.targetLoss(goal).description, target: target, tokens: budget,
                          interval: reachable ? [hi * 0.7, hi * 1.6] : nil, reachable: reachable,
                          lossAtBudget: budget.map(loss), floor: floor, replicates: 200, unreachableReplicates: reachable ? 3 : 200,
                          extrapolation: [], message: message, curve: curve, targetLoss: goal)
    }

    static func report(plan: PlanResult? = ReportFixture.plan(), extraRuns: Int = 0) -> FitReport {
        let rows = rows(runs: extraRuns)
        return FitReport(fit: fit(rows), law: law, rows: rows, plan: plan)
    }
}
