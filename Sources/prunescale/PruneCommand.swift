import ArgumentParser
import Foundation
import Persistence
import Model
import Pruning
import Reports
import Training
import TextData

struct PruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Prune a checkpoint by depth, width or an N:M pattern and save the smaller model.",
        discussion: """
            --rate is the fraction of non-embedding parameters to remove; the result meets it \
            within one unit's worth (a block for depth, an MLP neuron for width) and pruning.json \
            reports the exact counts before and after, per block. A rate the model cannot reach \
            (depth keeps at least one block; width keeps one head per KV group and one neuron \
            per block) is an error that names the limit, and nothing is written. Width pruning removes attention \
            heads (under grouped-query attention one query head from every KV group at once, so \
            the groups stay equal) and MLP neurons, giving genuinely smaller matrices.

            Depth methods:
            \(DepthMethod.allCases.map { "  \($0.rawValue): \($0.summary)" }.joined(separator: "\n"))

            Width methods:
            \(WidthMethod.allCases.map { "  \($0.rawValue): \($0.summary)" }.joined(separator: "\n"))

            N:M methods (--pattern 2:4; every q/k/v/o/gate/up/down matrix, layer by layer, each \
            layer's inputs recomputed through the layers already pruned; the checkpoint stores \
            the zeros):
            \(SemiStructuredMethod.allCases.map { "  \($0.rawValue): \($0.summary)" }.joined(separator: "\n"))

            Calibration: --calibration-windows seeded windows (--seed) of the pre-training split, \
            or of --calibration FILE|DIR (text), in the model's own tokens (bytes, or the BPE of a \
            GGUF or of a folder's tokenizer.json). The source and the pruned model \
            are scored on --eval-tokens of the eval split, in windows spread over it (0: skip).

            Writes into --out (all or nothing): config.json, model.safetensors (metadata n0 and \
            loss0 describe the model before pruning, for `prunescale train`'s records), for N:M \
            mask.safetensors (the fixed masks `prunescale train` keeps), and pruning.json (method, options, seed, parameter counts, kept units, scores, losses, \
            wall time, peak memory), and the source's tokenizer.json when it has a BPE. Weights are \
            float32 safetensors in Hugging Face's layout, whatever the source (a GGUF is dequantised).

            Examples:
              prunescale prune --model out/ladder/m --structure width --rate 0.25 --method wanda --out out/m-wanda-25
              prunescale prune --model out/ladder/m --structure depth --rate 0.25 --method block-influence --out out/m-bi-25
              prunescale prune --model out/ladder/m --pattern 2:4 --method sparsegpt --out out/m-sparsegpt-24
              prunescale prune --model smollm2 --pattern 2:4 --method wanda --corpus study --out out/smollm2-wanda-24
            """)

    enum Structure: String, ExpressibleByArgument, CaseIterable { case depth, width }

    @Option(help: ArgumentHelp("Checkpoint folder, .gguf file, or model name (smollm2, fetched into the cache) to prune.", valueName: "model"))
    var model: String

    @Option(help: "What to remove: depth (whole blocks) or width (heads and neurons).")
    var structure: Structure?

    @Option(help: ArgumentHelp("Fraction of non-embedding parameters to remove, in [0, 1).", valueName: "r"))
    var rate: Double?

    @Option(help: ArgumentHelp("N:M semi-structured pattern, e.g. 2:4.", valueName: "n:m"))
    var pattern: String?

    @Option(help: ArgumentHelp("Pruning method (see above).", valueName: "name"))
    var method: String

    @Option(help: ArgumentHelp("Output directory.", valueName: "dir"))
    var out: String

    @Option(help: ArgumentHelp("Calibrate on this text file or directory of .txt files instead of the pre-training split.", valueName: "file|dir"))
    var calibration: String?

    @Option(name: .customLong("calibration-windows"), help: "Number of calibration windows.")
    var calibrationWindows: Int = 32

    @Option(help: ArgumentHelp("Window length (default: the length the checkpoint was trained at, else 256).", valueName: "n"))
    var seq: Int?

    @Option(help: "Windows per forward pass.")
    var batch: Int = 8

    @Option(help: "Seed of the calibration windows and of any sampling the method does.")
    var seed: UInt64 = 0

    @Option(name: .customLong("option"), help: ArgumentHelp("Method option, repeatable: bonsai sub-models=N (default 200), round-fraction=P (default 0.05).", valueName: "key=value"))
    var methodOptions: [String] = []

    @Option(name: .customLong("eval-tokens"), help: "Eval-split tokens scored before and after pruning (0: skip).")
    var evalTokens: Int = 65_536

    @OptionGroup var corpus: CorpusOptions
    @OptionGroup var compute: ComputeOptions

    @Option(help: "Output on stdout: text, or json (the pruning report).")
    var format: OutputFormat = .text

    func target() throws -> PruningRequest.Target {
        if let pattern {
            guard structure == nil, rate == nil else { throw ValidationError("--pattern sets the rate itself; drop --structure and --rate") }
            let p = try NMPattern(parsing: pattern)
            guard let m = SemiStructuredMethod(rawValue: method.lowercased()) else {
                throw ValidationError("unknown N:M method '\(method)' (known: \(SemiStructuredMethod.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return .semiStructured(method: m, pattern: p)
        }
        guard let structure else { throw ValidationError("give --structure depth|width with --rate, or --pattern N:M") }
        guard let rate else { throw ValidationError("--structure \(structure.rawValue) needs --rate") }
        guard rate.isFinite, rate >= 0, rate < 1 else { throw ValidationError("--rate must be in [0, 1), got \(rate)") }
        let name = method.lowercased()
        switch structure {
        case .depth:
            guard let m = DepthMethod(rawValue: name) else {
                throw ValidationError("unknown depth method '\(method)' (known: \(DepthMethod.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return .depth(method: m, rate: rate)
        case .width:
            guard let m = WidthMethod(rawValue: name) else {
                throw ValidationError("unknown width method '\(method)' (known: \(WidthMethod.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return .width(method: m, rate: rate)
        }
    }

    func run() throws {
        let target = try target()
        guard calibrationWindows > 0, batch > 0, evalTokens >= 0 else {
            throw ValidationError("--calibration-windows and --batch must be positive, --eval-tokens ≥ 0")
        }
        if let seq, seq <= 0 { throw ValidationError("--seq must be positive") }
        let threads = compute.apply()
        let progress = ProgressReporter()
        let log: (String) -> Void = { progress.message($0) }
        let outURL = URL(fileURLWithPath: out)
        let source = try ModelSource.resolve(model, cache: corpus.cacheURL, log: log)
        if outURL.standardizedFileURL == source.url.standardizedFileURL { throw ValidationError("--out must differ from --model") }

        // The corpus (in the model's tokens) is needed for the default calibration and for the eval split.
        var data: TokenizedCorpus?
        if calibration == nil || evalTokens > 0 {
            data = try TrainingData.tokens(corpus: corpus.corpus, cache: corpus.cacheURL, tokenizer: try TrainingData.tokenizer(for: source), log: log)
        }
        var options: [String: String] = [:]
        for o in methodOptions {
            for (key, value) in try KeyValues.pairs(o, flag: "--option") { options[key] = value }
        }
        var job = PruningJob(model: source, request: PruningRequest(target: target, batchSize: batch, seed: seed, options: options),
                             calibration: calibration.map { .text($0) } ?? .split(data!.tokens(.pretrain), .pretrain, corpus: corpus.corpus))
        job.calibrationWindows = calibrationWindows
        job.sequenceLength = seq
        job.eval = evalTokens > 0 ? data?.tokens(.eval) : nil
        job.evalTokens = evalTokens
        let result = try job.run(threads: threads, log: log)
        try OutputDirectory.write(to: outURL) { staging in try PruningJob.save(result, to: staging) }
        let r = result.outcome.report
        switch format {
        case .json: try JSONOutput.print(r)
        case .text:
            print(String(format: "%@ %@: rate %.4f (target %@), non-embedding parameters %d -> %d", r.structure.rawValue, r.method, r.rate,
                         r.targetRate.map { String(format: "%.4f", $0) } ?? "-", r.before.nonEmbedding, r.after.nonEmbedding))
            if let a = r.evalLossBefore, let b = r.evalLossAfter { print(String(format: "eval loss %.4f -> %.4f (%d tokens)", a, b, r.evalTokens ?? 0)) }
            if let p = r.pattern, let masked = r.maskedMatrices { print("pattern \(p) on \(masked.count) matrices; non-zero non-embedding parameters \(r.nonZeroAfter.nonEmbedding)") }
            if !r.removedBlocks.isEmpty { print("removed blocks: \(r.removedBlocks.map(String.init).joined(separator: ", "))") }
            print(String(format: "wall %.2f s, peak memory %.1f MB", r.wallSeconds, Double(r.peakMemoryBytes) / 1e6))
            print("wrote \(out)/: config.json, model.safetensors, " + (result.outcome.mask != nil ? "\(MaskFile.fileName), " : "")
                  + result.files.keys.sorted().map { "\($0), " }.joined() + PruningJob.reportFileName)
        }
    }
}
