/* Instruction sets, and the table of kernels chosen for the running CPU.
 *
 * Each kernel family is compiled once per instruction set (direct_<isa>.c includes the
 * family's template with that set's vector width); isa.c asks the CPU which sets it can run,
 * caps the choice by CONVOLAB_ISA, and fills `cl_kernels` once. The hot path only reads it.
 */
#ifndef CONVOLAB_ISA_H
#define CONVOLAB_ISA_H

#include <stddef.h>
#include <stdint.h>

#include "direct.h"
#include "depthwise.h"
#include "pool.h"
#include "transpose.h"
#include "winograd_1d.h"

/* Element-wise activations (activation_kernel.h): op 0 sigmoid(a), 1 its derivative
 * (a = grad, b = output), 2 relu's derivative (a = grad, b = output); elements i0 .. i1. */
typedef void (*cl_activation_fn)(int op, const void *a, const void *b, void *out, ptrdiff_t i0,
                                 ptrdiff_t i1);

/* Per-channel sums and affine maps over (rows, C) channels-last data (channel_kernel.h). */
typedef int (*cl_channel_sums_fn)(int mode, const void *a, const void *b, const void *s,
                                  double *out, ptrdiff_t c, ptrdiff_t r0, ptrdiff_t r1);
typedef void (*cl_channel_affine_fn)(const void *g, const void *x, const void *s,
                                     const void *p, const void *q, const void *t, void *out,
                                     ptrdiff_t c, ptrdiff_t r0, ptrdiff_t r1);

/* Winograd's kernel transform (winograd_kernel.h): w (kd, 3, 3, C, O) -> u (nob, 36, kd*C,
 * ob), output channels o0 .. o1. */
typedef void (*cl_wino_pack_fn)(const void *w, void *u, ptrdiff_t kd, ptrdiff_t c,
                                ptrdiff_t o, ptrdiff_t ob, ptrdiff_t o0, ptrdiff_t o1);

/* Winograd along a row's kernel transform (winograd_1d_kernel.h): w (kw, C, O) at stride sw
 * -> u (nob, G*sw*C, 6, ob), output channels o0 .. o1. */
typedef void (*cl_wino1d_pack_fn)(const void *w, void *u, ptrdiff_t kw, ptrdiff_t sw,
                                  ptrdiff_t c, ptrdiff_t o, ptrdiff_t ob, ptrdiff_t o0,
                                  ptrdiff_t o1);

/* Its weight gradient's last map (winograd_kernel.h): m (36, kd*C, kp) -> grad_w (kd, 3, 3,
 * C, O), output channels o0 .. o1. */
typedef void (*cl_wino_unpack_fn)(const void *m, void *gw, ptrdiff_t kd, ptrdiff_t c,
                                  ptrdiff_t o, ptrdiff_t kp, ptrdiff_t o0, ptrdiff_t o1);

enum cl_isa { CL_BASELINE = 0, CL_AVX2 = 1, CL_AVX512 = 2, CL_ISA_COUNT = 3 };

/* Largest number of output-channel vectors a direct tile holds (nv = 1, 2 or 4). */
#define CL_MAX_NV 4
/* Output channels of a "dot" tile (dot_kernel.h: the reduction in lanes, for few outputs). */
#define CL_DOT_O 6

struct cl_kernels {
    enum cl_isa isa;
    const char *name;       /* "avx512", "avx2", "baseline" */
    int lanes_f32, lanes_f64;            /* SIMD lanes of one vector */
    int pix_f32[CL_MAX_NV + 1];          /* output pixels per tile, by nv (0: nv not built) */
    int pix_f64[CL_MAX_NV + 1];
    cl_direct_fn direct_f32[CL_MAX_NV + 1];
    cl_direct_fn direct_f64[CL_MAX_NV + 1];
    /* Winograd F(4x4, 3x3) by tiles (winograd_kernel.h): returns 1 when an output is not
     * finite; by nv, as direct */
    cl_direct_fn winograd_f32[CL_MAX_NV + 1], winograd_f64[CL_MAX_NV + 1];
    cl_wino_pack_fn winograd_pack_f32, winograd_pack_f64;
    /* its weight gradient: w the transformed sums M'' (added to), y grad_y; by nv */
    cl_direct_fn winograd_wgrad_f32[CL_MAX_NV + 1], winograd_wgrad_f64[CL_MAX_NV + 1];
    cl_wino_unpack_fn winograd_unpack_f32, winograd_unpack_f64;
    /* Winograd F(4, 3) along rows, a one-row kernel (winograd_1d_kernel.h): returns 1 when
     * an output is not finite; by nv (1 or 2) */
    cl_direct_fn winograd_1d_f32[CL_MAX_NV + 1], winograd_1d_f64[CL_MAX_NV + 1];
    cl_wino1d_pack_fn winograd_1d_pack_f32, winograd_1d_pack_f64;
    cl_depthwise_fn depthwise_f32, depthwise_f64;
    cl_direct_fn stencil_f32, stencil_f64;
    /* C == O == 1, stride 1, zero padding, Ho == H and Wo == W: planes read flat
     * (plane_kernel.h) */
    cl_direct_fn plane_stencil_f32, plane_stencil_f64;
    /* weight gradients: y is grad_y (read), w the packed gradient (added to) */
    cl_direct_fn wgrad_f32[CL_MAX_NV + 1], wgrad_f64[CL_MAX_NV + 1];
    cl_direct_fn dw_wgrad_f32, dw_wgrad_f64;    /* C == O == 1, horizontal stride 1 */
    cl_direct_fn stencil_wgrad_f32, stencil_wgrad_f64;  /* C == 1, horizontal stride 1 */
    /* a channels-first 1x1 conv, per image y = w @ x (pointwise_kernel.h) */
    cl_direct_fn pointwise_cf_f32, pointwise_cf_f64;
    cl_transpose_f32_fn transpose_f32;
    cl_transpose_f64_fn transpose_f64;
    cl_pool_fn pool_f32, pool_f64;
    cl_direct_fn dot_f32, dot_f64;      /* direct with few outputs: w packed per dot_kernel.h */
    int dot_pix_f32, dot_pix_f64;       /* output pixels per dot tile */
    cl_activation_fn activation_f32, activation_f64;
    cl_channel_sums_fn channel_sums_f32, channel_sums_f64;
    cl_channel_affine_fn channel_affine_f32, channel_affine_f64;
};

extern struct cl_kernels cl_kernels;

/* The best set this CPU and OS run, at most `cap` (CL_ISA_COUNT: no cap). */
enum cl_isa cl_isa_best(enum cl_isa cap);
/* Fill cl_kernels for `isa` (which the CPU must support). */
void cl_isa_use(enum cl_isa isa);
/* Each ISA's table (defined in direct_<isa>.c). */
void cl_fill_baseline(struct cl_kernels *k);
void cl_fill_avx2(struct cl_kernels *k);
void cl_fill_avx512(struct cl_kernels *k);

#endif
