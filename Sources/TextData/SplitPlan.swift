/// How a corpus is cut into pre-training, post-training and evaluation text.
///
/// The corpus (files concatenated in sorted name order) is cut into chunks of `chunkBytes`
/// bytes (the last one may be shorter). Each chunk gets a key from a seeded 64-bit hash of its
/// index; chunks are ranked by key, the first `count(eval)` go to eval, the next
/// `count(posttrain)` to posttrain, the rest to pretrain. Counts come from the fractions by the
/// largest-remainder method, so each split holds its fraction of the chunks to within one chunk.
/// Within a split chunks keep corpus order. The result depends only on the corpus bytes, the
/// spec and the tokenizer, never on threads or timing.
///
/// Not guaranteed: that adding text keeps the old assignment. The counts are exact quotas, so a
/// longer corpus moves the boundaries between splits; cached token files are keyed by the corpus
/// checksum, so a changed corpus always gets new ones.
public struct SplitSpec: Sendable, Codable, Hashable {
    public var chunkBytes: Int
    public var pretrain: Double
    public var posttrain: Double
    public var eval: Double
    public var seed: UInt64

    /// 4 KiB chunks (≈ 1,235 for Shakespeare: fine enough for exact 5 % quotas, long enough that
    /// most windows of a few hundred tokens lie inside one chunk), 90/5/5, seed 0.
    public init(chunkBytes: Int = 4096, pretrain: Double = 0.90, posttrain: Double = 0.05, eval: Double = 0.05, seed: UInt64 = 0) {
        self.chunkBytes = chunkBytes
        self.pretrain = pretrain
        self.posttrain = posttrain
        self.eval = eval
        self.seed = seed
    }

    enum CodingKeys: String, CodingKey {
        case chunkBytes = "chunk_bytes", pretrain, posttrain, eval, seed
    }

    public func fraction(_ s: DataSplit) -> Double {
        switch s {
        case .pretrain: pretrain
        case .posttrain: posttrain
        case .eval: eval
        }
    }

    /// Parses `0.9,0.05,0.05` (pretrain, posttrain, eval).
    public static func fractions(parsing text: String) throws -> (Double, Double, Double) {
        let parts = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 3, let a = parts[0], let b = parts[1], let c = parts[2] else {
            throw CorpusError(place: "--fractions", "expected three numbers pretrain,posttrain,eval such as 0.9,0.05,0.05, got '\(text)'")
        }
        return (a, b, c)
    }

    public func validate() throws {
        guard chunkBytes > 0 else { throw CorpusError(place: "split spec", "chunk size must be positive, got \(chunkBytes)") }
        let f = [pretrain, posttrain, eval]
        guard f.allSatisfy({ $0.isFinite && $0 >= 0 }), abs(f.reduce(0, +) - 1) < 1e-9 else {
            throw CorpusError(place: "split spec", "fractions must be ≥ 0 and sum to 1, got \(pretrain), \(posttrain), \(eval)")
        }
    }

    public func chunkCount(bytes: Int) -> Int { (bytes + chunkBytes - 1) / chunkBytes }

    /// Chunks per split (largest remainder; ties go to the earlier split in `DataSplit` order).
    public func counts(chunks n: Int) -> [DataSplit: Int] {
        let exact = DataSplit.allCases.map { fraction($0) * Double(n) }
        var counts = exact.map { Int($0.rounded(.down)) }
        let order = DataSplit.allCases.indices.sorted { (exact[$0] - Double(counts[$0]), -$0) > (exact[$1] - Double(counts[$1]), -$1) }
        var left = n - counts.reduce(0, +)
        for i in order where left > 0 { counts[i] += 1; left -= 1 }
        return Dictionary(uniqueKeysWithValues: zip(DataSplit.allCases, counts))
    }

    /// The split of every chunk, in corpus order.
    public func assign(chunks n: Int) -> [DataSplit] {
        let counts = counts(chunks: n)
        let ranked = (0..<n).sorted { (key($0), $0) < (key($1), $1) }
        var out = [DataSplit](repeating: .pretrain, count: n)
        for (rank, chunk) in ranked.enumerated() {
            if rank < counts[.eval]! { out[chunk] = .eval } else if rank < counts[.eval]! + counts[.posttrain]! { out[chunk] = .posttrain }
        }
        return out
    }

    /// SplitMix64 finaliser of (seed, index): a fixed function, unlike `Hasher`, which is
    /// randomly seeded per process. The seed is mixed on its own first so nearby seeds do not
    /// give shifted copies of one sequence.
    func key(_ index: Int) -> UInt64 {
        Self.mix(Self.mix(seed) &+ (UInt64(index) &+ 1) &* 0x9E37_79B9_7F4A_7C15)
    }

    static func mix(_ v: UInt64) -> UInt64 {
        var x = v
        x = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
        x = (x ^ (x >> 27)) &* 0x94D0_49BB_1331_11EB
        return x ^ (x >> 31)
    }
}
