import Foundation
@testable import OpenBLASRuntime
import Testing
@testable import Tensor

@Suite struct BLASCoreTests {
    @Test func theBestFamilyFollowsTheCPUsFlags() {
        #expect(BLASCore.best(flags: ["sse3", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"]) == "SkylakeX")
        #expect(BLASCore.best(flags: ["sse3", "avx", "avx2", "fma", "avx512f"]) == "Haswell")  // AVX-512 without BW/DQ/VL: not Skylake-X
        #expect(BLASCore.best(flags: ["sse3", "avx"]) == nil)
        #expect(BLASCore.best(flags: nil) == nil)
        #expect(BLASCore.rank("Prescott") < BLASCore.rank("Haswell") && BLASCore.rank("Zen") == BLASCore.rank("Haswell"))
        #expect(BLASCore.rank("Haswell") < BLASCore.rank("SkylakeX") && BLASCore.rank("Cooperlake") == BLASCore.rank("SkylakeX"))
    }
}
