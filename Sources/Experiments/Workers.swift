import Foundation

/// The first error of the workers that stops the run.
final class FirstError: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Error?
    func keep(_ e: Error) { lock.withLock { if stored == nil { stored = e } } }
    var error: Error? { lock.withLock { stored } }
}

/// Hands out cells to the workers.
final class WorkQueue: @unchecked Sendable {
    private var items: [Cell]
    private var index = 0
    private var stopped = false
    private let lock = NSLock()
    init(_ items: [Cell]) { self.items = items }
    func next() -> Cell? {
        lock.withLock {
            guard !stopped, index < items.count else { return nil }
            defer { index += 1 }
            return items[index]
        }
    }
    func stop() { lock.withLock { stopped = true } }
}
