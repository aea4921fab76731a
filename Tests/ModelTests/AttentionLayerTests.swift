import Foundation
import Model
import Randomness
import Tensor
import Testing

/// `CausalAttention` at the benchmark's sequence lengths (the gradient and parity tests stop at
/// T = 64), with the strides the model uses (q, k, v side by side in one fused row): against
/// float64 loops, and bit-identical for 1 and 2 threads. Both implementations, on every build.
@Suite struct AttentionLayerTests {
    @Test(arguments: [(2, 128, 4, 4, 32), (3, 130, 4, 2, 16), (1, 100, 2, 1, 64)], CausalAttention.Path.allCases)
    func longSequencesMatchReferenceAndThreadCounts(_ shape: (Int, Int, Int, Int, Int), path: CausalAttention.Path) {
        let (B, T, H, KV, d) = shape
        let W = (H + 2 * KV) * d, N = B * T
        var rng = SeededRandom(seed: UInt64(T * 7 + d))
        let qkv = FloatBuffer(randomFloats(N * W, &rng)), dout = FloatBuffer(randomFloats(N * H * d, &rng))
        func run(threads: Int) -> (out: [Float], dqkv: [Float]) {
            let out = FloatBuffer(count: N * H * d), attention = CausalAttention(path: path, heads: H, kvHeads: KV, headDim: d)
            let dqkv = FloatBuffer(count: N * W)
            dqkv.fill(.nan)
            let x = qkv.pointer, g = dqkv.pointer
            attention.forward(out: out.pointer, outStride: H * d, q: x, qStride: W, k: x + H * d, v: x + (H + KV) * d, kvStride: W,
                              batch: B, seqLen: T, threads: threads)
            attention.backward(dq: g, dk: g + H * d, dv: g + (H + KV) * d, dout: dout.pointer, outStride: H * d,
                               q: x, qStride: W, k: x + H * d, v: x + (H + KV) * d, kvStride: W, threads: threads)
            return (out.array, dqkv.array)
        }
        let one = run(threads: 1), two = run(threads: 2)
        #expect(one.out.map(\.bitPattern) == two.out.map(\.bitPattern))
        #expect(one.dqkv.map(\.bitPattern) == two.dqkv.map(\.bitPattern))

        // Float64 reference.
        let group = H / KV, scale = 1 / Double(d).squareRoot()
        var rOut = [Double](repeating: 0, count: N * H * d), rG = [Double](repeating: 0, count: N * W)
        for b in 0..<B {
            for h in 0..<H {
                let kv = h / group, qc = h * d, kc = (H + kv) * d, vc = (H + KV + kv) * d
                func x(_ t: Int, _ c: Int) -> Double { Double(qkv[(b * T + t) * W + c]) }
                func dO(_ t: Int, _ j: Int) -> Double { Double(dout[(b * T + t) * H * d + h * d + j]) }
                for t in 0..<T {
                    var sc = (0...t).map { u in (0..<d).reduce(0.0) { $0 + x(t, qc + $1) * x(u, kc + $1) } * scale }
                    let mx = sc.max()!
                    sc = sc.map { Foundation.exp($0 - mx) }
                    let z = sc.reduce(0, +)
                    let p = sc.map { $0 / z }
                    let dp = (0...t).map { u in (0..<d).reduce(0.0) { $0 + dO(t, $1) * x(u, vc + $1) } }
                    let pdp = zip(p, dp).map(*).reduce(0, +)
                    for u in 0...t {
                        let ds = p[u] * (dp[u] - pdp)
                        for j in 0..<d {
                            rOut[(b * T + t) * H * d + h * d + j] += p[u] * x(u, vc + j)
                            rG[(b * T + t) * W + qc + j] += scale * ds * x(u, kc + j)
                            rG[(b * T + u) * W + kc + j] += scale * ds * x(t, qc + j)
                            rG[(b * T + u) * W + vc + j] += p[u] * dO(t, j)
                        }
                    }
                }
            }
        }
        #expect(relativeError(one.out.map(Double.init), rOut) < 1e-5)
        #expect(relativeError(one.dqkv.map(Double.init), rG) < 1e-5)
    }
}
