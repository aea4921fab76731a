import Foundation

/// A corpus made of named corpora, each cut into chunks and split on its own with the split
/// given here, so that:
///
/// - no chunk holds text of two corpora, and a part's chunks are exactly the ones it has alone
///   under the same split: the `shakespeare` part keeps the default split, so its eval and
///   posttrain text are the standalone corpus's, never text the existing Shakespeare
///   checkpoints were pre-trained on;
/// - each split file is the parts' chunks of that split, part after part in the order listed
///   (within a part, in corpus order: its files in byte-wise name order), and the sidecar
///   records where each part starts in each file.
///
/// The committed copy lives in `data/corpora/<name>.json`; the built-in must match it (a test checks).
public struct MixedCorpusManifest: Sendable, Codable, Equatable {
    public struct Part: Sendable, Codable, Equatable {
        /// A built-in corpus name (not another mix).
        public var corpus: String
        public var split: SplitSpec

        public init(corpus: String, split: SplitSpec) {
            self.corpus = corpus
            self.split = split
        }
    }

    public var name: String
    public var parts: [Part]
    public var about: String

    /// The study's post-training corpus: Shakespeare unchanged (90/5/5, seed 0, as every existing
    /// checkpoint saw it), GCIDE and the KJV at 80/15/5 so that post-training has millions of
    /// tokens that no model was pre-trained on; eval stays 5 % everywhere.
    public static let study = MixedCorpusManifest(
        name: "study",
        parts: [Part(corpus: "shakespeare", split: SplitSpec()),
                Part(corpus: "gcide", split: SplitSpec(pretrain: 0.80, posttrain: 0.15, eval: 0.05, seed: 1)),
                Part(corpus: "bible", split: SplitSpec(pretrain: 0.80, posttrain: 0.15, eval: 0.05, seed: 2))],
        about: "Shakespeare (default split) + GCIDE + the King James Bible (80/15/5), each split on its own; split files hold the parts in this order.")

    public static let builtins = [study]

    /// Planned chunks and bytes per split and part, from the parts' pinned sizes (no text needed).
    public func plannedBytes(sizes: [String: Int]) -> [DataSplit: Int] {
        var out: [DataSplit: Int] = [.pretrain: 0, .posttrain: 0, .eval: 0]
        for p in parts {
            guard let bytes = sizes[p.corpus] else { continue }
            let n = p.split.chunkCount(bytes: bytes)
            for (c, s) in p.split.assign(chunks: n).enumerated() {
                out[s]! += min(p.split.chunkBytes, bytes - c * p.split.chunkBytes)
            }
        }
        return out
    }

    /// SHA-256 naming the mix's content: each part's name, texts checksum and split, in order.
    /// Token files of the mix are keyed by it.
    public static func checksum(_ parts: [(name: String, checksum: String, spec: SplitSpec)]) -> String {
        var h = SHA256()
        h.update("prunescale-mix-1\u{0}")
        for p in parts {
            h.update([p.name, p.checksum, "\(p.spec.chunkBytes)", "\(p.spec.pretrain)", "\(p.spec.posttrain)", "\(p.spec.eval)",
                      "\(p.spec.seed)"].joined(separator: "\u{0}") + "\u{0}")
        }
        return h.finalizeHex()
    }
}
