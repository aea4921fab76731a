import Foundation
import Model
import Pruning
import Randomness

/// Small models with both attention layouts: block 0 plain multi-head (r = 1), blocks 1 and 2
/// grouped-query (4 query heads on 2 KV heads, and 6 on 2), MLP widths that differ per block.
func pruningConfig(tied: Bool = false) -> LlamaConfig {
    LlamaConfig(vocabSize: 32, hidden: 16, headDim: 4,
                blocks: [BlockShape(heads: 4, kvHeads: 4, mlpHidden: 24), BlockShape(heads: 4, kvHeads: 2, mlpHidden: 32),
                         BlockShape(heads: 6, kvHeads: 2, mlpHidden: 20)],
                tiedEmbeddings: tied, maxSequence: 32)
}

func randomModel(_ c: LlamaConfig, seed: UInt64, std: Float = 0.2) throws -> LlamaModel {
    try LlamaModel(config: c, seed: seed, initStd: std, threads: 1)
}

func randomIds(_ n: Int, vocab: Int, seed: UInt64) -> [Int32] {
    var rng = SeededRandom(seed: seed, stream: 77)
    return (0..<n).map { _ in Int32(rng.next() % UInt64(vocab)) }
}

/// A calibration set of random tokens (enough to exercise every code path; not language).
func randomCalibration(vocab: Int, windows: Int = 6, seq: Int = 12, seed: UInt64 = 3) throws -> CalibrationSet {
    var rng = SeededRandom(seed: seed, stream: 5)
    let text = (0..<(windows * seq * 4)).map { _ in UInt16(rng.next() % UInt64(vocab)) }
    return try CalibrationSet(tokens: text, windows: windows, sequenceLength: seq, seed: seed, source: "random")
}

func logits(_ m: LlamaModel, _ tokens: [Int32], batch: Int, seq: Int) -> [Float] {
    m.forward(tokens: tokens, targets: nil, batch: batch, seqLen: seq)
    return Array(m.logits)
}

func maxRelativeDifference(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count)
    let scale = max(a.map { abs($0) }.max() ?? 1, 1e-6)
    return zip(a, b).map { abs($0 - $1) }.max()! / scale
}

/// Sets the given columns of a `[rows, cols]` tensor to zero in a flat parameter array.
func zeroColumns(_ p: inout [Float], _ layout: ParameterLayout, _ name: String, _ cols: [Int]) {
    let e = layout[name]!, n = e.shape[1]
    for i in 0..<e.shape[0] { for j in cols { p[e.offset + i * n + j] = 0 } }
}
