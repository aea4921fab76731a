import COpenBLAS
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Which of OpenBLAS's kernel families this process runs. A DYNAMIC_ARCH OpenBLAS picks one from
/// CPUID when it loads; 0.3.21 (Debian 12) does not know newer Xeons and falls back to its
/// generic SSE3 "Prescott" kernels, 4.6x slower than its AVX-512 ones on the same 2 cores
/// (68 against 311 GFLOP/s for a 1024^2 sgemm, measured with `train-bench gemm`). The family is
/// chosen when the library loads, before any Swift code runs, so the fix is to start the process
/// again with OPENBLAS_CORETYPE set: `selectBestCore` does that at the top of `main`.
public enum BLASCore {
    /// The family in use ("SkylakeX", "Haswell", "Prescott", ...).
    public static var current: String {
        openblas_get_corename().map { String(cString: $0) } ?? "unknown"
    }

    /// The fastest family this CPU can run among those OpenBLAS 0.3.21 ships: by the CPU's flags
    /// (Linux /proc/cpuinfo); nil when unknown.
    public static func best(flags: Set<String>? = cpuFlags()) -> String? {
        guard let flags else { return nil }
        if flags.isSuperset(of: ["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"]) { return "SkylakeX" }
        if flags.isSuperset(of: ["avx2", "fma"]) { return "Haswell" }
        return nil
    }

    /// 3: AVX-512 kernels, 2: AVX2, 1: anything older or unknown.
    static func rank(_ core: String) -> Int {
        switch core.lowercased() {
        case "skylakex", "cooperlake", "sapphirerapids": 3
        case "haswell", "zen", "excavator", "steamroller": 2
        default: 1
        }
    }

    public static func cpuFlags() -> Set<String>? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":") else { return nil }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }

    /// When OpenBLAS fell back to a slower family than this CPU runs, replaces this process by
    /// itself with OPENBLAS_CORETYPE set (same arguments, same PID, same open files). Does
    /// nothing when OPENBLAS_CORETYPE is set already (a user's choice, or the second start).
    public static func selectBestCore() {
        guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil,
              let best = best(), rank(best) > rank(current) else { return }
        setenv("OPENBLAS_CORETYPE", best, 1)
        #if os(Linux)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        #endif
        // exec failed (or not Linux): carry on with the slower kernels.
    }
}
