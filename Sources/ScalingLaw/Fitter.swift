import Foundation
import LossRecords
import OpenBLASRuntime
import Randomness

/// A fitted law with what it was fitted on.
public struct FitAnalysis: Sendable {
    public var result: FitResult
    public var law: any Law
    /// Every input record with the law's value for it and its role.
    public var rows: [PredictionRow]
}

/// A fit with no result: every start failed numerically.
public struct FitFailure: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    public var law: String
    public var starts: Int
    public init(law: String, starts: Int) {
        self.law = law
        self.starts = starts
    }
    public var description: String {
        "law \(law): every one of \(starts) starts failed numerically; try start values near a plausible answer, residuals in linear space, or more starts"
    }
    public var errorDescription: String? { description }
}

/// Fits a scaling law to loss records: multi-start Levenberg–Marquardt (GSL), standard errors,
/// bootstrap intervals (`IntervalMethod`), metrics on the fitted and held-out records, and warnings where the
/// data cannot pin a parameter down.
public enum ScalingLawFitter {
    public static func fit(_ records: [LossRecord], law: any Law, options: FitOptions = FitOptions(),
                           holdout: Holdout? = nil, file: String? = nil) throws -> FitAnalysis {
        try options.validate()
        let parameters = try options.parameters(of: law)
        let map = try ParameterMap(parameters)
        for r in records {
            for v in law.variables where r.value(v) == nil {
                throw DataError(file: r.source?.file ?? file ?? "records", line: r.source?.line, "no value for '\(v.rawValue)', which law \(law.name) needs")
            }
        }

        // Each record's law input and run number, built once: a LawPoint takes four logarithms,
        // and a run name costs a hash each time it is looked up.
        let points = records.map(\.point)
        let observed = records.map(\.loss)
        let tokens = records.map { $0.tokens ?? .nan }
        let (runID, runCount) = Metrics.runNumbers(records.map(\.run))

        // Records the law cannot evaluate (e.g. tokens = 0, where D^-beta diverges) or, in log
        // space, cannot compare, are set aside and counted rather than silently dropped.
        let base = StartDesigner.baseStart(parameters)
        let usable = records.indices.map { i in
            law.value(base, at: points[i]).isFinite && (options.space == .linear || observed[i] > 0)
        }
        let usableIndices = records.indices.filter { usable[$0] }
        let heldOutMask = try holdout.map { try $0.heldOut(usableIndices.map { records[$0] }) }
            ?? [Bool](repeating: false, count: usableIndices.count)
        var roles = [RecordRole](repeating: .excluded, count: records.count)
        for (u, i) in usableIndices.enumerated() { roles[i] = heldOutMask[u] ? .holdout : .fit }
        let fitIndices = records.indices.filter { roles[$0] == .fit }
        let holdIndices = records.indices.filter { roles[$0] == .holdout }
        guard fitIndices.count > map.free.count else {
            throw LawError("law \(law.name) has \(map.free.count) free parameters but only \(fitIndices.count) records to fit them on")
        }

        let solver = LocalSolver(law: law, map: map, options: options)
        let data = solver.data(points: fitIndices.map { points[$0] }, observed: fitIndices.map { observed[$0] })
        let starts = StartDesigner.starts(parameters, map: map, options: options)

        let runs = runIndices(fitIndices.map { runID[$0] })
        let (fits, boot, offsets): ([LocalFit], [LocalFit], RunOffsetCheck?) = BLAS.withThreads(1) {  // a fit is fastest on one BLAS thread; fits run side by side
            let fits = parallelMap(starts.count, threads: options.threads) { solver.fit(data, from: starts[$0]) }
            guard let best = bestFit(fits), options.bootstrap > 0 else { return (fits, [], nil) }
            var offsets: RunOffsetCheck?
            // Replicate b's data set, a pure function of (seed, b); each is refitted from the optimum.
            let replicate: @Sendable (Int) -> FitData
            switch options.interval {
            case .pairs:
                replicate = { resample(runs: runs, data: data, seed: options.seed, replicate: $0) }
            case .wildRun, .arWild:
                guard let lin = Linearization(solver: solver, at: best.parameters, data: data, runs: runs) else { return (fits, [], nil) }
                let maker = ReplicateMaker(method: options.interval, base: data, lin: lin, space: options.space, seed: options.seed)
                replicate = { maker.replicate($0) }
                offsets = maker.runOffsets()
            }
            return (fits, parallelMap(options.bootstrap, threads: options.threads) { solver.fit(replicate($0), from: best.parameters) }, offsets)
        }
        guard let best = bestFit(fits) else {
            throw FitFailure(law: law.name, starts: starts.count)
        }
        let tolerance = 1e-6 * best.objective + 1e-14 * Double(data.count)
        let reached = fits.filter { $0.ok && $0.objective - best.objective <= tolerance }.count
        let converged = fits.filter(\.ok).count

        let p = best.parameters
        let covariance = solver.covariance(at: p, data: data)
        let bootSamples = boot.filter(\.ok).map(\.parameters)
        let alpha = (1 - options.confidence) / 2
        var estimates: [ParameterEstimate] = []
        for (j, parameter) in parameters.enumerated() {
            var e = ParameterEstimate(name: parameter.name, value: p[j], fixed: parameter.isFixed)
            if let c = map.free.firstIndex(of: j), let covariance, covariance[c][c] > 0 {
                e.stderr = covariance[c][c].squareRoot()
            }
            if bootSamples.count >= 2 {
                let sorted = bootSamples.map { $0[j] }.sorted()
                e.interval = [percentile(sorted, alpha), percentile(sorted, 1 - alpha)]
            }
            estimates.append(e)
        }
        let correlation = covariance.map { correlationMatrix($0, map: map) }

        var fitted = [Double](repeating: .nan, count: records.count)
        p.withUnsafeBufferPointer { pp in
            for i in records.indices { fitted[i] = law.value(pp, at: points[i], gradient: nil) }
        }
        let rows = records.indices.map { PredictionRow(record: records[$0], fitted: fitted[$0], role: roles[$0]) }
        func metricsOf(_ indices: [Int]) -> FitMetrics {
            Metrics.compute(observed: indices.map { observed[$0] }, fitted: indices.map { fitted[$0] },
                            tokens: indices.map { tokens[$0] }, run: indices.map { runID[$0] }, huberDelta: options.huberDelta)
        }
        let metrics = metricsOf(fitIndices)
        let holdMetrics = holdout == nil ? nil : metricsOf(holdIndices)

        let summary = DataSummary(file: file, records: records.count, runs: runCount, fitted: fitIndices.count,
                                  heldOut: holdIndices.count, excluded: roles.filter { $0 == .excluded }.count,
                                  ranges: ranges(fitIndices.map { points[$0] }))
        let result = FitResult(
            law: law.spec, formula: law.formula, parameterNames: law.parameterNames,
            params: Dictionary(uniqueKeysWithValues: zip(law.parameterNames, p)), estimates: estimates,
            correlation: correlation, metrics: metrics, holdout: holdout, holdoutMetrics: holdMetrics,
            objectiveValue: best.objective, data: summary, options: options,
            starts: StartSummary(requested: starts.count, converged: converged, reachedBest: reached),
            bootstrap: options.bootstrap > 0 ? BootstrapSummary(replicates: options.bootstrap, converged: bootSamples.count, samples: bootSamples) : nil,
            warnings: [])
        var analysis = FitAnalysis(result: result, law: law, rows: rows)
        analysis.result.warnings = Diagnostics.warnings(for: analysis.result, variables: law.variables, map: map, covarianceAvailable: covariance != nil)
        if let o = offsets, o.p <= Diagnostics.runOffsetLevel { analysis.result.warnings.append(Diagnostics.runOffsetWarning(o)) }
        return analysis
    }

    /// The lowest objective; ties go to the earliest start, so the answer is deterministic.
    static func bestFit(_ fits: [LocalFit]) -> LocalFit? {
        var best: LocalFit?
        for f in fits where f.ok { if best == nil || f.objective < best!.objective { best = f } }
        return best
    }

    /// Positions of each run's records, runs in order of first appearance (`run` numbers them).
    static func runIndices(_ run: [Int]) -> [[Int]] {
        var slot: [Int: Int] = [:]
        var groups: [[Int]] = []
        for (i, r) in run.enumerated() {
            if let k = slot[r] { groups[k].append(i) } else {
                slot[r] = groups.count
                groups.append([i])
            }
        }
        return groups
    }

    /// A cluster-bootstrap replicate: as many runs as there are, drawn with replacement, each
    /// bringing its whole loss curve (checkpoints of one run are not independent).
    static func resample(runs: [[Int]], data: FitData, seed: UInt64, replicate: Int) -> FitData {
        var rng = SeededRandom(seed: seed, stream: replicate)
        var rows: [Int] = []
        rows.reserveCapacity(data.count)
        for _ in runs.indices { rows += runs[Int(rng.next() % UInt64(runs.count))] }
        return data.gathering(rows)
    }

    static func correlationMatrix(_ cov: [[Double]], map: ParameterMap) -> [[Double]] {
        let n = map.count
        var out = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
        for j in 0..<n { out[j][j] = 1 }
        for (a, ja) in map.free.enumerated() {
            for (b, jb) in map.free.enumerated() where a != b {
                let d = (cov[a][a] * cov[b][b]).squareRoot()
                out[ja][jb] = d > 0 ? cov[a][b] / d : 0
            }
        }
        return out
    }

    /// `[min, max]` of every variable present at the points.
    static func ranges(_ points: [LawPoint]) -> [String: [Double]] {
        var out: [String: [Double]] = [:]
        for v in Variable.allCases {
            let xs = points.map { $0[v] }.filter { !$0.isNaN }
            if let lo = xs.min(), let hi = xs.max() { out[v.rawValue] = [lo, hi] }
        }
        return out
    }
}
