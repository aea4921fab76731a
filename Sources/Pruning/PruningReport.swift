import Foundation
import Model

/// Everything `pruning.json` records about one pruning run.
public struct PruningReport: Sendable, Codable {
    public struct Counts: Sendable, Codable, Equatable {
        public var total: Int
        public var nonEmbedding: Int
        public var perBlock: [Int]
        enum CodingKeys: String, CodingKey { case total, nonEmbedding = "non_embedding", perBlock = "per_block" }

        public init(_ c: ParameterCounts) {
            total = c.total
            nonEmbedding = c.nonEmbedding
            perBlock = c.perBlock
        }

        public init(_ c: NonZeroCounts) {
            total = c.total
            nonEmbedding = c.nonEmbedding
            perBlock = c.perBlock
        }
    }

    public struct Calibration: Sendable, Codable {
        public var source: String
        public var windows: Int
        public var sequenceLength: Int
        public var tokens: Int
        public var seed: UInt64
        enum CodingKeys: String, CodingKey { case source, windows, sequenceLength = "sequence_length", tokens, seed }
    }

    public struct BlockUnits: Sendable, Codable {
        /// Original block index.
        public var block: Int
        public var heads: [Int]
        public var kvHeads: [Int]
        public var neuronsKept: Int
        public var neuronsRemoved: [Int]
        enum CodingKeys: String, CodingKey { case block, heads, kvHeads = "kv_heads", neuronsKept = "neurons_kept", neuronsRemoved = "neurons_removed" }
    }

    public struct Scores: Sendable, Codable {
        public var blocks: [Double]?
        public var heads: [[Double]]?
        public var neurons: [[Double]]?
    }

    /// One masked layer of an N:M run: its shape, time and relative reconstruction error
    /// `||X W^T - X W'^T||^2 / ||X W^T||^2` on its calibration inputs.
    public struct LayerReport: Sendable, Codable {
        public var name: String
        public var rows: Int
        public var cols: Int
        public var seconds: Double
        public var relativeError: Double?
        enum CodingKeys: String, CodingKey { case name, rows, cols, seconds, relativeError = "relative_error" }
    }

    public var format = "prunescale-pruning-1"
    public var structure: PruningStructure
    public var method: String
    public var pattern: String?
    public var targetRate: Double?
    /// Removed non-embedding parameters / original non-embedding parameters (for N:M: the masked
    /// matrices' zeroed weights over the original non-embedding count).
    public var rate: Double
    public var options: [String: String]
    public var seed: UInt64
    public var calibration: Calibration?
    public var before: Counts
    public var after: Counts
    public var nonZeroAfter: Counts
    /// Blocks removed (original indices).
    public var removedBlocks: [Int]
    /// Per surviving block, the kept heads and removed neurons (original indices).
    public var keptUnits: [BlockUnits]
    /// N:M: the matrices that carry masks.
    public var maskedMatrices: [String]?
    public var scores: Scores?
    public var calibrationLossBefore: Double?
    public var calibrationLossAfter: Double?
    /// Loss on the held-out eval split (nats per token) before and right after pruning, no post-training.
    public var evalLossBefore: Double?
    public var evalLossAfter: Double?
    public var evalTokens: Int?
    public var wallSeconds: Double
    /// Peak resident memory of the process (getrusage), bytes.
    public var peakMemoryBytes: Int
    /// Forward and backward passes the method ran (Bonsai: backward must be 0).
    public var forwardPasses: Int
    public var backwardPasses: Int
    public var notes: [String]
    public var layers: [LayerReport]? = nil

    enum CodingKeys: String, CodingKey {
        case format, structure, method, pattern, targetRate = "target_rate", rate, options, seed, calibration, before, after
        case nonZeroAfter = "nonzero_after", removedBlocks = "removed_blocks", keptUnits = "kept_units"
        case maskedMatrices = "masked_matrices", scores
        case calibrationLossBefore = "calibration_loss_before", calibrationLossAfter = "calibration_loss_after"
        case evalLossBefore = "eval_loss_before", evalLossAfter = "eval_loss_after", evalTokens = "eval_tokens"
        case wallSeconds = "wall_seconds", peakMemoryBytes = "peak_memory_bytes"
        case forwardPasses = "forward_passes", backwardPasses = "backward_passes", notes, layers
    }

    public func json() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try e.encode(self)
    }
}

extension PruningReport.Calibration {
    /// The record of the windows a method saw.
    init(_ set: CalibrationSet) {
        self.init(source: set.source, windows: set.windows, sequenceLength: set.sequenceLength, tokens: set.tokenCount, seed: set.seed)
    }
}

/// Peak resident set size of this process so far, in bytes.
public func peakResidentBytes() -> Int {
    var u = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &u)
    return Int(u.ru_maxrss) * 1024  // Linux reports kilobytes
}
