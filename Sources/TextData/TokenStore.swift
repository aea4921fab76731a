import Foundation
import Persistence
#if canImport(Glibc)
import Glibc
#endif

/// A token file mapped read-only into memory. Token files are raw little-endian `UInt16`, one
/// per token, for every tokenizer (the byte tokenizer too: one file layout, one sampler, and a
/// BPE up to 65,536 entries fits without a format change; the corpus is small enough that the
/// doubled size does not matter). The mapping lives as long as this object.
public final class TokenFile: @unchecked Sendable {
    // Sendable: the mapping is read-only (PROT_READ) and never changes after init.
    public let url: URL
    public let count: Int
    private let base: UnsafeMutableRawPointer?
    private let mappedBytes: Int

    public init(url: URL) throws {
        #if _endian(big)
        throw CorpusError(place: url.path, "token files are little-endian and this host is big-endian")
        #else
        let path = url.path
        let fd = Glibc.open(path, O_RDONLY)
        guard fd >= 0 else { throw CorpusError(place: path, "cannot open token file: \(String(cString: strerror(errno)))") }
        defer { Glibc.close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw CorpusError(place: path, "cannot stat: \(String(cString: strerror(errno)))") }
        let size = Int(st.st_size)
        guard size % 2 == 0 else { throw CorpusError(place: path, "size \(size) is odd: not a uint16 token file (truncated?)") }
        self.url = url
        self.count = size / 2
        self.mappedBytes = size
        if size == 0 {
            base = nil  // mmap rejects length 0; an empty split is an empty buffer
        } else {
            let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
            guard let p, p != MAP_FAILED else { throw CorpusError(place: path, "cannot map: \(String(cString: strerror(errno)))") }
            base = p
        }
        #endif
    }

    deinit { if let base { munmap(base, mappedBytes) } }

    /// The tokens, straight from the mapping (no copy). Valid while this object is alive.
    public var tokens: UnsafeBufferPointer<UInt16> {
        UnsafeBufferPointer(start: base?.assumingMemoryBound(to: UInt16.self), count: count)
    }

    public subscript(i: Int) -> UInt16 { tokens[i] }

    public func sha256() -> String {
        var h = SHA256()
        h.update(UnsafeRawBufferPointer(tokens))
        return h.finalizeHex()
    }
}

/// The JSON written beside the token files: what they were made from and what they hold.
public struct TokenSidecar: Sendable, Codable, Equatable {
    public struct SplitInfo: Sendable, Codable, Equatable {
        public var file: String
        public var chunks: Int
        public var bytes: Int
        public var tokens: Int
        public var sha256: String
    }
    public static let currentFormat = "prunescale-tokens-1"
    public var format: String
    /// Always `uint16-le`.
    public var dtype: String
    public var corpusChecksum: String
    public var corpusFiles: Int
    public var corpusBytes: Int
    public var tokenizer: String
    public var vocabSize: Int
    /// How the corpus was split; nil for a mixed corpus, whose parts each carry their own.
    public var spec: SplitSpec?
    public var chunks: Int
    public var splits: [String: SplitInfo]
    /// A mixed corpus: each part, in the order its tokens appear in every split file.
    public var parts: [Part]? = nil

    /// One corpus of a mix: what it is, how it was split, and where its tokens lie in each split file.
    public struct Part: Sendable, Codable, Equatable {
        public var name: String
        public var checksum: String
        public var files: Int
        public var bytes: Int
        public var spec: SplitSpec
        public var chunks: Int
        public var splits: [String: Slice]
    }

    /// A part's share of one split file: tokens `offset ..< offset + tokens`.
    public struct Slice: Sendable, Codable, Equatable {
        public var offset: Int
        public var chunks: Int
        public var bytes: Int
        public var tokens: Int
    }

    enum CodingKeys: String, CodingKey {
        case format, dtype, tokenizer, spec, chunks, splits, parts
        case corpusChecksum = "corpus_checksum", corpusFiles = "corpus_files", corpusBytes = "corpus_bytes", vocabSize = "vocab_size"
    }

    public func info(_ s: DataSplit) -> SplitInfo { splits[s.rawValue]! }
}

/// One corpus of a mixed corpus and the split it is cut with.
public struct CorpusPart: Sendable {
    public var name: String
    public var corpus: Corpus
    public var spec: SplitSpec

    public init(name: String, corpus: Corpus, spec: SplitSpec) {
        self.name = name
        self.corpus = corpus
        self.spec = spec
    }
}

/// A corpus cut into splits and tokenized, its token files memory-mapped. Made once per
/// (corpus checksum, tokenizer, split spec) under `<cache>/tokens/<key>/` and reused after.
public struct TokenizedCorpus: Sendable {
    public static let sidecarName = "tokens.json"
    public let directory: URL
    public let sidecar: TokenSidecar
    private let files: [DataSplit: TokenFile]

    public func tokens(_ split: DataSplit) -> TokenFile { files[split]! }

    /// Opens token files written earlier. With `verify`, every file's SHA-256 is checked against
    /// the sidecar (a few tens of ms for Shakespeare); sizes are always checked.
    public static func open(directory: URL, verify: Bool = true) throws -> TokenizedCorpus {
        let sidecarURL = directory.appendingPathComponent(sidecarName)
        let data: Data
        do { data = try Data(contentsOf: sidecarURL) } catch { throw CorpusError(place: sidecarURL.path, "cannot read: \(FileError.words(error))") }
        let sidecar: TokenSidecar
        do { sidecar = try JSONDecoder().decode(TokenSidecar.self, from: data) } catch {
            throw CorpusError(place: sidecarURL.path, "not a token sidecar (\(error))")
        }
        guard sidecar.format == TokenSidecar.currentFormat, sidecar.dtype == "uint16-le" else {
            throw CorpusError(place: sidecarURL.path, "format \(sidecar.format)/\(sidecar.dtype), expected \(TokenSidecar.currentFormat)/uint16-le")
        }
        var files: [DataSplit: TokenFile] = [:]
        for s in DataSplit.allCases {
            guard let info = sidecar.splits[s.rawValue] else { throw CorpusError(place: sidecarURL.path, "no entry for split \(s.rawValue)") }
            let file = try TokenFile(url: directory.appendingPathComponent(info.file))
            guard file.count == info.tokens else {
                throw CorpusError(place: file.url.path, "holds \(file.count) tokens, sidecar says \(info.tokens)")
            }
            if verify, file.sha256() != info.sha256 { throw CorpusError(place: file.url.path, "checksum differs from the sidecar (file damaged)") }
            files[s] = file
        }
        return TokenizedCorpus(directory: directory, sidecar: sidecar, files: files)
    }

    /// The token files for this corpus, tokenizer and spec: opened from the cache when present
    /// and intact, else made (staged, then renamed into place). `created` says which.
    public static func prepare(corpus: Corpus, tokenizer: any Tokenizer, spec: SplitSpec = SplitSpec(),
                               cache: URL) throws -> (corpus: TokenizedCorpus, created: Bool) {
        try spec.validate()
        let bytes = try corpus.readAll()
        let checksum = Corpus.checksum(files: corpus.files, contents: bytes)
        let input = Input(name: corpus.directory.path, corpus: corpus, bytes: bytes, checksum: checksum, spec: spec)
        return try prepare([input], mixed: false, checksum: checksum, tokenizer: tokenizer, cache: cache,
                           key: key(checksum: checksum, tokenizer: tokenizer, spec: spec))
    }

    /// The token files of a mixed corpus: every part cut and split with its own spec (so a part's
    /// chunks are exactly those it has alone under that spec), each split file holding the parts
    /// in order. Keyed by the mix checksum (`MixedCorpusManifest.checksum`).
    public static func prepare(parts: [CorpusPart], tokenizer: any Tokenizer, cache: URL) throws -> (corpus: TokenizedCorpus, created: Bool) {
        guard !parts.isEmpty else { throw CorpusError(place: "mixed corpus", "no parts") }
        var inputs: [Input] = []
        for p in parts {
            try p.spec.validate()
            let bytes = try p.corpus.readAll()
            inputs.append(Input(name: p.name, corpus: p.corpus, bytes: bytes, checksum: Corpus.checksum(files: p.corpus.files, contents: bytes), spec: p.spec))
        }
        let checksum = MixedCorpusManifest.checksum(inputs.map { ($0.name, $0.checksum, $0.spec) })
        let key = String(SHA256.hex(Array([TokenSidecar.currentFormat, "mixed", checksum, tokenizer.name, "\(tokenizer.vocabSize)"]
            .joined(separator: "\u{0}").utf8)).prefix(16))
        return try prepare(inputs, mixed: true, checksum: checksum, tokenizer: tokenizer, cache: cache, key: key)
    }

    /// A corpus (or part) read into memory, with what its tokens depend on.
    struct Input {
        var name: String
        var corpus: Corpus
        var bytes: [UInt8]
        var checksum: String
        var spec: SplitSpec
    }

    private static func prepare(_ inputs: [Input], mixed: Bool, checksum: String, tokenizer: any Tokenizer, cache: URL,
                                key: String) throws -> (corpus: TokenizedCorpus, created: Bool) {
        let dir = cache.appendingPathComponent("tokens").appendingPathComponent(key)
        let specs = inputs.map(\.spec)
        if let existing = try? open(directory: dir), existing.sidecar.corpusChecksum == checksum, existing.sidecar.tokenizer == tokenizer.name,
           mixed ? existing.sidecar.parts?.map(\.spec) == specs : existing.sidecar.spec == specs[0] { return (existing, false) }

        let parent = dir.deletingLastPathComponent()
        let staging = try DataCache.staging(in: parent, dir.lastPathComponent)
        defer { try? FileManager.default.removeItem(at: staging) }
        let made = staging.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: made, withIntermediateDirectories: true)
        let sidecar = try write(inputs, mixed: mixed, checksum: checksum, tokenizer: tokenizer, into: made)
        if FileManager.default.fileExists(atPath: dir.path) {
            try? FileManager.default.moveItem(at: dir, to: staging.appendingPathComponent("old"))  // damaged: replace
        }
        _ = try DataCache.publish(made, to: dir)
        let opened = try open(directory: dir, verify: false)
        // Someone else may have published first; theirs must describe the same data.
        guard opened.sidecar == sidecar || opened.sidecar.corpusChecksum == checksum else {
            throw CorpusError(place: dir.path, "token files in the cache do not match this corpus")
        }
        return (opened, true)
    }

    /// Directory name: the first 16 hex digits of SHA-256 over everything the tokens depend on.
    static func key(checksum: String, tokenizer: any Tokenizer, spec: SplitSpec) -> String {
        let text = [TokenSidecar.currentFormat, checksum, tokenizer.name, "\(tokenizer.vocabSize)", "\(spec.chunkBytes)",
                    "\(spec.pretrain)", "\(spec.posttrain)", "\(spec.eval)", "\(spec.seed)"].joined(separator: "\u{0}")
        return String(SHA256.hex(Array(text.utf8)).prefix(16))
    }

    /// Cuts, assigns and tokenizes each input in turn; each chunk is tokenized on its own so no
    /// token spans two splits (it matters for a BPE; for bytes it is the same either way).
    static func write(_ inputs: [Input], mixed: Bool, checksum: String, tokenizer: any Tokenizer, into dir: URL) throws -> TokenSidecar {
        var streams: [DataSplit: [UInt16]] = [:]
        var chunkCounts: [DataSplit: Int] = [:]
        var byteCounts: [DataSplit: Int] = [:]
        for s in DataSplit.allCases { streams[s] = []; chunkCounts[s] = 0; byteCounts[s] = 0 }
        var parts: [TokenSidecar.Part] = []
        for input in inputs {
            let spec = input.spec, bytes = input.bytes
            let n = spec.chunkCount(bytes: bytes.count)
            let assignment = spec.assign(chunks: n)
            var slices: [String: TokenSidecar.Slice] = [:]
            for s in DataSplit.allCases { slices[s.rawValue] = .init(offset: streams[s]!.count, chunks: 0, bytes: 0, tokens: 0) }
            bytes.withUnsafeBytes { all in
                for c in 0..<n {
                    let lo = c * spec.chunkBytes, hi = min(lo + spec.chunkBytes, bytes.count)
                    let s = assignment[c]
                    let tokens = tokenizer.encode(UnsafeRawBufferPointer(rebasing: all[lo..<hi]))
                    streams[s]!.append(contentsOf: tokens)
                    chunkCounts[s]! += 1
                    byteCounts[s]! += hi - lo
                    slices[s.rawValue]!.chunks += 1
                    slices[s.rawValue]!.bytes += hi - lo
                    slices[s.rawValue]!.tokens += tokens.count
                }
            }
            parts.append(.init(name: input.name, checksum: input.checksum, files: input.corpus.files.count, bytes: bytes.count,
                               spec: spec, chunks: n, splits: slices))
        }
        var splits: [String: TokenSidecar.SplitInfo] = [:]
        for s in DataSplit.allCases {
            let file = "\(s.rawValue).u16"
            let url = dir.appendingPathComponent(file)
            var tokens = streams.removeValue(forKey: s)!  // taken, not copied: a mix's streams are a few hundred MB
            for i in tokens.indices { tokens[i] = tokens[i].littleEndian }
            let digest = tokens.withUnsafeBytes { raw in
                var h = SHA256()
                h.update(raw)
                return h.finalizeHex()
            }
            try tokens.withUnsafeBytes { raw in try AtomicFile.write(to: url) { try $0.write(raw) } }  // its errors name the file
            splits[s.rawValue] = .init(file: file, chunks: chunkCounts[s]!, bytes: byteCounts[s]!, tokens: tokens.count, sha256: digest)
        }
        let sidecar = TokenSidecar(format: TokenSidecar.currentFormat, dtype: "uint16-le", corpusChecksum: checksum,
                                   corpusFiles: inputs.reduce(0) { $0 + $1.corpus.files.count }, corpusBytes: inputs.reduce(0) { $0 + $1.bytes.count },
                                   tokenizer: tokenizer.name, vocabSize: tokenizer.vocabSize, spec: mixed ? nil : inputs[0].spec,
                                   chunks: parts.reduce(0) { $0 + $1.chunks }, splits: splits, parts: mixed ? parts : nil)
        try AtomicFile.write(try JSONOutputStyle.encoder().encode(sidecar), to: dir.appendingPathComponent(sidecarName))
        return sidecar
    }
}
