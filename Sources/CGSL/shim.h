#ifndef PRUNESCALE_CGSL_SHIM_H
#define PRUNESCALE_CGSL_SHIM_H
/* OpenBLAS's cblas.h first; then mark GSL's own gsl_cblas.h as already included so the two
   CBLAS enum definitions do not clash (their values agree). */
#include <cblas.h>
#define __GSL_CBLAS_H__
#include <gsl/gsl_errno.h>
#include <gsl/gsl_vector.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_blas.h>
#include <gsl/gsl_multifit_nlinear.h>

/* GSL exposes its method tables as mutable globals; Swift 6 rejects reading those, so read
   them through functions. */
static inline const gsl_multifit_nlinear_type *prunescale_gsl_trust(void) { return gsl_multifit_nlinear_trust; }
static inline const gsl_multifit_nlinear_trs *prunescale_gsl_trs_lm(void) { return gsl_multifit_nlinear_trs_lm; }
static inline const gsl_multifit_nlinear_trs *prunescale_gsl_trs_lmaccel(void) { return gsl_multifit_nlinear_trs_lmaccel; }
static inline const gsl_multifit_nlinear_trs *prunescale_gsl_trs_dogleg(void) { return gsl_multifit_nlinear_trs_dogleg; }
static inline const gsl_multifit_nlinear_trs *prunescale_gsl_trs_ddogleg(void) { return gsl_multifit_nlinear_trs_ddogleg; }
static inline const gsl_multifit_nlinear_trs *prunescale_gsl_trs_subspace2D(void) { return gsl_multifit_nlinear_trs_subspace2D; }
static inline const gsl_multifit_nlinear_solver *prunescale_gsl_solver_svd(void) { return gsl_multifit_nlinear_solver_svd; }
static inline const gsl_multifit_nlinear_scale *prunescale_gsl_scale_marquardt(void) { return gsl_multifit_nlinear_scale_marquardt; }
static inline const gsl_multifit_nlinear_solver *prunescale_gsl_solver_qr(void) { return gsl_multifit_nlinear_solver_qr; }
static inline const gsl_multifit_nlinear_solver *prunescale_gsl_solver_cholesky(void) { return gsl_multifit_nlinear_solver_cholesky; }
static inline const gsl_multifit_nlinear_scale *prunescale_gsl_scale_more(void) { return gsl_multifit_nlinear_scale_more; }
static inline const gsl_multifit_nlinear_scale *prunescale_gsl_scale_levenberg(void) { return gsl_multifit_nlinear_scale_levenberg; }
#endif
