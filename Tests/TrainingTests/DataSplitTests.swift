import Training
import Testing

@Suite struct DataSplitTests {
    @Test func splitsHaveStableNames() {
        // Names appear in file names and manifests; renaming one would orphan cached token files.
        #expect(DataSplit.allCases.map(\.rawValue) == ["pretrain", "posttrain", "eval"])
    }
}
