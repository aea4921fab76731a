import Foundation

/// How much memory a model of a given shape takes in this engine, computed before anything is
/// allocated, so a config that cannot fit is refused in words instead of crashing (an `Int`
/// product trapping, an allocation failing) or swapping for hours.
///
/// Sizes are in Double: products of any `Int` fields stay finite (far below 1e308) where `Int`
/// arithmetic would overflow, and they are exact wherever the answer is "fits" (below 2^53).
/// The estimate mirrors the buffers `LlamaModel` and `AdamW` allocate, all float32:
///  - the model: weights and gradients (both allocated and zeroed at init: 8 bytes a parameter),
///    the RoPE tables (`maxSequence × headDim` floats) and bookkeeping per block (layout entries,
///    buffer objects: `bytesPerBlock`);
///  - a forward pass of `batch × sequence` rows: every block's saved activations, the attention
///    probabilities (`batch × sequence² × heads` per block), the logits;
///  - a backward pass: the shared scratch buffers;
///  - training: AdamW's two moments (8 bytes a parameter).
public struct ModelFootprint: Sendable {
    /// Bookkeeping per block beyond its floats (≈11 layout entries with names and shapes, ≈20
    /// buffer objects); generous, so that a model of millions of tiny blocks is refused too.
    public static let bytesPerBlock = 4096.0

    public var parameters: Double
    public var ropeValues: Double
    /// Blocks as (shape, how many in a row), so a uniform model of 10^18 layers costs nothing to describe.
    public var blockRuns: [(shape: BlockShape, count: Int)]
    public var vocabSize: Double, hidden: Double, headDim: Double

    public init(vocabSize: Int, hidden: Int, headDim: Int, blockRuns: [(shape: BlockShape, count: Int)], tiedEmbeddings: Bool,
                maxSequence: Int, attentionBias: Bool = false, mlpBias: Bool = false) {
        let V = Double(vocabSize), C = Double(hidden), D = Double(headDim)
        let biases = Double((attentionBias ? 1 : 0) + (mlpBias ? 1 : 0)) * C
        var p = V * C * (tiedEmbeddings ? 1 : 2) + C
        for run in blockRuns {
            let b = run.shape
            let perBlock = 2 * C + (2 * Double(b.heads) + 2 * Double(b.kvHeads)) * D * C + 3 * Double(b.mlpHidden) * C + biases
            p += Double(run.count) * perBlock
        }
        parameters = p
        ropeValues = Double(maxSequence) * D
        self.blockRuns = blockRuns
        self.vocabSize = V
        self.hidden = C
        self.headDim = D
    }

    public init(_ c: LlamaConfig) {
        // Runs of equal neighbours keep a uniform model's description short.
        var runs: [(shape: BlockShape, count: Int)] = []
        for b in c.blocks {
            if let last = runs.last, last.shape == b { runs[runs.count - 1].count += 1 } else { runs.append((b, 1)) }
        }
        self.init(vocabSize: c.vocabSize, hidden: c.hidden, headDim: c.headDim, blockRuns: runs, tiedEmbeddings: c.tiedEmbeddings,
                  maxSequence: c.maxSequence, attentionBias: c.attentionBias, mlpBias: c.mlpBias)
    }

    public var layers: Double { blockRuns.reduce(0) { $0 + Double($1.count) } }

    /// The model alone: weights, gradients, RoPE tables, per-block bookkeeping.
    public var modelBytes: Double { 8 * parameters + 4 * ropeValues + Self.bytesPerBlock * layers }

    /// Activation buffers of one forward pass over `batch` sequences of `sequence` tokens, plus
    /// the backward scratch when `backward`.
    public func activationBytes(batch: Int, sequence: Int, backward: Bool) -> Double {
        let N = Double(batch) * Double(sequence), S = N * Double(sequence)
        let C = hidden, D = headDim
        var floats = (layers + 1) * N * C                       // residual stream, one per block boundary
        var maxH = 1.0, maxQKV = 1.0, maxF = 1.0
        for run in blockRuns {
            let b = run.shape, H = Double(b.heads), KV = Double(b.kvHeads), F = Double(b.mlpHidden)
            let perBlock = 3 * N * C + 2 * N + N * (H + 2 * KV) * D + S * H + N * H * D + 3 * N * F
            floats += Double(run.count) * perBlock
            maxH = max(maxH, H); maxQKV = max(maxQKV, H + 2 * KV); maxF = max(maxF, F)
        }
        floats += N * C + 3 * N + N * vocabSize               // final norm, losses, logits
        if backward { floats += 2 * N * C + N * maxQKV * D + N * maxH * D + S * maxH + 3 * N * maxF }
        return 4 * floats + 8 * N                              // + the token and target ids
    }

    /// Bytes to run forward passes (evaluation, generation, calibration) at this batch shape.
    public func inferenceBytes(batch: Int, sequence: Int, backward: Bool = false) -> Double {
        modelBytes + activationBytes(batch: batch, sequence: sequence, backward: backward)
    }

    /// Bytes to train at this batch shape: the model, AdamW's two moments, forward and backward.
    public func trainingBytes(batch: Int, sequence: Int) -> Double {
        modelBytes + 8 * parameters + activationBytes(batch: batch, sequence: sequence, backward: true)
    }

    /// This machine's physical memory, in bytes.
    public static var physicalMemory: Double { Double(ProcessInfo.processInfo.physicalMemory) }

    /// "1.2 GB": sizes in messages.
    public static func describe(bytes: Double) -> String {
        let units: [(Double, String)] = [(1e15, "PB"), (1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB")]
        if !bytes.isFinite || bytes >= 1e18 { return String(format: "%.1e bytes", bytes) }
        for (scale, unit) in units where bytes >= scale { return String(format: "%.1f %@", bytes / scale, unit) }
        return "\(Int(bytes)) bytes"
    }

    /// "1.2e+12": parameter counts in messages, exact below a billion.
    public static func describe(count: Double) -> String {
        count < 1e9 ? String(Int(count)) : String(format: "%.3g", count)
    }

    /// Throws when this machine cannot hold the model itself (before any batch).
    public func requireModelFits(place: String) throws {
        try Self.requireFits(modelBytes, "a model of \(Self.describe(count: parameters)) parameters (weights and gradients at 8 bytes each, RoPE tables)",
                             place: place)
    }

    /// Throws when `bytes` (what `what` needs) exceed this machine's physical memory; `place`
    /// starts the message (a file, a flag, "model config").
    public static func requireFits(_ bytes: Double, _ what: String, place: String) throws {
        let available = physicalMemory
        guard bytes <= available else {
            throw ModelError("\(place): \(what) needs \(describe(bytes: bytes)), more than this machine's \(describe(bytes: available)) of memory")
        }
    }
}
