import Foundation
import Model
import Randomness
import TextData

/// The text a pruning method looks at: a fixed, seeded set of windows. Every method sees the same
/// windows in the same order, so two runs with one seed score units identically.
public struct CalibrationSet: Sendable {
    /// Tokens `[windows, sequenceLength]`, row-major.
    public let inputs: [Int32]
    /// The token after each input position (same shape).
    public let targets: [Int32]
    public let windows: Int
    public let sequenceLength: Int
    /// Where the windows came from, for `pruning.json`.
    public let source: String
    public let seed: UInt64

    public var tokenCount: Int { windows * sequenceLength }

    /// `windows` windows of `sequenceLength` + 1 tokens at seeded random offsets of `tokens`
    /// (windows may overlap: a short calibration text still gives as many as asked).
    public init(tokens: UnsafeBufferPointer<UInt16>, windows: Int, sequenceLength: Int, seed: UInt64, source: String) throws {
        guard windows > 0, sequenceLength > 0 else {
            throw PruningError("\(source): calibration needs a positive number of windows and a positive window length")
        }
        guard tokens.count >= sequenceLength + 1 else {
            throw PruningError("\(source): \(tokens.count) calibration tokens are too few for one window of \(sequenceLength) + 1")
        }
        let starts = UInt64(tokens.count - sequenceLength)
        var rng = SeededRandom(seed: seed, stream: 0x0CA1)
        var inputs = [Int32](), targets = [Int32]()
        inputs.reserveCapacity(windows * sequenceLength)
        targets.reserveCapacity(windows * sequenceLength)
        for _ in 0..<windows {
            let o = Int(rng.next() % starts)  // modulo bias is ~1e-13 here and fixed by the seed
            for t in 0..<sequenceLength {
                inputs.append(Int32(UInt16(littleEndian: tokens[o + t])))
                targets.append(Int32(UInt16(littleEndian: tokens[o + t + 1])))
            }
        }
        self.inputs = inputs
        self.targets = targets
        self.windows = windows
        self.sequenceLength = sequenceLength
        self.source = source
        self.seed = seed
    }

    public init(tokens: [UInt16], windows: Int, sequenceLength: Int, seed: UInt64, source: String) throws {
        self = try tokens.withUnsafeBufferPointer {
            try CalibrationSet(tokens: $0, windows: windows, sequenceLength: sequenceLength, seed: seed, source: source)
        }
    }

    /// Windows from a text file or a directory of `.txt` files (byte tokenizer), for users who prune
    /// their own models on their own data.
    public static func fromText(path: String, windows: Int, sequenceLength: Int, seed: UInt64,
                                tokenizer: any Tokenizer = ByteTokenizer()) throws -> CalibrationSet {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw PruningError("\(path): no such calibration file or directory")
        }
        let bytes: [UInt8]
        if isDir.boolValue {
            do { bytes = try Corpus(directory: URL(fileURLWithPath: path)).readAll() } catch let e as CorpusError {
                throw PruningError(e.description)
            }
        } else {
            guard let data = FileManager.default.contents(atPath: path) else { throw PruningError("\(path): cannot read the calibration file") }
            bytes = Array(data)
        }
        return try CalibrationSet(tokens: tokenizer.encode(bytes), windows: windows, sequenceLength: sequenceLength, seed: seed, source: path)
    }

    /// Windows from a corpus split (default: the pre-training split, as the literature calibrates on
    /// pre-training data).
    public static func fromSplit(_ file: TokenFile, split: DataSplit, corpus: String, windows: Int, sequenceLength: Int, seed: UInt64) throws -> CalibrationSet {
        try CalibrationSet(tokens: file.tokens, windows: windows, sequenceLength: sequenceLength, seed: seed, source: "\(corpus):\(split.rawValue)")
    }

    /// The windows in batches of at most `size`, in order.
    public func batches(of size: Int) -> [Slice] {
        stride(from: 0, to: windows, by: max(1, size)).map { Slice(first: $0, count: min(max(1, size), windows - $0)) }
    }

    public struct Slice: Sendable, Equatable {
        public var first: Int
        public var count: Int
    }

    public func inputs(_ s: Slice) -> ArraySlice<Int32> { inputs[(s.first * sequenceLength)..<((s.first + s.count) * sequenceLength)] }
    public func targets(_ s: Slice) -> ArraySlice<Int32> { targets[(s.first * sequenceLength)..<((s.first + s.count) * sequenceLength)] }
}

extension LlamaModel {
    /// Forward on one calibration batch (with targets, so the loss and a backward are available),
    /// or without targets through block `throughBlock` only (to read that block's inputs).
    @discardableResult
    public func forward(_ calibration: CalibrationSet, _ s: CalibrationSet.Slice, withTargets: Bool = true, throughBlock: Int? = nil) -> Float {
        let T = calibration.sequenceLength
        return Array(calibration.inputs(s)).withUnsafeBufferPointer { tok in
            if withTargets {
                return Array(calibration.targets(s)).withUnsafeBufferPointer { tg in forward(tokens: tok, targets: tg, batch: s.count, seqLen: T) }
            }
            return forward(tokens: tok, targets: nil, batch: s.count, seqLen: T, throughBlock: throughBlock)
        }
    }

    /// Mean cross-entropy over the whole calibration set (token-weighted), forward passes only.
    public func calibrationLoss(_ calibration: CalibrationSet, batchSize: Int) -> Double {
        var sum = 0.0
        for s in calibration.batches(of: batchSize) {
            let l = forward(calibration, s)
            sum += Double(l) * Double(s.count)
        }
        return sum / Double(calibration.windows)
    }
}
