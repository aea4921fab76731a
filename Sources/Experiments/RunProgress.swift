import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A line per finished cell, and an overall bar with ETA on a terminal (a line every 10 s otherwise).
final class RunProgress: @unchecked Sendable {
    let total: Int
    private var done: Int
    private let startDone: Int
    private let started = ProcessInfo.processInfo.systemUptime
    private var lastLine = 0.0
    private let lock = NSLock()
    private let log: @Sendable (String) -> Void
    private let terminal = isatty(STDERR_FILENO) != 0
    private var running: [String] = []

    init(total: Int, done: Int, log: @escaping @Sendable (String) -> Void) {
        self.total = total
        self.done = done
        startDone = done
        self.log = log
    }

    func started(_ cell: Cell) {
        lock.withLock { running.append(cell.label) }
        tick()
    }

    func finished(_ cell: Cell, rows: [EvaluationRow], seconds: Double) {
        let first = rows.first?.loss, last = rows.last?.loss
        lock.withLock {
            done += 1
            running.removeAll { $0 == cell.label }
            clearBar()
            log(String(format: "[%d/%d] %@: done in %.1f s, loss %.4f → %.4f over %d points", done, total, cell.label, seconds,
                       first ?? .nan, last ?? .nan, rows.count))
        }
        tick(force: true)
    }

    func failed(_ cell: Cell, error: String) {
        lock.withLock {
            done += 1
            running.removeAll { $0 == cell.label }
            clearBar()
            log("[\(done)/\(total)] \(cell.label): FAILED: \(error)")
        }
        tick(force: true)
    }

    func tick(force: Bool = false) {
        lock.withLock {
            let now = ProcessInfo.processInfo.systemUptime
            let finishedHere = done - startDone
            let elapsed = now - started
            let eta = finishedHere > 0 ? elapsed / Double(finishedHere) * Double(total - done) : nil
            let text = String(format: "cells %d/%d", done, total) + (eta.map { String(format: ", ETA %.0f s", $0) } ?? "")
                + (running.isEmpty ? "" : "; running " + running.joined(separator: ", "))
            if terminal {
                let width = 24, filled = total > 0 ? width * done / total : width
                FileHandle.standardError.write(Data(("\r\u{1B}[K[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "] " + text).utf8))
            } else if force ? false : now - lastLine >= 10 {
                lastLine = now
                log(text)
            }
        }
    }

    private func clearBar() {
        if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }

    func end() { lock.withLock { clearBar() } }
}
