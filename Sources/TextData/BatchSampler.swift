import Randomness

/// B windows of T tokens: `inputs[b*T + t]` is followed in the text by `targets[b*T + t]`.
/// Ids are `Int32`, the index type the model's embedding lookup takes.
public struct Batch: Sendable, Equatable {
    public var batchSize: Int
    public var sequenceLength: Int
    public var inputs: [Int32]
    public var targets: [Int32]
    /// Where each row's window starts in the split's token stream.
    public var offsets: [Int]

    init(sequenceLength: Int, offsets: [Int], tokens: UnsafeBufferPointer<UInt16>) {
        self.batchSize = offsets.count
        self.sequenceLength = sequenceLength
        self.offsets = offsets
        var inputs = [Int32](), targets = [Int32]()
        inputs.reserveCapacity(offsets.count * sequenceLength)
        targets.reserveCapacity(offsets.count * sequenceLength)
        for o in offsets {
            for t in 0..<sequenceLength {
                inputs.append(Int32(UInt16(littleEndian: tokens[o + t])))
                targets.append(Int32(UInt16(littleEndian: tokens[o + t + 1])))
            }
        }
        self.inputs = inputs
        self.targets = targets
    }
}

/// Training batches: B windows of T+1 tokens at uniformly random offsets of a split. Batch
/// `step` depends only on (seed, step) — its own generator stream — so a resumed run draws the
/// same batches as an uninterrupted one, whatever was drawn before.
public struct BatchSampler: Sendable {
    public let file: TokenFile
    public let batchSize: Int
    public let sequenceLength: Int
    public let seed: UInt64

    public init(tokens file: TokenFile, batchSize: Int, sequenceLength: Int, seed: UInt64) throws {
        guard batchSize > 0, sequenceLength > 0 else {
            throw CorpusError(place: "batch sampler", "batch size and sequence length must be positive, got \(batchSize) and \(sequenceLength)")
        }
        guard file.count >= sequenceLength + 1 else {
            throw CorpusError(place: file.url.path, "\(file.count) tokens are too few for one window of \(sequenceLength) + 1")
        }
        self.file = file
        self.batchSize = batchSize
        self.sequenceLength = sequenceLength
        self.seed = seed
    }

    /// Number of distinct window starts.
    public var startCount: Int { file.count - sequenceLength }

    public func batch(step: Int) -> Batch {
        var rng = SeededRandom(seed: seed, stream: step)
        let offsets = (0..<batchSize).map { _ in Int(Self.below(UInt64(startCount), &rng)) }
        return Batch(sequenceLength: sequenceLength, offsets: offsets, tokens: file.tokens)
    }

    /// Uniform in 0..<n by Lemire's multiply-and-reject, spelled out so the draw is fixed by this
    /// code rather than by the standard library's current `random(in:)` algorithm.
    static func below(_ n: UInt64, _ rng: inout SeededRandom) -> UInt64 {
        precondition(n > 0)
        var m = rng.next().multipliedFullWidth(by: n)
        if m.low < n {
            let threshold = (0 &- n) % n
            while m.low < threshold { m = rng.next().multipliedFullWidth(by: n) }
        }
        return m.high
    }
}

/// Evaluation batches: every non-overlapping window of the split in order (window k predicts
/// tokens kT+1 ... kT+T), B at a time, the last batch possibly shorter. Each predicted token is
/// scored once, so the mean loss over all batches is a stable number for a given split and T.
/// The tail that does not fill a window is left out.
public struct SequentialBatches: Sendable, Sequence {
    public let file: TokenFile
    public let batchSize: Int
    public let sequenceLength: Int

    public init(tokens file: TokenFile, batchSize: Int, sequenceLength: Int) throws {
        guard batchSize > 0, sequenceLength > 0 else {
            throw CorpusError(place: "eval batches", "batch size and sequence length must be positive, got \(batchSize) and \(sequenceLength)")
        }
        guard file.count >= sequenceLength + 1 else {
            throw CorpusError(place: file.url.path, "\(file.count) tokens are too few for one window of \(sequenceLength) + 1")
        }
        self.file = file
        self.batchSize = batchSize
        self.sequenceLength = sequenceLength
    }

    public var windowCount: Int { (file.count - 1) / sequenceLength }
    public var batchCount: Int { (windowCount + batchSize - 1) / batchSize }
    /// Targets scored in one pass.
    public var predictedTokens: Int { windowCount * sequenceLength }

    public func batch(_ index: Int) -> Batch {
        precondition(index >= 0 && index < batchCount, "eval batch \(index) out of 0..<\(batchCount)")
        let first = index * batchSize
        let offsets = (first..<Swift.min(first + batchSize, windowCount)).map { $0 * sequenceLength }
        return Batch(sequenceLength: sequenceLength, offsets: offsets, tokens: file.tokens)
    }

    public func makeIterator() -> AnyIterator<Batch> {
        var i = 0
        return AnyIterator {
            guard i < batchCount else { return nil }
            defer { i += 1 }
            return batch(i)
        }
    }
}
