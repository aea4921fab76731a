import Foundation
import Randomness
import Tensor
import Testing

/// The tiled causal attention kernels (`AttentionTiles.headForward` / `groupBackward`) against float64
/// loops, at head dims 16/32/64 (and odd ones that take the scalar tails), sequence lengths 1, 7,
/// 128 and a ragged 130, shared KV heads (GQA) and strided rows as the model uses them (q, k, v
/// side by side in one fused row).
@Suite struct AttentionKernelTests {
    struct Shape: CustomStringConvertible, Sendable {
        let T, d, heads, kvHeads: Int
        var description: String { "T\(T) d\(d) h\(heads)/kv\(kvHeads)" }
    }

    static let shapes: [Shape] = [
        Shape(T: 1, d: 16, heads: 2, kvHeads: 1), Shape(T: 7, d: 16, heads: 1, kvHeads: 1), Shape(T: 128, d: 16, heads: 2, kvHeads: 2),
        Shape(T: 1, d: 32, heads: 1, kvHeads: 1), Shape(T: 7, d: 32, heads: 4, kvHeads: 2), Shape(T: 128, d: 32, heads: 2, kvHeads: 1),
        Shape(T: 1, d: 64, heads: 1, kvHeads: 1), Shape(T: 7, d: 64, heads: 3, kvHeads: 1), Shape(T: 128, d: 64, heads: 1, kvHeads: 1),
        Shape(T: 130, d: 32, heads: 4, kvHeads: 2), Shape(T: 33, d: 4, heads: 2, kvHeads: 1), Shape(T: 20, d: 12, heads: 1, kvHeads: 1),
        Shape(T: 9, d: 24, heads: 2, kvHeads: 2), Shape(T: 67, d: 40, heads: 2, kvHeads: 1),
    ]

    /// One sequence in the model's fused layout: row width `W = (heads + 2 kvHeads) d`, q at column
    /// 0, k at `heads d`, v at `(heads + kvHeads) d`; `dout`/`out` rows `heads d + 3` apart (a stride
    /// that is not a multiple of 8).
    struct Problem {
        let s: Shape
        let W, ow: Int
        let qkv, dout: [Float]
        init(_ s: Shape, seed: UInt64) {
            self.s = s
            W = (s.heads + 2 * s.kvHeads) * s.d
            ow = s.heads * s.d + 3
            var rng = SeededRandom(seed: seed)
            qkv = (0..<(s.T * W)).map { _ in Float(rng.normal()) }
            dout = (0..<(s.T * ow)).map { _ in Float(rng.normal()) }
        }

        /// Float64 reference: out, dq, dk, dv in the same layouts (dq/dk/dv inside a `[T, W]` row).
        func reference() -> (out: [Double], dqkv: [Double]) {
            let T = s.T, d = s.d, group = s.heads / s.kvHeads, scale = 1 / Double(d).squareRoot()
            var out = [Double](repeating: 0, count: T * ow), g = [Double](repeating: 0, count: T * W)
            for h in 0..<s.heads {
                let kv = h / group, qc = h * d, kc = (s.heads + kv) * d, vc = (s.heads + s.kvHeads + kv) * d
                func x(_ t: Int, _ c: Int) -> Double { Double(qkv[t * W + c]) }
                for t in 0..<T {
                    var sc = (0...t).map { u in (0..<d).reduce(0.0) { $0 + x(t, qc + $1) * x(u, kc + $1) } * scale }
                    let mx = sc.max()!
                    sc = sc.map { Foundation.exp($0 - mx) }
                    let z = sc.reduce(0, +)
                    let p = sc.map { $0 / z }
                    let dp = (0...t).map { u in (0..<d).reduce(0.0) { $0 + Double(dout[t * ow + h * d + $1]) * x(u, vc + $1) } }
                    let pdp = zip(p, dp).map(*).reduce(0, +)
                    for u in 0...t {
                        let ds = p[u] * (dp[u] - pdp)
                        for j in 0..<d {
                            out[t * ow + h * d + j] += p[u] * x(u, vc + j)
                            g[t * W + qc + j] += scale * ds * x(u, kc + j)
                            g[u * W + kc + j] += scale * ds * x(t, qc + j)
                            g[u * W + vc + j] += p[u] * Double(dout[t * ow + h * d + j])
                        }
                    }
                }
            }
            return (out, g)
        }

        /// The kernels, as `Layers` calls them; work and state buffers start as NaN so nothing
        /// relies on their previous contents.
        func kernels() -> (out: [Float], dqkv: [Float]) {
            let T = s.T, d = s.d, group = s.heads / s.kvHeads, scale = 1 / Float(d).squareRoot()
            var out = [Float](repeating: .nan, count: T * ow), dqkv = [Float](repeating: .nan, count: T * W)
            var state = [Float](repeating: .nan, count: s.heads * AttentionTiles.stateCount(seqLen: T))
            var fwork = [Float](repeating: .nan, count: AttentionTiles.forwardWorkspace(seqLen: T, headDim: d))
            var bwork = [Float](repeating: .nan, count: AttentionTiles.backwardWorkspace(seqLen: T, headDim: d))
            let sc = AttentionTiles.stateCount(seqLen: T)
            qkv.withUnsafeBufferPointer { x in
                let x = x.baseAddress!
                out.withUnsafeMutableBufferPointer { o in
                    state.withUnsafeMutableBufferPointer { st in
                        fwork.withUnsafeMutableBufferPointer { w in
                            for h in 0..<s.heads {
                                let kv = h / group
                                AttentionTiles.headForward(out: o.baseAddress! + h * d, outStride: ow, state: st.baseAddress! + h * sc,
                                                      q: x + h * d, qStride: W, k: x + (s.heads + kv) * d, v: x + (s.heads + s.kvHeads + kv) * d,
                                                      kvStride: W, seqLen: T, headDim: d, scale: scale, work: w.baseAddress!)
                            }
                        }
                    }
                }
                dout.withUnsafeBufferPointer { dO in
                    dqkv.withUnsafeMutableBufferPointer { g in
                        state.withUnsafeBufferPointer { st in
                            bwork.withUnsafeMutableBufferPointer { w in
                                for kv in 0..<s.kvHeads {
                                    let h0 = kv * group, g0 = g.baseAddress!
                                    AttentionTiles.groupBackward(dq: g0 + h0 * d, dk: g0 + (s.heads + kv) * d, dv: g0 + (s.heads + s.kvHeads + kv) * d,
                                                            dout: dO.baseAddress! + h0 * d, outStride: ow, state: st.baseAddress! + h0 * sc,
                                                            stateStride: sc, heads: group, q: x + h0 * d, qStride: W,
                                                            k: x + (s.heads + kv) * d, v: x + (s.heads + s.kvHeads + kv) * d, kvStride: W,
                                                            seqLen: T, headDim: d, scale: scale, work: w.baseAddress!)
                                }
                            }
                        }
                    }
                }
            }
            return (out, dqkv)
        }
    }

    /// Relative error over the entries that the layout defines (the 3 padding floats per `out` row
    /// are not written).
    static func relativeError(_ a: [Float], _ r: [Double], where defined: (Int) -> Bool = { _ in true }) -> Double {
        var num = 0.0, den = 0.0
        for i in r.indices where defined(i) {
            let e = Double(a[i]) - r[i]
            num += e * e
            den += r[i] * r[i]
        }
        return (num / max(den, 1e-300)).squareRoot()
    }

    @Test(arguments: shapes)
    func matchesFloat64Reference(_ s: Shape) {
        let p = Problem(s, seed: UInt64(s.T * 1000 + s.d * 10 + s.heads))
        let (out, dqkv) = p.kernels()
        let (rOut, rG) = p.reference()
        let outErr = Self.relativeError(out, rOut) { $0 % p.ow < s.heads * s.d }
        #expect(outErr < 1e-5, "out \(outErr)")
        // Per part of the fused row: dq, dk, dv.
        let hd = s.heads * s.d, kd = s.kvHeads * s.d
        for (name, range) in [("dq", 0..<hd), ("dk", hd..<(hd + kd)), ("dv", (hd + kd)..<(hd + 2 * kd))] {
            let e = Self.relativeError(dqkv, rG) { range.contains($0 % p.W) }
            #expect(e < 1e-5, "\(name) \(e)")
        }
        // The padding floats of `out` stay untouched (NaN), and every defined entry is finite.
        for i in out.indices {
            if i % p.ow < hd { #expect(out[i].isFinite) } else { #expect(out[i].isNaN) }
        }
        let allFinite = dqkv.allSatisfy { $0.isFinite }
        #expect(allFinite)
    }

    /// Same inputs, same bits: no dependence on the work buffers' or state's previous contents.
    @Test func repeatsBitForBit() {
        let p = Problem(Shape(T: 130, d: 32, heads: 4, kvHeads: 2), seed: 11)
        let a = p.kernels(), b = p.kernels()
        #expect(a.out.map(\.bitPattern) == b.out.map(\.bitPattern))
        #expect(a.dqkv.map(\.bitPattern) == b.dqkv.map(\.bitPattern))
    }

    /// The row softmax the per-block BLAS path uses: masked whole chunks, zeros past `n`.
    @Test func softmaxRowMatchesDefinition() {
        var rng = SeededRandom(seed: 3)
        for n in [1, 5, 8, 9, 16, 31] {
            let width = (n + 7) / 8 * 8
            var row = (0..<width).map { _ in Float(rng.normal() * 4) }
            let x = row.map(Double.init)
            let (mx, inv) = row.withUnsafeMutableBufferPointer { AttentionTiles.softmaxRow($0.baseAddress!, count: n, width: width) }
            let m = x[0..<n].max()!
            let z = x[0..<n].reduce(0.0) { $0 + Foundation.exp($1 - m) }
            #expect(Double(mx) == m)
            #expect(abs(Double(inv) * z - 1) < 1e-6)
            for j in 0..<width {
                let want = j < n ? Foundation.exp(x[j] - m) / z : 0
                #expect(abs(Double(row[j]) - want) <= 1e-6 * max(want, 1e-30) + 1e-12, "n \(n) j \(j)")
            }
        }
    }
}
