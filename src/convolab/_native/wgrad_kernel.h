/* Weight gradients, NHWC, register-blocked: one source for every ISA and dtype.
 *
 * Included by isa_template.h after direct_kernel.h (same T, TNAME, VBYTES, ISA, PIX1/2/4,
 * DW_PIX). For y = conv(x, w), grad_w[t, c, o] = sum over output pixels q of
 * src(q, t)[c] * gy[q, o]: the forward's products read the other way, a reduction over pixels.
 *
 * Direct (any groups): the tile is CB input channels x NV vectors of output channels, in
 * registers while the kernel walks a chunk of pixels; per pixel it loads NV vectors of gy and
 * broadcasts CB input values (NV + CB loads for CB*NV FMAs, the forward's ratio, with CB the
 * forward's PIX). The sources come from the forward's indirection (padded taps read zeros, as
 * the definition multiplies them), and each chunk's sums are added to the caller's partial
 * gradient, packed (G, nob, kh*kw, cg, nv*lanes) like the forward's kernel.
 *
 * Depthwise: grad_w[t, c] = sum_q src(q, t)[c] * gy[q, c], channels in lanes; the tile is every
 * tap (up to 24) x one vector of channels, so gy is loaded once per pixel and each tap costs one
 * source load and one FMA. Packed (taps, Cp).
 */

#ifndef CL_WGRAD_CHUNK
/* pixels a pass walks: their grad_y rows (128 x 64 channels x 4 B = 32 KiB) stay in L1-L2
 * while every tap and channel block reads them, and a tile's read-modify-write of its sums
 * comes once per 128 pixels. Measured on 2 Zen 4 cores against 64: res3x3s2's grad_w 2-6%
 * faster, LeNet's second layer's and a 1x1 layer's 3%, the stem's level; 256: 2-9% slower. */
#define CL_WGRAD_CHUNK 128
#endif


/* gw[t][c0 .. c0+cb)[o-block b] += sum over `count` pixels from q of src * gy. */
CL_INLINE void FN(wgrad_tile)(const int cb, const int nv, const int ragged,
                              const struct cl_conv *a, const T *const *ind, ptrdiff_t taps,
                              ptrdiff_t count, ptrdiff_t q, ptrdiff_t g, ptrdiff_t b,
                              ptrdiff_t t, ptrdiff_t c0, ptrdiff_t cn, T *gw)
{
    const ptrdiff_t ob = nv * VW, nob = (a->og + ob - 1) / ob;
    const ptrdiff_t lanes = a->og - b * ob < ob ? a->og - b * ob : ob;
    const T *gy = (const T *)a->y + q * a->o + g * a->og + b * ob;
    const ptrdiff_t off = g * a->cg + c0;
    VEC acc[64];
#pragma GCC unroll 64
    for (int k = 0; k < cb * nv; ++k)
        acc[k] = (VEC){0};
    for (ptrdiff_t k = 0; k < count; ++k, gy += a->o) {
        const T *src = ind[k * taps + t] + off;
        VEC gv[4];
#pragma GCC unroll 4
        for (int j = 0; j < nv; ++j)
            gv[j] = ragged ? FN(load_lanes)(gy + j * VW, lanes - j * VW)
                           : *(const VEC *)(gy + j * VW);
#pragma GCC unroll 16
        for (int cc = 0; cc < cb; ++cc) {
            const T s = src[cc];
#pragma GCC unroll 4
            for (int j = 0; j < nv; ++j)
                acc[cc * nv + j] += gv[j] * s;
        }
    }
    T *out = gw + (((g * nob + b) * taps + t) * cn + c0) * ob;
#pragma GCC unroll 16
    for (int cc = 0; cc < cb; ++cc)
#pragma GCC unroll 4
        for (int j = 0; j < nv; ++j)
            *(VEC *)(out + cc * ob + j * VW) += acc[cc * nv + j];
}

#define CL_WGRAD_TILE(CB, NV, RAGGED)                                                         \
    static __attribute__((noinline)) void FN(wgrad_##CB##x##NV##_##RAGGED)(                   \
        const struct cl_conv *a, const T *const *ind, ptrdiff_t taps, ptrdiff_t count,       \
        ptrdiff_t q, ptrdiff_t g, ptrdiff_t b, ptrdiff_t t, ptrdiff_t c0, ptrdiff_t cn,      \
        T *gw)                                                                                \
    {                                                                                         \
        FN(wgrad_tile)(CB, NV, RAGGED, a, ind, taps, count, q, g, b, t, c0, cn, gw);          \
    }

typedef void (*FN(wgrad_fn))(const struct cl_conv *, const T *const *, ptrdiff_t, ptrdiff_t,
                             ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t,
                             T *);

/* Pixels q0 <= q < q1 added into gw (a->w, packed, written). The reduction values of a tap go
 * in blocks of cbmax, then 4, 2 and 1 (a 64-channel layer with cbmax 6: 10 x 6 + 4, where
 * single channels would run at a sixth of the rate); tiles[k][ragged] for k = cbmax, 4, 2, 1.
 * Few-channel layers walk merged kernel rows, as the forward does: a row's kw * C values are
 * one tap, so LeNet's second layer (6 channels) runs blocks of 12 instead of 4 + 2 (two and
 * four accumulators: FMA latency, not throughput, bound them). The packed gradient's layout
 * is the same either way: (kh, kw, C) is (kh, kw * C). */
CL_INLINE int FN(wgrad_drive)(const int cbmax, const int nv, FN(wgrad_fn) tiles[4][2],
                              const struct cl_conv *a, ptrdiff_t q0, ptrdiff_t q1)
{
    const ptrdiff_t ob = nv * VW, nob = (a->og + ob - 1) / ob;
    const int widths[4] = {cbmax, 4, 2, 1};
    struct FN(plan) pl;
    if (FN(plan_init)(a, &pl) < 0)
        return -1;
    const T **ind = malloc(sizeof(const T *) * (size_t)(CL_WGRAD_CHUNK * pl.taps));
    T *scratch = pl.merged ? malloc(sizeof(T) * (size_t)(CL_WGRAD_CHUNK * pl.taps * pl.seg))
                           : NULL;
    int rc = -1;
    if (!ind || (pl.merged && !scratch))
        goto done;
    T *gw = (T *)a->w;
    for (ptrdiff_t s = q0; s < q1; s += CL_WGRAD_CHUNK) {
        const ptrdiff_t e = q1 - s < CL_WGRAD_CHUNK ? q1 : s + CL_WGRAD_CHUNK;
        FN(indirection)(a, &pl, 1, s, e, ind, scratch, NULL, NULL);  /* one pixel a "tile" */
        for (ptrdiff_t g = 0; g < a->groups; ++g)
            for (ptrdiff_t b = 0; b < nob; ++b) {
                const int ragged = a->og - b * ob < ob;
                for (ptrdiff_t t = 0; t < pl.taps; ++t) {
                    ptrdiff_t c0 = 0;
                    for (int k = 0; k < 4; ++k)
                        for (; widths[k] <= cbmax && c0 + widths[k] <= pl.cn; c0 += widths[k])
                            tiles[k][ragged](a, ind, pl.taps, e - s, s, g, b, t, c0, pl.cn,
                                             gw);
                }
            }
    }
    rc = 0;
done:
    free(ind);
    free(scratch);
    FN(plan_free)(&pl);
    return rc;
}

/* (through a second macro, so that PIX1 etc. are expanded before they are pasted into names) */
#define CL_WGRAD(PIX, NV) CL_WGRAD_(PIX, NV)
#define CL_WGRAD_(PIX, NV)                                                                    \
    CL_WGRAD_TILE(PIX, NV, 0)                                                                 \
    CL_WGRAD_TILE(PIX, NV, 1)                                                                 \
    CL_WGRAD_TILE(4, NV, 0)                                                                   \
    CL_WGRAD_TILE(4, NV, 1)                                                                   \
    CL_WGRAD_TILE(2, NV, 0)                                                                   \
    CL_WGRAD_TILE(2, NV, 1)                                                                   \
    CL_WGRAD_TILE(1, NV, 0)                                                                   \
    CL_WGRAD_TILE(1, NV, 1)                                                                   \
    static int FN(wgrad_nv##NV)(const struct cl_conv *a, ptrdiff_t q0, ptrdiff_t q1)          \
    {                                                                                         \
        FN(wgrad_fn) tiles[4][2] = {                                                          \
            {FN(wgrad_##PIX##x##NV##_0), FN(wgrad_##PIX##x##NV##_1)},                         \
            {FN(wgrad_4x##NV##_0), FN(wgrad_4x##NV##_1)},                                     \
            {FN(wgrad_2x##NV##_0), FN(wgrad_2x##NV##_1)},                                     \
            {FN(wgrad_1x##NV##_0), FN(wgrad_1x##NV##_1)}};                                    \
        return FN(wgrad_drive)(PIX, NV, tiles, a, q0, q1);                                    \
    }

#if PIX1
CL_WGRAD(PIX1, 1)
#endif
#if PIX2
CL_WGRAD(PIX2, 2)
#endif
#if PIX4
CL_WGRAD(PIX4, 4)
#endif

static void FN(wgrad_fill)(cl_direct_fn *fns)
{
#if PIX1
    fns[1] = FN(wgrad_nv1);
#endif
#if PIX2
    fns[2] = FN(wgrad_nv2);
#endif
#if PIX4
    fns[4] = FN(wgrad_nv4);
#endif
}

/* Depthwise: gw (taps, cp) += sum over pixels of x(pixel, tap)[c] * gy[pixel, c], for the
 * pixels ow0 <= ow < end of one output row, channels cb .. cb + nc*VW (the last vector's first
 * `last` lanes when ragged), taps t0 .. t0+nt (nt <= 12, in registers). rows[r] is row tap
 * r's input row (a row of zeros where the padding reads one), run the column runs
 * (cl_column_runs). A pixel whose kw columns are consecutive in the input reads tap t at
 * rows[r] + (col_map[col] + j*dw) * C: one map look-up a pixel; one near the edges reads each
 * tap through the column map, a padded column from `zero` (0 * inf = NaN, as the definition
 * has it). Walking a row per block of channels keeps its lines in L1 while the row's pixels
 * reuse them (a pixel's kw columns are its neighbours'); two vectors a block read a pixel's
 * adjacent lines together. Through a per-pixel indirection, one vector a pass, every pass
 * read each tap's line from L2 again: dw3x3's weight gradient ran at 14 GB/s.
 * With gb, the block's grad_y summed over the pixels is added to gb (the bias gradient, in
 * the same pass: as a pass of its own over grad_y it cost dw3x3's backward 0.9 ms). */
CL_INLINE void FN(dw_wgrad_row)(const int nc, const int ragged, const int ntc,
                                const struct cl_conv *a, const T *const *rows,
                                const ptrdiff_t *run, ptrdiff_t ow0, ptrdiff_t end,
                                const T *gy, ptrdiff_t cb, ptrdiff_t last, ptrdiff_t t0,
                                ptrdiff_t ntr, T *gw, T *gb)
{
    /* ntc: the tap count as a constant (3x3: 9), or 0: ntr */
    const ptrdiff_t nt = ntc ? ntc : ntr, C = a->c, kw = a->kw;
    const ptrdiff_t span = (kw - 1) * a->dw + 1;
    const T *zero = (const T *)a->zero + cb;
    const T *tap[12];       /* tap t's row, moved to its column offset and channel block */
    ptrdiff_t tap_col[12];  /* and its column offset, for the edge pixels' map */
    for (ptrdiff_t t = 0; t < nt; ++t) {
        const ptrdiff_t r = (t0 + t) / kw, j = (t0 + t) % kw;
        tap[t] = rows[r] + j * a->dw * C + cb;
        tap_col[t] = j * a->dw;
    }
    VEC acc[12 * 2], sum[2] = {(VEC){0}, (VEC){0}};
#pragma GCC unroll 24
    for (ptrdiff_t k = 0; k < nt * nc; ++k)
        acc[k] = (VEC){0};
#define CL_DW_LOAD(P, V) \
    (ragged && (V) == nc - 1 ? FN(load_lanes)((P) + (V) * VW, last) : *(const VEC *)((P) + (V) * VW))
    for (ptrdiff_t ow = ow0; ow < end; ++ow, gy += C) {
        const ptrdiff_t col = ow * a->sw;
        VEC gv[2];
#pragma GCC unroll 2
        for (int v = 0; v < nc; ++v) {
            gv[v] = CL_DW_LOAD(gy, v);
            sum[v] += gv[v];  /* two adds against nc * nt FMAs: not worth a second kernel */
        }
        if (run[col] >= span) {
            const ptrdiff_t base = a->col_map[col] * C;
#pragma GCC unroll 12
            for (ptrdiff_t t = 0; t < nt; ++t)
#pragma GCC unroll 2
                for (int v = 0; v < nc; ++v)
                    acc[t * nc + v] += CL_DW_LOAD(tap[t] + base, v) * gv[v];
            continue;
        }
        for (ptrdiff_t t = 0; t < nt; ++t) {
            const int64_t cj = a->col_map[col + tap_col[t]];
            const T *src = cj >= 0 ? tap[t] - tap_col[t] * C + cj * C : zero;
#pragma GCC unroll 2
            for (int v = 0; v < nc; ++v)
                acc[t * nc + v] += CL_DW_LOAD(src, v) * gv[v];
        }
    }
#undef CL_DW_LOAD
#pragma GCC unroll 12
    for (ptrdiff_t t = 0; t < nt; ++t)
#pragma GCC unroll 2
        for (int v = 0; v < nc; ++v)
            *(VEC *)(gw + (t0 + t) * a->cp + cb + v * VW) += acc[t * nc + v];
    if (gb)
#pragma GCC unroll 2
        for (int v = 0; v < nc; ++v)
            *(VEC *)(gb + cb + v * VW) += sum[v];
}

#define CL_DW_WGRAD(NAME, NC, RAGGED, NTC)                                                   \
    static __attribute__((noinline)) void FN(NAME)(const struct cl_conv *a,                  \
        const T *const *rows, const ptrdiff_t *run, ptrdiff_t ow0, ptrdiff_t end,            \
        const T *gy, ptrdiff_t cb, ptrdiff_t last, ptrdiff_t t0, ptrdiff_t nt, T *gw, T *gb) \
    {                                                                                         \
        FN(dw_wgrad_row)(NC, RAGGED, NTC, a, rows, run, ow0, end, gy, cb, last, t0, nt, gw,  \
                         gb);                                                                 \
    }
CL_DW_WGRAD(dw_wgrad_wide9, 2, 0, 9)
CL_DW_WGRAD(dw_wgrad_wide, 2, 0, 0)
CL_DW_WGRAD(dw_wgrad_one, 1, 0, 0)
CL_DW_WGRAD(dw_wgrad_part, 1, 1, 0)
#undef CL_DW_WGRAD

/* Output pixels q0 <= q < q1 of the flat (N, Ho, Wo) grid, a row segment at a time: per
 * group of up to 12 taps and block of channels, the segment's sum (dw_wgrad_row). */
static int FN(dw_wgrad)(const struct cl_conv *a, ptrdiff_t q0, ptrdiff_t q1)
{
    const ptrdiff_t nrows = a->kd * a->kh, taps = nrows * a->kw;
    const ptrdiff_t width = (a->wo - 1) * a->sw + (a->kw - 1) * a->dw + 1;
    const T **rows = malloc(sizeof(const T *) * (size_t)nrows);
    ptrdiff_t *run = malloc(sizeof(ptrdiff_t) * (size_t)width);
    T *zero_row = calloc((size_t)(a->iw * a->c), sizeof(T));  /* what a padded row reads */
    if (!rows || !run || !zero_row) {
        free(rows);
        free(run);
        free(zero_row);
        return -1;
    }
    cl_column_runs(a, width, run);
    const ptrdiff_t hw = a->ho * a->wo;
    for (ptrdiff_t q = q0; q < q1;) {
        const ptrdiff_t n = q / hw, oh = (q - n * hw) / a->wo, ow0 = q - n * hw - oh * a->wo;
        const ptrdiff_t end = q1 - q < a->wo - ow0 ? ow0 + (q1 - q) : a->wo;
        FN(dw_rows)(a, n, oh, rows);
        for (ptrdiff_t r = 0; r < nrows; ++r)
            rows[r] = rows[r] ? rows[r] : zero_row;
        const T *gy = (const T *)a->y + q * a->c;
        for (ptrdiff_t t0 = 0; t0 < taps; t0 += 12) {
            const ptrdiff_t nt = taps - t0 < 12 ? taps - t0 : 12;
            T *gw = (T *)a->w, *gb = t0 ? NULL : (T *)a->bias;  /* grad_b: once */
            ptrdiff_t cb = 0;
            for (; cb + 2 * VW <= a->c; cb += 2 * VW)
                (nt == 9 ? FN(dw_wgrad_wide9) : FN(dw_wgrad_wide))(
                    a, rows, run, ow0, end, gy + cb, cb, VW, t0, nt, gw, gb);
            for (; cb + VW <= a->c; cb += VW)
                FN(dw_wgrad_one)(a, rows, run, ow0, end, gy + cb, cb, VW, t0, nt, gw, gb);
            if (cb < a->c)
                FN(dw_wgrad_part)(a, rows, run, ow0, end, gy + cb, cb, a->c - cb, t0, nt, gw,
                                  gb);
        }
        q += end - ow0;
    }
    free(rows);
    free(run);
    free(zero_row);
    return 0;
}

