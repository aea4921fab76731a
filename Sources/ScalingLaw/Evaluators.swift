import Foundation
import LossRecords

/// A law evaluated on every point of one data set at once.
///
/// An evaluator must return, bit for bit, the values and gradients `Law.value(_:at:gradient:)`
/// returns point by point: which path computed a fit must not show in its results.
protocol BatchEvaluator: AnyObject {
    /// `L(x_i; p)` for every point into `values[i]`.
    func values(_ p: UnsafeBufferPointer<Double>, into values: UnsafeMutablePointer<Double>)
    /// Values, and each point's gradient into `gradients[i * parameterCount ..< (i + 1) * parameterCount]`.
    func values(_ p: UnsafeBufferPointer<Double>, into values: UnsafeMutablePointer<Double>, gradients: UnsafeMutablePointer<Double>)
}

/// The fastest evaluator there is for `law` on `data` (`tabled` is `law` when it is a `PowerTableLaw`).
func makeEvaluator(law: any Law, tabled: (any PowerTableLaw)?, data: FitData) -> any BatchEvaluator {
    if let tabled, let tables = PowerTables(law: tabled, data: data) { return tables }
    return PointwiseEvaluator(law: law, points: data.points)
}

/// Any law, point by point.
private final class PointwiseEvaluator: BatchEvaluator {
    let law: any Law
    let points: [LawPoint]
    let parameterCount: Int

    init(law: any Law, points: [LawPoint]) {
        self.law = law
        self.points = points
        parameterCount = law.parameterCount
    }

    func values(_ p: UnsafeBufferPointer<Double>, into values: UnsafeMutablePointer<Double>) {
        for i in points.indices { values[i] = law.value(p, at: points[i], gradient: nil) }
    }

    func values(_ p: UnsafeBufferPointer<Double>, into values: UnsafeMutablePointer<Double>, gradients: UnsafeMutablePointer<Double>) {
        for i in points.indices { values[i] = law.value(p, at: points[i], gradient: gradients + i * parameterCount) }
    }
}

/// A law whose value combines a few powers, each of a single input (`N0^-alpha`, `rho^-gamma`,
/// `D^-beta`). Inputs repeat across a data set (a run's points share n0 and rho, runs share a
/// token grid), so `PowerTables` takes each power once per distinct input value, a few dozen
/// `exp` per evaluation instead of several per point. A law's `value` goes through the same
/// `power` and `combine` (`valueFromPowers`), so both paths agree to the bit.
protocol PowerTableLaw: Law {
    /// The input each power reads, in power order.
    var powerInputs: [Variable] { get }
    /// Power `k` at `x`; it may read only `powerInputs[k]` of `x` (and its logarithm).
    func power(_ k: Int, _ p: UnsafeBufferPointer<Double>, at x: LawPoint) -> Double
    /// The value at `x` from its powers `w[k]`, and, when `g` is not nil, the gradient into it.
    func combine(_ p: UnsafeBufferPointer<Double>, powers w: Powers, at x: LawPoint,
                 gradient g: UnsafeMutablePointer<Double>?) -> Double
    /// Every point of `tables`. Implemented once below; a requirement so that each law's copy of
    /// the loop is specialised, with `power` and `combine` called directly.
    func evaluate(_ tables: PowerTables, _ p: UnsafeBufferPointer<Double>, into values: UnsafeMutablePointer<Double>,
                  gradients: UnsafeMutablePointer<Double>?)
}

extension PowerTableLaw {
    /// The value at one point: its powers, combined.
    func valueFromPowers(_ p: UnsafeBufferPointer<Double>, at x: LawPoint, gradient g: UnsafeMutablePointer<Double>?) -> Double {
        let count = powerInputs.count
        return withUnsafeTemporaryAllocation(of: Double.self, capacity: count) { w in
            withUnsafeTemporaryAllocation(of: Int32.self, capacity: count) { slots in
                for k in 0..<count {
                    w[k] = power(k, p, at: x)
                    slots[k] = Int32(k)
                }
                return combine(p, powers: Powers(values: w.baseAddress!, slots: slots.baseAddress!), at: x, gradient: g)
            }
        }
    }

    /// The inputs whose distinct values the tables need (`FitData.distinct`), each once.
    var sharedInputs: [Variable] {
        var seen = Set<Variable>()
        return powerInputs.filter { seen.insert($0).inserted }
    }

    func evaluate(_ t: PowerTables, _ p: UnsafeBufferPointer<Double>, into values: UnsafeMutablePointer<Double>,
                  gradients: UnsafeMutablePointer<Double>?) {
        // The buffers in locals: loads through the class could not be hoisted past the stores below.
        let (powers, slots, points) = (t.powers, t.slots.baseAddress!, t.points)
        let width = t.width, parameterCount = p.count
        for s in powers.indices { powers[s] = power(t.slotPower[s], p, at: t.slotPoint[s]) }
        for i in points.indices {
            values[i] = combine(p, powers: Powers(values: powers.baseAddress!, slots: slots + i * width), at: points[i],
                                gradient: gradients.map { $0 + i * parameterCount })
        }
    }
}

/// One point's powers, read where they are (a copy of them into a buffer of their own would cost
/// a store-to-load stall per point): power `k` is `values[slots[k]]`.
struct Powers {
    let values: UnsafePointer<Double>
    let slots: UnsafePointer<Int32>

    subscript(k: Int) -> Double {
        @inline(__always) get { values[Int(slots[k])] }
    }
}

/// A `PowerTableLaw` on one data set: one slot per power and distinct value of its input, and
/// for every point the slots of its powers. The buffers are allocated once (a fit evaluates the
/// same data hundreds of times) and freed on deinit.
final class PowerTables: BatchEvaluator {
    private let law: any PowerTableLaw
    /// Powers per point.
    let width: Int
    let points: UnsafeMutableBufferPointer<LawPoint>
    /// For each slot, the power it holds and the (first) point with its input value.
    let slotPower: UnsafeMutableBufferPointer<Int>
    let slotPoint: UnsafeMutableBufferPointer<LawPoint>
    /// Each slot's power at the parameters being evaluated.
    let powers: UnsafeMutableBufferPointer<Double>
    /// The slot of point `i`'s power `k`, at `slots[i * width + k]`.
    let slots: UnsafeMutableBufferPointer<Int32>

    /// Nil when `data` lacks the distinct values of an input the law's powers read.
    init?(law: any PowerTableLaw, data: FitData) {
        let distinct = law.powerInputs.compactMap { data.distinct[$0] }
        guard distinct.count == law.powerInputs.count else { return nil }
        self.law = law
        width = distinct.count
        points = .allocate(capacity: data.count)
        _ = points.initialize(fromContentsOf: data.points)
        var slotPower: [Int] = [], slotPoint: [LawPoint] = [], firstSlot: [Int32] = []
        for (k, d) in distinct.enumerated() {
            firstSlot.append(Int32(slotPower.count))
            slotPower += Array(repeating: k, count: d.points.count)
            slotPoint += d.points
        }
        self.slotPower = .allocate(capacity: slotPower.count)
        _ = self.slotPower.initialize(fromContentsOf: slotPower)
        self.slotPoint = .allocate(capacity: slotPoint.count)
        _ = self.slotPoint.initialize(fromContentsOf: slotPoint)
        powers = .allocate(capacity: slotPower.count)
        powers.initialize(repeating: 0)
        slots = .allocate(capacity: data.count * width)
        for i in 0..<data.count {
            for k in 0..<width { slots[i * width + k] = firstSlot[k] + distinct[k].index[i] }
        }
    }

    deinit {
        // Trivial element types: nothing to deinitialise.
        points.deallocate()
        slotPower.deallocate()
        slotPoint.deallocate()
        powers.deallocate()
        slots.deallocate()
    }

    func values(_ p: UnsafeBufferPointer<Double>, into values: UnsafeMutablePointer<Double>) {
        law.evaluate(self, p, into: values, gradients: nil)
    }

    func values(_ p: UnsafeBufferPointer<Double>, into values: UnsafeMutablePointer<Double>, gradients: UnsafeMutablePointer<Double>) {
        law.evaluate(self, p, into: values, gradients: gradients)
    }
}
