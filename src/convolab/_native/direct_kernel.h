/* Direct convolution, NHWC, register-blocked: one source for every ISA and dtype.
 *
 * Included by isa_template.h once per dtype, with
 *   T      the element type (float, double)      TNAME  its short name (f32, f64)
 *   VBYTES bytes of one SIMD vector (64, 32, 16)  ISA    the set's name (avx512, avx2, ...)
 *   PIX1, PIX2, PIX4  output pixels per tile for 1, 2 and 4 vectors of output channels
 *                     (0: that width is not built for this set)
 *
 * The tile is PIX output pixels x NV vectors of output channels, held in registers as PIX*NV
 * accumulators for the whole reduction, the design of oneDNN's and LIBXSMM's direct
 * convolutions (Zhang, Franchetti & Low, ICML 2018). For each tap and input channel the
 * microkernel loads NV weight vectors (contiguous in the packed kernel) and broadcasts one
 * input value per pixel: NV + PIX loads feed PIX*NV fused multiply-adds. AVX-512 has 32
 * registers: 6x4 or 12x2 accumulators (24) + NV weights + a broadcast; AVX2 and SSE have 16:
 * 6x2 (12) or 8x1. The PIX pixel pointers of a tap live in general registers (12 fit).
 * Measured on one Sapphire Rapids core, res3x3b (3x3, 128 -> 128, 28x28): 6x4 runs at ~150
 * GFLOP/s, 12x2 at ~140, against ~135-175 for FMAs alone (the machine's clock varies).
 *
 * Output pixels are a flat run of the (N, Ho, Wo) grid, so a tile may span rows or images
 * and only the end of a task leaves a remainder (done one pixel at a time). For each chunk of
 * CL_CHUNK pixels an indirection buffer (XNNPACK's trick) holds, per tile, tap and pixel, a
 * pointer to the input the tap reads: the pixel the padding's index maps name, or a buffer of
 * zeros. That makes every padding mode, stride and dilation one code path, padding costs no
 * copy, and a padded tap multiplies real zeros, as the definition does (0 * inf = NaN).
 *
 * Merged kernel rows: with groups == 1 and no horizontal dilation, the kw taps of a kernel row
 * read kw*C consecutive input values, and the packed kernel holds their weights consecutively
 * too (HWIO order). Such a row is one "tap" of kw*C channels: few-channel layers (a 7x7 stem on
 * RGB, LeNet) then run long inner loops instead of 3-channel ones. A pixel whose row segment
 * crosses the left or right padding reads a copy gathered through the column map.
 */


#ifndef CL_PREFETCH_BYTES
/* bytes of a pixel's channels (of a group) from which a tile prefetches the next tile's input */
#define CL_PREFETCH_BYTES 256
#endif
#ifndef CL_PASS_WEIGHTS
/* bytes of weights one pass over a chunk's tiles sweeps (measured: splitting a 3x3 128-channel
 * layer's 295 KiB into L1-sized passes was slower; this only splits very large kernels) */
#define CL_PASS_WEIGHTS (1 << 20)
#endif
#define CL_INLINE static inline __attribute__((always_inline))
/* Keeps v in a register: without it GCC folds the load of a vector into each FMA it feeds,
 * one load per FMA again (seen in the disassembly: depthwise's input vectors, which feed kw
 * accumulators; winograd_1d's weights, which feed a tile's pixels) */
#if VBYTES == 64
#define CL_IN_REGISTER(v) __asm__("" : "+v"(v))
#elif defined(__x86_64__)
#define CL_IN_REGISTER(v) __asm__("" : "+x"(v))
#else
#define CL_IN_REGISTER(v) ((void)0)
#endif

/* The tile after this one (its indirection and whether it is strided), whose input the
 * reduction prefetches as it goes. */
struct FN(ahead) {
    const T *const *ind;
    int strided;
};

/* The reduction: acc[p][j] += sum over taps t and channels c < cn of
 * (ind[t][p] + off)[c] * wt[t][c][j]; wt's taps are wstride values apart, each a row of nv
 * vectors per channel, the rows wrow values apart (nv * VW, packed; a channels-first 1x1
 * layer's input rows: pointwise_kernel.h). The tile that prefetches reads the next tile's
 * input as it goes (`ahead`). A strided tile's pixels read one stretch of the input, pstep values
 * apart: only ind[t][0] is given, pixel p reading ind[t][0] + p * pstep. acc is the caller's
 * local array, kept in registers throughout: the callers are functions of their own, since
 * inlined into a driver with many live values GCC spilled half of them. */
CL_INLINE void FN(direct_reduce)(const int pix, const int nv, const int strided,
                                 const T *const *ind, ptrdiff_t off, const T *wt,
                                 ptrdiff_t taps, ptrdiff_t cn, ptrdiff_t wstride,
                                 ptrdiff_t pstep, VEC *acc, const int prefetch,
                                 const struct FN(ahead) *ahead, ptrdiff_t wrow)
{
    for (ptrdiff_t t = 0; t < taps; ++t) {
        const T *px[16], *pf[16];
#pragma GCC unroll 16
        for (int p = 0; p < pix; ++p) {
            px[p] = (strided ? ind[t * pix] + p * pstep : ind[t * pix + p]) + off;
            /* opaque: else GCC rewrote a strided tile's loads as one base plus pix offsets
             * (and the weights' as two), more live values than registers, several
             * reloaded from the stack an iteration */
            __asm__("" : "+r"(px[p]));
        }
        if (prefetch)
            for (int p = 0; p < pix; ++p)
                pf[p] = (ahead->strided ? ahead->ind[t * pix] + p * pstep
                                        : ahead->ind[t * pix + p]) + off;
        int pp = 0;
        ptrdiff_t line = 0;
        const T *w = wt + t * wstride;
        __asm__("" : "+r"(w));  /* one pointer stepping by a row of weights (as px above) */
        for (ptrdiff_t c = 0; c < cn; ++c, w += wrow) {
            if (prefetch) {
                __builtin_prefetch(pf[pp] + line, 0, 3);
                if (++pp == pix) {
                    pp = 0;
                    line += 64 / (ptrdiff_t)sizeof(T);
                }
            }
            VEC wv[4];
#pragma GCC unroll 4
            for (int j = 0; j < nv; ++j)
                wv[j] = *(const VEC *)(w + j * VW);
#pragma GCC unroll 16
            for (int p = 0; p < pix; ++p) {
                const T s = px[p][c];
#pragma GCC unroll 4
                for (int j = 0; j < nv; ++j)
                    acc[p * nv + j] += wv[j] * s;
            }
        }
    }
}

/* The microkernel into memory, acc_out (Winograd's products): the sums from zero, stored
 * once. */
CL_INLINE void FN(direct_ukernel)(const int pix, const int nv, const int strided,
                                  const T *const *ind, ptrdiff_t off, const T *wt,
                                  ptrdiff_t taps, ptrdiff_t cn, ptrdiff_t wstride,
                                  ptrdiff_t pstep, VEC *acc_out)
{
    VEC acc[4 * 16];
#pragma GCC unroll 64
    for (int k = 0; k < pix * nv; ++k)
        acc[k] = (VEC){0};
    FN(direct_reduce)(pix, nv, strided, ind, off, wt, taps, cn, wstride, pstep, acc, 0, NULL,
                      nv * VW);
#pragma GCC unroll 64
    for (int k = 0; k < pix * nv; ++k)
        acc_out[k] = acc[k];
}

typedef void (*FN(ukernel_fn))(const T *const *, ptrdiff_t, const T *, ptrdiff_t, ptrdiff_t,
                               ptrdiff_t, ptrdiff_t, VEC *);

/* FN(ukernel_PIXxNV), and with STRIDED 1, FN(ukernel_PIXxNV_strided) (pstep is read only
 * there) */
#define CL_UKERNEL(PIX, NV, STRIDED, SUFFIX)                                                  \
    static __attribute__((noinline)) void FN(ukernel_##PIX##x##NV##SUFFIX)(                   \
        const T *const *ind, ptrdiff_t off, const T *wt, ptrdiff_t taps, ptrdiff_t cn,        \
        ptrdiff_t wstride, ptrdiff_t pstep, VEC *acc)                                        \
    {                                                                                         \
        FN(direct_ukernel)(PIX, NV, STRIDED, ind, off, wt, taps, cn, wstride, pstep, acc);    \
    }

/* The first n lanes of v to p (all of them when n >= VW, none when n <= 0: a tile's vectors
 * past the last output channel); AVX-512 masks the rest off. */
CL_INLINE void FN(store_lanes)(T *p, VEC v, ptrdiff_t n)
{
    if (n >= VW) {
        *(VEC *)p = v;
        return;
    }
    if (n <= 0)
        return;
#if VBYTES == 64 && defined(__AVX512F__) && TSIZE == 4
    _mm512_mask_storeu_ps(p, (__mmask16)((1u << n) - 1), (__m512)v);
#elif VBYTES == 64 && defined(__AVX512F__)
    _mm512_mask_storeu_pd(p, (__mmask8)((1u << n) - 1), (__m512d)v);
#else
    for (ptrdiff_t l = 0; l < n; ++l)
        p[l] = v[l];
#endif
}

/* The first n lanes from p, zeros after: never reads past p[n-1] (nothing when n <= 0). */
CL_INLINE VEC FN(load_lanes)(const T *p, ptrdiff_t n)
{
    if (n >= VW)
        return *(const VEC *)p;
    if (n <= 0)
        return (VEC){0};
#if VBYTES == 64 && defined(__AVX512F__) && TSIZE == 4
    return (VEC)_mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1), p);
#elif VBYTES == 64 && defined(__AVX512F__)
    return (VEC)_mm512_maskz_loadu_pd((__mmask8)((1u << n) - 1), p);
#else
    VEC v = (VEC){0};
    for (ptrdiff_t l = 0; l < n; ++l)
        v[l] = p[l];
    return v;
#endif
}

#ifndef CL_STREAM_BYTES
/* Outputs of at least this many bytes are stored non-temporally (FN(stream_store)): larger
 * than half of a current server's L3, they would leave it before a next layer read them
 * (convolab.algorithms.direct_depthwise.STREAM_BYTES places them line-aligned) */
#define CL_STREAM_BYTES (16 << 20)
#endif

/* v to p, VBYTES-aligned, with a non-temporal store where the set has one: the line goes to
 * memory whole, not read first and written back later as a plain store's is (dw3x3's 25.7 MB
 * output: 2.82 -> 2.09 ms on 2 cores). The depthwise kernel and plane_kernel.h store large
 * outputs with it, each ordering them by an sfence before it returns. */
CL_INLINE void FN(stream_store)(T *p, VEC v)
{
#if VBYTES == 64 && defined(__AVX512F__) && TSIZE == 4
    _mm512_stream_ps(p, (__m512)v);
#elif VBYTES == 64 && defined(__AVX512F__)
    _mm512_stream_pd(p, (__m512d)v);
#elif VBYTES == 32 && defined(__AVX__) && TSIZE == 4
    _mm256_stream_ps(p, (__m256)v);
#elif VBYTES == 32 && defined(__AVX__)
    _mm256_stream_pd(p, (__m256d)v);
#elif VBYTES == 16 && defined(__SSE2__) && TSIZE == 4
    _mm_stream_ps(p, (__m128)v);
#elif VBYTES == 16 && defined(__SSE2__)
    _mm_stream_pd(p, (__m128d)v);
#else
    *(VEC *)p = v;
#endif
}

/* How a call walks its reduction: per-tap (taps = kh*kw of cg channels) or merged rows
 * (taps = kh of kw*C values). */
struct FN(plan) {
    int merged;
    ptrdiff_t taps, cn, wstride, seg;
    /* merged rows: per output column, the input column its kernel row starts at when the
     * row's kw pixels are consecutive in the input, else -1, and the tile breaks after them
     * (cl_run_starts: the call's, or the plan's own when `owned`) */
    const ptrdiff_t *run_start, *tile_breaks;
    int owned;
};

/* The source of a merged kernel row starting at padded column col of `row`, before the
 * channel offset: the input itself when the row's kw pixels are consecutive there (start >=
 * 0, from run_start), else a copy gathered through the column map into `slot`. */
CL_INLINE const T *FN(row_source)(const struct cl_conv *a, const T *row, ptrdiff_t col,
                                  ptrdiff_t start, T *slot)
{
    if (start >= 0)
        return row + start * a->c;
    for (ptrdiff_t jj = 0; jj < a->kw; ++jj) {
        const int64_t cj = a->col_map[col + jj];
        for (ptrdiff_t c = 0; c < a->c; ++c)
            slot[jj * a->c + c] = cj < 0 ? (T)0 : row[cj * a->c + c];
    }
    return slot;
}

#ifndef CL_COLUMN_RUNS
#define CL_COLUMN_RUNS
/* run_len[i] for the first `width` padded columns: how many consecutive input columns the
 * column map names from padded column i (0 where it names a zero), counted right to left. */
static inline void cl_column_runs(const struct cl_conv *a, ptrdiff_t width, ptrdiff_t *run_len)
{
    run_len[width - 1] = a->col_map[width - 1] >= 0;
    for (ptrdiff_t i = width - 2; i >= 0; --i) {
        const int64_t c = a->col_map[i];
        run_len[i] = c < 0 ? 0 : a->col_map[i + 1] == c + 1 ? run_len[i + 1] + 1 : 1;
    }
}
#endif

/* The input row that kernel row i of depth tap d reads for output row oh of image n, or NULL
 * where the padding reads zeros. */
CL_INLINE const T *FN(input_row)(const struct cl_conv *a, ptrdiff_t n, ptrdiff_t oh,
                                 ptrdiff_t d, ptrdiff_t i)
{
    const int64_t plane = a->plane_map ? a->plane_map[n * a->kd + d] : n;
    const int64_t r = plane < 0 ? -1 : a->row_map[oh * a->sh + i * a->dh];
    return r < 0 ? NULL : (const T *)a->x + (plane * a->ih + r) * a->iw * a->c;
}

/* kernel rows (depth taps x rows) whose input rows the indirection keeps for an output row */
#define CL_ROWS_KEPT 256

/* The indirection of pixels s <= q < e: tiles of pix first ([tile][tap][pixel]), then the
 * remainder one pixel at a time ([pixel][tap]). A tap's pointer is the input pixel the maps
 * name (before the channel offset), or the zeros; for merged rows, see row_source. Taps run
 * depth tap, row, column (a volume's kd planes, each with its kernel rows). The maps are read
 * once per plane, row and column, with no division per tap (a depthwise layer's whole
 * arithmetic per tap is a few vectors: this loop must cost less).
 * With `strided` (merged rows only; NULL: none), strided[i] says whether tile i is strided:
 * its pixels in one output row, every kernel row's sources one strided stretch of a real
 * input row (cl_run_starts' tile breaks); only its first pixel's pointers are written. A
 * 1-D signal's tiles all are but one a row, and building a pointer a pixel and tap was a tenth
 * of its conv.
 * With `yoff` (NULL: none), yoff[q - s] is where output pixel q starts in y (struct cl_conv's
 * placement). */
static void FN(indirection)(const struct cl_conv *a, const struct FN(plan) *pl, int pix,
                            ptrdiff_t s, ptrdiff_t e, const T **ind, T *scratch,
                            unsigned char *strided, ptrdiff_t *yoff)
{
    const T *zero = (const T *)a->zero;
    const ptrdiff_t hw = a->ho * a->wo, full = (e - s) / pix * pix, taps = pl->taps;
    const ptrdiff_t nrows = a->kd * a->kh;  /* kernel rows: depth taps x rows */
    ptrdiff_t n = s / hw, oh = (s - n * hw) / a->wo, ow = s - n * hw - oh * a->wo;
    /* the input rows of the current output row, found once for its Wo pixels (per pixel,
     * the maps' look-ups were half of LeNet's second layer's indirection) */
    const T *kept[CL_ROWS_KEPT];
    const int keep = nrows <= CL_ROWS_KEPT;
    /* pixel k is pixel p of tile `tile`, counted up (a division per pixel cost LeNet's second
     * layer, 5 merged rows a pixel, a fifth of its indirection) */
    ptrdiff_t k = 0, tile = 0, p = 0;
    while (k < e - s) {
        /* the pixels of output row (n, oh) from column ow on: a loop of their own, so the
         * row's invariants stay in registers (a 16000-sample signal is one long row) */
        int real_rows = keep;  /* every kernel row reads a real input row */
        if (keep)
            for (ptrdiff_t d = 0; d < a->kd; ++d)
                for (ptrdiff_t i = 0; i < a->kh; ++i) {
                    kept[d * a->kh + i] = FN(input_row)(a, n, oh, d, i);
                    real_rows &= kept[d * a->kh + i] != NULL;
                }
        const ptrdiff_t end = e - s - k < a->wo - ow ? e - s : k + a->wo - ow;
        if (yoff) {
            const ptrdiff_t row = a->y0 + n * a->ysn + oh * a->ysh;
            for (ptrdiff_t kk = k, col = ow; kk < end; ++kk, ++col)
                yoff[kk] = row + col * a->ysw;
        }
        if (pl->merged) {
            /* a loop of its own, few live values (inside the per-tap loop below, GCC kept
             * half of them on the stack: the indirection was a tenth of a 1-D signal's conv) */
            const ptrdiff_t *run_start = pl->run_start, c = a->c;
            for (; k < end; ++k, ++ow, ++p) {
                if (p == pix) {
                    p = 0;
                    ++tile;
                }
                if (strided && p == 0 && k < full) {
                    const ptrdiff_t start = run_start[ow];
                    strided[tile] = real_rows && start >= 0 && ow + pix <= a->wo
                                    && pl->tile_breaks[ow + pix - 1] == pl->tile_breaks[ow];
                    if (strided[tile]) {
                        for (ptrdiff_t r = 0; r < nrows; ++r)
                            ind[tile * taps * pix + r * pix] = kept[r] + start * c;
                        k += pix - 1;  /* the loop's steps then take it past the tile */
                        ow += pix - 1;
                        p = pix - 1;
                        continue;
                    }
                }
                /* entry of tap t: base + t * step */
                const ptrdiff_t base = k < full ? tile * taps * pix + p : k * taps;
                const ptrdiff_t step = k < full ? pix : 1, start = run_start[ow];
                for (ptrdiff_t r = 0; r < nrows; ++r) {
                    const T *row = keep ? kept[r]
                                        : FN(input_row)(a, n, oh, r / a->kh, r % a->kh);
                    ind[base + r * step] = !row ? zero
                        : start >= 0 ? row + start * c
                        : FN(row_source)(a, row, ow * a->sw, start,
                                         scratch + (k * taps + r) * pl->seg);
                }
            }
        }
        for (; k < end; ++k, ++ow, ++p) {
            if (p == pix) {
                p = 0;
                ++tile;
            }
            const ptrdiff_t base = k < full ? tile * taps * pix + p : k * taps;
            const ptrdiff_t step = k < full ? pix : 1;
            const ptrdiff_t col = ow * a->sw;
            for (ptrdiff_t r = 0; r < nrows; ++r) {
                const T *row = keep ? kept[r] : FN(input_row)(a, n, oh, r / a->kh, r % a->kh);
                for (ptrdiff_t j = 0; j < a->kw; ++j) {
                    const int64_t cc = a->col_map[col + j * a->dw];
                    ind[base + (r * a->kw + j) * step] = row && cc >= 0 ? row + cc * a->c : zero;
                }
            }
        }
        ow = 0;
        if (++oh == a->ho) {
            oh = 0;
            ++n;
        }
    }
}

/* One tile: the pixels whose outputs start at y + yoff[0 .. pix-1], o-block b of group g,
 * reduction indices c0 <= c < c1 of each tap: the sum starts from y's partial sums unless
 * c0 == 0, and the bias is added when c1 ends the reduction. The accumulators go from zeros (or y) through
 * the reduction to y in registers (through a microkernel's memory, they cost a 1-D signal's
 * 80-value reduction ~7%). */
CL_INLINE void FN(direct_tile)(const int pix, const int nv, const int strided, const int prefetch,
                               const struct cl_conv *a, const struct FN(plan) *pl,
                               const T *const *ind, const ptrdiff_t *yoff, ptrdiff_t g,
                               ptrdiff_t b, ptrdiff_t c0, ptrdiff_t c1, ptrdiff_t pstep,
                               const struct FN(ahead) *ahead)
{
    const ptrdiff_t ob = nv * VW, nob = (a->og + ob - 1) / ob;
    const ptrdiff_t lanes = a->og - b * ob < ob ? a->og - b * ob : ob;
    const T *wb = (const T *)a->w + (g * nob + b) * a->kd * a->kh * a->kw * a->cg * ob;
    VEC acc[64] __attribute__((aligned(64)));
#pragma GCC unroll 16
    for (int p = 0; p < pix; ++p) {
        const T *yp = (const T *)a->y + yoff[p] + g * a->og + b * ob;
#pragma GCC unroll 4
        for (int j = 0; j < nv; ++j)
            acc[p * nv + j] = c0 ? FN(load_lanes)(yp + j * VW, lanes - j * VW) : (VEC){0};
    }
    FN(direct_reduce)(pix, nv, strided, ind, g * a->cg + c0, wb + c0 * ob, pl->taps, c1 - c0,
                      pl->wstride, pstep, acc, prefetch, ahead, ob);
    const T *bias = a->bias && c1 == pl->cn ? (const T *)a->bias + (g * nob + b) * ob : NULL;
#pragma GCC unroll 16
    for (int p = 0; p < pix; ++p) {
        T *yp = (T *)a->y + yoff[p] + g * a->og + b * ob;
#pragma GCC unroll 4
        for (int j = 0; j < nv; ++j) {
            VEC v = acc[p * nv + j];
            if (bias)
                v += *(const VEC *)(bias + j * VW);
            FN(store_lanes)(yp + j * VW, v, lanes - j * VW);
        }
    }
}

typedef void (*FN(tile_fn))(const struct cl_conv *, const struct FN(plan) *, const T *const *,
                            const ptrdiff_t *, ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t,
                            ptrdiff_t, const struct FN(ahead) *);

/* FN(tile_PIXxNV), and with STRIDED 1, FN(tile_PIXxNV_strided); PREFETCH 1: the variant that
 * prefetches the next tile's input (SUFFIX _ahead) */
#define CL_TILE(PIX, NV, STRIDED, PREFETCH, SUFFIX)                                           \
    static __attribute__((noinline)) void FN(tile_##PIX##x##NV##SUFFIX)(                      \
        const struct cl_conv *a, const struct FN(plan) *pl, const T *const *ind,              \
        const ptrdiff_t *yoff, ptrdiff_t g, ptrdiff_t b, ptrdiff_t c0, ptrdiff_t c1,           \
        ptrdiff_t pstep, const struct FN(ahead) *ahead)                                       \
    {                                                                                         \
        FN(direct_tile)(PIX, NV, STRIDED, PREFETCH, a, pl, ind, yoff, g, b, c0, c1, pstep,    \
                        ahead);                                                               \
    }

/* count strided tiles in a row of the chunk (ind and yoff their first's), without prefetch,
 * in one call: a 1-D signal's few-channel tiles are short (an 80-value reduction), and a
 * call, its set-up and its epilogue a tile were ~8% of one. */
typedef void (*FN(tile_run_fn))(const struct cl_conv *, const struct FN(plan) *,
                                const T *const *, const ptrdiff_t *, ptrdiff_t, ptrdiff_t,
                                ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t);

#define CL_TILE_RUN(PIX, NV)                                                                  \
    static __attribute__((noinline)) void FN(tile_run_##PIX##x##NV)(                          \
        const struct cl_conv *a, const struct FN(plan) *pl, const T *const *ind,              \
        const ptrdiff_t *yoff, ptrdiff_t g, ptrdiff_t b, ptrdiff_t c0, ptrdiff_t c1,           \
        ptrdiff_t pstep, ptrdiff_t count)                                                     \
    {                                                                                         \
        for (ptrdiff_t i = 0; i < count; ++i)                                                 \
            FN(direct_tile)(PIX, NV, 1, 0, a, pl, ind + i * PIX * pl->taps, yoff + i * PIX,   \
                            g, b, c0, c1, pstep, NULL);                                       \
    }

/* How a call walks its reduction (wstride left to the caller: it depends on the packing);
 * plan_free releases it. 0, or -1 when out of memory. */
static int FN(plan_init)(const struct cl_conv *a, struct FN(plan) *pl)
{
    pl->merged = cl_merged_rows(a);
    pl->taps = a->kd * (pl->merged ? a->kh : a->kh * a->kw);
    pl->cn = pl->merged ? a->kw * a->cg : a->cg;
    pl->seg = pl->merged ? a->kw * a->c : 0;
    pl->wstride = 0;
    pl->run_start = a->run_start;  /* found once for the region by the entry point */
    pl->owned = 0;
    if (pl->merged && !pl->run_start) {
        pl->run_start = cl_run_starts(a);
        pl->owned = 1;
        if (!pl->run_start)
            return -1;
    }
    pl->tile_breaks = pl->run_start ? pl->run_start + a->wo : NULL;
    return 0;
}

static void FN(plan_free)(struct FN(plan) *pl)
{
    if (pl->owned)
        free((void *)pl->run_start);
    pl->run_start = NULL;
}

/* Pixels q0 <= q < q1, every group and o-block: per chunk, the indirection once, then per
 * (group, o-block, pass over the reduction) every tile of the chunk by tiles[2 * ahead +
 * strided] (ahead: the variant that prefetches the next tile's input), the remainder's pixels
 * by tile1. */
CL_INLINE int FN(direct_drive)(const int pix, const int nv, const FN(tile_fn) tiles[4],
                               FN(tile_run_fn) run, FN(tile_fn) tile1,
                               const struct cl_conv *a, ptrdiff_t q0, ptrdiff_t q1)
{
    const ptrdiff_t ob = nv * VW, nob = (a->og + ob - 1) / ob;
    struct FN(plan) pl;
    if (FN(plan_init)(a, &pl) < 0)
        return -1;
    pl.wstride = pl.cn * ob;
    ptrdiff_t cb = CL_PASS_WEIGHTS / (pl.taps * ob * (ptrdiff_t)sizeof(T));
    cb = cb < 1 ? 1 : cb > pl.cn ? pl.cn : cb;

    const ptrdiff_t pstep = a->sw * a->c;  /* a strided tile's step from pixel to pixel */
    /* Whether a tile prefetches the next one's input: a pixel's channels span several cache
     * lines, most of which this tile has not touched (a 1x1 layer's 256 channels: 86 -> 100
     * GFLOP/s on one Zen 4 core, a stride-2 3x3 layer's 64: 4%). With few channels (a stem's
     * 3, a signal's 1), the windows overlap the next tile's and the prefetches only cost
     * (stem 6%, M5's 80-tap first layer 6%). */
    const int prefetch = a->cg * (ptrdiff_t)sizeof(T) >= CL_PREFETCH_BYTES;
    unsigned char strided[CL_CHUNK];        /* per tile of the chunk */
    ptrdiff_t yoff[CL_CHUNK];               /* per pixel of the chunk: where its output starts */
    const T **ind = malloc(sizeof(const T *) * (size_t)(CL_CHUNK * pl.taps));
    T *scratch = pl.merged ? malloc(sizeof(T) * (size_t)(CL_CHUNK * pl.taps * pl.seg)) : NULL;
    if (!ind || (pl.merged && !scratch)) {
        free(ind);
        free(scratch);
        FN(plan_free)(&pl);
        return -1;
    }
    for (ptrdiff_t s = q0; s < q1; s += CL_CHUNK) {
        const ptrdiff_t e = q1 - s < CL_CHUNK ? q1 : s + CL_CHUNK;
        const ptrdiff_t full = (e - s) / pix * pix;
        FN(indirection)(a, &pl, pix, s, e, ind, scratch, pl.merged ? strided : NULL, yoff);
        for (ptrdiff_t g = 0; g < a->groups; ++g) {
            for (ptrdiff_t b = 0; b < nob; ++b) {
                for (ptrdiff_t c0 = 0; c0 < pl.cn; c0 += cb) {
                    const ptrdiff_t c1 = pl.cn - c0 < cb ? pl.cn : c0 + cb;
                    for (ptrdiff_t k = 0, t = 0; k < full; k += pix, ++t) {
                        if (!prefetch && pl.merged && strided[t]) {
                            ptrdiff_t count = 1;
                            while (k + count * pix < full && strided[t + count])
                                ++count;
                            run(a, &pl, ind + k * pl.taps, yoff + k, g, b, c0, c1, pstep,
                                count);
                            k += (count - 1) * pix;
                            t += count - 1;
                            continue;
                        }
                        /* the next tile, or this one again after the last */
                        const ptrdiff_t kn = k + pix < full ? k + pix : k;
                        const struct FN(ahead) ahead = {
                            ind + kn * pl.taps, pl.merged && strided[kn / pix]};
                        tiles[2 * prefetch + (pl.merged && strided[t])](
                            a, &pl, ind + k * pl.taps, yoff + k, g, b, c0, c1, pstep, &ahead);
                    }
                    for (ptrdiff_t k = full; k < e - s; ++k)
                        tile1(a, &pl, ind + k * pl.taps, yoff + k, g, b, c0, c1, 0, NULL);
                }
            }
        }
    }
    free(ind);
    free(scratch);
    FN(plan_free)(&pl);
    return 0;
}

#if PIX1
/* Winograd's products: strided tiles, and single pixels */
CL_UKERNEL(PIX1, 1, 1, _strided)
CL_UKERNEL(1, 1, 0, )
CL_TILE(PIX1, 1, 0, 0, )
CL_TILE(PIX1, 1, 1, 0, _strided)
CL_TILE(PIX1, 1, 0, 1, _ahead)
CL_TILE(PIX1, 1, 1, 1, _strided_ahead)
CL_TILE(1, 1, 0, 0, )
CL_TILE_RUN(PIX1, 1)
static int FN(direct_nv1)(const struct cl_conv *a, ptrdiff_t q0, ptrdiff_t q1)
{
    static const FN(tile_fn) tiles[4] = {FN(tile_PIX1x1), FN(tile_PIX1x1_strided),
                                         FN(tile_PIX1x1_ahead),
                                         FN(tile_PIX1x1_strided_ahead)};
    return FN(direct_drive)(PIX1, 1, tiles, FN(tile_run_PIX1x1), FN(tile_1x1), a, q0,
                            q1);
}
#endif
#if PIX2
/* Winograd's products: strided tiles, and single pixels */
CL_UKERNEL(PIX2, 2, 1, _strided)
CL_UKERNEL(1, 2, 0, )
CL_TILE(PIX2, 2, 0, 0, )
CL_TILE(PIX2, 2, 1, 0, _strided)
CL_TILE(PIX2, 2, 0, 1, _ahead)
CL_TILE(PIX2, 2, 1, 1, _strided_ahead)
CL_TILE(1, 2, 0, 0, )
CL_TILE_RUN(PIX2, 2)
static int FN(direct_nv2)(const struct cl_conv *a, ptrdiff_t q0, ptrdiff_t q1)
{
    static const FN(tile_fn) tiles[4] = {FN(tile_PIX2x2), FN(tile_PIX2x2_strided),
                                         FN(tile_PIX2x2_ahead),
                                         FN(tile_PIX2x2_strided_ahead)};
    return FN(direct_drive)(PIX2, 2, tiles, FN(tile_run_PIX2x2), FN(tile_1x2), a, q0,
                            q1);
}
#endif
#if PIX4
/* Winograd's products: strided tiles, and single pixels */
CL_UKERNEL(PIX4, 4, 1, _strided)
CL_UKERNEL(1, 4, 0, )
CL_TILE(PIX4, 4, 0, 0, )
CL_TILE(PIX4, 4, 1, 0, _strided)
CL_TILE(PIX4, 4, 0, 1, _ahead)
CL_TILE(PIX4, 4, 1, 1, _strided_ahead)
CL_TILE(1, 4, 0, 0, )
CL_TILE_RUN(PIX4, 4)
static int FN(direct_nv4)(const struct cl_conv *a, ptrdiff_t q0, ptrdiff_t q1)
{
    static const FN(tile_fn) tiles[4] = {FN(tile_PIX4x4), FN(tile_PIX4x4_strided),
                                         FN(tile_PIX4x4_ahead),
                                         FN(tile_PIX4x4_strided_ahead)};
    return FN(direct_drive)(PIX4, 4, tiles, FN(tile_run_PIX4x4), FN(tile_1x4), a, q0,
                            q1);
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

