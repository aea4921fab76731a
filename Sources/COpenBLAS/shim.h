#ifndef PRUNESCALE_COPENBLAS_SHIM_H
#define PRUNESCALE_COPENBLAS_SHIM_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* for dladdr, used to prove which library cblas_sgemm binds to */
#endif
#include <dlfcn.h>
#include <cblas.h>

/* Path of the shared object that provides cblas_sgemm in this process (NULL if unknown). */
static inline const char *prunescale_sgemm_library(void) {
    Dl_info info;
    if (dladdr((void *)&cblas_sgemm, &info) == 0) return 0;
    return info.dli_fname;
}

/* LAPACK, Fortran ABI (column-major, arguments by pointer), as exported by libopenblas; Debian
   ships no lapacke.h. Same prototypes as OpenBLAS's own f77blas.h, so including both is harmless.
   Used by Tensor/LAPACK.swift, which hides the column-major convention. */
int dpotrf_(char *uplo, blasint *n, double *a, blasint *lda, blasint *info);
int dpotri_(char *uplo, blasint *n, double *a, blasint *lda, blasint *info);
#endif
