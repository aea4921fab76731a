// eval-bench: the PruneScale half of benchmarks/eval-throughput (see benchmarks/README.md).
//
//   eval-bench forward --model DIR [--threads 2] [--batch 4] [--seq 256] [--steps 5] [--warmup 1] [--seed 1234]
//       times forward-only evaluation (logits and mean cross-entropy) of a checkpoint folder and
//       prints one JSON line: the median step's tokens/s, and the loss, which must equal the
//       PyTorch side's (benchmarks/torch/eval_forward.py draws the same tokens from the same LCG).
//   eval-bench export --model FILE.gguf --out DIR
//       dequantises a GGUF once into a float32 checkpoint folder (Hugging Face layout) that both
//       sides then load, so they compute with the same weights.
import Foundation
import OpenBLASRuntime
import Model
import Tensor

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("eval-bench: \(message)\n".utf8))
    exit(2)
}

func options(_ args: ArraySlice<String>) -> [String: String] {
    var o: [String: String] = [:]
    var it = args.makeIterator()
    while let k = it.next() {
        guard k.hasPrefix("--"), let v = it.next() else { fail("expected --name value pairs, got \(k)") }
        o[String(k.dropFirst(2))] = v
    }
    return o
}

func int(_ o: [String: String], _ k: String, _ d: Int) -> Int {
    guard let s = o[k] else { return d }
    guard let v = Int(s) else { fail("--\(k) \(s): not an integer") }
    return v
}

/// The peer's token stream: x ← x·6364136223846793005 + 1442695040888963407 (mod 2^64), id = (x >> 33) mod vocab.
func lcgTokens(_ n: Int, vocab: Int, seed: UInt64) -> [Int32] {
    var x = seed
    return (0..<n).map { _ in
        x = x &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Int32((x >> 33) % UInt64(vocab))
    }
}

func forward(_ o: [String: String]) throws {
    guard let dir = o["model"] else { fail("--model DIR is required") }
    let threads = int(o, "threads", 2), B = int(o, "batch", 4), T = int(o, "seq", 256)
    let steps = int(o, "steps", 5), warmup = int(o, "warmup", 1), seed = UInt64(int(o, "seed", 1234))
    guard threads >= 1, B >= 1, T >= 1, steps >= 1, warmup >= 0 else { fail("--threads, --batch, --seq, --steps ≥ 1, --warmup ≥ 0") }
    BLAS.threads = threads
    let c = try Checkpoint.load(from: URL(fileURLWithPath: dir))
    let model = try LlamaModel(config: c.config, parameters: c.parameters, threads: threads)
    let ids = lcgTokens(B * (T + 1), vocab: c.config.vocabSize, seed: seed)
    var x: [Int32] = [], y: [Int32] = []
    for b in 0..<B {
        x += ids[(b * (T + 1))..<(b * (T + 1) + T)]
        y += ids[(b * (T + 1) + 1)..<((b + 1) * (T + 1))]
    }
    var loss: Float = 0
    var times: [Double] = []
    for i in 0..<(warmup + steps) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        loss = model.forward(tokens: x, targets: y, batch: B, seqLen: T)
        if i >= warmup { times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9) }
    }
    let sorted = times.sorted()
    let med = sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    print(String(format: "{\"side\": \"ours\", \"threads\": %d, \"batch\": %d, \"seq\": %d, \"steps\": %d, \"tokens_per_s\": %.1f, \"tokens_per_s_best\": %.1f, \"step_ms_median\": %.2f, \"loss\": %.6f, \"params\": %d}",
                 threads, B, T, steps, Double(B * T) / med, Double(B * T) / sorted[0], med * 1e3, Double(loss), model.layout.totalCount))
}

func export(_ o: [String: String]) throws {
    guard let path = o["model"], let out = o["out"] else { fail("--model FILE.gguf and --out DIR are required") }
    let m = try GGUFModel.load(path: path)
    try Checkpoint.save(config: m.config, parameters: m.parameters, to: URL(fileURLWithPath: out))
}

BLASCore.selectBestCore()
let args = CommandLine.arguments.dropFirst()
switch args.first {
case "forward": try forward(options(args.dropFirst()))
case "export": try export(options(args.dropFirst()))
default: fail("usage: eval-bench export --model FILE.gguf --out DIR | eval-bench forward --model DIR [--threads 2] [--batch 4] [--seq 256] [--steps 5] [--warmup 1] [--seed 1234]")
}
