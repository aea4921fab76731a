import Foundation
import LossRecords

/// Goodness-of-fit measures on linear losses.
public enum Metrics {
    /// R², RMSE, MAPE (%), mean Huber loss and ASD for records and the law's values for them.
    /// ASD (brief, section 2): within every run, consecutive checkpoints by tokens give a data
    /// slope `dL/dD` and a law slope; ASD is the mean absolute difference over all runs and pairs.
    /// `asdLog` does the same against `log D`, which makes it independent of the token unit.
    public static func compute(records: [LossRecord], fitted: [Double], huberDelta: Double) -> FitMetrics {
        precondition(records.count == fitted.count)
        return compute(observed: records.map(\.loss), fitted: fitted, tokens: records.map { $0.tokens ?? .nan },
                       run: runNumbers(records.map(\.run)).ids, huberDelta: huberDelta)
    }

    /// The same on plain arrays: `run[i]` numbers record i's run (any integers; equal means same run).
    /// A metric these records do not define is nil with its reason (see `FitMetrics`).
    static func compute(observed y: [Double], fitted: [Double], tokens: [Double], run: [Int], huberDelta: Double) -> FitMetrics {
        let n = y.count
        func allUndefined(_ reason: String) -> FitMetrics {
            FitMetrics(count: n, r2: nil, rmse: nil, mape: nil, huber: nil, asd: nil, asdLog: nil,
                       undefined: Dictionary(uniqueKeysWithValues: FitMetrics.Metric.allCases.map { ($0.rawValue, reason) }))
        }
        guard n > 0 else { return allUndefined("no records") }
        let notFinite = fitted.filter { !$0.isFinite }.count
        guard notFinite == 0 else { return allUndefined("the law is not finite at \(notFinite) of \(n) records") }
        let mean = y.reduce(0, +) / Double(n)
        var ssRes = 0.0, ssTot = 0.0, ape = 0.0, hub = 0.0
        for i in 0..<n {
            let r = y[i] - fitted[i]
            ssRes += r * r
            ssTot += (y[i] - mean) * (y[i] - mean)
            ape += abs(r) / abs(y[i])
            hub += huberLoss(r, delta: huberDelta)
        }
        var undefined: [String: String] = [:]
        if !(ssTot > 0) { undefined["r2"] = n == 1 ? "a single record" : "the observed loss is constant" }
        if y.contains(0) { undefined["mape"] = "an observed loss is zero" }
        let slopes = averageSlopeDifference(observed: y, fitted: fitted, tokens: tokens, run: run)
        if slopes.asd == nil { undefined["asd"] = slopes.reason }
        if slopes.asdLog == nil { undefined["asd_log"] = slopes.reasonLog }
        // Sums that overflow (losses near 1e308) are not finite either; FitMetrics says so.
        return FitMetrics(count: n, r2: ssTot > 0 ? 1 - ssRes / ssTot : nil, rmse: (ssRes / Double(n)).squareRoot(),
                          mape: y.contains(0) ? nil : 100 * ape / Double(n), huber: hub / Double(n),
                          asd: slopes.asd, asdLog: slopes.asdLog, undefined: undefined)
    }

    /// Numbers runs 0, 1, ... in order of first appearance.
    static func runNumbers(_ names: [String]) -> (ids: [Int], count: Int) {
        var number: [String: Int] = [:]
        let ids = names.map { name in
            if let k = number[name] { return k }
            number[name] = number.count
            return number.count - 1
        }
        return (ids, number.count)
    }

    /// ASD on raw and on log tokens; nil (with the reason) when no run has two checkpoints to
    /// take a slope between.
    static func averageSlopeDifference(observed loss: [Double], fitted: [Double], tokens: [Double], run: [Int])
        -> (asd: Double?, asdLog: Double?, reason: String, reasonLog: String)
    {
        // Runs in order of first appearance: summing in Dictionary order would make the last
        // bits of the metric differ from run to run of the program.
        var slot: [Int: Int] = [:]
        var runs: [[Int]] = []
        for i in loss.indices where !tokens[i].isNaN {
            if let k = slot[run[i]] { runs[k].append(i) } else {
                slot[run[i]] = runs.count
                runs.append([i])
            }
        }
        var sum = 0.0, sumLog = 0.0, pairs = 0, pairsLog = 0
        for indices in runs {
            let sorted = indices.sorted { tokens[$0] < tokens[$1] }
            for (a, b) in zip(sorted, sorted.dropFirst()) {
                let d0 = tokens[a], d1 = tokens[b]
                guard d1 > d0 else { continue }
                let dy = loss[b] - loss[a]
                let df = fitted[b] - fitted[a]
                sum += abs(df - dy) / (d1 - d0)
                pairs += 1
                if d0 > 0 {
                    sumLog += abs(df - dy) / (Foundation.log(d1) - Foundation.log(d0))
                    pairsLog += 1
                }
            }
        }
        let reason = runs.isEmpty ? "no record has a token count"
            : runs.allSatisfy({ $0.count == 1 }) ? "every run has a single point"
            : "no run has two checkpoints at different token counts"
        let reasonLog = pairs == 0 ? reason : "every pair of checkpoints starts at tokens = 0 (log 0 is undefined)"
        return (pairs > 0 ? sum / Double(pairs) : nil, pairsLog > 0 ? sumLog / Double(pairsLog) : nil, reason, reasonLog)
    }
}

extension Holdout {
    /// Rates this close to the chosen one are held out with it (`rho=max`, `rho=VALUE`).
    public static let rateTolerance = 0.01

    /// For each record, whether this protocol holds it out. Throws when it would hold out nothing
    /// or everything, or needs a variable the records lack.
    public func heldOut(_ records: [LossRecord]) throws -> [Bool] {
        switch self {
        case .tokens(let fraction):
            var mask = [Bool](repeating: false, count: records.count)
            var byRun: [String: [Int]] = [:]
            for (i, r) in records.enumerated() {
                guard r.tokens != nil else { throw LawError("holdout \(self): record at \(r.source?.description ?? "#\(i)") has no tokens") }
                byRun[r.run, default: []].append(i)
            }
            for indices in byRun.values {
                let k = indices.count
                guard k >= 2 else { continue }
                // The paper fits the first 80 % of each run's checkpoints: hold out the last
                // round(f k), at least one and never the whole run.
                let h = min(max(Int((fraction * Double(k)).rounded()), 1), k - 1)
                let sorted = indices.sorted { records[$0].tokens! < records[$1].tokens! }
                for i in sorted.suffix(h) { mask[i] = true }
            }
            guard mask.contains(true) else { throw LawError("holdout \(self): no run has two or more checkpoints to split") }
            return mask
        case .n0(let value), .rho(let value):
            let v: Variable = if case .n0 = self { .n0 } else { .rho }
            let values = try records.map { r -> Double in
                guard let x = r.value(v) else { throw LawError("holdout \(self): record at \(r.source?.description ?? "?") has no \(v.rawValue)") }
                return x
            }
            let chosen = value ?? values.max() ?? 0
            // A pruner meets a rate within one unit (a neuron, a head), so two models pruned "at
            // 0.35" sit a few thousandths apart: rates within 0.01 count as one level.
            let tolerance = v == .rho ? Self.rateTolerance : 1e-9 * max(abs(chosen), 1e-300)
            let mask = values.map { abs($0 - chosen) <= tolerance }
            guard mask.contains(true) else { throw LawError("holdout \(self): no record has \(v.rawValue) = \(chosen)") }
            guard mask.contains(false) else { throw LawError("holdout \(self): every record has \(v.rawValue) = \(chosen); nothing would be left to fit") }
            return mask
        }
    }
}
