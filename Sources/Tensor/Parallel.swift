import Foundation

/// Data-parallel loops for the engine's row-wise kernels and attention.
///
/// Every caller hands out items that write disjoint outputs and do no cross-item reduction, so the
/// results are bit-identical whatever the thread count; `threads <= 1` runs inline (no dispatch).
public enum Parallel {
    /// All cores the process may use.
    public static var defaultThreads: Int { ProcessInfo.processInfo.activeProcessorCount }

    /// `body(i)` for `i in 0..<count`, on up to `threads` threads.
    public static func forEach(_ count: Int, threads: Int, _ body: (Int) -> Void) {
        guard count > 0 else { return }
        let workers = min(max(threads, 1), count)
        if workers == 1 {
            for i in 0..<count { body(i) }
            return
        }
        // Contiguous slices keep each worker's memory access sequential.
        withoutActuallyEscaping(body) { body in
            let box = Unchecked(body)
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                let lo = count * w / workers, hi = count * (w + 1) / workers
                for i in lo..<hi { box.value(i) }
            }
        }
    }

    /// `body(range)` over contiguous slices of `0..<count` of at least `grain` items each.
    public static func forRanges(_ count: Int, threads: Int, grain: Int = 16, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let workers = min(max(threads, 1), max(1, count / max(grain, 1)))
        if workers == 1 {
            body(0..<count)
            return
        }
        withoutActuallyEscaping(body) { body in
            let box = Unchecked(body)
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                box.value((count * w / workers)..<(count * (w + 1) / workers))
            }
        }
    }
}

/// Carries a kernel closure (which captures raw buffer pointers) into `concurrentPerform`'s
/// `@Sendable` block. Safe because every caller gives each item disjoint outputs and the call
/// does not return before all items finish.
private struct Unchecked<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
