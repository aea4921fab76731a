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
#endif
