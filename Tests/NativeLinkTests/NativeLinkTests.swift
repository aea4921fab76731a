import COpenBLAS
import CGSL
import Testing

/// Guards the link order of native-libs.md: if GSL's reference CBLAS ever wins the symbol
/// lookup, every BLAS call gets ~19x slower without any other symptom.
@Suite struct NativeLinkTests {
    @Test func sgemmResolvesToOpenBLAS() throws {
        let path = try #require(prunescale_sgemm_library(), "dladdr could not place cblas_sgemm")
        let library = String(cString: path)
        #expect(library.contains("openblas"), "cblas_sgemm binds to \(library), not OpenBLAS")
        #expect(!library.contains("gslcblas"))
    }

    @Test func sgemmComputesAProduct() {
        // 2x3 * 3x2 in row-major: a sanity check that the symbol we call is a working sgemm.
        let a: [Float] = [1, 2, 3, 4, 5, 6]
        let b: [Float] = [7, 8, 9, 10, 11, 12]
        var c = [Float](repeating: 0, count: 4)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 2, 2, 3, 1, a, 3, b, 2, 0, &c, 2)
        #expect(c == [58, 64, 139, 154])
    }

    @Test func gslLinearAlgebraUsesWorkingBLAS() {
        // GSL's own BLAS wrapper (dgemm through libgsl) must give the same product.
        var a: [Double] = [1, 2, 3, 4, 5, 6]
        var b: [Double] = [7, 8, 9, 10, 11, 12]
        var c = [Double](repeating: 0, count: 4)
        a.withUnsafeMutableBufferPointer { ap in
            b.withUnsafeMutableBufferPointer { bp in
                c.withUnsafeMutableBufferPointer { cp in
                    var am = gsl_matrix_view_array(ap.baseAddress, 2, 3)
                    var bm = gsl_matrix_view_array(bp.baseAddress, 3, 2)
                    var cm = gsl_matrix_view_array(cp.baseAddress, 2, 2)
                    _ = gsl_blas_dgemm(CblasNoTrans, CblasNoTrans, 1, &am.matrix, &bm.matrix, 0, &cm.matrix)
                }
            }
        }
        #expect(c == [58, 64, 139, 154])
    }
}
