import OpenBLASRuntime
import Tensor
import Testing

@Suite struct BLASTests {
    @Test func threadCountCanBeSetAndRestored() {
        let before = BLAS.threads
        BLAS.threads = 1
        #expect(BLAS.threads == 1)
        BLAS.threads = before
        #expect(BLAS.threads == before)
    }
}
