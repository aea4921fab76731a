import Foundation
import Model
import Randomness
import Tensor
import Testing

/// Finite-difference checks of every layer kind on its own, in float32 with central differences
/// (step 1e-2 on O(1) inputs) and objective `sum(out * R)` accumulated in Double. A correct backward
/// gives relative errors around 1e-5..1e-4; any real mistake gives O(1).
@Suite struct LayerGradientTests {
    static let tolerance = 2e-3

    @Test func embedding() {
        var rng = SeededRandom(seed: 1)
        let v = 7, c = 5, n = 6
        let tokens: [Int32] = [3, 0, 3, 6, 1, 3]  // repeats must accumulate
        let table = FloatBuffer(randomFloats(v * c, &rng)), r = randomFloats(n * c, &rng)
        let out = FloatBuffer(count: n * c), dTable = FloatBuffer(count: v * c)
        func f() -> Double {
            tokens.withUnsafeBufferPointer { Layers.embeddingForward(out: out.pointer, tokens: $0.baseAddress!, table: table.pointer, n: n, c: c) }
            return dot(out, r)
        }
        _ = f()
        #expect(out[0] == table[15] && out[4 * c + 2] == table[1 * c + 2])
        r.withUnsafeBufferPointer { rp in
            tokens.withUnsafeBufferPointer { Layers.embeddingBackward(dTable: dTable.pointer, dout: rp.baseAddress!, tokens: $0.baseAddress!, n: n, c: c) }
        }
        let fd = numericalGradient(table.pointer, indices: Array(0..<(v * c)), h: 1e-2, f)
        #expect(relativeError(fd, dTable.doubles) < Self.tolerance)
        #expect(dTable[2 * c] == 0, "an unused token gets no gradient")
    }

    @Test func rmsnorm() {
        var rng = SeededRandom(seed: 2)
        let rows = 4, cols = 6
        let x = FloatBuffer(randomFloats(rows * cols, &rng)), w = FloatBuffer(randomFloats(cols, &rng, scale: 0.5).map { $0 + 1 })
        let r = randomFloats(rows * cols, &rng)
        let out = FloatBuffer(count: rows * cols), rstd = FloatBuffer(count: rows)
        let eps: Float = 1e-5
        func f() -> Double {
            Layers.rmsnormForward(out: out.pointer, rstd: rstd.pointer, x: x.pointer, weight: w.pointer, rows: rows, cols: cols, eps: eps)
            return dot(out, r)
        }
        _ = f()
        // Forward against the definition, in Double.
        for i in 0..<rows {
            let ms = (0..<cols).map { Double(x[i * cols + $0]) * Double(x[i * cols + $0]) }.reduce(0, +) / Double(cols)
            for j in 0..<cols {
                let want = Double(x[i * cols + j]) / (ms + Double(eps)).squareRoot() * Double(w[j])
                #expect(abs(Double(out[i * cols + j]) - want) < 1e-5)
            }
        }
        let dx = FloatBuffer(count: rows * cols), dw = FloatBuffer(count: cols)
        r.withUnsafeBufferPointer { rp in
            Layers.rmsnormBackward(dx: dx.pointer, dweight: dw.pointer, dout: rp.baseAddress!, x: x.pointer, weight: w.pointer, rstd: rstd.pointer,
                                   rows: rows, cols: cols, threads: 2)
        }
        #expect(relativeError(numericalGradient(x.pointer, indices: Array(0..<(rows * cols)), h: 1e-2, f), dx.doubles) < Self.tolerance)
        #expect(relativeError(numericalGradient(w.pointer, indices: Array(0..<cols), h: 1e-2, f), dw.doubles) < Self.tolerance)
    }

    @Test func linear() {
        var rng = SeededRandom(seed: 3)
        let n = 3, inF = 5, outF = 4
        let x = FloatBuffer(randomFloats(n * inF, &rng)), w = FloatBuffer(randomFloats(outF * inF, &rng))
        let r = randomFloats(n * outF, &rng)
        let out = FloatBuffer(count: n * outF)
        func f() -> Double {
            Layers.linearForward(out: out.pointer, x: x.pointer, weight: w.pointer, n: n, inF: inF, outF: outF)
            return dot(out, r)
        }
        _ = f()
        // y = x W^T with W stored [out, in].
        let y01 = (0..<inF).map { Double(x[$0]) * Double(w[inF + $0]) }.reduce(0, +)
        #expect(abs(Double(out[1]) - y01) < 1e-5)
        let dx = FloatBuffer(count: n * inF), dw = FloatBuffer(count: outF * inF)
        dw.fill(1)  // weight gradients accumulate
        r.withUnsafeBufferPointer { rp in
            Layers.linearBackward(dx: dx.pointer, dweight: dw.pointer, dout: rp.baseAddress!, x: x.pointer, weight: w.pointer, n: n, inF: inF, outF: outF)
        }
        #expect(relativeError(numericalGradient(x.pointer, indices: Array(0..<(n * inF)), h: 1e-2, f), dx.doubles) < Self.tolerance)
        #expect(relativeError(numericalGradient(w.pointer, indices: Array(0..<(outF * inF)), h: 1e-2, f), dw.doubles.map { $0 - 1 }) < Self.tolerance)
    }

    @Test(arguments: RopeLayout.allCases)
    func ropeGradient(layout: RopeLayout) {
        var rng = SeededRandom(seed: 4)
        let b = 2, t = 3, heads = 2, d = 6
        let tables = RopeTables(headDim: d, maxSequence: 8, theta: 100, layout: layout)
        let x0 = randomFloats(b * t * heads * d, &rng), r = randomFloats(x0.count, &rng)
        let x = FloatBuffer(x0), out = FloatBuffer(count: x0.count)
        func f() -> Double {
            out.copy(from: x)
            Layers.rope(out.pointer, batch: b, seqLen: t, heads: heads, tables: tables)
            return dot(out, r)
        }
        let dx = FloatBuffer(r)
        Layers.rope(dx.pointer, batch: b, seqLen: t, heads: heads, tables: tables, inverse: true, threads: 2)
        #expect(relativeError(numericalGradient(x.pointer, indices: Array(0..<x0.count), h: 1e-2, f), dx.doubles) < Self.tolerance)
    }

    /// Angles by hand: headDim 4, theta 10000 gives inv_freq = [1, 0.01]; position 1 rotates pair 0 by
    /// 1 rad and pair 1 by 0.01 rad; position 0 is untouched.
    @Test func ropeRotatesTheDocumentedPairs() {
        let tables = RopeTables(headDim: 4, maxSequence: 4, theta: 10_000, layout: .halfSplit)
        let half = FloatBuffer([1, 2, 3, 4, 1, 0, 0, 0, 0, 1, 0, 0])  // rows: t=0, t=1, t=2
        Layers.rope(half.pointer, batch: 1, seqLen: 3, heads: 1, tables: tables)
        #expect(Array(half.array[0..<4]) == [1, 2, 3, 4])
        // Half-split pairs (0, 2) and (1, 3): [1,0,0,0] at t=1 -> [cos 1, 0, sin 1, 0].
        let c = [half[4], half[5], half[6], half[7]]
        #expect(abs(c[0] - cos(1)) < 1e-6 && c[1] == 0 && abs(c[2] - sin(1)) < 1e-6 && c[3] == 0)
        // [0,1,0,0] at t=2 -> [0, cos 0.02, 0, sin 0.02].
        #expect(half[8] == 0 && abs(half[9] - cos(0.02)) < 1e-6 && half[10] == 0 && abs(half[11] - sin(0.02)) < 1e-6)

        let tablesI = RopeTables(headDim: 4, maxSequence: 4, theta: 10_000, layout: .interleaved)
        let inter = FloatBuffer([0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0])
        Layers.rope(inter.pointer, batch: 1, seqLen: 3, heads: 1, tables: tablesI)
        // Interleaved pairs (0, 1) and (2, 3).
        #expect(abs(inter[4] - cos(1)) < 1e-6 && abs(inter[5] - sin(1)) < 1e-6 && inter[6] == 0 && inter[7] == 0)
        #expect(inter[8] == 0 && inter[9] == 0 && abs(inter[10] - cos(0.02)) < 1e-6 && abs(inter[11] - sin(0.02)) < 1e-6)
    }

    /// Attention with grouped-query heads (4 query heads on 2 KV heads) and the causal mask, both implementations.
    @Test(arguments: CausalAttention.Path.allCases) func attention(path: CausalAttention.Path) {
        var rng = SeededRandom(seed: 5)
        let b = 2, t = 5, h = 4, kv = 2, d = 4
        let n = b * t, qw = h * d, kw = kv * d
        let q = FloatBuffer(randomFloats(n * qw, &rng)), k = FloatBuffer(randomFloats(n * kw, &rng)), v = FloatBuffer(randomFloats(n * kw, &rng))
        let r = randomFloats(n * qw, &rng)
        let out = FloatBuffer(count: n * qw), attention = CausalAttention(path: path, heads: h, kvHeads: kv, headDim: d)
        func f() -> Double {
            attention.forward(out: out.pointer, outStride: qw, q: q.pointer, qStride: qw, k: k.pointer, v: v.pointer, kvStride: kw,
                              batch: b, seqLen: t, threads: 2)
            return dot(out, r)
        }
        _ = f()
        // Forward against a naive Double implementation: head hh reads KV head hh / 2, keys s <= t only.
        for bb in 0..<b {
            for hh in 0..<h {
                let g = hh / (h / kv)
                for i in 0..<t {
                    var scores = [Double]()
                    for s in 0...i {
                        var dotv = 0.0
                        for j in 0..<d { dotv += Double(q[(bb * t + i) * qw + hh * d + j]) * Double(k[(bb * t + s) * kw + g * d + j]) }
                        scores.append(dotv / Double(d).squareRoot())
                    }
                    let mx = scores.max()!, e = scores.map { exp($0 - mx) }, z = e.reduce(0, +)
                    for j in 0..<d {
                        var want = 0.0
                        for s in 0...i { want += e[s] / z * Double(v[(bb * t + s) * kw + g * d + j]) }
                        #expect(abs(Double(out[(bb * t + i) * qw + hh * d + j]) - want) < 1e-5)
                    }
                }
            }
        }
        let dq = FloatBuffer(count: n * qw), dk = FloatBuffer(count: n * kw), dv = FloatBuffer(count: n * kw)
        r.withUnsafeBufferPointer { rp in
            attention.backward(dq: dq.pointer, dk: dk.pointer, dv: dv.pointer, dout: rp.baseAddress!, outStride: qw,
                               q: q.pointer, qStride: qw, k: k.pointer, v: v.pointer, kvStride: kw, threads: 2)
        }
        #expect(relativeError(numericalGradient(q.pointer, indices: Array(0..<(n * qw)), h: 1e-2, f), dq.doubles) < Self.tolerance)
        #expect(relativeError(numericalGradient(k.pointer, indices: Array(0..<(n * kw)), h: 1e-2, f), dk.doubles) < Self.tolerance)
        #expect(relativeError(numericalGradient(v.pointer, indices: Array(0..<(n * kw)), h: 1e-2, f), dv.doubles) < Self.tolerance)
        // Causality: changing the last key and value of each sequence changes only its last row.
        _ = f()
        let before = out.array
        for bb in 0..<b {
            for j in 0..<kw {
                k[(bb * t + t - 1) * kw + j] += 1
                v[(bb * t + t - 1) * kw + j] -= 1
            }
        }
        _ = f()
        for row in 0..<n {
            let same = (0..<qw).allSatisfy { out[row * qw + $0] == before[row * qw + $0] }
            #expect(same == (row % t != t - 1), "row \(row)")
        }
    }

    @Test func swiglu() {
        var rng = SeededRandom(seed: 6)
        let count = 24
        let gate = FloatBuffer(randomFloats(count, &rng, scale: 2)), up = FloatBuffer(randomFloats(count, &rng)), r = randomFloats(count, &rng)
        let out = FloatBuffer(count: count)
        func f() -> Double {
            Layers.swigluForward(out: out.pointer, gate: gate.pointer, up: up.pointer, count: count)
            return dot(out, r)
        }
        _ = f()
        let a = Double(gate[3])
        #expect(abs(Double(out[3]) - a / (1 + exp(-a)) * Double(up[3])) < 1e-6)
        let dg = FloatBuffer(count: count), du = FloatBuffer(count: count)
        r.withUnsafeBufferPointer { rp in
            Layers.swigluBackward(dgate: dg.pointer, dup: du.pointer, dout: rp.baseAddress!, gate: gate.pointer, up: up.pointer, count: count)
        }
        #expect(relativeError(numericalGradient(gate.pointer, indices: Array(0..<count), h: 1e-2, f), dg.doubles) < Self.tolerance)
        #expect(relativeError(numericalGradient(up.pointer, indices: Array(0..<count), h: 1e-2, f), du.doubles) < Self.tolerance)
    }

    @Test func crossEntropy() {
        var rng = SeededRandom(seed: 8)
        let rows = 3, vocab = 5
        let logits = FloatBuffer(randomFloats(rows * vocab, &rng, scale: 2))
        let targets: [Int32] = [4, 0, 2]
        let losses = FloatBuffer(count: rows), lse = FloatBuffer(count: rows)
        func f() -> Double {
            targets.withUnsafeBufferPointer {
                Layers.crossEntropyForward(losses: losses.pointer, lse: lse.pointer, logits: logits.pointer, targets: $0.baseAddress!, rows: rows, vocab: vocab)
            }
            return (0..<rows).map { Double(losses[$0]) }.reduce(0, +) / Double(rows)
        }
        _ = f()
        for i in 0..<rows {
            let row = (0..<vocab).map { Double(logits[i * vocab + $0]) }
            let want = log(row.map(exp).reduce(0, +)) - row[Int(targets[i])]
            #expect(abs(Double(losses[i]) - want) < 1e-5)
        }
        let fd = numericalGradient(logits.pointer, indices: Array(0..<(rows * vocab)), h: 1e-2, f)
        _ = f()
        targets.withUnsafeBufferPointer {
            Layers.crossEntropyBackward(logits: logits.pointer, lse: lse.pointer, targets: $0.baseAddress!, rows: rows, vocab: vocab, scale: 1 / Float(rows))
        }
        #expect(relativeError(fd, logits.doubles) < Self.tolerance)
    }
}
