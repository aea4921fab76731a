import Foundation
import OpenBLASRuntime
import Model
import Persistence
import Tensor
import Training
import TextData

/// The code version recorded with every stored cell (results are keyed by configuration, not
/// by this: a new version reuses the cells an older one finished).
public enum PruneScaleVersion {
    public static let current = "prunescale 0.5"
    /// With the BLAS kernels the numbers came from (they differ in the last bits across families).
    public static var withKernels: String { "\(current) (OpenBLAS \(BLASCore.current))" }
}

/// A cell with its state in the store.
public struct CellStatus: Sendable, Encodable {
    public enum State: String, Sendable, Encodable { case done, running, failed, missing }
    public var id: String
    public var label: String
    public var state: State
    public var error: String?
    public var labels: [String: String]
}

/// The spec resolved against the machine: bases with their folders and identities, and the grid
/// of cells.
public struct RunPlan: Sendable {
    public var spec: ExperimentSpec
    public var store: URL
    public var bases: [ResolvedBase]
    /// Ladder sizes whose folders hold no finished run yet, by base name.
    public var basesToPretrain: [String: LadderSize]
    public var cells: [Cell]
    /// The ladder's corpus (pre-training of missing bases uses it).
    public var ladderCorpus: String?
    /// The experiment corpus's identity (name or content checksum).
    public var corpusID: String
    /// The bases' one tokenizer: the experiment corpus is read in its tokens (losses per token of
    /// different tokenizers are not one quantity, so a spec's bases must share one).
    public var tokenizer: any Tokenizer = ByteTokenizer()

    public var cellsDirectory: URL { store.appendingPathComponent("cells") }
    public var reportDirectory: URL { store.appendingPathComponent("report") }
    public func directory(of cell: Cell) -> URL { cellsDirectory.appendingPathComponent(cell.id) }
}

/// Where a run's wall time went: the work (pre-training, pruning, post-training with its
/// evaluations) and everything else, the runner's own overhead.
public final class RunTimes: @unchecked Sendable {
    private let lock = NSLock()
    public private(set) var pretrain = 0.0, prune = 0.0, train = 0.0
    /// Wall time of the phase in which cells ran (with several jobs, less than prune + train).
    public private(set) var cellsPhase = 0.0
    func add(pretrain: Double = 0, prune: Double = 0, train: Double = 0, cellsPhase: Double = 0) {
        lock.withLock {
            self.pretrain += pretrain
            self.prune += prune
            self.train += train
            self.cellsPhase += cellsPhase
        }
    }
    public var work: Double { lock.withLock { pretrain + prune + train } }
}

/// Runs a spec: pre-trains missing bases, runs every cell the store lacks (`--jobs` at a time),
/// records each as one transaction, and writes the report. Running it again does only what is
/// missing; a killed run continues where it stopped.
public struct ExperimentRunner {
    public var plan: RunPlan
    public var cache: URL
    public var threads: Int
    public var jobs = 1
    /// Retry cells recorded as failed (they are skipped otherwise: the same input fails the same way).
    public var retryFailed = false
    public var log: @Sendable (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
    /// Filled in by `run`.
    public let times = RunTimes()

    public init(plan: RunPlan, cache: URL, threads: Int) {
        self.plan = plan
        self.cache = cache
        self.threads = threads
    }

    /// Resolves bases (without training anything) and the grid.
    /// `cache` holds the pretrained models a `model:` base names (fetched there if missing).
    public static func plan(_ spec: ExperimentSpec, store: URL? = nil, cache: URL = DataCache.defaultDirectory()) throws -> RunPlan {
        let storeURL = URL(fileURLWithPath: store?.path ?? spec.output).standardizedFileURL
        let corpusID = try corpusIdentity(spec.corpus, spec: spec)
        var bases: [ResolvedBase] = []
        var toPretrain: [String: LadderSize] = [:]
        var ladder: LadderSpec?
        for b in spec.bases {
            switch b {
            case .ladder(let name):
                if ladder == nil {
                    guard FileManager.default.fileExists(atPath: spec.ladder) else {
                        throw ExperimentSpecError(file: spec.file, "base '\(name)' names a ladder size but the ladder spec \(spec.ladder) does not exist")
                    }
                    ladder = try LadderSpec.load(path: spec.ladder)
                }
                guard let size = ladder!.sizes.first(where: { $0.name == name }) else {
                    throw ExperimentSpecError(file: spec.file, "no size '\(name)' in \(spec.ladder) (sizes: \(ladder!.sizes.map(\.name).joined(separator: ", ")))")
                }
                let dir = URL(fileURLWithPath: ladder!.output).appendingPathComponent(name).standardizedFileURL
                let done: Bool
                do { done = try LadderPretraining.isFinished(size, in: dir, specFile: spec.ladder) } catch {
                    throw ExperimentSpecError(file: spec.file, "base '\(name)': \(error)")
                }
                if !done { toPretrain[name] = size }
                var settings = size.settings
                settings.saveEvery = 0
                var h = SHA256()
                h.update(Array((try? JSONEncoder.sorted.encode(size.config)) ?? Data()))
                h.update(Array((try? JSONEncoder.sorted.encode(settings)) ?? Data()))
                h.update(String(size.initStd))
                h.update(try corpusIdentity(ladder!.corpus ?? "shakespeare", spec: spec))
                bases.append(ResolvedBase(identity: BaseIdentity(name: name, kind: "ladder", fingerprint: h.finalizeHex(), nonEmbedding: size.nonEmbeddingParams),
                                          directory: dir, source: .checkpoint(dir), config: size.config, loss0: nil))
            case .checkpoint(let name, let path):
                let dir = URL(fileURLWithPath: path).standardizedFileURL
                guard FileManager.default.fileExists(atPath: dir.appendingPathComponent(Checkpoint.configFileName).path) else {
                    throw ExperimentSpecError(file: spec.file, "base '\(name)': \(path) is not a checkpoint folder (no config.json)")
                }
                let config = try HFConfig.read(from: dir.appendingPathComponent(Checkpoint.configFileName))
                var h = SHA256()
                for file in [Checkpoint.configFileName, Checkpoint.weightsFileName, MaskFile.fileName] {
                    if let data = FileManager.default.contents(atPath: dir.appendingPathComponent(file).path) { h.update(Array(data)) }
                }
                bases.append(ResolvedBase(identity: BaseIdentity(name: name, kind: "checkpoint", fingerprint: h.finalizeHex(),
                                                                 nonEmbedding: ParameterCounts(config).nonEmbedding),
                                          directory: dir, source: .checkpoint(dir), config: config, loss0: nil))
            case .model(let name, let reference):
                let source: ModelSource
                do { source = try ModelSource.resolve(reference, cache: cache) } catch {
                    throw ExperimentSpecError(file: spec.file, "base '\(name)': \(error)")
                }
                let file = try GGUFFile(contentsOf: source.url)
                let config = try GGUFModel.config(file)
                // A named model is pinned by its manifest; a file by its content.
                let fingerprint: String
                if let m = ModelManifest.named(reference) { fingerprint = "gguf:\(m.fileSha256)" } else {
                    fingerprint = "gguf:" + SHA256.hex(try Data(contentsOf: source.url, options: .alwaysMapped))
                }
                bases.append(ResolvedBase(identity: BaseIdentity(name: name, kind: "model", fingerprint: fingerprint,
                                                                 nonEmbedding: ParameterCounts(config).nonEmbedding),
                                          directory: source.url, source: source, config: config, loss0: nil))
            }
        }
        var tokenizers: [(base: String, tokenizer: any Tokenizer)] = []
        for b in bases {
            // A ladder size that is not trained yet has no folder: ours are byte models.
            let t: any Tokenizer = FileManager.default.fileExists(atPath: b.source.url.path) ? try TrainingData.tokenizer(for: b.source) : ByteTokenizer()
            tokenizers.append((b.identity.name, t))
        }
        if let first = tokenizers.first, let other = tokenizers.first(where: { $0.tokenizer.name != first.tokenizer.name }) {
            throw ExperimentSpecError(file: spec.file, "bases '\(first.base)' and '\(other.base)' read text with different tokenizers (\(first.tokenizer.name), \(other.tokenizer.name)): losses per token of different tokenizers are not one quantity, so one spec's bases must share a tokenizer")
        }
        return RunPlan(spec: spec, store: storeURL, bases: bases, basesToPretrain: toPretrain,
                       cells: CellPlanner.cells(spec, bases: bases.map(\.identity), corpus: corpusID), ladderCorpus: ladder?.corpus, corpusID: corpusID,
                       tokenizer: tokenizers.first?.tokenizer ?? ByteTokenizer())
    }

    /// What a corpus is, for cell identities: a built-in corpus by name (its content is pinned),
    /// a directory or manifest by the checksum of its content (so moving it changes nothing).
    static func corpusIdentity(_ corpus: String, spec: ExperimentSpec) throws -> String {
        do {
            switch try CorpusSource.resolve(corpus) {
            case .directory(let dir): return "directory:" + (try Corpus(directory: dir).checksum())
            case let other:
                if CorpusSource.builtin(corpus) != nil { return other.name }
                return "manifest:" + SHA256.hex(Array(try Data(contentsOf: URL(fileURLWithPath: corpus))))
            }
        } catch {
            throw ExperimentSpecError(file: spec.file, "corpus '\(corpus)': \(error)")
        }
    }

    /// What a store folder holds; anything else makes it somebody else's folder.
    static let storeEntries: Set<String> = [ResultStore.fileName, ResultStore.fileName + "-wal", ResultStore.fileName + "-shm",
                                            "cells", "bases", "shards", "slurm", "report", DirectoryLock.fileName]

    /// A store folder is new, empty, or a store already (it holds `store.sqlite`, or only what a
    /// store holds): a folder of other files is refused rather than written into.
    public static func checkStoreFolder(_ dir: URL) throws {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { !storeEntries.contains($0) }
        let hasStore = FileManager.default.fileExists(atPath: dir.appendingPathComponent(ResultStore.fileName).path)
        guard !names.isEmpty, !hasStore else { return }
        let shown = names.sorted().prefix(3).joined(separator: ", ") + (names.count > 3 ? " and \(names.count - 3) more" : "")
        throw FileError(dir.path, "holds files that are not a PruneScale result store (\(shown)); set another 'output' or --store")
    }

    /// Every cell's state: stored (done or failed), running (its folder is locked by a live
    /// process), or missing.
    public static func status(_ plan: RunPlan) throws -> [CellStatus] {
        let stored = FileManager.default.fileExists(atPath: plan.store.appendingPathComponent(ResultStore.fileName).path)
            ? try ResultStore(directory: plan.store).states() : [:]
        return plan.cells.map { c in
            var state: CellStatus.State = .missing
            var error: String?
            if let s = stored[c.id] {
                state = s.state == "done" ? .done : .failed
                error = s.error
            } else if DirectoryLock.isHeld(plan.directory(of: c)) {
                state = .running
            }
            return CellStatus(id: c.id, label: c.label, state: state, error: error, labels: c.labels)
        }
    }

    /// Runs what is missing. Returns the final states.
    @discardableResult
    public func run() throws -> [CellStatus] {
        try Self.checkStoreFolder(plan.store)
        let store = try ResultStore(directory: plan.store)
        let lock = try DirectoryLock(plan.store, purpose: "prunescale run \(plan.spec.name)")
        defer { lock.release() }
        var bases = plan.bases
        // A base another process is pre-training now (its folder locked) is left to it: its cells
        // wait for a later run, and the cells of the ready bases go ahead meanwhile.
        var busy = Set<String>()
        for b in bases {
            guard plan.basesToPretrain[b.identity.name] != nil, DirectoryLock.isHeld(b.directory) else { continue }
            busy.insert(b.identity.name)
            log("base \(b.identity.name): being pre-trained by another process (\(b.directory.path)); its cells wait for a later run")
        }
        for b in bases where !busy.contains(b.identity.name) {
            guard let size = plan.basesToPretrain[b.identity.name] else { continue }
            let data = try TrainingData.tokens(corpus: plan.ladderCorpus ?? "shakespeare", cache: cache, log: log)
            log("base \(size.name): pre-training \(size.nonEmbeddingParams) non-embedding parameters for \(size.settings.tokens) tokens")
            let progress = ProgressReporter(write: log)
            let t0 = ProcessInfo.processInfo.systemUptime
            defer { times.add(pretrain: ProcessInfo.processInfo.systemUptime - t0) }
            _ = try LadderPretraining.run(size, in: b.directory, data: data, threads: threads, specFile: plan.spec.ladder, progress: progress)
        }
        let data = try TrainingData.tokens(corpus: plan.spec.corpus, cache: cache, tokenizer: plan.tokenizer, log: log)
        let states = try store.states()
        let todo = plan.cells.filter { c in
            if busy.contains(c.base) { return false }
            guard let s = states[c.id] else { return true }
            return s.state == "failed" && retryFailed
        }
        let waiting = plan.cells.filter { busy.contains($0.base) && states[$0.id] == nil }.count
        let done = plan.cells.count - todo.count - waiting
        log("\(plan.spec.name): \(plan.cells.count) cells, \(done) already stored, \(todo.count) to run"
            + (waiting > 0 ? ", \(waiting) waiting for their base" : ""))
        if !todo.isEmpty {
            // The loss every recovery is measured against, once per base, on the cells' eval windows.
            let needed = Set(todo.map(\.base))
            for i in bases.indices where needed.contains(bases[i].identity.name) {
                bases[i].loss0 = try baseLoss(bases[i], data: data)
            }
            try runCells(todo, bases: bases, data: data, store: store, alreadyDone: done)
        }
        return try Self.status(plan)
    }

    /// Eval loss of the unpruned base with the recipe's eval settings, cached in the store.
    func baseLoss(_ base: ResolvedBase, data: TokenizedCorpus) throws -> Double {
        let r = plan.spec.posttrain
        var h = SHA256()
        h.update("\(base.identity.fingerprint)|\(plan.corpusID)|\(r.evalTokens)|\(r.sequenceLength)|\(r.batch)")
        let url = plan.store.appendingPathComponent("bases").appendingPathComponent("\(base.identity.name)-\(h.finalizeHex().prefix(16)).loss0")
        if let text = try? String(contentsOf: url, encoding: .utf8), let v = Double(text.trimmingCharacters(in: .whitespacesAndNewlines)), v.isFinite {
            return v
        }
        let (model, _) = try TrainingData.loadModel(base.source, threads: threads)
        let e = try Evaluator.evaluate(model, file: data.tokens(.eval), sequenceLength: min(r.sequenceLength, model.config.maxSequence),
                                       batchSize: r.batch, maxTokens: r.evalTokens)
        try AtomicFile.write("\(e.loss)\n", to: url)
        log(String(format: "base %@: eval loss %.4f (%d tokens)", base.identity.name, e.loss, e.tokens))
        return e.loss
    }

    /// A cell run to its end: its store row and evaluations (nil rows: it failed, the error in the row).
    struct Executed: Sendable {
        var record: CellRecord
        var rows: [EvaluationRow]?
        var pruneSeconds = 0.0, trainSeconds = 0.0
    }

    static func execute(_ cell: Cell, base: ResolvedBase, data: TokenizedCorpus, directory: URL, threads: Int,
                        log: @escaping @Sendable (String) -> Void) -> Executed {
        let started = ProcessInfo.processInfo.systemUptime
        func record(_ state: String, _ error: String?, _ rate: Double?) -> CellRecord {
            CellRecord(id: cell.id, label: cell.label, state: state, error: error, config: String(decoding: cell.config.canonicalJSON(), as: UTF8.self),
                       codeVersion: PruneScaleVersion.withKernels, wallSeconds: ProcessInfo.processInfo.systemUptime - started, achievedRate: rate)
        }
        do {
            let outcome = try CellRunner(cell: cell, base: base, data: data, directory: directory, threads: threads).run()
            return Executed(record: record("done", nil, outcome.achievedRate), rows: outcome.rows,
                            pruneSeconds: outcome.pruneSeconds, trainSeconds: outcome.trainSeconds)
        } catch {
            return Executed(record: record("failed", "\(error)", nil), rows: nil)
        }
    }

    private func runCells(_ todo: [Cell], bases: [ResolvedBase], data: TokenizedCorpus, store: ResultStore, alreadyDone: Int) throws {
        let byName = Dictionary(uniqueKeysWithValues: bases.map { ($0.identity.name, $0) })
        let workers = max(1, min(jobs, todo.count))
        let perCell = max(1, threads / workers)
        // BLAS's thread count is process-wide: each cell gets its share, so a cell's numbers are
        // those of a one-job run at `perCell` threads.
        let blasBefore = BLAS.threads
        BLAS.threads = perCell
        defer { BLAS.threads = blasBefore }
        let phaseStart = ProcessInfo.processInfo.systemUptime
        defer { times.add(cellsPhase: ProcessInfo.processInfo.systemUptime - phaseStart) }
        let progress = RunProgress(total: plan.cells.count, done: alreadyDone, log: log)
        let queue = WorkQueue(todo)
        let failure = FirstError()
        let plan = self.plan, log = self.log, times = self.times
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while let cell = queue.next() {
                let started = ProcessInfo.processInfo.systemUptime
                progress.started(cell)
                let result = Self.execute(cell, base: byName[cell.base]!, data: data, directory: plan.directory(of: cell), threads: perCell, log: log)
                do {
                    if let rows = result.rows {
                        try store.recordDone(result.record, evaluations: rows)
                        progress.finished(cell, rows: rows, seconds: ProcessInfo.processInfo.systemUptime - started)
                    } else {
                        try store.recordFailed(result.record)
                        progress.failed(cell, error: result.record.error ?? "")
                    }
                    times.add(prune: result.pruneSeconds, train: result.trainSeconds)
                } catch {
                    // The store itself failing is not the cell's fault: stop.
                    failure.keep(error)
                    queue.stop()
                }
            }
        }
        progress.end()
        if let e = failure.error { throw e }
    }
}

extension JSONEncoder {
    static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }
}
