/* Direct convolution, NHWC, register-blocked: one source for every ISA and dtype.
 *
 * Included by isa_<set>.c once per dtype, with
 *   T      the element type (float, double)      TNAME  its short name (f32, f64)
 *   VBYTES bytes of one SIMD vector (64, 32, 16)  ISA    the set's name (avx512, avx2, ...)
 *   PIX1, PIX2, PIX4  output pixels per tile for 1, 2 and 4 vectors of output channels
 *                     (0: that width is not built for this set)
 *
 * The tile is PIX output pixels x NV vectors of output channels, held in registers as PIX*NV
 * accumulators for the whole reduction over kernel taps and input channels, the design of
 * oneDNN's and LIBXSMM's direct convolutions (Zhang, Franchetti & Low, ICML 2018). For each
 * tap and input channel c the tile loads NV weight vectors (w[tap, c, o-block], contiguous in
 * the packed kernel) and broadcasts one input value per pixel: NV + PIX loads feed PIX*NV
 * fused multiply-adds. AVX-512 has 32 registers: 6x4 or 12x2 accumulators (24) + NV weights
 * + a broadcast; AVX2 and SSE have 16: 6x2 (12) or 8x1.
 *
 * Output pixels are a flat run of the (N, Ho, Wo) grid, so a tile may span rows or images
 * and only the end of a task leaves a remainder (done one pixel at a time). Each pixel's
 * input row and column per tap come from the padding's index maps, which makes every padding
 * mode, stride and dilation the same code, and padding costs no copy. The weights of one
 * (group, o-block), kh*kw*cg*NV*lanes values, are swept once per tile: 9*64*64*4 B = 147 KiB
 * for a 3x3 64->64 layer, in L2; a task walks CHUNK pixels per (group, o-block) so that those
 * pixels' input stays in L1/L2 across o-blocks.
 */

#define CL_CAT3_(a, b, c) a##_##b##_##c
#define CL_CAT3(a, b, c) CL_CAT3_(a, b, c)
#define FN(name) CL_CAT3(name, TNAME, ISA)

typedef T FN(vec) __attribute__((vector_size(VBYTES), aligned(sizeof(T))));
#define VEC FN(vec)
#define VW ((ptrdiff_t)(VBYTES / sizeof(T)))

#ifndef CL_CHUNK
/* pixels a task walks per (group, o-block): a multiple of every PIX (12, 8, 6, 3, 2) */
#define CL_CHUNK 192
#endif
#define CL_INLINE static inline __attribute__((always_inline))
#ifndef CL_L1_WEIGHTS
/* bytes of weights one pass over a chunk's tiles sweeps: half of a 48 KiB L1 */
#define CL_L1_WEIGHTS (24 << 10)
#endif

/* The microkernel: acc[p][j] += sum over taps t and channels c < cn of
 * ind[t][p][c] * wt[t][c][j], with ind an indirection buffer of taps x pix input pointers
 * (each at the tile's first channel) and wt the taps' weights, wstride values apart, each
 * tap's rows of nv vectors. The accumulators are loaded once and stored once; in between
 * they never leave registers (a separate function, so nothing of the driver competes for
 * them: inlined into it, GCC spilled half of them). */
CL_INLINE void FN(direct_ukernel)(const int pix, const int nv, const T *const *ind,
                                  const T *wt, ptrdiff_t taps, ptrdiff_t cn,
                                  ptrdiff_t wstride, VEC *acc_io)
{
    const ptrdiff_t ob = nv * VW;
    VEC acc[4 * 16];
#pragma GCC unroll 64
    for (int k = 0; k < pix * nv; ++k)
        acc[k] = acc_io[k];
    for (ptrdiff_t t = 0; t < taps; ++t) {
        const T *px[16];
#pragma GCC unroll 16
        for (int p = 0; p < pix; ++p)
            px[p] = ind[t * pix + p];
        const T *w = wt + t * wstride;
        for (ptrdiff_t c = 0; c < cn; ++c) {
            VEC wv[4];
#pragma GCC unroll 4
            for (int j = 0; j < nv; ++j)
                wv[j] = *(const VEC *)(w + c * ob + j * VW);
#pragma GCC unroll 16
            for (int p = 0; p < pix; ++p) {
                const T s = px[p][c];
#pragma GCC unroll 4
                for (int j = 0; j < nv; ++j)
                    acc[p * nv + j] += wv[j] * s;
            }
        }
    }
#pragma GCC unroll 64
    for (int k = 0; k < pix * nv; ++k)
        acc_io[k] = acc[k];
}

#define CL_UKERNEL(PIX, NV)                                                                   \
    static __attribute__((noinline)) void FN(ukernel_##PIX##x##NV)(                           \
        const T *const *ind, const T *wt, ptrdiff_t taps, ptrdiff_t cn, ptrdiff_t wstride,    \
        VEC *acc)                                                                            \
    {                                                                                         \
        FN(direct_ukernel)(PIX, NV, ind, wt, taps, cn, wstride, acc);                         \
    }

/* The first n lanes of v to p (n < VW), or all of them. */
CL_INLINE void FN(store_lanes)(T *p, VEC v, ptrdiff_t n)
{
    if (n >= VW) {
        *(VEC *)p = v;
    } else {
        for (ptrdiff_t l = 0; l < n; ++l)
            p[l] = v[l];
    }
}

/* The first n lanes from p, zeros after: never reads past p[n-1]. */
CL_INLINE VEC FN(load_lanes)(const T *p, ptrdiff_t n)
{
    if (n >= VW)
        return *(const VEC *)p;
    VEC v = (VEC){0};
    for (ptrdiff_t l = 0; l < n; ++l)
        v[l] = p[l];
    return v;
}

/* One tile: pixels q .. q+pix-1 of the flat grid, o-block b of group g, input channels
 * c0 <= c < c1 of the group: the sum starts from y's partial sums unless c0 == 0, and the
 * bias is added when c1 == cg. */
typedef void (*FN(ukernel_fn))(const T *const *, const T *, ptrdiff_t, ptrdiff_t, ptrdiff_t,
                               VEC *);

CL_INLINE void FN(direct_tile)(const int pix, const int nv, FN(ukernel_fn) ukernel,
                               const struct cl_conv *a, ptrdiff_t q, ptrdiff_t g, ptrdiff_t b,
                               ptrdiff_t c0, ptrdiff_t c1, const T **ind)
{
    const ptrdiff_t ob = nv * VW, nob = (a->og + ob - 1) / ob;
    const ptrdiff_t taps = a->kh * a->kw, hw_out = a->ho * a->wo;
    const T *x = (const T *)a->x, *zero = (const T *)a->zero;
    const T *wb = (const T *)a->w + (g * nob + b) * taps * a->cg * ob;
    const ptrdiff_t lanes = a->og - b * ob < ob ? a->og - b * ob : ob;
    ptrdiff_t img[16], row0[16], col0[16];
    VEC acc[64] __attribute__((aligned(64)));

#pragma GCC unroll 16
    for (int p = 0; p < pix; ++p) {
        const ptrdiff_t qq = q + p, n = qq / hw_out, rem = qq - n * hw_out;
        const ptrdiff_t oh = rem / a->wo, ow = rem - oh * a->wo;
        img[p] = n * a->ih;
        row0[p] = oh * a->sh;
        col0[p] = ow * a->sw;
    }
#pragma GCC unroll 16
    for (int p = 0; p < pix; ++p) {
        const T *yp = (const T *)a->y + (q + p) * a->o + g * a->og + b * ob;
#pragma GCC unroll 4
        for (int j = 0; j < nv; ++j)
            acc[p * nv + j] = c0 ? FN(load_lanes)(yp + j * VW, lanes - j * VW) : (VEC){0};
    }

    /* the indirection buffer: per tap, each pixel's input (or the zeros) at channel c0 */
    for (ptrdiff_t i = 0, t = 0; i < a->kh; ++i) {
        for (ptrdiff_t j = 0; j < a->kw; ++j, ++t) {
#pragma GCC unroll 16
            for (int p = 0; p < pix; ++p) {
                const int64_t r = a->row_map[row0[p] + i * a->dh];
                const int64_t cc = a->col_map[col0[p] + j * a->dw];
                ind[t * pix + p] = (r < 0 || cc < 0)
                    ? zero
                    : x + ((img[p] + r) * a->iw + cc) * a->c + g * a->cg + c0;
            }
        }
    }
    ukernel(ind, wb + c0 * ob, a->kh * a->kw, c1 - c0, a->cg * ob, acc);

    /* store lanes < og - b*ob of each vector, adding the bias after the last channel */
    const T *bias = a->bias && c1 == a->cg ? (const T *)a->bias + (g * nob + b) * ob : NULL;
#pragma GCC unroll 16
    for (int p = 0; p < pix; ++p) {
        T *yp = (T *)a->y + (q + p) * a->o + g * a->og + b * ob;
#pragma GCC unroll 4
        for (int j = 0; j < nv; ++j) {
            VEC v = acc[p * nv + j];
            if (bias)
                v += *(const VEC *)(bias + j * VW);
            FN(store_lanes)(yp + j * VW, v, lanes - j * VW);
        }
    }
}

/* Pixels q0 <= q < q1, every group and o-block, in tiles of pix (then single pixels). */
CL_INLINE int FN(direct_drive)(const int pix, const int nv, FN(ukernel_fn) ukernel,
                                FN(ukernel_fn) ukernel1, const struct cl_conv *a,
                                ptrdiff_t q0, ptrdiff_t q1)
{
    const T **ind = malloc(sizeof(const T *) * (size_t)(pix * a->kh * a->kw));
    if (!ind)
        return -1;
    const ptrdiff_t ob = nv * VW, nob = (a->og + ob - 1) / ob;
    /* input channels a pass: its weights, kh*kw*cb*ob values, fit half of L1 */
    ptrdiff_t cb = CL_L1_WEIGHTS / (a->kh * a->kw * ob * (ptrdiff_t)sizeof(T));
    cb = cb < 1 ? 1 : cb > a->cg ? a->cg : cb;
    for (ptrdiff_t s = q0; s < q1; s += CL_CHUNK) {
        const ptrdiff_t e = q1 - s < CL_CHUNK ? q1 : s + CL_CHUNK;
        for (ptrdiff_t g = 0; g < a->groups; ++g) {
            for (ptrdiff_t b = 0; b < nob; ++b) {
                for (ptrdiff_t c0 = 0; c0 < a->cg; c0 += cb) {
                    const ptrdiff_t c1 = a->cg - c0 < cb ? a->cg : c0 + cb;
                    ptrdiff_t q = s;
                    for (; q + pix <= e; q += pix)
                        FN(direct_tile)(pix, nv, ukernel, a, q, g, b, c0, c1, ind);
                    for (; q < e; ++q)
                        FN(direct_tile)(1, nv, ukernel1, a, q, g, b, c0, c1, ind);
                }
            }
        }
    }
    free(ind);
    return 0;
}

#if PIX1
CL_UKERNEL(PIX1, 1)
CL_UKERNEL(1, 1)
static int FN(direct_nv1)(const struct cl_conv *a, ptrdiff_t q0, ptrdiff_t q1)
{
    return FN(direct_drive)(PIX1, 1, FN(ukernel_PIX1x1), FN(ukernel_1x1), a, q0, q1);
}
#endif
#if PIX2
CL_UKERNEL(PIX2, 2)
CL_UKERNEL(1, 2)
static int FN(direct_nv2)(const struct cl_conv *a, ptrdiff_t q0, ptrdiff_t q1)
{
    return FN(direct_drive)(PIX2, 2, FN(ukernel_PIX2x2), FN(ukernel_1x2), a, q0, q1);
}
#endif
#if PIX4
CL_UKERNEL(PIX4, 4)
CL_UKERNEL(1, 4)
static int FN(direct_nv4)(const struct cl_conv *a, ptrdiff_t q0, ptrdiff_t q1)
{
    return FN(direct_drive)(PIX4, 4, FN(ukernel_PIX4x4), FN(ukernel_1x4), a, q0, q1);
}
#endif

/* Fill this set's direct kernels into the table arrays (index: nv). */
static void FN(direct_fill)(cl_direct_fn *fns, int *pix)
{
#if PIX1
    fns[1] = FN(direct_nv1);
    pix[1] = PIX1;
#endif
#if PIX2
    fns[2] = FN(direct_nv2);
    pix[2] = PIX2;
#endif
#if PIX4
    fns[4] = FN(direct_nv4);
    pix[4] = PIX4;
#endif
}

#undef VEC
#undef VW
#undef FN
