/* Depthwise convolution (groups == C == O), NHWC: one source for every ISA and dtype.
 *
 * Included by isa_template.h after direct_kernel.h, with the same T, TNAME, VBYTES, ISA, and
 * DW_PIX (output pixels per tile) and DW_NC (vectors of channels per tile).
 *
 * Channels sit in SIMD lanes (XNNPACK's dwconv design); the accumulators of a tile, DW_PIX
 * pixels of one output row x DW_NC vectors of channels, stay in registers over every tap. The
 * work is walked row by row: an output row's kd*kh input rows (depth and row taps, through the
 * plane and row maps) are looked up once, and a tile's sources are plain pointer arithmetic
 * from them, so no per-pixel indirection is built (building one cost ~25% of the time).
 * A tile is "interior" when the column map sends every column it reads to consecutive input
 * columns (any padding mode: reflect and circular maps are consecutive inside the image);
 * the pixels near the left and right edges run one at a time through the column map, a
 * padded tap reading real zeros, as the definition multiplies them (0 * inf = NaN). A padded
 * input row multiplies a zero vector for the same reason.
 *
 * Column reuse: at stride 1 without dilation, the kw column taps of neighbouring pixels read
 * overlapping inputs; for kw 3 and 5 (compile-time, so the tile stays in registers) each
 * input vector of a row tap is loaded once and feeds up to kw accumulators: P + kw - 1 loads
 * for P*kw FMAs instead of P*kw loads. Measured on one core, dw3x3's 128 channels on a 24x24
 * image (in L2): the former per-pixel indirection design took ~7 ns an output vector, this
 * one ~4 (the rest is L2 traffic: each input line comes from L2 once per row tap).
 *
 * The packed kernel is (kd*kh*kw, Cp), Cp >= C a multiple of 64 and zero-filled, so weight
 * loads never need a tail; the input and output do (C % lanes), by masked loads and stores.
 */

/* The tile's accumulators: pixel p, channel vector v. */
#define DW_ACC(p, v) acc[(p) * DW_NC + (v)]

/* acc[p][v] += (zero row) * w: a padded input row's taps, no load. */
CL_INLINE void FN(dw_zero_row)(const int pix, const int nc, const T *wr, ptrdiff_t kw,
                               ptrdiff_t cp, VEC *acc)
{
    const VEC zero = (VEC){0};
    for (ptrdiff_t j = 0; j < kw; ++j) {
#pragma GCC unroll 4
        for (int v = 0; v < nc; ++v) {
            const VEC wv = *(const VEC *)(wr + j * cp + v * VW);
#pragma GCC unroll 16
            for (int p = 0; p < pix; ++p)
                DW_ACC(p, v) += zero * wv;
        }
    }
}

/* The bias (if any) added, the tile's accumulators to y (pixel p at yp + p*C): whole aligned
 * vectors non-temporally when a->stream says so (FN(depthwise) sets it for a large output). */
CL_INLINE void FN(dw_store)(const int pix, const int nc, const int ragged,
                            const struct cl_conv *a, ptrdiff_t cb, ptrdiff_t last, T *yp,
                            VEC *acc)
{
#pragma GCC unroll 16
    for (int p = 0; p < pix; ++p) {
#pragma GCC unroll 4
        for (int v = 0; v < nc; ++v) {
            VEC out = DW_ACC(p, v);
            if (a->bias)
                out += *(const VEC *)((const T *)a->bias + cb + v * VW);
            T *dst = yp + p * a->c + v * VW;
            if (a->stream && !(ragged && v == nc - 1) && (uintptr_t)dst % VBYTES == 0)
                FN(stream_store)(dst, out);
            else
                FN(store_lanes)(dst, out, ragged && v == nc - 1 ? last : VW);
        }
    }
}

/* One interior tile: pix pixels of an output row, channels cb .. cb + nc*VW - 1 (the last
 * vector holding `last` lanes when ragged). Pixel p's column tap j of row tap r reads
 * rows[r] + (c0 + p*sw + j*dw) * C, or zeros when rows[r] is NULL. KW: the kernel width when
 * the tile reuses columns (stride 1, no dilation; 3 or 5), 0 for the general walk. */
CL_INLINE void FN(dw_tile)(const int pix, const int nc, const int ragged, const int KW,
                           const struct cl_conv *a, const T *const *rows, ptrdiff_t c0,
                           ptrdiff_t cb, ptrdiff_t last, T *yp)
{
    const ptrdiff_t taps = a->kd * a->kh, kw = a->kw, C = a->c, cp = a->cp;
    const ptrdiff_t xs = a->sw * C, js = a->dw * C;  /* pixel step, column-tap step */
    const T *w = (const T *)a->w + cb;
    VEC acc[16 * DW_NC];
#pragma GCC unroll 64
    for (int k = 0; k < pix * DW_NC; ++k)
        acc[k] = (VEC){0};
    for (ptrdiff_t r = 0; r < taps; ++r) {
        const T *wr = w + r * kw * cp;
        if (!rows[r]) {
            FN(dw_zero_row)(pix, nc, wr, kw, cp, acc);
            continue;
        }
        const T *src = rows[r] + c0 * C + cb;
        if (KW) {
            VEC wv[5 * DW_NC];
#pragma GCC unroll 5
            for (int j = 0; j < KW; ++j)
#pragma GCC unroll 4
                for (int v = 0; v < nc; ++v)
                    wv[j * DW_NC + v] = *(const VEC *)(wr + j * cp + v * VW);
            /* input column c feeds pixel p = c - j through tap j */
#pragma GCC unroll 24
            for (int c = 0; c < pix + KW - 1; ++c, src += C) {
#pragma GCC unroll 4
                for (int v = 0; v < nc; ++v) {
                    VEC xv = ragged && v == nc - 1 ? FN(load_lanes)(src + v * VW, last)
                                                   : *(const VEC *)(src + v * VW);
                    CL_IN_REGISTER(xv);
#pragma GCC unroll 5
                    for (int j = 0; j < KW; ++j)
                        if (c - j >= 0 && c - j < pix)
                            DW_ACC(c - j, v) += xv * wv[j * DW_NC + v];
                }
            }
            continue;
        }
        for (ptrdiff_t j = 0; j < kw; ++j, src += js) {
            VEC wv[DW_NC];
#pragma GCC unroll 4
            for (int v = 0; v < nc; ++v)
                wv[v] = *(const VEC *)(wr + j * cp + v * VW);
#pragma GCC unroll 16
            for (int p = 0; p < pix; ++p) {
#pragma GCC unroll 4
                for (int v = 0; v < nc; ++v) {
                    const T *s = src + p * xs + v * VW;
                    const VEC xv = ragged && v == nc - 1 ? FN(load_lanes)(s, last)
                                                         : *(const VEC *)s;
                    DW_ACC(p, v) += xv * wv[v];
                }
            }
        }
    }
    FN(dw_store)(pix, nc, ragged, a, cb, last, yp, acc);
}

/* The kinds of channel block a tile does: DW_NC vectors, one vector, one vector of `last`
 * lanes (the ragged end, or the head before the first aligned vector: see FN(dw_head)). */
#ifndef CL_DW_KINDS
#define CL_DW_KINDS
enum { CL_DW_WIDE, CL_DW_ONE, CL_DW_PART };
#endif

/* One interior tile of channel block cb (kind, last lanes). */
CL_INLINE void FN(dw_block)(const int pix, const int KW, int kind, const struct cl_conv *a,
                            const T *const *rows, ptrdiff_t c0, T *yp, ptrdiff_t cb,
                            ptrdiff_t last)
{
    if (kind == CL_DW_WIDE)
        FN(dw_tile)(pix, DW_NC, 0, KW, a, rows, c0, cb, VW, yp + cb);
    else if (kind == CL_DW_ONE)
        FN(dw_tile)(pix, 1, 0, KW, a, rows, c0, cb, VW, yp + cb);
    else
        FN(dw_tile)(pix, 1, 1, KW, a, rows, c0, cb, last, yp + cb);
}

typedef void (*FN(dw_interior_fn))(int, const struct cl_conv *, const T *const *, ptrdiff_t,
                                   T *, ptrdiff_t, ptrdiff_t);

#define CL_DW_INTERIOR(NAME, PIX, KW)                                                        \
    static __attribute__((noinline)) void FN(dw_##NAME##_k##KW)(                             \
        int kind, const struct cl_conv *a, const T *const *rows, ptrdiff_t c0, T *yp,        \
        ptrdiff_t cb, ptrdiff_t last)                                                        \
    {                                                                                        \
        FN(dw_block)(PIX, KW, kind, a, rows, c0, yp, cb, last);                              \
    }
#define CL_DW_WIDTHS(NAME, PIX)                                                              \
    CL_DW_INTERIOR(NAME, PIX, 0) CL_DW_INTERIOR(NAME, PIX, 3) CL_DW_INTERIOR(NAME, PIX, 5)
CL_DW_WIDTHS(full, DW_PIX)
CL_DW_WIDTHS(one, 1)
#if DW_PIX > 4
CL_DW_WIDTHS(four, 4)
#endif
#undef CL_DW_WIDTHS
#undef CL_DW_INTERIOR

/* One pixel near an edge, padded column ccol: every tap through the column map (a column
 * outside the image reads `zero`, at least C zeros). */
CL_INLINE void FN(dw_edge_tile)(const int nc, const int ragged, const struct cl_conv *a,
                                const T *const *rows, ptrdiff_t ccol, ptrdiff_t cb,
                                ptrdiff_t last, T *yp)
{
    const ptrdiff_t taps = a->kd * a->kh, kw = a->kw, C = a->c, cp = a->cp;
    const T *w = (const T *)a->w + cb, *zero = (const T *)a->zero + cb;
    VEC acc[DW_NC];
#pragma GCC unroll 4
    for (int v = 0; v < nc; ++v)
        acc[v] = (VEC){0};
    for (ptrdiff_t r = 0; r < taps; ++r) {
        for (ptrdiff_t j = 0; j < kw; ++j) {
            const int64_t col = a->col_map[ccol + j * a->dw];
            const T *src = rows[r] && col >= 0 ? rows[r] + col * C + cb : zero;
#pragma GCC unroll 4
            for (int v = 0; v < nc; ++v) {
                const VEC wv = *(const VEC *)(w + (r * kw + j) * cp + v * VW);
                const VEC xv = ragged && v == nc - 1 ? FN(load_lanes)(src + v * VW, last)
                                                     : *(const VEC *)(src + v * VW);
                acc[v] += xv * wv;
            }
        }
    }
    FN(dw_store)(1, nc, ragged, a, cb, last, yp, acc);
}

static __attribute__((noinline)) void FN(dw_edge)(int kind, const struct cl_conv *a,
                                                  const T *const *rows, ptrdiff_t ccol, T *yp,
                                                  ptrdiff_t cb, ptrdiff_t last)
{
    if (kind == CL_DW_WIDE)
        FN(dw_edge_tile)(DW_NC, 0, a, rows, ccol, cb, VW, yp + cb);
    else if (kind == CL_DW_ONE)
        FN(dw_edge_tile)(1, 0, a, rows, ccol, cb, VW, yp + cb);
    else
        FN(dw_edge_tile)(1, 1, a, rows, ccol, cb, last, yp + cb);
}

/* The input rows output row (n, oh) reads: per depth tap d and row tap i, rows[d*kh + i] is
 * the start of the input row the plane and row maps name, or NULL for a padded one. */
static void FN(dw_rows)(const struct cl_conv *a, ptrdiff_t n, ptrdiff_t oh, const T **rows)
{
    const T *x = (const T *)a->x;
    for (ptrdiff_t d = 0; d < a->kd; ++d) {
        const int64_t plane = a->plane_map ? a->plane_map[n * a->kd + d] : n;
        for (ptrdiff_t i = 0; i < a->kh; ++i) {
            const int64_t r = plane < 0 ? -1 : a->row_map[oh * a->sh + i * a->dh];
            rows[d * a->kh + i] = r < 0 ? NULL : x + (plane * a->ih + r) * a->iw * a->c;
        }
    }
}

/* The channels an interior tile does first, as one masked vector, so that every vector after
 * them is stored to a SIMD-aligned output address, and loaded from an aligned input address
 * when the caller placed x and y at the same offset in a line: NumPy's large arrays start 16
 * bytes past a 64-byte line, and a 64-byte load that straddles two lines costs two (measured
 * on dw3x3, 2 threads: 1.72 ms with every input load split, 1.44 aligned). The caller places
 * the packed kernel at y's offset, and a large output (streamed) at a line's start, where its
 * whole lines can be written non-temporally: that gains more than the split loads cost. Only
 * when every pixel's channels start at the same offset within a vector (C * sizeof(T) a
 * multiple of it). */
static ptrdiff_t FN(dw_head)(const struct cl_conv *a)
{
    const uintptr_t y = (uintptr_t)a->y;
    if ((a->c * (ptrdiff_t)sizeof(T)) % VBYTES || y % sizeof(T) || a->c < 2 * VW)
        return 0;
    return (ptrdiff_t)((VBYTES - y % VBYTES) % VBYTES / sizeof(T));
}

/* Pixels q0 <= q < q1 of the flat (N, Ho, Wo) grid, a row segment at a time: tiles of
 * DW_PIX, then 4, then 1 interior pixels, edge pixels one by one, each tile every channel
 * block. (Walking the whole range once per channel block instead, so that a block's input
 * rows stay in L1 between output rows, was 1.6x slower on dw3x3: the memory then streams a
 * quarter of each pixel's lines per pass.) */
static int FN(depthwise)(const struct cl_conv *call, ptrdiff_t q0, ptrdiff_t q1)
{
    struct cl_conv here = *call;
    const struct cl_conv *a = &here;
    here.stream = (size_t)(a->n * a->ho * a->wo * a->c) * sizeof(T) >= CL_STREAM_BYTES;
    const ptrdiff_t width = (a->wo - 1) * a->sw + (a->kw - 1) * a->dw + 1;
    const ptrdiff_t span = (a->kw - 1) * a->dw + 1;  /* padded columns one pixel reads */
    const ptrdiff_t nblocks = a->c / VW + 2;
    const T **rows = malloc(sizeof(const T *) * (size_t)(a->kd * a->kh));
    ptrdiff_t *run = malloc(sizeof(ptrdiff_t) * (size_t)width);
    ptrdiff_t *blocks = malloc(sizeof(ptrdiff_t) * 3 * (size_t)nblocks);  /* kind, cb, last */
    if (!rows || !run || !blocks) {
        free(rows);
        free(run);
        free(blocks);
        return -1;
    }
    cl_column_runs(a, width, run);
    ptrdiff_t nb = 0, cb = FN(dw_head)(a);
#define CL_DW_ADD(KIND, CB, LAST) \
    (blocks[3 * nb] = (KIND), blocks[3 * nb + 1] = (CB), blocks[3 * nb + 2] = (LAST), ++nb)
    if (cb)
        CL_DW_ADD(CL_DW_PART, 0, cb);
    for (; cb + DW_NC * VW <= a->c; cb += DW_NC * VW)
        CL_DW_ADD(CL_DW_WIDE, cb, VW);
    for (; cb + VW <= a->c; cb += VW)
        CL_DW_ADD(CL_DW_ONE, cb, VW);
    if (cb < a->c)
        CL_DW_ADD(CL_DW_PART, cb, a->c - cb);
#undef CL_DW_ADD
    const int KW = a->sw == 1 && a->dw == 1 && (a->kw == 3 || a->kw == 5) ? (int)a->kw : 0;
    FN(dw_interior_fn) full = KW == 3 ? FN(dw_full_k3) : KW == 5 ? FN(dw_full_k5)
                                                                 : FN(dw_full_k0);
    FN(dw_interior_fn) one = KW == 3 ? FN(dw_one_k3) : KW == 5 ? FN(dw_one_k5) : FN(dw_one_k0);
#if DW_PIX > 4
    FN(dw_interior_fn) four = KW == 3 ? FN(dw_four_k3) : KW == 5 ? FN(dw_four_k5)
                                                                 : FN(dw_four_k0);
#endif
    const ptrdiff_t hw = a->ho * a->wo;
    T *y = (T *)a->y;
#define CL_DW_BLOCKS(CALL)                                                                   \
    for (ptrdiff_t b = 0; b < nb; ++b) {                                                     \
        const int kind = (int)blocks[3 * b];                                                 \
        const ptrdiff_t bc = blocks[3 * b + 1], last = blocks[3 * b + 2];                    \
        CALL;                                                                                \
    }
    for (ptrdiff_t q = q0; q < q1;) {
        const ptrdiff_t n = q / hw, oh = (q - n * hw) / a->wo, ow0 = q - n * hw - oh * a->wo;
        const ptrdiff_t end = q1 - q < a->wo - ow0 ? ow0 + (q1 - q) : a->wo;
        FN(dw_rows)(a, n, oh, rows);
        /* The input row the next output row reads that this one does not (its last row
         * tap), prefetched into L2 a full tile's columns at a time as this row runs: the
         * hardware's prefetchers left each new row's lines to memory's latency (dw3x3 on 2
         * cores 3.37 -> 2.74 ms; two rows ahead, the same) */
        const T *ahead = NULL;
        if (a->kd == 1 && oh + 1 < a->ho) {
            const int64_t plane = a->plane_map ? a->plane_map[n] : n;
            const int64_t r = plane < 0 ? -1
                              : a->row_map[(oh + 1) * a->sh + (a->kh - 1) * a->dh];
            ahead = r < 0 ? NULL : (const T *)a->x + (plane * a->ih + r) * a->iw * a->c;
        }
        T *yrow = y + (q - ow0) * a->c;
        for (ptrdiff_t ow = ow0; ow < end;) {
            const ptrdiff_t col = ow * a->sw, left = end - ow, c0 = a->col_map[col];
            T *yp = yrow + ow * a->c;
            if (run[col] < span) {
                CL_DW_BLOCKS(FN(dw_edge)(kind, a, rows, col, yp, bc, last));
                ow += 1;
            } else if (left >= DW_PIX && run[col] >= (DW_PIX - 1) * a->sw + span) {
                if (ahead) {
                    const char *pf = (const char *)(ahead + c0 * a->c);
                    const ptrdiff_t bytes = DW_PIX * a->sw * a->c * (ptrdiff_t)sizeof(T);
                    for (ptrdiff_t e = 0; e < bytes; e += 64)
                        __builtin_prefetch(pf + e, 0, 2);
                }
                CL_DW_BLOCKS(full(kind, a, rows, c0, yp, bc, last));
                ow += DW_PIX;
#if DW_PIX > 4
            } else if (left >= 4 && run[col] >= 3 * a->sw + span) {
                CL_DW_BLOCKS(four(kind, a, rows, c0, yp, bc, last));
                ow += 4;
#endif
            } else {
                CL_DW_BLOCKS(one(kind, a, rows, c0, yp, bc, last));
                ow += 1;
            }
        }
        q += end - ow0;
    }
#undef CL_DW_BLOCKS
#if defined(__SSE2__)
    if (a->stream)
        _mm_sfence();  /* the non-temporal stores ordered before the region's end */
#endif
    free(rows);
    free(run);
    free(blocks);
    return 0;
}

#undef DW_ACC
