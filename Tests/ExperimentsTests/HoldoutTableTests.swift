@testable import Experiments
import Foundation
import ScalingLaw
import LossRecords
import Testing

@Suite struct HoldoutTableTests {
    /// On records of a known P2 law, P2 out-predicts Chinchilla on the largest base, so it ranks
    /// first; a skipped fit keeps its row, with no rank.
    @Test func lawsAreRankedByHeldOutMAPEWithinFamilyAndHoldout() throws {
        let records = Synthetic.records(law: P2Law(), params: [500, 2000, 1, 0.3, 0.35, -0.8, 0.05],
                                        design: SyntheticDesign(n0: [1e9, 3e9, 8e9, 2e10], rho: [0.15, 0.25, 0.35], noise: 0.0005, seed: 5))
        var options = FitOptions()
        options.starts = 4
        options.bootstrap = 0
        let holdout = try Holdout(parsing: "n0=max")
        var rows: [ExperimentReport.FitRow] = []
        var mape: [String: Double] = [:]
        for law in [ChinchillaLaw() as any Law, P2Law()] {
            let a = try ScalingLawFitter.fit(records, law: law, options: options, holdout: holdout)
            mape[law.name] = try #require(a.result.holdoutMetrics?.mape)
            rows.append(.init(family: "f", law: law.name, holdout: "n0=max", result: a.result))
        }
        rows.append(.init(family: "f", law: "sparsity", holdout: "n0=max", result: nil, skipped: "needs a sparsity column"))
        rows.append(.init(family: "f", law: "p2", holdout: nil, result: rows[1].result))  // in-sample: not a holdout row

        let lines = ExperimentReport.holdoutsCSV(rows).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let header = lines[0]
        let table = lines.dropFirst().map { Dictionary(uniqueKeysWithValues: zip(header, $0)) }
        #expect(table.count == 3)
        #expect(mape["p2"]! < mape["chinchilla"]!)
        let byLaw = Dictionary(uniqueKeysWithValues: table.map { ($0["law"]!, $0) })
        #expect(byLaw["p2"]?["rank"] == "1" && byLaw["chinchilla"]?["rank"] == "2")
        #expect(byLaw["p2"].flatMap { Double($0["holdout_mape"]!) } == mape["p2"])
        #expect(byLaw["sparsity"]?["rank"] == "" && byLaw["sparsity"]?["status"] == "skipped")
        #expect(byLaw["sparsity"]?["reason"] == "needs a sparsity column")
    }
}
