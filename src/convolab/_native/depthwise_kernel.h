/* Depthwise convolution (groups == C == O), NHWC: one source for every ISA and dtype.
 *
 * Included by isa_<set>.c after direct_kernel.h, with the same T, TNAME, VBYTES, ISA, and
 * DW_PIX: output pixels per tile.
 *
 * Channels sit in SIMD lanes (XNNPACK's dwconv design): a tile is DW_PIX output pixels x one
 * vector of channels, and each kernel tap is one weight-vector load reused by DW_PIX
 * input-vector loads and fused multiply-adds. There is no channel sum, so a tap costs a load
 * per multiply-add: the kernel runs at L1 load bandwidth, which on these cores matches the FMA
 * rate (2 loads and 2 FMAs a cycle). The packed kernel is (kh*kw, Cp), Cp >= C rounded up
 * and zero-filled, so weight loads never need a tail; the input and output do (C % lanes).
 */

#define CL_CAT3_(a, b, c) a##_##b##_##c
#define CL_CAT3(a, b, c) CL_CAT3_(a, b, c)
#define FN(name) CL_CAT3(name, TNAME, ISA)
#define VEC FN(vec)
#define VW ((ptrdiff_t)(VBYTES / sizeof(T)))

/* One tile: pixels q .. q+pix-1, channels cb .. cb+VW-1 (the first `lanes` of them). */
CL_INLINE void FN(dw_tile)(const int pix, const int full, const struct cl_conv *a,
                           ptrdiff_t q, ptrdiff_t cb, ptrdiff_t cp)
{
    const ptrdiff_t hw_out = a->ho * a->wo, lanes = a->c - cb < VW ? a->c - cb : VW;
    const T *x = (const T *)a->x, *zero = (const T *)a->zero;
    const T *w = (const T *)a->w + cb;
    ptrdiff_t img[16], row0[16], col0[16];
    VEC acc[16];

#pragma GCC unroll 16
    for (int p = 0; p < pix; ++p) {
        const ptrdiff_t qq = q + p, n = qq / hw_out, rem = qq - n * hw_out;
        const ptrdiff_t oh = rem / a->wo, ow = rem - oh * a->wo;
        img[p] = n * a->ih;
        row0[p] = oh * a->sh;
        col0[p] = ow * a->sw;
        acc[p] = (VEC){0};
    }
    for (ptrdiff_t i = 0; i < a->kh; ++i) {
        for (ptrdiff_t j = 0; j < a->kw; ++j) {
            const VEC wv = *(const VEC *)(w + (i * a->kw + j) * cp);
#pragma GCC unroll 16
            for (int p = 0; p < pix; ++p) {
                const int64_t r = a->row_map[row0[p] + i * a->dh];
                const int64_t cc = a->col_map[col0[p] + j * a->dw];
                const T *src = (r < 0 || cc < 0) ? zero : x + ((img[p] + r) * a->iw + cc) * a->c + cb;
                const VEC v = full ? *(const VEC *)src : FN(load_lanes)(src, lanes);
                acc[p] += v * wv;
            }
        }
    }
    const VEC bias = a->bias ? *(const VEC *)((const T *)a->bias + cb) : (VEC){0};
#pragma GCC unroll 16
    for (int p = 0; p < pix; ++p) {
        T *yp = (T *)a->y + (q + p) * a->c + cb;
        const VEC v = acc[p] + bias;
        FN(store_lanes)(yp, v, full ? VW : lanes);
    }
}

CL_INLINE void FN(dw_run)(const int full, const struct cl_conv *a, ptrdiff_t s, ptrdiff_t e,
                          ptrdiff_t cb, ptrdiff_t cp)
{
    ptrdiff_t q = s;
    for (; q + DW_PIX <= e; q += DW_PIX)
        FN(dw_tile)(DW_PIX, full, a, q, cb, cp);
    for (; q < e; ++q)
        FN(dw_tile)(1, full, a, q, cb, cp);
}

/* Pixels q0 <= q < q1: per chunk of pixels, each vector of channels in turn. */
static int FN(depthwise)(const struct cl_conv *a, ptrdiff_t q0, ptrdiff_t q1)
{
    const ptrdiff_t cp = a->cp;
    for (ptrdiff_t s = q0; s < q1; s += CL_CHUNK) {
        const ptrdiff_t e = q1 - s < CL_CHUNK ? q1 : s + CL_CHUNK;
        ptrdiff_t cb = 0;
        for (; cb + VW <= a->c; cb += VW)
            FN(dw_run)(1, a, s, e, cb, cp);
        if (cb < a->c)
            FN(dw_run)(0, a, s, e, cb, cp);
    }
    return 0;
}

#undef VEC
#undef VW
#undef FN
