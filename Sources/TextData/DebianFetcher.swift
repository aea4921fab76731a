import Foundation
import Persistence

/// Downloads a Debian corpus's packages with `apt-get download` (never installs them), checks
/// each .deb's SHA-256, unpacks them with `dpkg-deb -x` into a staging folder, decodes the texts,
/// checks them against the manifest, and publishes them into the cache with one rename, so a
/// failure at any step leaves the cache as it was. Everything happens inside
/// `<cache>/corpora/`, on one file system.
public enum DebianFetcher {
    struct Marker: Codable {
        var debian: DebianCorpusManifest
        var files: [Corpus.File]
        var checksum: String
    }

    public static func directory(for manifest: DebianCorpusManifest, cache: URL) -> URL {
        cache.appendingPathComponent("corpora").appendingPathComponent(manifest.slug)
    }

    public static var defaultAptGet: String { ProcessInfo.processInfo.environment["PRUNESCALE_APT_GET"] ?? "apt-get" }

    /// Fetches unless a verified copy is cached.
    public static func fetch(_ manifest: DebianCorpusManifest, cache: URL, aptGet: String = defaultAptGet) throws -> FetchResult {
        if let cached = try verifiedCopy(manifest, cache: cache) { return cached }
        let parent = directory(for: manifest, cache: cache).deletingLastPathComponent()
        let staging = try DataCache.staging(in: parent, manifest.slug)
        defer { try? FileManager.default.removeItem(at: staging) }
        let download = staging.appendingPathComponent("download")
        try AtomicFile.createDirectory(download)
        let requests = manifest.packages.map(\.request)
        let command = "apt-get download \(requests.joined(separator: " "))"
        guard let apt = Subprocess.executable(aptGet) else {
            throw CorpusError(place: aptGet, "not found; fetching '\(manifest.name)' runs `\(command)` (Debian or Ubuntu; PRUNESCALE_APT_GET names another)")
        }
        let log = staging.appendingPathComponent("apt.log")
        let status = try Subprocess.run(apt, ["download", "-q"] + requests, log: log, directory: download)
        guard status == 0 else {
            let problem = Subprocess.lastProblem(in: log)
            let hint = problem.contains("Unable to locate") || problem.contains("was not found") ? " (is the package list current? `apt-get update`)" : ""
            throw CorpusError(place: command, "failed (exit \(status)): \(problem)\(hint)")
        }
        var debs: [URL] = []
        for p in manifest.packages {
            let deb = download.appendingPathComponent(p.deb)
            guard FileManager.default.fileExists(atPath: deb.path) else {
                let got = ((try? FileManager.default.contentsOfDirectory(atPath: download.path)) ?? []).filter { $0.hasSuffix(".deb") }
                throw CorpusError(place: command, "expected \(p.deb), got \(got.isEmpty ? "nothing" : got.sorted().joined(separator: ", "))")
            }
            debs.append(deb)
        }
        return try install(debs: debs, manifest: manifest, cache: cache, staging: staging)
    }

    /// Verifies local .debs (one per manifest package, in its order) and installs the decoded
    /// texts into the cache: the half of `fetch` after the download.
    public static func install(debs: [URL], manifest: DebianCorpusManifest, cache: URL) throws -> FetchResult {
        let parent = directory(for: manifest, cache: cache).deletingLastPathComponent()
        let staging = try DataCache.staging(in: parent, manifest.slug)
        defer { try? FileManager.default.removeItem(at: staging) }
        return try install(debs: debs, manifest: manifest, cache: cache, staging: staging)
    }

    private static func install(debs: [URL], manifest: DebianCorpusManifest, cache: URL, staging: URL) throws -> FetchResult {
        guard debs.count == manifest.packages.count else {
            throw CorpusError(place: "manifest '\(manifest.name)'", "needs \(manifest.packages.count) .deb files (\(manifest.packages.map(\.deb).joined(separator: ", "))), got \(debs.count)")
        }
        for (deb, p) in zip(debs, manifest.packages) {
            let digest: String
            do { digest = SHA256.hex(try Data(contentsOf: deb)) } catch { throw CorpusError(place: deb.path, "cannot read: \(FileError.words(error))") }
            guard digest == p.sha256 else {
                throw CorpusError(place: deb.path, "checksum mismatch: sha256 \(digest), manifest '\(manifest.name)' expects \(p.sha256) for \(p.deb)")
            }
        }
        let raw = staging.appendingPathComponent("raw")
        try AtomicFile.createDirectory(raw)
        for deb in debs { try unpack(deb, into: raw) }

        let texts = staging.appendingPathComponent("texts")
        let about = texts.appendingPathComponent("about")
        try AtomicFile.createDirectory(about)
        try DebianDecoder.decode(manifest, unpacked: raw, into: texts, work: staging)
        for path in manifest.licenceFiles {
            let from = raw.appendingPathComponent(path)
            guard FileManager.default.fileExists(atPath: from.path) else {
                throw CorpusError(place: "\(manifest.packages[0].deb):\(path)", "licence file missing from the package")
            }
            do { try FileManager.default.moveItem(at: from, to: about.appendingPathComponent((path as NSString).lastPathComponent)) } catch {
                throw CorpusError(place: about.path, "cannot keep \(path): \(FileError.words(error))")
            }
        }

        let corpus = try Corpus(directory: texts)
        let checksum = try corpus.checksum()
        guard corpus.files.count == manifest.files, corpus.totalBytes == manifest.bytes, checksum == manifest.textsSha256 else {
            throw CorpusError(place: "\(manifest.packages[0].deb) (decoded)",
                              "\(corpus.files.count) files of \(corpus.totalBytes) bytes, checksum \(checksum); manifest '\(manifest.name)' expects \(manifest.files) files of \(manifest.bytes) bytes, checksum \(manifest.textsSha256)")
        }
        let markerData = try JSONOutputStyle.encoder().encode(Marker(debian: manifest, files: corpus.files, checksum: checksum))
        try AtomicFile.write(markerData, to: texts.appendingPathComponent(CorpusFetcher.marker))

        let final = directory(for: manifest, cache: cache)
        if FileManager.default.fileExists(atPath: final.path) {
            // Damaged or stale (verifiedCopy said so): moved aside so the replacement stays one rename.
            try? FileManager.default.moveItem(at: final, to: staging.appendingPathComponent("old"))
        }
        if try !DataCache.publish(texts, to: final), let theirs = try verifiedCopy(manifest, cache: cache) { return theirs }
        return result(manifest, directory: final, corpus: corpus, checksum: checksum, status: .fetched)
    }

    /// The cached copy if complete and intact (marker of the same packages, same files and
    /// sizes, texts hashing to the pinned checksum); nil otherwise (then it is fetched again).
    public static func verifiedCopy(_ manifest: DebianCorpusManifest, cache: URL) throws -> FetchResult? {
        let dir = directory(for: manifest, cache: cache)
        guard let data = try? Data(contentsOf: dir.appendingPathComponent(CorpusFetcher.marker)),
              let m = try? JSONDecoder().decode(Marker.self, from: data),
              m.debian.packages == manifest.packages, m.checksum == manifest.textsSha256,
              let corpus = try? Corpus(directory: dir),
              corpus.files == m.files, corpus.files.count == manifest.files, corpus.totalBytes == manifest.bytes,
              let checksum = try? corpus.checksum(), checksum == manifest.textsSha256 else { return nil }
        return result(manifest, directory: dir, corpus: corpus, checksum: checksum, status: .cached)
    }

    static func result(_ m: DebianCorpusManifest, directory: URL, corpus: Corpus, checksum: String, status: FetchResult.Status) -> FetchResult {
        var r = FetchResult(corpus: m.name, directory: directory.path, files: corpus.files.count, bytes: corpus.totalBytes,
                            checksum: checksum, sdistSha256: nil, status: status, licence: m.licence, attribution: m.attribution)
        r.debSha256 = Dictionary(uniqueKeysWithValues: m.packages.map { ($0.deb, $0.sha256) })
        return r
    }

    static func unpack(_ deb: URL, into dir: URL) throws {
        guard let dpkgDeb = Subprocess.executable("dpkg-deb") else {
            throw CorpusError(place: "dpkg-deb", "not found; it is needed to unpack \(deb.lastPathComponent) (Debian's dpkg package)")
        }
        let log = dir.deletingLastPathComponent().appendingPathComponent("dpkg-deb.log")
        let status = try Subprocess.run(dpkgDeb, ["-x", deb.path, dir.path], log: log)
        guard status == 0 else { throw CorpusError(place: deb.path, "cannot unpack (dpkg-deb exit \(status)): \(Subprocess.lastProblem(in: log))") }
    }
}

/// Turns unpacked packages into text files (and what belongs in `about/`).
enum DebianDecoder {
    static func decode(_ m: DebianCorpusManifest, unpacked raw: URL, into texts: URL, work: URL) throws {
        switch m.decoder {
        case .gcide: try gcide(m, raw: raw, texts: texts, work: work)
        case .bibleKJV: try bible(m, raw: raw, texts: texts, work: work)
        }
    }

    /// `gcide.dict.dz` is dictzip, which is gzip with random-access data in an extra field.
    static func gcide(_ m: DebianCorpusManifest, raw: URL, texts: URL, work: URL) throws {
        let dz = raw.appendingPathComponent("usr/share/dictd/gcide.dict.dz")
        let indexURL = raw.appendingPathComponent("usr/share/dictd/gcide.index")
        for f in [dz, indexURL] where !FileManager.default.fileExists(atPath: f.path) {
            throw CorpusError(place: m.packages[0].deb, "has no \(f.path.dropFirst(raw.path.count + 1))")
        }
        guard let gzip = Subprocess.executable("gzip") else {
            throw CorpusError(place: "gzip", "not found; it is needed to decompress \(dz.lastPathComponent)")
        }
        let dict = work.appendingPathComponent("gcide.dict")
        let log = work.appendingPathComponent("gzip.log")
        let status = try Subprocess.run(gzip, ["-dc", dz.path], log: log, stdout: dict)
        guard status == 0 else { throw CorpusError(place: dz.path, "cannot decompress (gzip exit \(status)): \(Subprocess.lastProblem(in: log))") }
        let body: [UInt8], index: String
        do {
            body = [UInt8](try Data(contentsOf: dict))
            index = String(decoding: try Data(contentsOf: indexURL), as: UTF8.self)
        } catch { throw CorpusError(place: dict.path, "cannot read: \(FileError.words(error))") }
        let converted = try GCIDEText.convert(dict: body, index: index, place: indexURL.path)
        try AtomicFile.write(Data(converted.text), to: texts.appendingPathComponent("gcide.txt"))
        try AtomicFile.write(Data(converted.header), to: texts.appendingPathComponent("about/gcide-database-info.txt"))
    }

    /// The BRS data format is the program's own; its program prints it. `-l` with a width no
    /// verse reaches turns off its line wrapping; `-p .` from the data's folder keeps it from
    /// reading an installed copy in /usr/lib.
    static func bible(_ m: DebianCorpusManifest, raw: URL, texts: URL, work: URL) throws {
        let tool = raw.appendingPathComponent("usr/bin/bible")
        let dataDir = raw.appendingPathComponent("usr/lib")
        guard FileManager.default.isExecutableFile(atPath: tool.path) else {
            throw CorpusError(place: m.packages.last!.deb, "has no executable usr/bin/bible")
        }
        guard FileManager.default.fileExists(atPath: dataDir.appendingPathComponent("bible.data").path) else {
            throw CorpusError(place: m.packages[0].deb, "has no usr/lib/bible.data")
        }
        let out = work.appendingPathComponent("bible.out")
        let log = work.appendingPathComponent("bible.log")
        let status = try Subprocess.run(tool, ["-p", ".", "-l", "100000", "Gen1:1-Rev22:21"], log: log, stdout: out, directory: dataDir)
        guard status == 0 else {
            throw CorpusError(place: "\(m.packages.last!.deb):usr/bin/bible", "failed (exit \(status)): \(Subprocess.lastProblem(in: log))")
        }
        var text: [UInt8]
        do { text = [UInt8](try Data(contentsOf: out)) } catch { throw CorpusError(place: out.path, "cannot read: \(FileError.words(error))") }
        // The program opens with a blank line; the file starts with the first heading.
        let first = text.firstIndex(where: { $0 != UInt8(ascii: "\n") }) ?? text.endIndex
        text.removeSubrange(..<first)
        guard !text.isEmpty else { throw CorpusError(place: "\(m.packages.last!.deb):usr/bin/bible", "printed nothing") }
        if text.last != UInt8(ascii: "\n") { text.append(UInt8(ascii: "\n")) }
        try AtomicFile.write(Data(text), to: texts.appendingPathComponent("kjv.txt"))
    }
}
