// train-bench: the PruneScale half of benchmarks/train-throughput (see benchmarks/README.md).
//
//   train-bench gemm [--size 1024] [--reps 40]
//       cblas_sgemm ceiling: C = A B, n x n single precision, with 2 BLAS threads and with 1;
//       prints one JSON line {"n", "gflops_2t", "gflops_1t", ...} (best of reps, and median).
//   train-bench check-attention
//       both causal attention paths, tiled and blocked (forward and backward, GQA, ragged last
//       block) at T = 130 and T = 256 against a naive float64 implementation; exits 1 if the
//       relative error exceeds 1e-5.
//   train-bench step --config S|M|l [--threads 2] [--steps 20] [--warmup 3] [--seed 1234]
//       times our training step (zeroGrad + forward + backward + AdamW.step) and prints one JSON
//       line with every timed step's milliseconds (samples_ms), the median's tokens/s, CPU time per
//       step, the median of each phase, the peak resident memory, and a hash of the final weights
//       (equal across --threads). Config l is the default ladder's size l (memory; no torch peer).
//   train-bench time-layers --config S|M [--threads 2] [--reps 20]
//       profiling aid: median milliseconds of one block's pieces (attention, fused projections,
//       SwiGLU) and of a projection as one multi-threaded OpenBLAS call versus cut into pieces.
//
// The configs and the step are those of benchmarks/torch/train_step.py: untied LM head,
// kv_heads = heads, head_dim 32, half-split RoPE (theta 10000), eps 1e-5, init N(0, 0.02);
// AdamW lr 3e-4, betas (0.9, 0.95), eps 1e-8, weight decay 0.1 on every matrix (embeddings and
// LM head included), none on norm weights; no clipping. Random tokens: 4 pre-drawn batches, cycled.
import Foundation
import OpenBLASRuntime
import Model
import Tensor
import COpenBLAS

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("train-bench: \(message)\n".utf8))
    exit(2)
}

func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// The process's peak resident memory so far, in MiB (Linux reports `ru_maxrss` in KiB).
func peakResidentMiB() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_maxrss) / 1024
}

/// User + system CPU seconds of the whole process (all threads).
func cpuSeconds() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func json(_ pairs: [(String, Any)]) -> String {
    func enc(_ v: Any) -> String {
        switch v {
        case let s as String: return "\"\(s)\""
        case let d as Double: return d.isFinite ? String(format: "%.6g", d) : "null"
        case let f as Float: return enc(Double(f))
        case let i as Int: return String(i)
        case let a as [Double]: return "[" + a.map { String(format: "%.3f", $0) }.joined(separator: ", ") + "]"
        default: return "\"\(v)\""
        }
    }
    return "{" + pairs.map { "\"\($0.0)\": \(enc($0.1))" }.joined(separator: ", ") + "}"
}

/// Options as `--name value` pairs.
func options(_ args: ArraySlice<String>) -> [String: String] {
    var out: [String: String] = [:]
    var it = args.makeIterator()
    while let k = it.next() {
        guard k.hasPrefix("--"), let v = it.next() else { fail("expected --name value, got \(k)") }
        out[String(k.dropFirst(2))] = v
    }
    return out
}

func int(_ o: [String: String], _ k: String, _ d: Int) -> Int {
    guard let s = o[k] else { return d }
    guard let v = Int(s) else { fail("--\(k) needs an integer, got \(s)") }
    return v
}

// MARK: sgemm ceiling

func gemm(_ o: [String: String]) {
    let n = int(o, "size", 1024), reps = int(o, "reps", 40)
    let a = FloatBuffer(count: n * n), b = FloatBuffer(count: n * n), c = FloatBuffer(count: n * n)
    var s: UInt64 = 0x9E37_79B9_7F4A_7C15
    for i in 0..<(n * n) {
        s = s &* 6364136223846793005 &+ 1442695040888963407
        a[i] = Float(Int(s >> 41) - (1 << 22)) / Float(1 << 22)
        b[i] = Float(Int((s >> 17) & 0x7F_FFFF) - (1 << 22)) / Float(1 << 22)
    }
    let flop = 2.0 * Double(n) * Double(n) * Double(n)
    var fields: [(String, Any)] = [("n", n), ("reps", reps)]
    for t in [2, 1] {
        BLAS.threads = t
        for _ in 0..<3 { BLAS.matmul(a.pointer, b.pointer, into: c.pointer, m: n, n: n, k: n) }
        var times: [Double] = []
        for _ in 0..<reps {
            let t0 = now()
            BLAS.matmul(a.pointer, b.pointer, into: c.pointer, m: n, n: n, k: n)
            times.append(Double(now() - t0) / 1e9)
        }
        fields.append(("gflops_\(t)t", flop / times.min()! / 1e9))
        fields.append(("gflops_\(t)t_median", flop / median(times) / 1e9))
    }
    if let core = openblas_get_corename() { fields.append(("openblas_core", String(cString: core))) }
    print(json(fields))
}

// MARK: training step

struct BenchConfig {
    let vocab, hidden, layers, heads, ff, T, B: Int
    var kvHeads: Int? = nil
    var llama: LlamaConfig {
        LlamaConfig.uniform(vocabSize: vocab, hidden: hidden, layers: layers, heads: heads, kvHeads: kvHeads ?? heads, mlpHidden: ff,
                            ropeTheta: 10_000, tiedEmbeddings: false, maxSequence: T)
    }
}

let configs: [String: BenchConfig] = [
    "S": BenchConfig(vocab: 256, hidden: 128, layers: 4, heads: 4, ff: 384, T: 128, B: 16),
    "M": BenchConfig(vocab: 512, hidden: 256, layers: 6, heads: 8, ff: 768, T: 256, B: 8),
    // The default ladder's size l (experiments/ladder.yaml) at its training shape: memory, not a torch peer.
    "l": BenchConfig(vocab: 256, hidden: 160, layers: 5, heads: 10, ff: 432, T: 256, B: 16, kvHeads: 2),
]

/// Training FLOPs of one step (the nanoGPT / PaLM count, identical to train_step.py's): 6 per weight
/// of every matmul (q, k, v, o, gate, up, down, LM head; not the embedding lookup) per token, plus
/// 12 * heads * head_dim * T per layer per token for attention (scores and weighted sum, forward and
/// backward, full T x T: the causal half is not subtracted). Elementwise work is not counted.
func trainingFlops(_ c: LlamaConfig, batch B: Int, seq T: Int) -> Double {
    var matmul = c.vocabSize * c.hidden
    var attention = 0
    for b in c.blocks {
        matmul += (2 * b.heads + 2 * b.kvHeads) * c.headDim * c.hidden + 3 * b.mlpHidden * c.hidden
        attention += 12 * b.heads * c.headDim * T
    }
    return Double(6 * matmul + attention) * Double(B * T)
}

func step(_ o: [String: String]) throws {
    guard let name = o["config"], let bc = configs[name] else { fail("--config S|M|l is required") }
    let threads = int(o, "threads", 2), steps = int(o, "steps", 20), warmup = int(o, "warmup", 3)
    let seed = UInt64(int(o, "seed", 1234))
    guard steps >= 1, warmup >= 0, threads >= 1 else { fail("--steps >= 1, --warmup >= 0, --threads >= 1") }
    BLAS.threads = threads
    let config = bc.llama
    let model = try LlamaModel(config: config, seed: seed, initStd: 0.02, threads: threads)
    let opt = AdamW(model: model, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1)
    let B = bc.B, T = bc.T
    var rng = SplitMix(seed: seed ^ 0xBA7C)
    let batches: [([Int32], [Int32])] = (0..<4).map { _ in
        let seq = (0..<(B * (T + 1))).map { _ in Int32(rng.next() % UInt64(bc.vocab)) }
        var x: [Int32] = [], y: [Int32] = []
        for b in 0..<B {
            let row: Int = b * (T + 1)
            x.append(contentsOf: seq[row..<(row + T)])
            y.append(contentsOf: seq[(row + 1)..<(row + T + 1)])
        }
        return (x, y)
    }
    var losses: [Float] = []
    var phases: [[Double]] = [[], [], [], []]  // zeroGrad, forward, backward, AdamW (ms)
    func trainStep(_ i: Int) {
        let (x, y) = batches[i % batches.count]
        let t0 = now()
        model.zeroGrad()
        let t1 = now()
        losses.append(model.forward(tokens: x, targets: y, batch: B, seqLen: T))
        let t2 = now()
        model.backward()
        let t3 = now()
        opt.step(model, lr: 3e-4)
        let t4 = now()
        for (j, d) in [t1 - t0, t2 - t1, t3 - t2, t4 - t3].enumerated() { phases[j].append(Double(d) / 1e6) }
    }
    for i in 0..<warmup { trainStep(i) }
    phases = [[], [], [], []]
    var times: [Double] = []
    let cpu0 = cpuSeconds()
    for i in 0..<steps {
        let t0 = now()
        trainStep(warmup + i)
        times.append(Double(now() - t0) / 1e9)
    }
    let cpuPerStep = (cpuSeconds() - cpu0) / Double(steps)
    // FNV-1a over the weights' bits: equal for equal runs (checks thread-count independence).
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for i in 0..<model.params.count { hash = (hash ^ UInt64(model.params[i].bitPattern)) &* 0x100_0000_01B3 }
    let med = median(times), fl = trainingFlops(config, batch: B, seq: T)
    print(json([
        ("config", name), ("threads", threads),
        ("tokens_per_s", Double(B * T) / med), ("tokens_per_s_best", Double(B * T) / times.min()!),
        ("step_ms_median", med * 1e3), ("step_ms_min", times.min()! * 1e3),
        ("steps", steps), ("warmup", warmup), ("batch", B), ("seq", T), ("params", model.layout.totalCount),
        ("cpu_ms_per_step", cpuPerStep * 1e3), ("gflop_per_step", fl / 1e9), ("gflops", fl / med / 1e9),
        ("loss_first", losses.first!), ("loss_last", losses.last!), ("params_fnv1a", String(hash, radix: 16)),
        ("phase_ms_zero_forward_backward_adamw", phases.map(median)), ("peak_rss_mib", peakResidentMiB()),
        ("samples_ms", times.map { $0 * 1e3 }),
    ]))
}

/// Token generator for the benchmark batches only.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

// MARK: attention check

/// Both attention implementations at the benchmark's sequence lengths, every output and gradient
/// against float64 loops.
func checkAttention() {
    var worst = 0.0
    for path in CausalAttention.Path.allCases {
    for (T, B, H, KV, d) in [(130, 2, 4, 2, 8), (256, 1, 2, 1, 32)] {
        var rng = SplitMix(seed: UInt64(T))
        func rand(_ n: Int) -> [Float] { (0..<n).map { _ in Float(Double(rng.next() % 2_000_001) / 1e6 - 1) } }
        let qw = H * d, kw = KV * d, N = B * T
        let q = FloatBuffer(rand(N * qw)), k = FloatBuffer(rand(N * kw)), v = FloatBuffer(rand(N * kw)), dout = FloatBuffer(rand(N * qw))
        let out = FloatBuffer(count: N * qw), attention = CausalAttention(path: path, heads: H, kvHeads: KV, headDim: d)
        let dq = FloatBuffer(count: N * qw), dk = FloatBuffer(count: N * kw), dv = FloatBuffer(count: N * kw)
        attention.forward(out: out.pointer, outStride: qw, q: q.pointer, qStride: qw, k: k.pointer, v: v.pointer, kvStride: kw,
                          batch: B, seqLen: T, threads: 2)
        attention.backward(dq: dq.pointer, dk: dk.pointer, dv: dv.pointer, dout: dout.pointer, outStride: qw,
                           q: q.pointer, qStride: qw, k: k.pointer, v: v.pointer, kvStride: kw, threads: 2)
        var rOut = [Double](repeating: 0, count: N * qw), rdq = rOut
        var rdk = [Double](repeating: 0, count: N * kw), rdv = rdk
        let scale = 1 / Double(d).squareRoot()
        for b in 0..<B {
            for h in 0..<H {
                let g = h / (H / KV)
                func Q(_ t: Int, _ j: Int) -> Double { Double(q[(b * T + t) * qw + h * d + j]) }
                func K(_ t: Int, _ j: Int) -> Double { Double(k[(b * T + t) * kw + g * d + j]) }
                func V(_ t: Int, _ j: Int) -> Double { Double(v[(b * T + t) * kw + g * d + j]) }
                func DO(_ t: Int, _ j: Int) -> Double { Double(dout[(b * T + t) * qw + h * d + j]) }
                for t in 0..<T {
                    var sc = (0...t).map { s in (0..<d).reduce(0.0) { $0 + Q(t, $1) * K(s, $1) } * scale }
                    let mx = sc.max()!
                    sc = sc.map { Foundation.exp($0 - mx) }
                    let z = sc.reduce(0, +)
                    let p = sc.map { $0 / z }
                    let dp = (0...t).map { s in (0..<d).reduce(0.0) { $0 + DO(t, $1) * V(s, $1) } }
                    let dot = zip(p, dp).map(*).reduce(0, +)
                    for s in 0...t {
                        let ds = p[s] * (dp[s] - dot)
                        for j in 0..<d {
                            rOut[(b * T + t) * qw + h * d + j] += p[s] * V(s, j)
                            rdq[(b * T + t) * qw + h * d + j] += scale * ds * K(s, j)
                            rdk[(b * T + s) * kw + g * d + j] += scale * ds * Q(t, j)
                            rdv[(b * T + s) * kw + g * d + j] += p[s] * DO(t, j)
                        }
                    }
                }
            }
        }
        func rel(_ a: FloatBuffer, _ r: [Double]) -> Double {
            var num = 0.0, den = 0.0
            for i in r.indices { num += (Double(a[i]) - r[i]) * (Double(a[i]) - r[i]); den += r[i] * r[i] }
            return (num / max(den, 1e-300)).squareRoot()
        }
        let errs = [("out", rel(out, rOut)), ("dq", rel(dq, rdq)), ("dk", rel(dk, rdk)), ("dv", rel(dv, rdv))]
        print("check-attention \(path) T=\(T) B=\(B) heads=\(H) kv=\(KV) d=\(d): " + errs.map { "\($0.0) \(String(format: "%.1e", $0.1))" }.joined(separator: ", "))
        worst = max(worst, errs.map(\.1).max()!)
    }
    }
    print("check-attention: worst relative error \(String(format: "%.1e", worst)) (limit 1e-5): \(worst <= 1e-5 ? "PASS" : "FAIL")")
    if worst > 1e-5 { exit(1) }
}

// MARK: per-kernel timing (a profiling aid)

/// Milliseconds of one call of each piece of one block at a config's shapes (median of `reps`).
func timeLayers(_ o: [String: String]) {
    guard let name = o["config"], let bc = configs[name] else { fail("--config S|M|l is required") }
    let th = int(o, "threads", 2), reps = int(o, "reps", 20)
    BLAS.threads = th
    let B = bc.B, T = bc.T, H = bc.heads, C = bc.hidden, D = C / H, F = bc.ff, N = B * T
    var rng = SplitMix(seed: 5)
    func buf(_ n: Int) -> FloatBuffer { FloatBuffer((0..<n).map { _ in Float(Double(rng.next() % 2001) / 1000 - 1) * 0.1 }) }
    let qkv = buf(N * 3 * C), att = buf(N * C), attention = CausalAttention(heads: H, kvHeads: H, headDim: D)
    let dqkv = buf(N * 3 * C), datt = buf(N * C), x = buf(N * C), w = buf(3 * C * C), y = buf(N * 3 * C), dw = buf(3 * C * C)
    let gu = buf(N * 2 * F), act = buf(N * F), dgu = buf(N * 2 * F)
    func time(_ label: String, _ body: () -> Void) {
        body()
        var ts: [Double] = []
        for _ in 0..<reps { let t0 = now(); body(); ts.append(Double(now() - t0) / 1e6) }
        print(label.padding(toLength: 34, withPad: " ", startingAt: 0) + String(format: "%8.3f ms", median(ts)))
    }
    BLAS.threads = th
    time("qkv fwd OpenBLAS \(th)t whole") {
        BLAS.sgemm(transA: false, transB: true, m: N, n: 3 * C, k: C, a: x.pointer, lda: C, b: w.pointer, ldb: C, beta: 0, c: y.pointer, ldc: 3 * C)
    }
    time("dW OpenBLAS \(th)t whole") {
        BLAS.sgemm(transA: true, transB: false, m: 3 * C, n: C, k: N, a: y.pointer, lda: 3 * C, b: x.pointer, ldb: C, beta: 1, c: dw.pointer, ldc: C)
    }
    BLAS.withThreads(1, when: th > 1) {
        time("attention forward") {
            attention.forward(out: att.pointer, outStride: C, q: qkv.pointer, qStride: 3 * C, k: qkv.pointer + C, v: qkv.pointer + 2 * C,
                              kvStride: 3 * C, batch: B, seqLen: T, threads: th)
        }
        time("attention backward") {
            attention.backward(dq: dqkv.pointer, dk: dqkv.pointer + C, dv: dqkv.pointer + 2 * C, dout: datt.pointer, outStride: C,
                               q: qkv.pointer, qStride: 3 * C, k: qkv.pointer + C, v: qkv.pointer + 2 * C, kvStride: 3 * C, threads: th)
        }
        time("qkv forward [N,C]x[C,3C]") { Layers.linearForward(out: y.pointer, x: x.pointer, weight: w.pointer, n: N, inF: C, outF: 3 * C, threads: th) }
        time("qkv backward (dx + dW)") {
            Layers.linearBackward(dx: x.pointer, dweight: dw.pointer, dout: y.pointer, x: att.pointer, weight: w.pointer, n: N, inF: C, outF: 3 * C, threads: th)
        }
        for parts in [1, 2, 4, 8] {
            time("qkv fwd split \(parts) (BLAS 1t)") {
                Parallel.forEach(parts, threads: th) { i in
                    let lo = N * i / parts, hi = N * (i + 1) / parts
                    BLAS.sgemm(transA: false, transB: true, m: hi - lo, n: 3 * C, k: C, a: x.pointer + lo * C, lda: C, b: w.pointer, ldb: C,
                               beta: 0, c: y.pointer + lo * 3 * C, ldc: 3 * C)
                }
            }
            time("dW split \(parts) (BLAS 1t)") {
                Parallel.forEach(parts, threads: th) { i in
                    let lo = 3 * C * i / parts, hi = 3 * C * (i + 1) / parts
                    BLAS.sgemm(transA: true, transB: false, m: hi - lo, n: C, k: N, a: y.pointer + lo, lda: 3 * C, b: x.pointer, ldb: C,
                               beta: 1, c: dw.pointer + lo * C, ldc: C)
                }
            }
        }
        time("swiglu forward") { Layers.swigluForward(out: act.pointer, gate: gu.pointer, up: gu.pointer + F, rows: N, cols: F, inStride: 2 * F, threads: th) }
        time("swiglu backward") {
            Layers.swigluBackward(dgate: dgu.pointer, dup: dgu.pointer + F, dout: act.pointer, gate: gu.pointer, up: gu.pointer + F,
                                  rows: N, cols: F, inStride: 2 * F, threads: th)
        }
    }
}

BLASCore.selectBestCore()
let args = CommandLine.arguments.dropFirst()
switch args.first {
case "gemm": gemm(options(args.dropFirst()))
case "step": try step(options(args.dropFirst()))
case "check-attention": checkAttention()
case "time-layers": timeLayers(options(args.dropFirst()))
default: fail("usage: train-bench gemm [--size N] [--reps R] | check-attention | step --config S|M|l [--threads 2] [--steps 20] [--warmup 3] | time-layers --config S|M")
}
