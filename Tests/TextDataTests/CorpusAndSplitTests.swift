import Foundation
import TestSupport
import Testing
@testable import TextData

@Suite struct CorpusTests {
    @Test func readsOnlyTopLevelTxtFilesInByteOrder() throws {
        let dir = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Fixture.corpus(["b.txt": [2, 2], "a.txt": [1], "Z.txt": [0xFF, 0xFE], "notes.md": [9], ".hidden.txt": [9]], in: dir)
        try Fixture.corpus(["inner.txt": [9, 9, 9]], in: dir.appendingPathComponent("sub.txt.d"))
        let c = try Corpus(directory: dir)
        #expect(c.files.map(\.name) == ["Z.txt", "a.txt", "b.txt"])  // byte order: 'Z' < 'a'
        #expect(c.totalBytes == 5)
        #expect(try c.readAll() == [0xFF, 0xFE, 1, 2, 2])
    }

    @Test func checksumSeesContentNamesAndAdditions() throws {
        let root = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(at: root) }
        let a = try Fixture.corpus(["x.txt": [1, 2, 3]], in: root.appendingPathComponent("a"))
        let b = try Fixture.corpus(["y.txt": [1, 2, 3]], in: root.appendingPathComponent("b"))
        let c = try Fixture.corpus(["x.txt": [1, 2, 4]], in: root.appendingPathComponent("c"))
        let d = try Fixture.corpus(["x.txt": [1, 2, 3], "z.txt": []], in: root.appendingPathComponent("d"))
        let sums = try [a, b, c, d].map { try Corpus(directory: $0).checksum() }
        #expect(Set(sums).count == 4)
        #expect(try Corpus(directory: a).checksum() == sums[0])
    }

    @Test func badDirectoriesGiveOneLineErrorsNamingThePlace() throws {
        let dir = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        func message(_ url: URL) -> String? {
            do { _ = try Corpus(directory: url); return nil } catch let e as CorpusError { return e.description } catch { return "\(error)" }
        }
        let missing = dir.appendingPathComponent("missing")
        #expect(message(missing) == "\(missing.path): no such directory")
        let empty = try Fixture.corpus([:], in: dir.appendingPathComponent("empty"))
        #expect(message(empty) == "\(empty.path): no .txt files in this directory")
        let blank = try Fixture.corpus(["a.txt": []], in: dir.appendingPathComponent("blank"))
        #expect(message(blank) == "\(blank.path): every .txt file is empty")
        let file = dir.appendingPathComponent("file.txt")
        try Data([1]).write(to: file)
        #expect(message(file)?.hasPrefix("\(file.path): not a directory") == true)
        #expect(message(missing).map { !$0.contains("\n") } == true)
    }
}

@Suite struct SplitSpecTests {
    @Test func countsMeetTheFractionsWithinOneChunk() {
        for n in [1, 2, 3, 7, 20, 99, 1000, 1235] {
            for (a, b, c) in [(0.9, 0.05, 0.05), (0.8, 0.1, 0.1), (1.0, 0.0, 0.0), (0.5, 0.25, 0.25), (0.34, 0.33, 0.33)] {
                let spec = SplitSpec(pretrain: a, posttrain: b, eval: c)
                let counts = spec.counts(chunks: n)
                #expect(counts.values.reduce(0, +) == n)
                for s in DataSplit.allCases {
                    #expect(abs(Double(counts[s]!) - spec.fraction(s) * Double(n)) < 1, "n \(n) \(s) \(counts[s]!)")
                }
                let assigned = spec.assign(chunks: n)
                for s in DataSplit.allCases { #expect(assigned.filter { $0 == s }.count == counts[s]!) }
            }
        }
    }

    @Test func assignmentIsSeededDeterministicAndScattered() {
        let spec = SplitSpec(seed: 7)
        let a = spec.assign(chunks: 1000)
        #expect(a == SplitSpec(seed: 7).assign(chunks: 1000))
        #expect(a != SplitSpec(seed: 8).assign(chunks: 1000))
        // Eval chunks are spread over the corpus, not one block at the start or end.
        let evalIdx = a.indices.filter { a[$0] == .eval }
        #expect(evalIdx.count == 50)
        #expect(evalIdx.first! < 200 && evalIdx.last! > 800)
        // Pinned values, computed by an independent Python transcription of the documented rule
        // (SplitMix64 keys, largest-remainder quotas): eval losses and cached files depend on them.
        let d = SplitSpec().assign(chunks: 40)
        #expect(d.indices.filter { d[$0] == .eval } == [2, 33])
        #expect(d.indices.filter { d[$0] == .posttrain } == [4, 32])
        let shakespeare = SplitSpec().assign(chunks: 1235)
        #expect(Array(shakespeare.indices.filter { shakespeare[$0] == .eval }.prefix(10)) == [2, 32, 33, 42, 53, 94, 142, 147, 203, 230])
    }

    @Test func rejectsBadSpecs() throws {
        #expect(throws: CorpusError.self) { try SplitSpec(pretrain: 0.9, posttrain: 0.2, eval: 0.1).validate() }
        #expect(throws: CorpusError.self) { try SplitSpec(pretrain: 1.1, posttrain: -0.1, eval: 0).validate() }
        #expect(throws: CorpusError.self) { try SplitSpec(chunkBytes: 0).validate() }
        #expect(throws: CorpusError.self) { try SplitSpec.fractions(parsing: "0.9,0.1") }
        #expect(try SplitSpec.fractions(parsing: "0.8, 0.1,0.1") == (0.8, 0.1, 0.1))
    }
}

@Suite struct TokenStoreTests {
    /// Two files, 3 KiB + 2.5 KiB + change, cut into 256-byte chunks.
    static let spec = SplitSpec(chunkBytes: 256, pretrain: 0.8, posttrain: 0.1, eval: 0.1, seed: 3)

    func makeCorpus(in root: URL) throws -> (Corpus, [UInt8]) {
        let a = Fixture.bytes(3072, seed: 1), b = Fixture.bytes(2600, seed: 2)
        let dir = try Fixture.corpus(["b.txt": b, "a.txt": a], in: root.appendingPathComponent("corpus"))
        return (try Corpus(directory: dir), a + b)
    }

    @Test func splitsAreDisjointCoverTheCorpusAndFollowTheAssignment() throws {
        let root = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(at: root) }
        let (corpus, all) = try makeCorpus(in: root)
        let (tc, created) = try TokenizedCorpus.prepare(corpus: corpus, tokenizer: ByteTokenizer(), spec: Self.spec, cache: root.appendingPathComponent("cache"))
        #expect(created)

        // Rebuild each split independently from the chunk assignment and compare byte for byte.
        let n = (all.count + 255) / 256
        #expect(tc.sidecar.chunks == n)
        let assignment = Self.spec.assign(chunks: n)
        var expected: [DataSplit: [UInt16]] = [.pretrain: [], .posttrain: [], .eval: []]
        for c in 0..<n { expected[assignment[c]]! += all[(c * 256)..<min(c * 256 + 256, all.count)].map(UInt16.init) }
        var total = 0
        for s in DataSplit.allCases {
            let file = tc.tokens(s)
            #expect(Array(file.tokens) == expected[s]!, "\(s)")
            #expect(tc.sidecar.info(s).tokens == file.count)
            #expect(tc.sidecar.info(s).chunks == assignment.filter { $0 == s }.count)
            #expect(abs(Double(tc.sidecar.info(s).chunks) - Self.spec.fraction(s) * Double(n)) < 1)
            total += file.count
        }
        #expect(total == all.count)  // every byte in exactly one split
        #expect(tc.sidecar.corpusChecksum == (try corpus.checksum()))
        #expect(tc.sidecar.vocabSize == 256 && tc.sidecar.tokenizer == "byte" && tc.sidecar.dtype == "uint16-le")
    }

    @Test func tokenFilesAreWrittenOnceAndIdenticalAcrossRuns() throws {
        let root = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(at: root) }
        let (corpus, _) = try makeCorpus(in: root)
        let cache1 = root.appendingPathComponent("cache1"), cache2 = root.appendingPathComponent("cache2")
        let first = try TokenizedCorpus.prepare(corpus: corpus, tokenizer: ByteTokenizer(), spec: Self.spec, cache: cache1)
        let again = try TokenizedCorpus.prepare(corpus: corpus, tokenizer: ByteTokenizer(), spec: Self.spec, cache: cache1)
        let other = try TokenizedCorpus.prepare(corpus: corpus, tokenizer: ByteTokenizer(), spec: Self.spec, cache: cache2)
        #expect(first.created && !again.created && other.created)
        #expect(again.corpus.directory.path == first.corpus.directory.path)
        #expect(other.corpus.directory.lastPathComponent == first.corpus.directory.lastPathComponent)
        for s in DataSplit.allCases {
            #expect(try Data(contentsOf: first.corpus.tokens(s).url) == (try Data(contentsOf: other.corpus.tokens(s).url)))
        }
        #expect(Fixture.entries(cache1.appendingPathComponent("tokens")) == [first.corpus.directory.lastPathComponent])  // no staging left
        // Another spec gets its own files.
        var spec = Self.spec
        spec.seed = 4
        let reseeded = try TokenizedCorpus.prepare(corpus: corpus, tokenizer: ByteTokenizer(), spec: spec, cache: cache1)
        #expect(reseeded.created && reseeded.corpus.directory.path != first.corpus.directory.path)
    }

    @Test func memoryMappedFileRoundTripsAndDamageIsCaught() throws {
        let root = try Fixture.tempDir()
        defer { try? FileManager.default.removeItem(at: root) }
        let values: [UInt16] = [0, 1, 255, 256, 0x1234, 65535]
        let url = root.appendingPathComponent("t.u16")
        // Little-endian by definition, written byte by byte so the test does not assume the host order.
        try Data(values.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }).write(to: url)
        let file = try TokenFile(url: url)
        #expect(file.count == 6)
        #expect(Array(file.tokens) == values)
        #expect(file[4] == 0x1234)

        let empty = root.appendingPathComponent("e.u16")
        try Data().write(to: empty)
        #expect(try TokenFile(url: empty).tokens.isEmpty)
        let odd = root.appendingPathComponent("o.u16")
        try Data([1, 2, 3]).write(to: odd)
        #expect(throws: CorpusError.self) { try TokenFile(url: odd) }

        // A cached split altered behind our back fails verification, and prepare rebuilds it.
        let (corpus, _) = try makeCorpus(in: root)
        let cache = root.appendingPathComponent("cache")
        let tc = try TokenizedCorpus.prepare(corpus: corpus, tokenizer: ByteTokenizer(), spec: Self.spec, cache: cache).corpus
        let evalURL = tc.tokens(.eval).url
        let good = try Data(contentsOf: evalURL)
        var bad = good
        bad[0] ^= 1
        try bad.write(to: evalURL)
        #expect(throws: CorpusError.self) { try TokenizedCorpus.open(directory: tc.directory) }
        let rebuilt = try TokenizedCorpus.prepare(corpus: corpus, tokenizer: ByteTokenizer(), spec: Self.spec, cache: cache)
        #expect(rebuilt.created)
        #expect(try Data(contentsOf: evalURL) == good)
    }
}
