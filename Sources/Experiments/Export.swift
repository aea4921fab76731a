import Foundation
import ScalingLaw
import LossRecords

/// The stored evaluations of a plan's cells as loss records in the planner's schema
/// (`run, n0, n, rho, loss0, tokens, loss`) with the cell's labels, in grid order then token
/// order: what `prunescale fit --data` reads. Timings are left out, so two runs of one spec at
/// one thread count export identical files.
public enum ExperimentExport {
    public enum Format: String, Sendable, CaseIterable { case csv, jsonl }

    public static let labelColumns = ["base", "structure", "method", "rate", "pattern", "seed", "family", "protocol", "cell", "point",
                                      "epochs", "train_loss", "step"]

    public static func records(_ plan: RunPlan, store: ResultStore) throws -> [LossRecord] {
        let byCell = try store.evaluations(cells: plan.cells.map(\.id))
        var out: [LossRecord] = []
        for cell in plan.cells {
            for e in byCell[cell.id] ?? [] {
                var labels = cell.labels
                labels["point"] = "\(e.point)"
                labels["epochs"] = "\(e.epochs)"
                labels["step"] = "\(e.step)"
                if let t = e.trainLoss { labels["train_loss"] = "\(t)" }
                out.append(LossRecord(run: cell.label, n0: e.n0, n: e.n, rho: e.rho, loss0: e.loss0, tokens: Double(e.tokens), loss: e.loss,
                                      labels: labels))
            }
        }
        return out
    }

    public static func text(_ records: [LossRecord], format: Format, file: String = "records.csv") -> String {
        let set = RecordSet(file: file, records: records, labelColumns: labelColumns)
        switch format {
        case .csv: return RecordWriter.csv(set)
        case .jsonl: return RecordWriter.jsonl(set)
        }
    }
}
