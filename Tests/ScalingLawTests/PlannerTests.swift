import Foundation
import ScalingLaw
import LossRecords
import Testing

/// The planner against closed forms of the P2 law (form L1), which can be solved for D.
@Suite struct PlannerTests {
    static let truth = [500.0, 2000, 1.0, 0.3, 0.35, -0.8, 0.05]

    static func fittedPlanner(bootstrap: Int = 0) throws -> Planner {
        let records = Synthetic.records(law: P2Law(), params: truth, design: FitRecoveryTests.wide)
        var o = FitOptions()
        o.starts = 8
        o.bootstrap = bootstrap
        let fit = try ScalingLawFitter.fit(records, law: P2Law(), options: o)
        return try Planner(law: P2Law(), fit: fit.result)
    }

    /// m = rho^-gamma N0^-delta; L(D) = L0 + m (NC N0^-alpha + DC D^-beta + E).
    static func parts(_ p: [Double], n0: Double, rho: Double) -> (m: Double, constant: Double) {
        (Foundation.pow(rho, -p[5]) * Foundation.pow(n0, -p[6]), p[0] * Foundation.pow(n0, -p[3]) + p[2])
    }

    @Test func targetLossMatchesClosedForm() throws {
        let planner = try Self.fittedPlanner()
        let p = planner.fit.parameterVector
        let (n0, rho, loss0, target) = (2e11, 0.25, 1.9, 2.05)
        let (m, c) = Self.parts(p, n0: n0, rho: rho)
        let closed = Foundation.pow(p[1] / ((target - loss0) / m - c), 1 / p[4])
        let plan = try planner.plan(PlanTarget(n0: n0, rho: rho, loss0: loss0), criterion: .targetLoss(target))
        let tokens = try #require(plan.tokens)
        #expect(abs(tokens - closed) / closed < 1e-9, "planner \(tokens) vs closed form \(closed)")
        #expect(plan.reachable)
        #expect(abs(plan.lossAtBudget! - target) < 1e-9)
        #expect(plan.extrapolation.contains { $0.hasPrefix("n0 = 2e+11") }, "a 200B target is outside the fitted n0 range: \(plan.extrapolation)")
    }

    @Test func maxSlopeMatchesClosedForm() throws {
        let planner = try Self.fittedPlanner()
        let p = planner.fit.parameterVector
        let (n0, rho, tau) = (8e9, 0.35, 0.01)
        let (m, _) = Self.parts(p, n0: n0, rho: rho)
        // -dL/dD * 1e9 = m DC beta D^-(beta+1) * 1e9 = tau
        let closed = Foundation.pow(m * p[1] * p[4] * 1e9 / tau, 1 / (p[4] + 1))
        let plan = try planner.plan(PlanTarget(n0: n0, rho: rho, loss0: 2.0), criterion: .maxSlope(tau))
        let tokens = try #require(plan.tokens)
        #expect(abs(tokens - closed) / closed < 1e-9, "planner \(tokens) vs closed form \(closed)")
    }

    @Test func recoveryMatchesClosedForm() throws {
        let planner = try Self.fittedPlanner()
        let p = planner.fit.parameterVector
        let (n0, rho, loss0, pruned, f) = (3e9, 0.25, 2.0, 4.0, 0.8)
        let (m, c) = Self.parts(p, n0: n0, rho: rho)
        let floor = loss0 + m * c
        let target = pruned - f * (pruned - floor)
        let closed = Foundation.pow(p[1] / ((target - loss0) / m - c), 1 / p[4])
        let plan = try planner.plan(PlanTarget(n0: n0, rho: rho, loss0: loss0), criterion: .recovery(fraction: f, lossPruned: pruned))
        #expect(abs(plan.floor - floor) < 1e-12)
        let tokens = try #require(plan.tokens)
        #expect(abs(tokens - closed) / closed < 1e-9)
    }

    @Test func unreachableTargetIsSaidPlainly() throws {
        let planner = try Self.fittedPlanner()
        let plan = try planner.plan(PlanTarget(n0: 1e9, rho: 0.25, loss0: 2.0), criterion: .targetLoss(2.0))
        #expect(plan.tokens == nil)
        #expect(!plan.reachable)
        #expect(plan.message.hasPrefix("unreachable"))
        #expect(plan.message.contains("floor"))
    }

    @Test func bootstrapGivesAnIntervalAroundTheBudget() throws {
        let records = Synthetic.records(law: P2Law(), params: Self.truth,
                                        design: SyntheticDesign(n0: FitRecoveryTests.wide.n0, rho: FitRecoveryTests.wide.rho,
                                                                tokens: FitRecoveryTests.wide.tokens, noise: 0.003, seed: 7))
        var o = FitOptions()
        o.starts = 4
        o.bootstrap = 60
        let fit = try ScalingLawFitter.fit(records, law: P2Law(), options: o)
        let planner = try Planner(law: P2Law(), fit: fit.result)
        let plan = try planner.plan(PlanTarget(n0: 5e9, rho: 0.3, loss0: 2.0), criterion: .targetLoss(2.3))
        let tokens = try #require(plan.tokens)
        let iv = try #require(plan.interval)
        #expect(iv[0] < tokens && tokens < iv[1], "budget \(tokens) outside its interval \(iv)")
        #expect(plan.curve.count == 80)
        #expect(plan.curve.allSatisfy { $0.lower != nil && $0.lower! <= $0.upper! })
        let predictions = try planner.predict(PlanTarget(n0: 5e9, rho: 0.3, loss0: 2.0), tokens: [1e9, 1e10])
        #expect(predictions[0].loss > predictions[1].loss)
        #expect(predictions.allSatisfy { $0.interval![0] <= $0.loss && $0.loss <= $0.interval![1] })
    }

    @Test func missingTargetInputsAreNamed() throws {
        let planner = try Self.fittedPlanner()
        #expect(throws: LawError.self) { try planner.plan(PlanTarget(n0: 1e9, loss0: 2.0), criterion: .targetLoss(2.2)) }
        do {
            _ = try planner.plan(PlanTarget(n0: 1e9, loss0: 2.0), criterion: .targetLoss(2.2))
        } catch let e as LawError {
            #expect(e.message.contains("needs rho"))
        }
        #expect(throws: InputError("fraction", "expected a fraction in (0, 1), got 1.5")) { try planner.plan(PlanTarget(n0: 1e9, rho: 0.2, loss0: 2.0), criterion: .recovery(fraction: 1.5, lossPruned: 3)) }
    }

    @Test func rhoDerivesFromParameterCounts() throws {
        let planner = try Self.fittedPlanner()
        let a = try planner.predict(PlanTarget(n0: 2e9, n: 1.5e9, loss0: 2.0), tokens: [1e9])
        let b = try planner.predict(PlanTarget(n0: 2e9, rho: 0.25, loss0: 2.0), tokens: [1e9])
        #expect(abs(a[0].loss - b[0].loss) < 1e-12)
    }
}

/// When more replicates than the upper tail never meet the criterion, the plan gives the lower
/// end alone: the percentile of all replicate budgets with the unreachable ones as infinite.
@Suite struct OneSidedPlanTests {
    @Test func aTargetNearTheFloorGetsALowerBoundOnly() throws {
        let records = Synthetic.records(law: P2Law(), params: PlannerTests.truth, design: SyntheticDesign(noise: 0.002, seed: 3))
        var o = FitOptions()
        o.starts = 8
        o.bootstrap = 100
        let planner = try Planner(law: P2Law(), fit: try ScalingLawFitter.fit(records, law: P2Law(), options: o).result)
        let target = PlanTarget(n0: 8e9, rho: 0.25, loss0: 1.9)
        let floor = try planner.plan(target, criterion: .targetLoss(3)).floor
        // Barely above the best fit's floor: it reaches the target, many replicates' floors lie above it.
        let plan = try planner.plan(target, criterion: .targetLoss(floor + 1e-4))
        let tokens = try #require(plan.tokens)
        #expect(plan.interval == nil)
        #expect(plan.unreachableReplicates > 3 && plan.unreachableReplicates < 97, "\(plan.unreachableReplicates) of 100 unreachable")
        let bound = try #require(plan.lowerBound, "\(plan.message)")
        #expect(bound <= tokens)
        #expect(plan.message.contains("at least") && plan.message.contains("no upper end"), "\(plan.message)")
        // A reachable target far from the floor keeps its two-sided interval and no bound.
        let easy = try planner.plan(target, criterion: .targetLoss(floor + 0.05))
        #expect(easy.interval != nil && easy.lowerBound == nil, "\(easy.message)")
        // The JSON carries the bound; a plan without one omits the key.
        let json = try JSONEncoder().encode(plan), plain = try JSONEncoder().encode(easy)
        #expect(String(decoding: json, as: UTF8.self).contains("\"lower_bound\""))
        #expect(!String(decoding: plain, as: UTF8.self).contains("lower_bound"))
        #expect(try JSONDecoder().decode(PlanResult.self, from: json).lowerBound == bound)
    }
}
