import ArgumentParser
import Experiments
import Foundation

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show which cells of an experiment are done, running, failed or missing.",
        discussion: """
            Reads the spec and its store (nothing is run). A cell is done or failed when the store \
            holds it, running when another process holds its folder's lock, missing otherwise.
            --format json prints one object: {"spec", "store", "counts": {...}, "cells": [{"id", \
            "label", "state", "error", "labels"}], "slurm": squeue's lines after `submit`}. Cells of a \
            submitted run count as done once `prunescale collect` has moved their shards into the store.

            Example:
              prunescale status experiments/quickstart.yaml --format json
            """)

    @OptionGroup var experiment: ExperimentOptions
    @Option(help: "Output on stdout: text or json.")
    var format: OutputFormat = .text

    func run() throws {
        let plan = try experiment.plan()
        var summary = StatusSummary(plan: plan, statuses: try ExperimentRunner.status(plan))
        // Slurm's view of the jobs `submit` started, when it did and squeue is there.
        let jobsFile = plan.store.appendingPathComponent("slurm/jobs")
        if let jobs = try? String(contentsOf: jobsFile, encoding: .utf8) {
            summary.slurm = Slurm.queue(jobs: jobs.split(separator: "\n").map(String.init))
        }
        try summary.print(format)
    }
}

/// What `status` and `run` print.
struct StatusSummary: Encodable {
    var spec: String
    var store: String
    var counts: [String: Int]
    var cells: [CellStatus]
    var report: String?
    /// squeue's lines for the experiment's Slurm jobs (after `submit`).
    var slurm: String?

    init(plan: RunPlan, statuses: [CellStatus]) {
        spec = plan.spec.file
        store = plan.store.path
        var c = ["done": 0, "running": 0, "failed": 0, "missing": 0]
        for s in statuses { c[s.state.rawValue, default: 0] += 1 }
        counts = c
        cells = statuses
    }

    func print(_ format: OutputFormat, report outcome: ExperimentReport.Outcome? = nil) throws {
        var me = self
        if outcome != nil { me.report = URL(fileURLWithPath: store).appendingPathComponent("report").path }
        switch format {
        case .json: try JSONOutput.print(me)
        case .text:
            for c in cells { Swift.print("\(c.state.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)) \(c.id)  \(c.label)" + (c.error.map { "  (\($0))" } ?? "")) }
            Swift.print("\(cells.count) cells: \(counts["done"]!) done, \(counts["running"]!) running, \(counts["failed"]!) failed, \(counts["missing"]!) missing")
            if let slurm { Swift.print("Slurm:\n" + slurm, terminator: slurm.hasSuffix("\n") ? "" : "\n") }
            if let outcome, let report = me.report { Swift.print("wrote \(report)/: \(outcome.files.joined(separator: ", "))") }
        }
    }
}
