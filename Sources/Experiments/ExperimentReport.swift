import Foundation
import Persistence
import Reports
import ScalingLaw
import LossRecords

/// The run's report folder: `records.csv`, `fits.csv` (law × holdout × family, with parameters
/// and metrics), `holdouts.csv` (the held-out scores alone, laws ranked), `predictions.csv`,
/// `plans.csv`, `recovery.csv` (controls and each curve's recovery, `RecoveryFindings`),
/// `summary.md` and SVG figures. Written from the
/// store alone (no training), replacing only a report folder PruneScale wrote.
public enum ExperimentReport {
    public struct FitRow: Sendable {
        public var family: String
        public var law: String
        public var holdout: String?
        public var result: FitResult?
        public var skipped: String?
    }

    public struct PlanRow: Sendable {
        public var plan: PlanSpec
        public var family: String
        public var law: String
        public var result: PlanResult?
        public var error: String?
    }

    public struct Outcome: Sendable {
        public var fits: [FitRow]
        public var plans: [PlanRow]
        public var checks: [PlannerCheck.Row]
        public var files: [String]
    }

    /// Records grouped into the families laws are fitted on (pruned cells only: the controls have
    /// rho = 0, where the P2 law's rate term is undefined; they are the recovery reference).
    static func families(_ records: [LossRecord], perFamily: Bool) -> [(name: String, records: [LossRecord])] {
        let pruned = records.filter { $0.labels["family"] != "control" }
        guard perFamily else { return pruned.isEmpty ? [] : [("all", pruned)] }
        var order: [String] = []
        var groups: [String: [LossRecord]] = [:]
        for r in pruned {
            let f = r.labels["family"] ?? "all"
            if groups[f] == nil { order.append(f) }
            groups[f, default: []].append(r)
        }
        return order.map { ($0, groups[$0]!) }
    }

    public static func write(plan: RunPlan, records: [LossRecord], statuses: [CellStatus], to dir: URL) throws -> Outcome {
        let spec = plan.spec
        var options = FitOptions()
        options.starts = spec.fit.starts
        options.seed = spec.fit.seed
        options.confidence = spec.fit.confidence
        options.space = spec.fit.space
        options.objective = spec.fit.objective
        options.interval = spec.fit.interval
        var fits: [FitRow] = []
        var analyses: [String: FitAnalysis] = [:]  // "family|law" → in-sample fit
        var holdoutAnalyses: [(family: String, law: String, holdout: String, analysis: FitAnalysis)] = []
        let groups = families(records, perFamily: spec.fit.perFamily)
        for (family, recs) in groups {
            for name in spec.fit.laws {
                let law: any Law
                do { law = try LawRegistry.law(named: name) } catch { continue }
                var full = options
                full.bootstrap = spec.fit.bootstrap
                do {
                    let a = try ScalingLawFitter.fit(recs, law: law, options: full, file: "records.csv")
                    analyses["\(family)|\(name)"] = a
                    fits.append(FitRow(family: family, law: name, holdout: nil, result: a.result))
                } catch {
                    fits.append(FitRow(family: family, law: name, holdout: nil, result: nil, skipped: "\(error)"))
                }
                for h in spec.fit.holdouts {
                    do {
                        let a = try ScalingLawFitter.fit(recs, law: law, options: options, holdout: try Holdout(parsing: h), file: "records.csv")
                        holdoutAnalyses.append((family, name, h, a))
                        fits.append(FitRow(family: family, law: name, holdout: h, result: a.result))
                    } catch {
                        fits.append(FitRow(family: family, law: name, holdout: h, result: nil, skipped: "\(error)"))
                    }
                }
            }
        }

        var plans: [PlanRow] = []
        let primary = spec.fit.laws.first ?? "p2"
        for p in spec.plans {
            let targets = p.family.map { [$0] } ?? groups.map(\.name)
            for family in targets {
                guard let a = analyses["\(family)|\(primary)"] else {
                    plans.append(PlanRow(plan: p, family: family, law: primary, result: nil, error: "no \(primary) fit for family \(family)"))
                    continue
                }
                do {
                    let result = try Planner(law: a.law, fit: a.result).plan(p.target, criterion: p.criterion)
                    plans.append(PlanRow(plan: p, family: family, law: primary, result: result))
                } catch {
                    plans.append(PlanRow(plan: p, family: family, law: primary, error: "\(error)"))
                }
            }
        }

        var checks: [PlannerCheck.Row] = []
        if let law = try? LawRegistry.law(named: primary) {
            var o = options
            o.bootstrap = spec.fit.bootstrap
            for (family, recs) in groups { checks += PlannerCheck.rows(family: family, records: recs, law: law, options: o) }
        }

        let files = try OutputDirectory.write(to: dir, command: "prunescale report") { staging -> [String] in
            var files: [String] = []
            func put(_ name: String, _ text: String) throws {
                try AtomicFile.write(text, to: staging.appendingPathComponent(name))
                files.append(name)
            }
            try put("records.csv", ExperimentExport.text(records, format: .csv))
            try put("fits.csv", fitsCSV(fits))
            try put("holdouts.csv", holdoutsCSV(fits))
            try put("predictions.csv", predictionsCSV(groups.map(\.name), laws: spec.fit.laws, analyses: analyses, holdouts: holdoutAnalyses))
            try put("plans.csv", plansCSV(plans, checks: checks, law: primary))
            for (family, recs) in groups {
                let fitted = analyses["\(family)|\(primary)"]
                try put("figures/loss-vs-tokens-\(slug(family)).svg", ExperimentFigures.curves(family: family, records: recs, fit: fitted))
            }
            for h in holdoutAnalyses where h.law == primary {
                let report = FitReport(fit: h.analysis.result, law: h.analysis.law, rows: h.analysis.rows)
                try put("figures/heldout-\(slug(h.holdout))-\(slug(h.family)).svg", Figures.predictedVersusObserved(report))
            }
            for p in plans {
                if let r = p.result, r.tokens != nil { try put("figures/plan-\(slug(p.plan.label))-\(slug(p.family)).svg", Figures.plan(r)) }
            }
            let findings = RecoveryFindings.analyse(records)
            if let findings { try put("recovery.csv", RecoveryFindings.csv(findings)) }
            try put("summary.md", summary(plan: plan, statuses: statuses, records: records, fits: fits, plans: plans, checks: checks, findings: findings))
            return files.sorted()
        }
        return Outcome(fits: fits, plans: plans, checks: checks, files: files)
    }

    static func slug(_ s: String) -> String {
        String(s.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." ? $0 : "_" })
    }

    static func num(_ x: Double?) -> String {
        guard let x, x.isFinite else { return "" }
        return "\(x)"
    }

    /// A plan's interval for the summary: `lo–hi`, `≥ lo` when it has no upper end, or empty.
    static func intervalText(_ p: PlanResult?) -> String {
        if let i = p?.interval { return "\(fmt(i.first, 3))–\(fmt(i.last, 3))" }
        return p?.lowerBound.map { "≥ \(fmt($0, 3))" } ?? ""
    }

    static func fmt(_ x: Double?, _ digits: Int = 4) -> String {
        guard let x, x.isFinite else { return "n/a" }
        return String(format: "%.\(digits)g", x)
    }

    static func fitsCSV(_ rows: [FitRow]) -> String {
        let names = Array(Set(rows.compactMap(\.result).flatMap(\.parameterNames))).sorted()
        let metricNames = ["r2", "rmse", "mape", "huber", "asd", "asd_log"]
        var t = CSVTable(header: ["family", "law", "holdout", "status", "records_fit", "records_holdout"] + names
                         + metricNames + metricNames.map { "holdout_\($0)" } + ["warnings", "reason"])
        func cells(_ m: FitMetrics?) -> [String] {
            guard let m else { return [String](repeating: "", count: metricNames.count) }
            return [num(m.r2), num(m.rmse), num(m.mape), num(m.huber), num(m.asd), num(m.asdLog)]
        }
        for r in rows {
            let f = r.result
            t.append([r.family, r.law, r.holdout ?? "none", f == nil ? "skipped" : "ok", f.map { "\($0.data.fitted)" } ?? "",
                      f.map { "\($0.data.heldOut)" } ?? ""] + names.map { n in num(f?.params[n]) }
                     + cells(f?.metrics) + cells(f?.holdoutMetrics) + ["\(f?.warnings.count ?? 0)", r.skipped ?? ""])
        }
        return t.text
    }

    /// One row per family × holdout × law with the held-out scores only, laws ranked within their
    /// family and holdout by held-out MAPE (1 = best; a skipped fit has no rank). This is the
    /// paper's comparison; fits.csv carries the same numbers among the parameters.
    static func holdoutsCSV(_ rows: [FitRow]) -> String {
        var t = CSVTable(header: ["family", "holdout", "law", "rank", "status", "records_fit", "records_holdout",
                                  "holdout_mape", "holdout_asd", "holdout_r2", "holdout_rmse", "r2_fitted", "reason"])
        var order: [String] = []
        var groups: [String: [FitRow]] = [:]
        for r in rows {
            guard let h = r.holdout else { continue }
            let key = "\(r.family)\u{0}\(h)"
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(r)
        }
        for key in order {
            let group = groups[key]!
            let ranked = group.compactMap { r in r.result?.holdoutMetrics?.mape.flatMap { $0.isFinite ? (r.law, $0) : nil } }
                .sorted { $0.1 < $1.1 }.map(\.0)
            for r in group {
                let f = r.result, m = f?.holdoutMetrics
                t.append([r.family, r.holdout!, r.law, ranked.firstIndex(of: r.law).map { "\($0 + 1)" } ?? "",
                          f == nil ? "skipped" : "ok", f.map { "\($0.data.fitted)" } ?? "", f.map { "\($0.data.heldOut)" } ?? "",
                          num(m?.mape), num(m?.asd), num(m?.r2), num(m?.rmse), num(f?.metrics.r2), r.skipped ?? ""])
            }
        }
        return t.text
    }

    static func predictionsCSV(_ families: [String], laws: [String], analyses: [String: FitAnalysis],
                               holdouts: [(family: String, law: String, holdout: String, analysis: FitAnalysis)]) -> String {
        var t = CSVTable(header: ["family", "law", "holdout", "run", "n0", "rho", "tokens", "observed", "predicted", "role"])
        func add(_ family: String, _ law: String, _ holdout: String, _ a: FitAnalysis) {
            for row in a.rows {
                t.append([family, law, holdout, row.record.run, num(row.record.n0), num(row.record.rho), num(row.record.tokens),
                          num(row.record.loss), num(row.fitted), row.role.rawValue])
            }
        }
        for f in families {
            for l in laws { if let a = analyses["\(f)|\(l)"] { add(f, l, "none", a) } }
        }
        for h in holdouts { add(h.family, h.law, h.holdout, h.analysis) }
        return t.text
    }

    /// The spec's plans (`kind` plan) and the planner's own test (`kind` check: planned against
    /// the tokens the largest base's curve took).
    static func plansCSV(_ rows: [PlanRow], checks: [PlannerCheck.Row], law: String) -> String {
        var t = CSVTable(header: ["kind", "plan", "family", "law", "n0", "rho", "loss0", "criterion", "tokens", "lower", "upper", "reachable", "floor",
                                  "actual_tokens", "error_pct", "inside", "message", "target_at"])
        for r in rows {
            let p = r.result
            t.append(["plan", r.plan.label, r.family, r.law, num(r.plan.target.n0), num(r.plan.target.rho), num(r.plan.target.loss0),
                      r.plan.criterion.description, num(p?.tokens), num(p?.interval?.first ?? p?.lowerBound), num(p?.interval?.last),
                      p.map { "\($0.reachable)" } ?? "", num(p?.floor), "", "", "", p?.message ?? r.error ?? "", ""])
        }
        for c in checks {
            let p = c.planned
            t.append(["check", c.run, c.family, law, num(c.n0), num(c.rho), num(c.loss0), "target loss \(num(c.targetLoss))",
                      num(p?.tokens), num(p?.interval?.first ?? p?.lowerBound), num(p?.interval?.last), p.map { "\($0.reachable)" } ?? "", num(p?.floor),
                      num(c.actualTokens), num(c.errorPercent), c.inside.map { "\($0)" } ?? "", p?.message ?? c.error ?? "", c.at.rawValue])
        }
        return t.text
    }

    static func summary(plan: RunPlan, statuses: [CellStatus], records: [LossRecord], fits: [FitRow], plans: [PlanRow],
                        checks: [PlannerCheck.Row], findings: RecoveryFindings.Findings? = nil) -> String {
        let spec = plan.spec, r = spec.posttrain
        var out = "# \(spec.name): post-training scaling laws fitted on our own curves\n\n"
        let counts = Dictionary(grouping: statuses, by: \.state).mapValues(\.count)
        out += "Spec `\(spec.file)`; \(statuses.count) cells: \(counts[.done] ?? 0) done, \(counts[.failed] ?? 0) failed, "
        out += "\(counts[.missing] ?? 0) missing, \(counts[.running] ?? 0) running. \(records.count) evaluations.\n\n"
        out += "## What was run\n\n"
        out += "- Bases: " + plan.bases.map { "\($0.identity.name) (\($0.identity.nonEmbedding) non-embedding parameters)" }.joined(separator: ", ") + "\n"
        out += "- Pruning: " + (spec.pruning.control ? "an unpruned control per base; " : "") + spec.pruning.entries.map { e in
            switch e.kind {
            case .depth(let rates): "depth \(e.methods.joined(separator: "/")) at \(rates.map { "\($0)" }.joined(separator: ", "))"
            case .width(let rates): "width \(e.methods.joined(separator: "/")) at \(rates.map { "\($0)" }.joined(separator: ", "))"
            case .pattern(let p): "\(p) \(e.methods.joined(separator: "/"))"
            }
        }.joined(separator: "; ") + "\n"
        let budget = r.tokens.map { "\(Int($0)) tokens" } ?? "\(r.tokensPerParam!) tokens per parameter"
        out += "- Post-training: \(budget) on the \(r.split.rawValue) split of `\(spec.corpus)`, lr \(r.learningRate), "
        switch r.protocolKind {
        case .curve:
            out += "\(r.schedule.rawValue) schedule, \(r.evalPoints) log-spaced evaluations along one run per cell (protocol **curve**, the paper's).\n"
        case .lossAtBudget:
            out += "protocol **loss-at-budget**: a warmup-stable-decay trunk with a decay branch (\(Int(r.decayFraction * 100)) % of each budget) at every budget, so each point is a model annealed for its own budget.\n"
        }
        out += "- Losses: nats per token on \(r.evalTokens) tokens of the eval split (windows spread over the whole split); `loss0` is the unpruned base's loss on the same windows.\n\n"

        let failed = statuses.filter { $0.state == .failed }
        if !failed.isEmpty {
            out += "## Failed cells\n\n" + failed.map { "- \($0.label): \($0.error ?? "")" }.joined(separator: "\n") + "\n\n"
        }

        out += "## Laws, per pruning family\n\n"
        out += "In-sample metrics, then each held-out protocol's MAPE (%) and ASD on the held-out records. Ranked by mean held-out MAPE.\n\n"
        let families = uniqued(fits.map(\.family))
        let holdouts = spec.fit.holdouts
        for family in families {
            out += "### \(family)\n\n"
            out += "| rank | law | R² | RMSE | MAPE % | ASD | " + holdouts.map { "\($0) MAPE % | \($0) ASD" }.joined(separator: " | ") + " |\n"
            out += "|" + String(repeating: " --- |", count: 6 + 2 * holdouts.count) + "\n"
            let laws = spec.fit.laws
            func heldMAPE(_ law: String) -> Double {
                let v = fits.filter { $0.family == family && $0.law == law && $0.holdout != nil }.compactMap { $0.result?.holdoutMetrics?.mape }
                    .filter(\.isFinite)
                return v.isEmpty ? .infinity : v.reduce(0, +) / Double(v.count)
            }
            for (rank, law) in laws.sorted(by: { heldMAPE($0) < heldMAPE($1) }).enumerated() {
                let main = fits.first { $0.family == family && $0.law == law && $0.holdout == nil }
                var cells = ["\(rank + 1)", law]
                if let m = main?.result?.metrics {
                    cells += [fmt(m.r2), fmt(m.rmse, 3), fmt(m.mape, 3), fmt(m.asd, 3)]
                } else {
                    cells += ["skipped", "", "", ""]
                }
                for h in holdouts {
                    let hm = fits.first { $0.family == family && $0.law == law && $0.holdout == h }?.result?.holdoutMetrics
                    cells += [fmt(hm?.mape, 3), fmt(hm?.asd, 3)]
                }
                out += "| " + cells.joined(separator: " | ") + " |\n"
            }
            let skipped = fits.filter { $0.family == family && $0.skipped != nil }
            for s in skipped { out += "\n- \(s.law)\(s.holdout.map { " (holdout \($0))" } ?? ""): not fitted: \(s.skipped!)" }
            if let w = fits.first(where: { $0.family == family && $0.law == spec.fit.laws.first && $0.holdout == nil })?.result?.warnings, !w.isEmpty {
                out += "\n\nWarnings of the \(spec.fit.laws.first!) fit:\n" + w.map { "- \($0)" }.joined(separator: "\n")
            }
            out += "\n\n![loss vs tokens](figures/loss-vs-tokens-\(slug(family)).svg)\n\n"
        }

        if !checks.isEmpty {
            out += "## The planner's own test\n\n"
            out += "\(spec.fit.laws.first ?? "p2") fitted on every base but the largest, per family; for each pruned model of the largest base, the "
            out += "tokens planned to reach the loss its curve reached at its middle evaluation (in log tokens) and at its last, against the "
            out += "tokens at which the curve crossed it.\n\n"
            out += "| family | run | rho | target at | target loss | actual tokens | planned | interval | error % | inside |\n"
            out += "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
            for c in checks {
                let interval = intervalText(c.planned)
                out += "| \(c.family) | \(c.run) | \(fmt(c.rho, 3)) | \(c.at.rawValue) | \(fmt(c.targetLoss, 4)) | \(fmt(c.actualTokens, 3)) | \(fmt(c.planned?.tokens, 3)) | \(interval) | "
                out += "\(fmt(c.errorPercent, 3)) | \(c.inside.map { $0 ? "yes" : "no" } ?? (c.error ?? "n/a")) |\n"
            }
            out += "\n"
        }
        if let findings { out += RecoveryFindings.markdown(findings) }
        if !plans.isEmpty {
            out += "## Plans\n\n| plan | family | law | target | criterion | tokens | interval | note |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n"
            for p in plans {
                let t = p.plan.target
                let target = "n0 \(fmt(t.n0, 3)), rho \(fmt(t.rho, 3)), loss0 \(fmt(t.loss0, 4))"
                let interval = intervalText(p.result)
                out += "| \(p.plan.label) | \(p.family) | \(p.law) | \(target) | \(p.plan.criterion) | \(fmt(p.result?.tokens, 3)) | \(interval) | \(p.result?.message ?? p.error ?? "") |\n"
            }
            out += "\n"
        }
        return out
    }
}
