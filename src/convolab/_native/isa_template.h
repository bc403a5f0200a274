/* One instruction set's kernels: every family, for float32 and float64.
 *
 * Included by isa_<set>.c after it sets ISA, VBYTES and the tile sizes per dtype
 * (F32_PIX1/2/4, F64_PIX1/2/4, F32_DW_PIX/DW_NC, F64_DW_PIX/DW_NC). Defines cl_fill_<set>.
 */
#include "isa.h"
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#define CL_FILL_(isa) cl_fill_##isa
#define CL_FILL(isa) CL_FILL_(isa)
/* every kernel's names carry the dtype and the set: direct_nv2_f32_avx512 */
#define CL_CAT3_(a, b, c) a##_##b##_##c
#define CL_CAT3(a, b, c) CL_CAT3_(a, b, c)
#define FN(name) CL_CAT3(name, TNAME, ISA)
#define VEC FN(vec)
#define VW ((ptrdiff_t)(VBYTES / sizeof(T)))

#define T float
#define TNAME f32
#define PIX1 F32_PIX1
#define PIX2 F32_PIX2
#define PIX4 F32_PIX4
#define DW_PIX F32_DW_PIX
#define DW_NC F32_DW_NC
#define TSIZE 4
typedef T FN(vec) __attribute__((vector_size(VBYTES), aligned(sizeof(T))));
#include "direct_kernel.h"
#include "dot_kernel.h"
#include "depthwise_kernel.h"
#include "transpose_kernel.h"
#include "stencil_kernel.h"
#include "plane_kernel.h"
#include "wgrad_kernel.h"
#include "pool_kernel.h"
#include "activation_kernel.h"
#include "channel_kernel.h"
#include "winograd_kernel.h"
#include "winograd_1d_kernel.h"
#include "pointwise_kernel.h"
#undef TSIZE
#undef T
#undef TNAME
#undef PIX1
#undef PIX2
#undef PIX4
#undef DW_PIX
#undef DW_NC

#define T double
#define TNAME f64
#define PIX1 F64_PIX1
#define PIX2 F64_PIX2
#define PIX4 F64_PIX4
#define DW_PIX F64_DW_PIX
#define DW_NC F64_DW_NC
#define TSIZE 8
typedef T FN(vec) __attribute__((vector_size(VBYTES), aligned(sizeof(T))));
#include "direct_kernel.h"
#include "dot_kernel.h"
#include "depthwise_kernel.h"
#include "transpose_kernel.h"
#include "stencil_kernel.h"
#include "plane_kernel.h"
#include "wgrad_kernel.h"
#include "pool_kernel.h"
#include "activation_kernel.h"
#include "channel_kernel.h"
#include "winograd_kernel.h"
#include "winograd_1d_kernel.h"
#include "pointwise_kernel.h"
#undef TSIZE
#undef T
#undef TNAME

void CL_FILL(ISA)(struct cl_kernels *k)
{
    k->lanes_f32 = VBYTES / 4;
    k->lanes_f64 = VBYTES / 8;
    CL_CAT3(direct_fill, f32, ISA)(k->direct_f32, k->pix_f32);
    CL_CAT3(direct_fill, f64, ISA)(k->direct_f64, k->pix_f64);
    CL_CAT3(wino_fill, f32, ISA)(k->winograd_f32, k->winograd_wgrad_f32);
    CL_CAT3(wino_fill, f64, ISA)(k->winograd_f64, k->winograd_wgrad_f64);
    k->winograd_pack_f32 = CL_CAT3(wino_pack, f32, ISA);
    k->winograd_unpack_f32 = CL_CAT3(wino_unpack, f32, ISA);
    k->winograd_unpack_f64 = CL_CAT3(wino_unpack, f64, ISA);
    k->winograd_pack_f64 = CL_CAT3(wino_pack, f64, ISA);
    CL_CAT3(wino1d_fill, f32, ISA)(k->winograd_1d_f32);
    CL_CAT3(wino1d_fill, f64, ISA)(k->winograd_1d_f64);
    k->winograd_1d_pack_f32 = CL_CAT3(wino1d_pack, f32, ISA);
    k->winograd_1d_pack_f64 = CL_CAT3(wino1d_pack, f64, ISA);
    k->depthwise_f32 = CL_CAT3(depthwise, f32, ISA);
    k->depthwise_f64 = CL_CAT3(depthwise, f64, ISA);
    CL_CAT3(wgrad_fill, f32, ISA)(k->wgrad_f32);
    CL_CAT3(wgrad_fill, f64, ISA)(k->wgrad_f64);
    k->dw_wgrad_f32 = CL_CAT3(dw_wgrad, f32, ISA);
    k->dw_wgrad_f64 = CL_CAT3(dw_wgrad, f64, ISA);
    k->stencil_f32 = CL_CAT3(stencil, f32, ISA);
    k->stencil_f64 = CL_CAT3(stencil, f64, ISA);
    k->plane_stencil_f32 = CL_CAT3(plane_stencil, f32, ISA);
    k->plane_stencil_f64 = CL_CAT3(plane_stencil, f64, ISA);
    k->stencil_wgrad_f32 = CL_CAT3(stencil_wgrad, f32, ISA);
    k->stencil_wgrad_f64 = CL_CAT3(stencil_wgrad, f64, ISA);
    k->transpose_f32 = CL_CAT3(transpose, f32, ISA);
    k->transpose_f64 = CL_CAT3(transpose, f64, ISA);
    k->dot_f32 = CL_CAT3(dot, f32, ISA);
    k->dot_f64 = CL_CAT3(dot, f64, ISA);
    k->dot_pix_f32 = CL_CAT3(dot_pixels, f32, ISA)();
    k->dot_pix_f64 = CL_CAT3(dot_pixels, f64, ISA)();
    k->activation_f32 = CL_CAT3(activation, f32, ISA);
    k->activation_f64 = CL_CAT3(activation, f64, ISA);
    k->channel_sums_f32 = CL_CAT3(channel_sums, f32, ISA);
    k->channel_sums_f64 = CL_CAT3(channel_sums, f64, ISA);
    k->channel_affine_f32 = CL_CAT3(channel_affine, f32, ISA);
    k->channel_affine_f64 = CL_CAT3(channel_affine, f64, ISA);
    k->pointwise_cf_f32 = CL_CAT3(pointwise_cf, f32, ISA);
    k->pointwise_cf_f64 = CL_CAT3(pointwise_cf, f64, ISA);
    k->pool_f32 = CL_CAT3(pool, f32, ISA);
    k->pool_f64 = CL_CAT3(pool, f64, ISA);
}
