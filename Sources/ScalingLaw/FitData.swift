import Foundation
import LossRecords

/// The data one fit sees, laid out for the solver's inner loop.
struct FitData: Sendable {
    var points: [LawPoint]
    var observed: [Double]
    /// `log(observed)`, for fits in log space.
    var logObserved: [Double]
    /// For the inputs a `PowerTableLaw` takes powers of: their distinct values and which one each
    /// point has (empty for other laws).
    var distinct: [Variable: DistinctValues]

    init(points: [LawPoint], observed: [Double], distinct inputs: [Variable] = []) {
        self.points = points
        self.observed = observed
        logObserved = observed.map { Foundation.log($0) }
        distinct = [:]
        for v in inputs { distinct[v] = DistinctValues(v, of: points) }
    }

    private init(points: [LawPoint], observed: [Double], logObserved: [Double], distinct: [Variable: DistinctValues]) {
        self.points = points
        self.observed = observed
        self.logObserved = logObserved
        self.distinct = distinct
    }

    /// The points at `rows` (repeats allowed), in that order: a bootstrap replicate. Everything
    /// is copied, not recomputed, so a point carries the same numbers into every replicate.
    func gathering(_ rows: [Int]) -> FitData {
        FitData(points: rows.map { points[$0] }, observed: rows.map { observed[$0] }, logObserved: rows.map { logObserved[$0] },
                distinct: distinct.mapValues { $0.gathering(rows) })
    }

    /// The same points with other observations (a residual or wild bootstrap replicate).
    func replacingObserved(_ observed: [Double]) -> FitData {
        FitData(points: points, observed: observed, logObserved: observed.map { Foundation.log($0) }, distinct: distinct)
    }

    var count: Int { points.count }
}

/// The distinct values one input takes in a data set, and which of them each point has. Inputs
/// repeat a lot (a run's points share n0 and rho, runs share a token grid), so a law can take
/// each power of an input once per distinct value instead of once per point.
struct DistinctValues: Sendable {
    /// One point per distinct value (the first point with it), in order of first appearance.
    var points: [LawPoint]
    /// For each point of the data set, the index of its value in `points`.
    var index: [Int32]

    /// Values are told apart by their bits, so equal bits give equal logarithms and powers.
    init(_ v: Variable, of all: [LawPoint]) {
        var slot: [UInt64: Int32] = [:]
        var points: [LawPoint] = []
        var index: [Int32] = []
        index.reserveCapacity(all.count)
        var lastBits: UInt64?
        var lastSlot: Int32 = 0
        for x in all {
            let bits = x[v].bitPattern
            // Neighbouring points usually share the value (a run's checkpoints share n0 and rho).
            if bits != lastBits {
                if let k = slot[bits] {
                    lastSlot = k
                } else {
                    lastSlot = Int32(points.count)
                    slot[bits] = lastSlot
                    points.append(x)
                }
                lastBits = bits
            }
            index.append(lastSlot)
        }
        self.points = points
        self.index = index
    }

    private init(points: [LawPoint], index: [Int32]) {
        self.points = points
        self.index = index
    }

    func gathering(_ rows: [Int]) -> DistinctValues {
        DistinctValues(points: points, index: rows.map { index[$0] })
    }
}
