import Foundation
import Randomness
import Tensor

/// Central differences of `f` with respect to the listed entries of `x` (float32 storage; the step
/// actually taken is the representable one, so the quotient uses it).
func numericalGradient(_ x: UnsafeMutablePointer<Float>, indices: [Int], h: Float, _ f: () -> Double) -> [Double] {
    indices.map { i in
        let old = x[i]
        let up = old + h, down = old - h
        x[i] = up
        let fp = f()
        x[i] = down
        let fm = f()
        x[i] = old
        return (fp - fm) / Double(up - down)
    }
}

/// `|a - b| / max(|a|, |b|)` over whole vectors: one number per tensor, robust to single tiny entries.
func relativeError(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count)
    var diff = 0.0, na = 0.0, nb = 0.0
    for i in a.indices {
        diff += (a[i] - b[i]) * (a[i] - b[i])
        na += a[i] * a[i]
        nb += b[i] * b[i]
    }
    return diff.squareRoot() / max(na.squareRoot(), nb.squareRoot(), 1e-12)
}

func randomFloats(_ n: Int, _ rng: inout SeededRandom, scale: Double = 1) -> [Float] {
    (0..<n).map { _ in Float(rng.normal() * scale) }
}

/// `sum_i out[i] * r[i]` in Double: a scalar objective whose gradient with respect to `out` is `r`.
func dot(_ out: FloatBuffer, _ r: [Float]) -> Double {
    var s = 0.0
    for i in 0..<out.count { s += Double(out[i]) * Double(r[i]) }
    return s
}

extension FloatBuffer {
    var doubles: [Double] { array.map(Double.init) }
}
