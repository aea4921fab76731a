import Foundation
import OpenBLASRuntime
import Randomness
import Tensor
import Testing

/// Naive row-major product in Double, the reference for every transpose combination.
private func naive(_ a: [Float], transA: Bool, _ b: [Float], transB: Bool, m: Int, n: Int, k: Int) -> [Double] {
    var c = [Double](repeating: 0, count: m * n)
    for i in 0..<m {
        for j in 0..<n {
            var s = 0.0
            for p in 0..<k {
                let av = transA ? a[p * m + i] : a[i * k + p]
                let bv = transB ? b[j * k + p] : b[p * n + j]
                s += Double(av) * Double(bv)
            }
            c[i * n + j] = s
        }
    }
    return c
}

private func randomArray(_ n: Int, _ rng: inout SeededRandom) -> [Float] { (0..<n).map { _ in Float(rng.normal()) } }

@Suite struct KernelTests {
    @Test(arguments: [(false, false), (false, true), (true, false), (true, true)])
    func matmulMatchesNaiveForEveryTransposeCombination(transA: Bool, transB: Bool) {
        var rng = SeededRandom(seed: 7)
        let m = 5, n = 3, k = 4
        let a = randomArray(m * k, &rng), b = randomArray(k * n, &rng), c0 = randomArray(m * n, &rng)
        let ref = naive(a, transA: transA, b, transB: transB, m: m, n: n, k: k)
        for accumulate in [false, true] {
            let c = FloatBuffer(c0)
            a.withUnsafeBufferPointer { ap in
                b.withUnsafeBufferPointer { bp in
                    BLAS.matmul(ap.baseAddress!, transA: transA, bp.baseAddress!, transB: transB, into: c.pointer,
                                m: m, n: n, k: k, accumulate: accumulate)
                }
            }
            for i in 0..<(m * n) {
                let want = ref[i] + (accumulate ? Double(c0[i]) : 0)
                #expect(abs(Double(c[i]) - want) < 1e-5, "transA \(transA) transB \(transB) accumulate \(accumulate) at \(i)")
            }
        }
    }

    @Test func stridedSgemmReadsSubmatrices() {
        // A 2x2 block of a 3x4 matrix times the identity: ld must be honoured.
        let a: [Float] = [1, 2, 3, 4,
                          5, 6, 7, 8,
                          9, 10, 11, 12]
        let eye: [Float] = [1, 0, 0, 1]
        let c = FloatBuffer(count: 4)
        a.withUnsafeBufferPointer { ap in
            eye.withUnsafeBufferPointer { ep in
                BLAS.sgemm(transA: false, transB: false, m: 2, n: 2, k: 2, a: ap.baseAddress! + 5, lda: 4, b: ep.baseAddress!, ldb: 2,
                           c: c.pointer, ldc: 2)
            }
        }
        #expect(c.array == [6, 7, 10, 11])
    }

    @Test func softmaxRowsSumToOneAndMatchExp() {
        let x = FloatBuffer([1, 2, 3, 1000, 1000, 1000])
        Kernels.softmaxRows(x.pointer, rows: 2, cols: 3, ld: 3)
        let e = [exp(1.0), exp(2.0), exp(3.0)], s = e.reduce(0, +)
        for j in 0..<3 {
            #expect(abs(Double(x[j]) - e[j] / s) < 1e-6)
            #expect(abs(x[3 + j] - 1.0 / 3) < 1e-6, "large logits must not overflow")
        }
    }

    @Test func floatBufferIsAlignedZeroedAndCopies() {
        let b = FloatBuffer(count: 37)
        #expect(Int(bitPattern: b.pointer) % 64 == 0)
        #expect(b.array == [Float](repeating: 0, count: 37))
        b.fill(2)
        let c = b.clone()
        b[0] = 5
        #expect(c[0] == 2 && b[0] == 5)
        #expect(c.sumOfSquares() == 37 * 4)
        c.assign((0..<37).map(Float.init))
        #expect(c[36] == 36)
    }

    @Test func parallelLoopsVisitEveryItemOnce() {
        for threads in [1, 2, 3] {
            let hits = FloatBuffer(count: 101)
            Parallel.forEach(101, threads: threads) { hits[$0] += 1 }
            #expect(hits.array.allSatisfy { $0 == 1 })
            let hits2 = FloatBuffer(count: 101)
            Parallel.forRanges(101, threads: threads, grain: 7) { r in for i in r { hits2[i] += 1 } }
            #expect(hits2.array.allSatisfy { $0 == 1 })
        }
    }
}
