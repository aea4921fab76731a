import Foundation
import TextData
import Testing

@Suite struct DataSplitTests {
    @Test func splitsHaveStableNames() {
        // Names appear in file names and manifests; renaming one would orphan cached token files.
        #expect(DataSplit.allCases.map(\.rawValue) == ["pretrain", "posttrain", "eval"])
    }

    @Test func epochsAreTokensReadOverSplitTokens() {
        #expect(DataSplit.epochs(tokens: 0, splitTokens: 253_952) == 0)
        #expect(DataSplit.epochs(tokens: 253_952, splitTokens: 253_952) == 1)
        #expect(DataSplit.epochs(tokens: 126_976, splitTokens: 253_952) == 0.5)
        #expect(DataSplit.epochs(tokens: 1_000_000, splitTokens: 253_952) == 1_000_000.0 / 253_952.0)  // Shakespeare's posttrain: ~3.94 passes
        #expect(DataSplit.epochs(tokens: 0, splitTokens: 0) == 0)
        #expect(DataSplit.epochs(tokens: 1, splitTokens: 0) == nil)  // an empty split cannot be read
    }

    @Test func epochsOfATokenizedCorpusUseItsSplitSizes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("prunescale-epochs-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let texts = dir.appendingPathComponent("texts")
        try FileManager.default.createDirectory(at: texts, withIntermediateDirectories: true)
        try Data(repeating: UInt8(ascii: "a"), count: 100 * 64).write(to: texts.appendingPathComponent("a.txt"))
        let spec = SplitSpec(chunkBytes: 64, pretrain: 0.8, posttrain: 0.15, eval: 0.05)
        let tc = try TokenizedCorpus.prepare(corpus: Corpus(directory: texts), tokenizer: ByteTokenizer(), spec: spec,
                                             cache: dir.appendingPathComponent("cache")).corpus
        #expect(tc.sidecar.info(.posttrain).tokens == 15 * 64)
        #expect(tc.epochs(15 * 64 * 3, of: .posttrain) == 3)
        #expect(tc.epochs(80 * 64 / 2, of: .pretrain) == 0.5)
        #expect(tc.sidecar.epochs(5 * 64, of: .eval) == 1)
    }
}
