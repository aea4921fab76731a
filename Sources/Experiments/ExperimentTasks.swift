import Foundation
import OpenBLASRuntime
import Persistence
import Tensor
import Training
import TextData

/// A cell's result as one file, written by a task that runs the cell on its own (a Slurm array
/// task): SQLite is not safe for concurrent writers on a network file system, so tasks write
/// shards and `collect` moves them into the store.
public struct ResultShard: Sendable, Codable {
    public var record: CellRecord
    /// nil: the cell failed (its error is in the record).
    public var rows: [EvaluationRow]?
}

/// The pieces of a run as separate tasks: prepare a base, run one cell into a shard, collect the
/// shards. `prunescale submit` schedules them; each is also a command of its own.
public enum ExperimentTasks {
    public static func shardsDirectory(_ plan: RunPlan) -> URL { plan.store.appendingPathComponent("shards") }
    static func shard(_ plan: RunPlan, _ id: String) -> URL { shardsDirectory(plan).appendingPathComponent("\(id).json") }

    /// Pre-trains a ladder base whose folder holds no finished run, then caches its loss0.
    public static func prepareBase(_ plan: RunPlan, name: String, cache: URL, threads: Int,
                                   log: @escaping @Sendable (String) -> Void) throws {
        guard let base = plan.bases.first(where: { $0.identity.name == name }) else {
            throw ExperimentSpecError(file: plan.spec.file, "no base named '\(name)' (bases: \(plan.bases.map(\.identity.name).joined(separator: ", ")))")
        }
        if let size = plan.basesToPretrain[name] {
            let data = try TrainingData.tokens(corpus: plan.ladderCorpus ?? "shakespeare", cache: cache, log: log)
            _ = try LadderPretraining.run(size, in: base.directory, data: data, threads: threads, specFile: plan.spec.ladder,
                                          progress: ProgressReporter(write: log))
        }
        let data = try TrainingData.tokens(corpus: plan.spec.corpus, cache: cache, tokenizer: plan.tokenizer, log: log)
        _ = try ExperimentRunner(plan: plan, cache: cache, threads: threads).baseLoss(base, data: data)
    }

    /// Runs one cell into its shard, unless the store or a shard already holds it. Returns
    /// whether it ran. Its base must be ready (`prepareBase`).
    @discardableResult
    public static func runCell(_ plan: RunPlan, id: String, cache: URL, threads: Int,
                               log: @escaping @Sendable (String) -> Void) throws -> Bool {
        try ExperimentRunner.checkStoreFolder(plan.store)
        guard let cell = plan.cells.first(where: { $0.id == id || $0.label == id }) else {
            throw ExperimentSpecError(file: plan.spec.file, "no cell '\(id)' in the grid (`prunescale status` lists them)")
        }
        if FileManager.default.fileExists(atPath: shard(plan, cell.id).path) { return false }
        if FileManager.default.fileExists(atPath: plan.store.appendingPathComponent(ResultStore.fileName).path),
           try ResultStore(directory: plan.store).states()[cell.id]?.state == "done" { return false }
        guard plan.basesToPretrain[cell.base] == nil else {
            throw TrainingError("\(cell.label): base \(cell.base) is not pre-trained yet (prepare it first)")
        }
        var base = plan.bases.first { $0.identity.name == cell.base }!
        let data = try TrainingData.tokens(corpus: plan.spec.corpus, cache: cache, tokenizer: plan.tokenizer, log: log)
        base.loss0 = try ExperimentRunner(plan: plan, cache: cache, threads: threads).baseLoss(base, data: data)
        BLAS.threads = threads
        let result = ExperimentRunner.execute(cell, base: base, data: data, directory: plan.directory(of: cell), threads: threads, log: log)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try AtomicFile.createDirectory(shardsDirectory(plan))
        try AtomicFile.write(try encoder.encode(ResultShard(record: result.record, rows: result.rows)), to: shard(plan, cell.id))
        log("\(cell.label): \(result.rows == nil ? "FAILED: \(result.record.error ?? "")" : "done") (shard \(shard(plan, cell.id).lastPathComponent))")
        return true
    }

    /// Moves every shard of the plan's cells into the store; a cell the store holds already is
    /// left as it is, so collecting twice changes nothing. Returns how many cells were added.
    @discardableResult
    public static func collect(_ plan: RunPlan) throws -> (added: Int, already: Int) {
        try ExperimentRunner.checkStoreFolder(plan.store)
        let store = try ResultStore(directory: plan.store)
        let states = try store.states()
        var added = 0, already = 0
        let decoder = JSONDecoder()
        for cell in plan.cells {
            let url = shard(plan, cell.id)
            guard let data = FileManager.default.contents(atPath: url.path) else { continue }
            if states[cell.id]?.state == "done" { already += 1; continue }
            let s: ResultShard
            do { s = try decoder.decode(ResultShard.self, from: data) } catch {
                throw FileError(url.path, "not a result shard (\(error))")
            }
            guard s.record.id == cell.id else { throw FileError(url.path, "holds cell \(s.record.id), not \(cell.id)") }
            if let rows = s.rows { try store.recordDone(s.record, evaluations: rows) } else { try store.recordFailed(s.record) }
            added += 1
        }
        return (added, already)
    }
}
