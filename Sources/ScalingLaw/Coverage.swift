import Foundation
import LossRecords
import OpenBLASRuntime

/// A point at which predicted losses and token budgets are checked against the truth.
public struct CoveragePoint: Sendable, Equatable {
    public var label: String
    public var target: PlanTarget
    public var tokens: Double
    public init(_ label: String, target: PlanTarget, tokens: Double) {
        self.label = label
        self.target = target
        self.tokens = tokens
    }

    /// Issue 14's three points: inside the fitted range, at the largest fitted model, extrapolated
    /// (loss0 as `Synthetic` gives it).
    public static let issue14: [CoveragePoint] = [
        CoveragePoint("inside", target: target(3e9, 0.25), tokens: 1e9),
        CoveragePoint("largest", target: target(8e9, 0.35), tokens: 5e9),
        CoveragePoint("extrapolated", target: target(7e10, 0.25), tokens: 1e9),
    ]

    static func target(_ n0: Double, _ rho: Double) -> PlanTarget {
        PlanTarget(n0: n0, rho: rho, loss0: SyntheticDesign.defaultLoss0(n0))
    }
}

/// A coverage experiment: data drawn from a known law, fitted with one interval method, seed
/// after seed; how often do the intervals hold the truth?
public struct CoverageSetup: Sendable {
    public var law: any Law
    public var truth: [Double]
    /// The design of every data set; its `seed` is replaced by `firstSeed + s` for data set s.
    public var design: SyntheticDesign
    public var method: IntervalMethod
    public var seeds: Int
    public var firstSeed: UInt64
    /// Replicates per fit (`FitOptions.bootstrap`).
    public var replicates: Int
    public var confidence: Double
    public var points: [CoveragePoint]
    /// Data sets fitted side by side (0 = all cores); each fit runs on one thread. Results do not depend on it.
    public var threads: Int

    /// The sample's truth (data/README.md) on the sample's design with 0.2 % noise.
    public init(method: IntervalMethod, design: SyntheticDesign = SyntheticDesign(noise: 0.002), seeds: Int = 200, replicates: Int = 200) {
        law = P2Law()
        truth = Self.sampleTruth
        self.design = design
        self.method = method
        self.seeds = seeds
        firstSeed = 1
        self.replicates = replicates
        confidence = 0.95
        points = CoveragePoint.issue14
        threads = 0
    }

    /// NC, DC, E, alpha, beta, gamma, delta of data/sample-p2.csv.
    public static let sampleTruth = [500, 2000, 1.0, 0.3, 0.35, -0.8, 0.05]
}

/// How often the intervals held the truth, as counts out of `seeds`.
public struct CoverageReport: Sendable, Equatable {
    public var method: IntervalMethod
    public var seeds: Int
    /// Data sets whose fit failed or gave no interval (counted as not covered).
    public var failures: Int
    /// Per parameter, in the law's order.
    public var parameters: [(name: String, covered: Int)]
    /// Per point: predicted loss at the point's tokens, and the planner's token interval for the
    /// loss the true law reaches there (which holds the point's tokens when it covers).
    public var predictions: [(label: String, covered: Int)]
    public var plans: [(label: String, covered: Int)]
    /// Median over data sets of the predicted-loss interval's width relative to the true loss, per point.
    public var relativeWidths: [Double]
    /// Per parameter over the data sets: (mean estimate - truth) / sd of the estimates, and the
    /// replicates' mean sd / sd of the estimates (1 when the replicates spread as the estimates do).
    public var bias: [Double]
    public var spreadRatio: [Double]

    public func rate(_ covered: Int) -> Double { Double(covered) / Double(seeds) }

    public static func == (a: CoverageReport, b: CoverageReport) -> Bool {
        a.method == b.method && a.seeds == b.seeds && a.failures == b.failures
            && a.parameters.map(\.covered) == b.parameters.map(\.covered)
            && a.predictions.map(\.covered) == b.predictions.map(\.covered) && a.plans.map(\.covered) == b.plans.map(\.covered)
    }
}

private func mean(_ v: [Double]) -> Double { v.reduce(0, +) / Double(v.count) }
private func sd(_ v: [Double]) -> Double {
    let m = mean(v)
    return (v.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(max(v.count - 1, 1))).squareRoot()
}

public enum Coverage {
    /// One data set's outcome: covered flags for parameters, predictions, plans; nil if the fit failed.
    struct Outcome: Sendable {
        var parameters: [Bool]
        var predictions: [Bool]
        var plans: [Bool]
        var widths: [Double]
        var estimates: [Double]
        var spreads: [Double]
    }

    public static func run(_ setup: CoverageSetup) -> CoverageReport {
        let law = setup.law
        let truePoints = setup.points.map { $0.target.point }
        let trueLoss = zip(truePoints, setup.points).map { law.value(setup.truth, at: $0.with(.tokens, $1.tokens)) }
        // One BLAS thread throughout: set once here, so the fits running side by side never change it.
        let outcomes: [Outcome?] = BLAS.withThreads(1) { parallelMap(setup.seeds, threads: setup.threads) { s in
            var design = setup.design
            design.seed = setup.firstSeed &+ UInt64(s)
            let records = Synthetic.records(law: law, params: setup.truth, design: design)
            var o = FitOptions()
            o.starts = 1
            o.overrides = Dictionary(uniqueKeysWithValues: zip(law.parameterNames, setup.truth.map { ParameterOverride(start: $0) }))
            o.bootstrap = setup.replicates
            o.interval = setup.method
            o.confidence = setup.confidence
            o.seed = 1000 &+ design.seed
            o.threads = 1
            guard let fit = try? ScalingLawFitter.fit(records, law: law, options: o),
                  let planner = try? Planner(law: law, fit: fit.result) else { return nil }
            let parameters = fit.result.estimates.enumerated().map { j, e in
                e.interval.map { $0[0] <= setup.truth[j] && setup.truth[j] <= $0[1] } ?? false
            }
            var predictions: [Bool] = [], plans: [Bool] = [], widths: [Double] = []
            for (k, point) in setup.points.enumerated() {
                let iv = (try? planner.predict(point.target, tokens: [point.tokens]))?.first?.interval
                predictions.append(iv.map { $0[0] <= trueLoss[k] && trueLoss[k] <= $0[1] } ?? false)
                widths.append(iv.map { ($0[1] - $0[0]) / trueLoss[k] } ?? .nan)
                let plan = try? planner.plan(point.target, criterion: .targetLoss(trueLoss[k]))
                plans.append(plan?.interval.map { $0[0] <= point.tokens && point.tokens <= $0[1] } ?? false)
            }
            let samples = fit.result.bootstrap?.samples ?? []
            let spreads = setup.truth.indices.map { j -> Double in
                let v = samples.map { $0[j] }
                let m = v.reduce(0, +) / Double(max(v.count, 1))
                return (v.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(max(v.count - 1, 1))).squareRoot()
            }
            return Outcome(parameters: parameters, predictions: predictions, plans: plans, widths: widths,
                           estimates: fit.result.parameterVector, spreads: spreads)
        } }
        let ok = outcomes.compactMap { $0 }
        func count(_ flags: (Outcome) -> [Bool], _ k: Int) -> Int { ok.filter { flags($0)[k] }.count }
        return CoverageReport(
            method: setup.method, seeds: setup.seeds, failures: setup.seeds - ok.count,
            parameters: law.parameterNames.enumerated().map { ($1, count(\.parameters, $0)) },
            predictions: setup.points.enumerated().map { ($1.label, count(\.predictions, $0)) },
            plans: setup.points.enumerated().map { ($1.label, count(\.plans, $0)) },
            relativeWidths: setup.points.indices.map { k in
                let w = ok.map { $0.widths[k] }.filter(\.isFinite).sorted()
                return w.isEmpty ? .nan : w[w.count / 2]
            },
            bias: setup.truth.indices.map { j in
                let v = ok.map { $0.estimates[j] }
                return (mean(v) - setup.truth[j]) / sd(v)
            },
            spreadRatio: setup.truth.indices.map { j in mean(ok.map { $0.spreads[j] }) / sd(ok.map { $0.estimates[j] }) })
    }
}
