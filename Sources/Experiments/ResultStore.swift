import Foundation
import GRDB
import Persistence

/// One evaluation of a cell: the eval-split loss after `tokens` post-training tokens (0: right
/// after pruning), in the planner's schema plus what a reader needs to trust it.
public struct EvaluationRow: Sendable, Equatable, Codable {
    public var cell: String
    /// Position in the cell's curve (0 = before post-training).
    public var point: Int
    public var tokens: Int
    public var loss: Double
    public var trainLoss: Double?
    public var step: Int
    public var n0: Double
    public var n: Double
    public var rho: Double
    public var loss0: Double
    /// Passes over the post-training split at this point.
    public var epochs: Double
    public var learningRate: Double?
    public var wallSeconds: Double
    public var tokensPerSecond: Double?
}

/// A cell's outcome as stored: done with its evaluations, or failed with its error.
public struct CellRecord: Sendable, Equatable, Codable {
    public var id: String
    public var label: String
    public var state: String
    public var error: String?
    public var config: String
    public var codeVersion: String
    public var wallSeconds: Double
    public var achievedRate: Double?
}

/// The experiment's results in SQLite (GRDB): a `cells` table (one row per finished or failed
/// cell, with its resolved configuration as JSON) and an `evaluations` table (one row per
/// evaluation); the view `evaluation_rows` joins them, so each evaluation reads with its cell's
/// full configuration and code version. A cell's evaluations and its `done` row are written in
/// one transaction, so a crash leaves a cell either absent or complete, and the primary keys
/// make a second write of the same cell impossible.
public final class ResultStore: @unchecked Sendable {  // DatabaseQueue serialises access
    public static let fileName = "store.sqlite"
    let db: DatabaseQueue
    public let url: URL

    public init(directory: URL) throws {
        try AtomicFile.createDirectory(directory)
        url = directory.appendingPathComponent(Self.fileName)
        do {
            var config = Configuration()
            config.busyMode = .timeout(30)
            db = try DatabaseQueue(path: url.path, configuration: config)
            try Self.migrator.migrate(db)
        } catch {
            throw FileError(url.path, "cannot open the result store: \(Self.words(error))")
        }
    }

    static func words(_ error: Error) -> String {
        if let e = error as? DatabaseError { return e.message ?? "\(e.resultCode)" }
        return "\(error)"
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE cells (
                  id TEXT PRIMARY KEY NOT NULL,
                  label TEXT NOT NULL,
                  state TEXT NOT NULL CHECK (state IN ('done', 'failed')),
                  error TEXT,
                  config TEXT NOT NULL,
                  code_version TEXT NOT NULL,
                  wall_seconds REAL NOT NULL,
                  achieved_rate REAL,
                  finished_at TEXT NOT NULL);
                CREATE TABLE evaluations (
                  cell TEXT NOT NULL REFERENCES cells(id) ON DELETE CASCADE,
                  point INTEGER NOT NULL,
                  tokens INTEGER NOT NULL,
                  loss REAL NOT NULL,
                  train_loss REAL,
                  step INTEGER NOT NULL,
                  n0 REAL NOT NULL, n REAL NOT NULL, rho REAL NOT NULL, loss0 REAL NOT NULL,
                  epochs REAL NOT NULL,
                  learning_rate REAL,
                  wall_seconds REAL NOT NULL,
                  tokens_per_second REAL,
                  PRIMARY KEY (cell, point));
                CREATE VIEW evaluation_rows AS
                  SELECT e.*, c.label, c.config, c.code_version FROM evaluations e JOIN cells c ON c.id = e.cell;
                """)
        }
        return m
    }

    /// Records a finished cell and its evaluations at once; a cell already stored is left as it is.
    public func recordDone(_ cell: CellRecord, evaluations: [EvaluationRow]) throws {
        try write { db in
            guard try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM cells WHERE id = ? AND state = 'done'", arguments: [cell.id]) == 0 else { return }
            try db.execute(sql: "DELETE FROM cells WHERE id = ?", arguments: [cell.id])
            try Self.insert(cell, db)
            for e in evaluations {
                try db.execute(sql: """
                    INSERT INTO evaluations (cell, point, tokens, loss, train_loss, step, n0, n, rho, loss0, epochs, learning_rate, wall_seconds, tokens_per_second)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [e.cell, e.point, e.tokens, e.loss, e.trainLoss, e.step, e.n0, e.n, e.rho, e.loss0, e.epochs,
                                     e.learningRate, e.wallSeconds, e.tokensPerSecond])
            }
        }
    }

    /// Records a failed cell with its error (replacing an earlier failure of it).
    public func recordFailed(_ cell: CellRecord) throws {
        try write { db in
            try db.execute(sql: "DELETE FROM cells WHERE id = ? AND state = 'failed'", arguments: [cell.id])
            guard try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM cells WHERE id = ?", arguments: [cell.id]) == 0 else { return }
            try Self.insert(cell, db)
        }
    }

    static func insert(_ c: CellRecord, _ db: Database) throws {
        try db.execute(sql: """
            INSERT INTO cells (id, label, state, error, config, code_version, wall_seconds, achieved_rate, finished_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [c.id, c.label, c.state, c.error, c.config, c.codeVersion, c.wallSeconds, c.achievedRate,
                             ISO8601DateFormatter().string(from: Date())])
    }

    /// State of every stored cell: id → (state, error).
    public func states() throws -> [String: (state: String, error: String?)] {
        try read { db in
            var out: [String: (String, String?)] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT id, state, error FROM cells") { out[row["id"]] = (row["state"], row["error"]) }
            return out
        }
    }

    /// Every evaluation of the given cells, ordered by cell order then point.
    public func evaluations(cells: [String]) throws -> [String: [EvaluationRow]] {
        try read { db in
            var out: [String: [EvaluationRow]] = [:]
            let rows = try Row.fetchAll(db, sql: "SELECT * FROM evaluations ORDER BY cell, point")
            let wanted = Set(cells)
            for r in rows where wanted.contains(r["cell"]) {
                let e = EvaluationRow(cell: r["cell"], point: r["point"], tokens: r["tokens"], loss: r["loss"], trainLoss: r["train_loss"],
                                      step: r["step"], n0: r["n0"], n: r["n"], rho: r["rho"], loss0: r["loss0"], epochs: r["epochs"],
                                      learningRate: r["learning_rate"], wallSeconds: r["wall_seconds"], tokensPerSecond: r["tokens_per_second"])
                out[e.cell, default: []].append(e)
            }
            return out
        }
    }

    /// Mean training speed of the stored cells of a base (for cost estimates), if any.
    public func meanTokensPerSecond(cells: [String]) throws -> Double? {
        let all = try evaluations(cells: cells).values.flatMap { $0 }.compactMap(\.tokensPerSecond)
        return all.isEmpty ? nil : all.reduce(0, +) / Double(all.count)
    }

    private func write(_ body: (Database) throws -> Void) throws {
        do { try db.write(body) } catch { throw FileError(url.path, "cannot write the result store: \(Self.words(error))") }
    }

    private func read<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try db.read(body) } catch { throw FileError(url.path, "cannot read the result store: \(Self.words(error))") }
    }
}
