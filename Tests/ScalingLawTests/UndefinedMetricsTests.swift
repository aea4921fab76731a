import Foundation
import ScalingLaw
import LossRecords
import Testing

/// A metric the records do not define is nil (JSON null) with its reason, never NaN: NaN failed
/// JSON encoding (`EncodingError ... metrics.asd`) or printed as `nan` (issue 8).
@Suite struct UndefinedMetricsTests {
    /// Chinchilla-style table: one model per row, so every run has a single point.
    static let onePointPerRun: [LossRecord] = ([
        (1e8, 2e9, 3.1), (2e8, 4e9, 2.9), (4e8, 8e9, 2.7), (8e8, 1.6e10, 2.55), (1.6e9, 3.2e10, 2.42),
        (3.2e9, 6.4e10, 2.33), (6.4e9, 1.28e11, 2.25),
    ] as [(Double, Double, Double)]).map { n, d, l in LossRecord(run: "n=\(n)", n: n, tokens: d, loss: l) }

    @Test func singlePointRunsFitWithASDUndefined() throws {
        var o = FitOptions()
        o.starts = 4
        let fit = try ScalingLawFitter.fit(Self.onePointPerRun, law: ChinchillaLaw(), options: o)
        let m = fit.result.metrics
        #expect(m.asd == nil && m.asdLog == nil)
        #expect(m.undefined == ["asd": "every run has a single point", "asd_log": "every run has a single point"])
        #expect(m.notes == ["ASD n/a: every run has a single point", "ASD (log tokens) n/a: every run has a single point"])
        #expect(m.r2 != nil && m.rmse != nil)

        let json = try #require(try JSONSerialization.jsonObject(with: FitFile.encode(fit.result)) as? [String: Any])
        let metrics = try #require(json["metrics"] as? [String: Any])
        #expect(metrics["asd"] is NSNull && metrics["asd_log"] is NSNull)
        #expect(metrics["r2"] is Double)
        #expect((metrics["undefined"] as? [String: String])?["asd"] == "every run has a single point")
        // And the fit reads back.
        let (back, _) = try FitFile.decode(FitFile.encode(fit.result), file: "fit.json")
        #expect(back.metrics == m)
    }

    @Test func constantLossLeavesR2Undefined() throws {
        let records = (0..<6).map { LossRecord(run: $0 < 3 ? "a" : "b", tokens: Double(1 + $0 % 3) * 1e8, loss: 2) }
        var o = FitOptions()
        o.starts = 2
        let law = try CustomLaw(expression: "E + B / tokens^beta", start: ["E": 2, "B": 1, "beta": 0.3])
        let fit = try ScalingLawFitter.fit(records, law: law, options: o)
        #expect(fit.result.metrics.r2 == nil)
        #expect(fit.result.metrics.undefined["r2"] == "the observed loss is constant")
        #expect(fit.result.metrics.asd != nil)
        _ = try FitFile.encode(fit.result)
    }

    @Test func reasonsForEachCase() {
        let noTokens = Metrics.compute(records: [LossRecord(run: "a", loss: 2), LossRecord(run: "a", loss: 3)], fitted: [2, 3], huberDelta: 1)
        #expect(noTokens.undefined["asd"] == "no record has a token count")
        let fromZero = Metrics.compute(records: [LossRecord(run: "a", tokens: 0, loss: 3), LossRecord(run: "a", tokens: 5, loss: 2)],
                                       fitted: [3, 2.1], huberDelta: 1)
        #expect(fromZero.asd != nil && fromZero.asdLog == nil)
        #expect(fromZero.undefined["asd_log"]?.contains("tokens = 0") == true)
        let one = Metrics.compute(records: [LossRecord(run: "a", tokens: 1, loss: 3)], fitted: [3], huberDelta: 1)
        #expect(one.undefined["r2"] == "a single record")
        let broken = Metrics.compute(records: [LossRecord(run: "a", tokens: 1, loss: 3), LossRecord(run: "a", tokens: 2, loss: 2)],
                                     fitted: [.nan, 2], huberDelta: 1)
        #expect(broken.rmse == nil && broken.undefined["rmse"] == "the law is not finite at 1 of 2 records")
        let overflow = Metrics.compute(records: [LossRecord(run: "a", tokens: 1, loss: 1e300), LossRecord(run: "a", tokens: 2, loss: 1)],
                                       fitted: [-1e300, 1], huberDelta: 1)
        #expect(overflow.rmse == nil && overflow.undefined["rmse"] == "not a finite number")
    }

    /// NaN cannot get into FitMetrics, whoever builds one.
    @Test func nonFiniteValuesBecomeNil() throws {
        let m = FitMetrics(count: 3, r2: .nan, rmse: 1, mape: .infinity, huber: 0, asd: nil, asdLog: 2, undefined: ["asd": "x", "rmse": "ignored"])
        #expect(m.r2 == nil && m.mape == nil && m.asd == nil && m.rmse == 1)
        #expect(m.undefined == ["r2": "not a finite number", "mape": "not a finite number", "asd": "x"])
        let data = try JSONEncoder().encode(m)
        #expect(try JSONDecoder().decode(FitMetrics.self, from: data) == m)
    }

    /// fit.json files written before: every metric a number, no `undefined`.
    @Test func olderFitFilesStillDecode() throws {
        let old = #"{"count": 5, "r2": 0.9, "rmse": 0.1, "mape": 1, "huber": 0.01, "asd": 0.2, "asd_log": 0.3}"#
        let m = try JSONDecoder().decode(FitMetrics.self, from: Data(old.utf8))
        #expect(m.asd == 0.2 && m.undefined.isEmpty)
    }
}
