import COpenBLAS

/// OpenBLAS thread control. Training wants every core; a scaling-law fit wants one.
public enum BLAS {
    public static var threads: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(max(1, newValue))) }
    }
}
