import Foundation
import Model
import Tensor

/// The corpus a training command reads: a named corpus (fetched into the cache on first use), a
/// corpus manifest (.json), or a directory of .txt files (`CorpusSource`); always byte-tokenized,
/// a single corpus split with the default `SplitSpec` and a mix (`study`) with its parts' own
/// splits, so every command sees the same pretrain/posttrain/eval tokens for one name.
public enum TrainingData {
    /// Where the texts are, fetching a named corpus if the cache lacks a verified copy. A mixed
    /// corpus has no one directory; use `tokens`.
    public static func directory(for corpus: String, cache: URL, log: (String) -> Void = { _ in }) throws -> URL {
        let source = try CorpusSource.resolve(corpus)
        if case .mixed(let m) = source {
            throw CorpusError(place: corpus, "'\(m.name)' mixes \(m.parts.map(\.corpus).joined(separator: ", ")): it has token files but no one directory of texts")
        }
        return URL(fileURLWithPath: try source.fetch(cache: cache, log: log).directory)
    }

    /// The corpus's token files (made once per corpus and tokenizer, and cached).
    public static func tokens(corpus: String, cache: URL, tokenizer: any Tokenizer = ByteTokenizer(), log: (String) -> Void = { _ in }) throws -> TokenizedCorpus {
        try CorpusSource.resolve(corpus).prepare(cache: cache, tokenizer: tokenizer, log: log).tokens
    }

    /// A checkpoint as a ready model, with its safetensors metadata. A sparse checkpoint's
    /// `mask.safetensors` is applied, so training keeps its pruned weights at zero.
    public static func loadModel(_ directory: URL, threads: Int = Parallel.defaultThreads) throws -> (model: LlamaModel, metadata: [String: String]) {
        let c = try Checkpoint.load(from: directory)
        try checkOneStep(directory, weights: c.metadata)
        let model = try LlamaModel(config: c.config, parameters: c.parameters, threads: threads)
        if let mask = try MaskFile.load(from: directory, layout: model.layout) { model.setMask(mask) }
        return (model, c.metadata)
    }

    /// A training folder saved file by file (before saves were committed as one unit) can pair
    /// weights of one step with a trainer state of another if the save was killed; such a folder
    /// is refused rather than used as if it were one model.
    static func checkOneStep(_ directory: URL, weights metadata: [String: String]) throws {
        guard let weightsStep = metadata["prunescale.step"], let state = try TrainedFolder.read(directory) else { return }
        guard weightsStep == "\(state.step)" else {
            throw TextDataError("\(directory.path): the weights are from step \(weightsStep) but \(TrainedFolder.stateFileName) from step \(state.step): an interrupted save of an older PruneScale mixed two steps; this folder cannot be used, train again")
        }
    }

    /// The sequence length a checkpoint was trained at (its trainer state), if it has one.
    public static func trainedSequenceLength(_ directory: URL) -> Int? {
        (try? TrainedFolder.read(directory))??.settings.sequenceLength
    }
}
