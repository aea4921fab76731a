import Foundation

/// A fitted law with what it was fitted on.
public struct FitAnalysis: Sendable {
    public var result: FitResult
    public var law: any Law
    /// Every input record with the law's value for it and its role.
    public var rows: [PredictionRow]
}

/// Fits a scaling law to loss records: multi-start Levenberg–Marquardt (GSL), standard errors,
/// cluster bootstrap over runs, metrics on the fitted and held-out records, and warnings where the
/// data cannot pin a parameter down.
public enum ScalingLawFitter {
    public static func fit(_ records: [LossRecord], law: any Law, options: FitOptions = FitOptions(),
                           holdout: Holdout? = nil, file: String? = nil) throws -> FitAnalysis {
        try validate(options)
        let map = try ParameterMap(names: law.parameterNames, options: options)
        for r in records {
            for v in law.variables where r.value(v) == nil {
                throw DataError(file: r.source?.file ?? file ?? "records", line: r.source?.line, "no value for '\(v.rawValue)', which law \(law.name) needs")
            }
        }

        // Records the law cannot evaluate (e.g. tokens = 0, where D^-beta diverges) or, in log
        // space, cannot compare, are set aside and counted rather than silently dropped.
        let base = try StartDesigner.baseStart(law: law, options: options)
        let usable = records.map { r in
            law.value(base, at: r.point).isFinite && (options.space == .linear || r.loss > 0)
        }
        let usableRecords = records.indices.filter { usable[$0] }.map { records[$0] }
        let heldOutMask = try holdout.map { try $0.heldOut(usableRecords) } ?? [Bool](repeating: false, count: usableRecords.count)
        var roles = [RecordRole](repeating: .excluded, count: records.count)
        var u = 0
        for i in records.indices where usable[i] {
            roles[i] = heldOutMask[u] ? .holdout : .fit
            u += 1
        }
        let fitRecords = records.indices.filter { roles[$0] == .fit }.map { records[$0] }
        let holdRecords = records.indices.filter { roles[$0] == .holdout }.map { records[$0] }
        guard fitRecords.count > map.free.count else {
            throw LawError("law \(law.name) has \(map.free.count) free parameters but only \(fitRecords.count) records to fit them on")
        }

        let solver = LocalSolver(law: law, map: map, options: options)
        let data = solver.data(points: fitRecords.map(\.point), observed: fitRecords.map(\.loss))
        let starts = try StartDesigner.starts(law: law, map: map, options: options)

        let (fits, boot): ([LocalFit], [LocalFit]) = withSingleThreadedBLAS {
            let fits = parallelMap(starts.count, threads: options.threads) { solver.fit(data, from: starts[$0]) }
            guard let best = bestFit(fits), options.bootstrap > 0 else { return (fits, []) }
            let runs = runIndices(fitRecords)
            let boot = parallelMap(options.bootstrap, threads: options.threads) { b in
                solver.fit(resample(runs: runs, data: data, seed: options.seed, replicate: b), from: best.parameters)
            }
            return (fits, boot)
        }
        guard let best = bestFit(fits) else {
            throw LawError("law \(law.name): every one of \(starts.count) starts failed numerically; try --start values near a plausible answer, --space linear, or more --starts")
        }
        let tolerance = 1e-6 * best.objective + 1e-14 * Double(data.count)
        let reached = fits.filter { $0.ok && $0.objective - best.objective <= tolerance }.count
        let converged = fits.filter(\.ok).count

        let p = best.parameters
        let covariance = solver.covariance(at: p, data: data)
        let bootSamples = boot.filter(\.ok).map(\.parameters)
        let alpha = (1 - options.confidence) / 2
        var estimates: [ParameterEstimate] = []
        for (j, name) in law.parameterNames.enumerated() {
            var e = ParameterEstimate(name: name, value: p[j], fixed: options.fixed[name] != nil)
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
            for i in records.indices { fitted[i] = law.value(pp, at: records[i].point, gradient: nil) }
        }
        let rows = records.indices.map { PredictionRow(record: records[$0], fitted: fitted[$0], role: roles[$0]) }
        let metrics = Metrics.compute(records: fitRecords, fitted: records.indices.filter { roles[$0] == .fit }.map { fitted[$0] },
                                      huberDelta: options.huberDelta)
        let holdMetrics = holdout == nil ? nil : Metrics.compute(records: holdRecords, fitted: records.indices.filter { roles[$0] == .holdout }.map { fitted[$0] },
                                                                 huberDelta: options.huberDelta)

        let summary = DataSummary(file: file, records: records.count, runs: Set(records.map(\.run)).count, fitted: fitRecords.count,
                                  heldOut: holdRecords.count, excluded: roles.filter { $0 == .excluded }.count,
                                  ranges: ranges(fitRecords, variables: law.variables))
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
        return analysis
    }

    static func validate(_ o: FitOptions) throws {
        guard o.huberDelta > 0, o.huberDelta.isFinite else { throw LawError("--huber-delta must be a positive number") }
        guard o.confidence > 0, o.confidence < 1 else { throw LawError("--confidence must lie in (0, 1)") }
        guard o.bootstrap >= 0 else { throw LawError("--bootstrap must be 0 or more") }
        guard o.maxIterations > 0 else { throw LawError("--max-iterations must be positive") }
        guard o.threads >= 0 else { throw LawError("--threads must be 0 (all cores) or more") }
    }

    /// The lowest objective; ties go to the earliest start, so the answer is deterministic.
    static func bestFit(_ fits: [LocalFit]) -> LocalFit? {
        var best: LocalFit?
        for f in fits where f.ok { if best == nil || f.objective < best!.objective { best = f } }
        return best
    }

    /// Record indices of each run, runs in order of first appearance.
    static func runIndices(_ records: [LossRecord]) -> [[Int]] {
        var order: [String] = []
        var groups: [String: [Int]] = [:]
        for (i, r) in records.enumerated() {
            if groups[r.run] == nil { order.append(r.run) }
            groups[r.run, default: []].append(i)
        }
        return order.map { groups[$0]! }
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

    static func ranges(_ records: [LossRecord], variables: [Variable]) -> [String: [Double]] {
        var out: [String: [Double]] = [:]
        for v in Variable.allCases {
            let xs = records.compactMap { $0.value(v) }
            if let lo = xs.min(), let hi = xs.max() { out[v.rawValue] = [lo, hi] }
        }
        return out
    }
}
