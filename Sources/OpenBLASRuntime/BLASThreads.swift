import COpenBLAS

/// OpenBLAS as a runtime: its thread count here (the one place the package reads or changes it),
/// its kernel family in `BLASCore`. Tensor adds the matrix products to this namespace.
public enum BLAS {
    public static var threads: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(max(1, newValue))) }
    }

    /// Runs `body` with OpenBLAS on `n` threads when `condition` holds, restoring the count after.
    /// Code that runs its own threads pins OpenBLAS to one while they run, so BLAS calls made from
    /// the workers do not oversubscribe the cores. OpenBLAS's results do not depend on the count.
    @inline(__always)
    public static func withThreads<T>(_ n: Int, when condition: Bool = true, _ body: () throws -> T) rethrows -> T {
        let saved = threads
        guard condition, saved != n else { return try body() }
        threads = n
        defer { threads = saved }
        return try body()
    }
}
