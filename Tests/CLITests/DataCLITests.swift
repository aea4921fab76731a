import Foundation
import TestSupport
import Testing

/// `prunescale data`: the corpus names, the mix's own splits, and one-line errors.
@Suite struct DataCLITests {
    func run(_ args: [String], environment: [String: String] = [:]) throws -> CLI.Result {
        try CLI.run(args, environment: environment)
    }

    func oneLine(_ r: CLI.Result) -> Bool { r.stderr.split(separator: "\n").count == 1 }

    @Test func infoOfADirectoryShowsItsSplits() throws {
        let dir = try Fixture.tempDir("cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let texts = dir.appendingPathComponent("texts")
        try FileManager.default.createDirectory(at: texts, withIntermediateDirectories: true)
        try Data(repeating: UInt8(ascii: "a"), count: 40 * 4096).write(to: texts.appendingPathComponent("a.txt"))
        let cache = dir.appendingPathComponent("cache").path
        let text = try run(["data", "info", "--corpus", texts.path, "--cache", cache])
        #expect(text.status == 0 && text.stdout.contains("posttrain  0.05      2       8192       8192"), "\(text.stdout)\(text.stderr)")
        let json = try run(["data", "info", "--corpus", texts.path, "--cache", cache, "--fractions", "0.8,0.15,0.05", "--format", "json"])
        #expect(json.status == 0, "\(json.stderr)")
        let info = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let splits = try #require(info["splits"] as? [String: [String: Any]])
        #expect(splits["posttrain"]?["tokens"] as? Int == 6 * 4096 && info["parts"] == nil && info["spec"] != nil)
    }

    @Test func namedCorporaFailInOneLine() throws {
        let dir = try Fixture.tempDir("cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let cache = dir.appendingPathComponent("cache").path
        var r = try run(["data", "info", "--corpus", "study", "--cache", cache, "--fractions", "0.8,0.1,0.1"])
        #expect(r.status != 0 && oneLine(r) && r.stderr.contains("corpus 'study': a mixed corpus splits each part its own way"), "\(r.stderr)")
        r = try run(["data", "info", "--corpus", "study", "--cache", cache])
        #expect(r.status != 0 && oneLine(r) && r.stderr.contains("run `prunescale data fetch --corpus study` first"), "\(r.stderr)")
        r = try run(["data", "fetch", "--corpus", "nosuch", "--cache", cache])
        #expect(r.status != 0 && oneLine(r) && r.stderr.contains("nosuch: no such directory (nor a named corpus: shakespeare, gcide, bible, study)"), "\(r.stderr)")
        r = try run(["data", "fetch", "--corpus", "gcide", "--cache", cache], environment: ["PRUNESCALE_APT_GET": "/nonexistent/apt-get"])
        #expect(r.status != 0 && oneLine(r) && r.stderr.contains("/nonexistent/apt-get: not found; fetching 'gcide' runs `apt-get download dict-gcide=0.48.5+nmu2`"), "\(r.stderr)")
        // train takes the name too: it starts fetching the mix (Shakespeare first) on first use.
        let model = try PruneCLITests.fixture()
        defer { try? FileManager.default.removeItem(at: model.dir) }
        r = try run(["train", "--model", model.model.path, "--out", dir.appendingPathComponent("run").path, "--corpus", "study", "--cache", cache,
                     "--tokens", "10"], environment: ["PRUNESCALE_PYTHON": "/nonexistent/python3"])
        #expect(r.status != 0 && r.stderr.contains("fetching corpus shakespeare") && r.stderr.contains("/nonexistent/python3: not found"), "\(r.stderr)")
        // Nothing half-fetched is left in the cache.
        let corpora = URL(fileURLWithPath: cache).appendingPathComponent("corpora")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: corpora.path)) ?? []).isEmpty)
    }
}
