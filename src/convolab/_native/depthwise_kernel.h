/* Depthwise convolution (groups == C == O), NHWC: one source for every ISA and dtype.
 *
 * Included by isa_template.h after direct_kernel.h, with the same T, TNAME, VBYTES, ISA, and
 * DW_PIX: output pixels per tile.
 *
 * Channels sit in SIMD lanes (XNNPACK's dwconv design). A tile is DW_PIX output pixels x NC
 * vectors of channels (NC = 4, then 1 for the rest): per tap, NC weight vectors are loaded
 * once and reused by every pixel, and each pixel loads NC input vectors from the tap's source
 * pointer and does NC fused multiply-adds. There is no channel sum, so a multiply-add costs a
 * load; the accumulators stay in registers over all taps. As in the direct kernel, the source
 * of each (pixel, tap) comes from an indirection buffer built once per chunk of pixels from the
 * padding's index maps (a padded tap reads real zeros), and shared by every channel block.
 * The packed kernel is (kh*kw, Cp), Cp >= C rounded up and zero-filled, so weight loads never
 * need a tail; the input and output do (C % lanes), done lane by lane.
 */


/* One tile: pixels (ind's pix rows), channels cb .. cb + nc*VW - 1, the last vector holding
 * `last` lanes (VW: all). */
CL_INLINE void FN(dw_tile)(const int pix, const int nc, const int ragged,
                           const struct cl_conv *a, const T *const *ind, ptrdiff_t q,
                           ptrdiff_t cb, ptrdiff_t last)
{
    const ptrdiff_t taps = a->kd * a->kh * a->kw;
    const T *w = (const T *)a->w + cb;
    VEC acc[4 * 8];
#pragma GCC unroll 32
    for (int k = 0; k < pix * nc; ++k)
        acc[k] = (VEC){0};
    for (ptrdiff_t t = 0; t < taps; ++t) {
        VEC wv[4];
#pragma GCC unroll 4
        for (int v = 0; v < nc; ++v)
            wv[v] = *(const VEC *)(w + t * a->cp + v * VW);
#pragma GCC unroll 8
        for (int p = 0; p < pix; ++p) {
            const T *src = ind[t * pix + p] + cb;
#pragma GCC unroll 4
            for (int v = 0; v < nc; ++v) {
                const VEC xv = ragged && v == nc - 1 ? FN(load_lanes)(src + v * VW, last)
                                                     : *(const VEC *)(src + v * VW);
                acc[p * nc + v] += xv * wv[v];
            }
        }
    }
#pragma GCC unroll 8
    for (int p = 0; p < pix; ++p) {
        T *yp = (T *)a->y + (q + p) * a->c + cb;
#pragma GCC unroll 4
        for (int v = 0; v < nc; ++v) {
            VEC out = acc[p * nc + v];
            if (a->bias)
                out += *(const VEC *)((const T *)a->bias + cb + v * VW);
            FN(store_lanes)(yp + v * VW, out, ragged && v == nc - 1 ? last : VW);
        }
    }
}

/* Every channel of pixels (pix of them, sources in ind), blocks of 4 vectors, then single
 * vectors, then the ragged end. */
CL_INLINE void FN(dw_channels)(const int pix, const struct cl_conv *a, const T *const *ind,
                               ptrdiff_t q)
{
    ptrdiff_t cb = 0;
    for (; cb + 4 * VW <= a->c; cb += 4 * VW)
        FN(dw_tile)(pix, 4, 0, a, ind, q, cb, VW);
    for (; cb + VW <= a->c; cb += VW)
        FN(dw_tile)(pix, 1, 0, a, ind, q, cb, VW);
    if (cb < a->c)
        FN(dw_tile)(pix, 1, 1, a, ind, q, cb, a->c - cb);
}

static __attribute__((noinline)) void FN(dw_full)(const struct cl_conv *a, const T *const *ind,
                                                  ptrdiff_t q)
{
    FN(dw_channels)(DW_PIX, a, ind, q);
}

static __attribute__((noinline)) void FN(dw_one)(const struct cl_conv *a, const T *const *ind,
                                                 ptrdiff_t q)
{
    FN(dw_channels)(1, a, ind, q);
}

/* Pixels q0 <= q < q1: per chunk, the indirection once (per-tap, as the direct kernel's),
 * then every tile's channels. */
static int FN(depthwise)(const struct cl_conv *a, ptrdiff_t q0, ptrdiff_t q1)
{
    struct FN(plan) pl = {0, a->kd * a->kh * a->kw, a->c, 0, 0, NULL};
    const T **ind = malloc(sizeof(const T *) * (size_t)(CL_CHUNK * pl.taps));
    if (!ind)
        return -1;
    for (ptrdiff_t s = q0; s < q1; s += CL_CHUNK) {
        const ptrdiff_t e = q1 - s < CL_CHUNK ? q1 : s + CL_CHUNK;
        const ptrdiff_t full = (e - s) / DW_PIX * DW_PIX;
        FN(indirection)(a, &pl, DW_PIX, s, e, ind, NULL);
        for (ptrdiff_t k = 0; k < full; k += DW_PIX)
            FN(dw_full)(a, ind + k * pl.taps, s + k);
        for (ptrdiff_t k = full; k < e - s; ++k)
            FN(dw_one)(a, ind + k * pl.taps, s + k);
    }
    free(ind);
    return 0;
}

