/* Direct convolution with few output channels: the reduction in SIMD lanes ("dot" tiles).
 *
 * Included by isa_template.h after direct_kernel.h (its lane helpers and column runs).
 *
 * direct's tiles put output channels in lanes: with 6 of them (the input gradient of LeNet's
 * second layer, 16 -> 6) a 16-lane vector computes 10 lanes for nothing, and each FMA costs a
 * broadcast load besides. Here the lanes hold VW consecutive values of a tap's reduction
 * (its input channels, or for fewer channels than a vector a whole kernel row's kw * C
 * values) instead: a tile of DOT_PIX pixels x DOT_O output channels keeps DOT_PIX * DOT_O
 * vector accumulators, and each vector step of the reduction loads DOT_PIX input vectors and
 * DOT_O weight vectors for DOT_PIX * DOT_O FMAs, every lane useful. A tile's accumulators are
 * summed across their lanes once, at the end.
 *
 * The work is walked row by row, as the depthwise kernel walks it: an output row's kd * kh
 * input rows are looked up once, and a tile of pixels whose taps all read consecutive input
 * columns (any padding mode: its maps are consecutive inside the image) reads at pointer
 * offsets from them, with no per-pixel indirection (building direct's took as long as the
 * arithmetic here). A pixel whose taps cross the left or right border goes alone, each tap
 * through the column map, reading zeros where the map says padding (a padded row too), so
 * the products are exactly the definition's (0 * inf = NaN).
 *
 * The packed kernel is (G, nob, taps, DOT_O, cnp): per tap and output channel the cn
 * reduction values, zero-filled to cnp (a multiple of VW) and past the last output channel;
 * bias is (O,) as given. A tap's last, partial vector of input is a masked load.
 */

#define DOT_O CL_DOT_O
#if VBYTES == 64
#define DOT_PIX 4
#else
#define DOT_PIX 2  /* 16 registers: 12 accumulators, 2 inputs and a weight */
#endif

/* The sum of v's lanes. */
CL_INLINE T FN(lane_sum)(VEC v)
{
#if VBYTES == 64 && defined(__AVX512F__) && TSIZE == 4
    return _mm512_reduce_add_ps((__m512)v);
#elif VBYTES == 64 && defined(__AVX512F__)
    return _mm512_reduce_add_pd((__m512d)v);
#else
    T s = 0;
    for (ptrdiff_t l = 0; l < VW; ++l)
        s += v[l];
    return s;
#endif
}

/* acc[p][o] += x[p] * w[o] (cnp apart): one vector step of the reduction. */
CL_INLINE void FN(dot_step)(const int pix, const VEC *xv, const T *w, ptrdiff_t cnp, VEC *acc)
{
#pragma GCC unroll 6
    for (int o = 0; o < DOT_O; ++o) {
        const VEC wv = *(const VEC *)(w + o * cnp);
#pragma GCC unroll 4
        for (int p = 0; p < pix; ++p)
            acc[p * DOT_O + o] += xv[p] * wv;
    }
}

/* The first min(n, VW) lanes from p, zeros after (n >= 1), by one masked load where the set
 * has one: no branch, so a loop over a reduction with a partial last vector stays one loop
 * (with a branch between a whole and a partial load, GCC kept the accumulators in memory). */
CL_INLINE VEC FN(load_upto)(const T *p, ptrdiff_t n)
{
#if VBYTES == 64 && defined(__AVX512F__) && TSIZE == 4
    return (VEC)_mm512_maskz_loadu_ps(n >= VW ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1),
                                      p);
#elif VBYTES == 64 && defined(__AVX512F__)
    return (VEC)_mm512_maskz_loadu_pd(n >= VW ? (__mmask8)0xff : (__mmask8)((1u << n) - 1), p);
#elif VBYTES == 32 && defined(__AVX2__) && TSIZE == 4
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return (VEC)_mm256_maskload_ps(p, _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n < VW ? n : VW)),
                                                         lane));
#elif VBYTES == 32 && defined(__AVX2__)
    const __m256i lane = _mm256_setr_epi64x(0, 1, 2, 3);
    return (VEC)_mm256_maskload_pd(p, _mm256_cmpgt_epi64(_mm256_set1_epi64x(n < VW ? n : VW),
                                                         lane));
#else
    return FN(load_lanes)(p, n);
#endif
}

/* The microkernel: acc[p][o] = sum over taps t and the cn values c of
 * ptrs[t][p][c] * wts[t][o][c] (each tap's weights (DOT_O, cnp), zero past cn). A function of its
 * own that only loops, with its accumulators a local array: written inside the tile
 * functions, GCC stored every accumulator back to memory on every step. */
CL_INLINE void FN(dot_ukernel)(const int pix, const T *const *ptrs, const T *const *wts,
                               ptrdiff_t taps, ptrdiff_t cn, ptrdiff_t cnp, VEC *acc_out)
{
    VEC acc[DOT_PIX * DOT_O];
#pragma GCC unroll 24
    for (int k = 0; k < pix * DOT_O; ++k)
        acc[k] = (VEC){0};
    for (ptrdiff_t t = 0; t < taps; ++t) {
        const T *w = wts[t], *px[DOT_PIX];
#pragma GCC unroll 4
        for (int p = 0; p < pix; ++p)
            px[p] = ptrs[t * pix + p];
        for (ptrdiff_t c = 0; c < cn; c += VW) {
            VEC xv[DOT_PIX];
#pragma GCC unroll 4
            for (int p = 0; p < pix; ++p)
                xv[p] = FN(load_upto)(px[p] + c, cn - c);
#pragma GCC unroll 6
            for (int o = 0; o < DOT_O; ++o) {
                const VEC wv = *(const VEC *)(w + o * cnp + c);
#pragma GCC unroll 4
                for (int p = 0; p < pix; ++p)
                    acc[p * DOT_O + o] += xv[p] * wv;
            }
        }
    }
#pragma GCC unroll 24
    for (int k = 0; k < pix * DOT_O; ++k)
        acc_out[k] = acc[k];
}

static __attribute__((noinline)) void FN(dot_ukernel_full)(
    const T *const *ptrs, const T *const *wts, ptrdiff_t taps, ptrdiff_t cn, ptrdiff_t cnp,
    VEC *acc)
{
    FN(dot_ukernel)(DOT_PIX, ptrs, wts, taps, cn, cnp, acc);
}

static __attribute__((noinline)) void FN(dot_ukernel_one)(
    const T *const *ptrs, const T *const *wts, ptrdiff_t taps, ptrdiff_t cn, ptrdiff_t cnp,
    VEC *acc)
{
    FN(dot_ukernel)(1, ptrs, wts, taps, cn, cnp, acc);
}

/* What a tile reads: the output row's input rows (NULL: padding), the packed weights of the
 * o-block, and the walk of the reduction. */
struct FN(dot_row) {
    const struct cl_conv *a;
    const T *const *rows;    /* kd * kh */
    const ptrdiff_t *cols;   /* (Wo, kw): the input offset (col * C) of column tap j, or -1 */
    const T *zero;           /* zeros past the group's channel offset */
    const T *wb;             /* (taps, DOT_O, cnp) */
    ptrdiff_t cn, cnp, taps_row, cstep, off;  /* taps_row: 1 (merged) or kw; cstep: dw * C */
    int merged;              /* a tap is a kernel row of kw * C values */
    int skip;                /* the weights are finite: a tap of zeros only adds zeros */
};

/* The sources of pix pixels from output column ow: ptrs[t][p] and the tap's weights wts[t];
 * returns the number of taps. An interior tile (every tap of every pixel on consecutive input
 * columns) reads at offsets from the rows; near an edge each tap goes through the column
 * map, zeros where it says padding, a merged row gathered into slot. With finite weights a
 * tap that reads only zeros (a padded row, or columns all padding) is left out: it would add
 * exact zeros (0 * w = 0). Each case is its own loop: with the case tested per pixel and tap,
 * building the sources took twice as long as the arithmetic. */
CL_INLINE ptrdiff_t FN(dot_sources)(const int pix, const struct FN(dot_row) *d, ptrdiff_t ow,
                                    int interior, const T **ptrs, const T **wts, T *slot)
{
    const struct cl_conv *a = d->a;
    const ptrdiff_t nrows = a->kd * a->kh, kw = a->kw, C = a->c, tstep = DOT_O * d->cnp;
    const ptrdiff_t *cols = d->cols + ow * kw;
    ptrdiff_t m = 0;
    for (ptrdiff_t r = 0; r < nrows; ++r) {
        const T *row = d->rows[r], *w = d->wb + r * d->taps_row * tstep;
        if (!row) {  /* a padded row */
            if (d->skip)
                continue;
            for (ptrdiff_t j = 0; j < d->taps_row; ++j, ++m) {
#pragma GCC unroll 4
                for (int p = 0; p < pix; ++p)
                    ptrs[m * pix + p] = d->zero;
                wts[m] = w + j * tstep;
            }
            continue;
        }
        if (interior) {
            for (ptrdiff_t j = 0; j < d->taps_row; ++j, ++m) {
#pragma GCC unroll 4
                for (int p = 0; p < pix; ++p)
                    ptrs[m * pix + p] = row + cols[p * kw] + d->off + j * d->cstep;
                wts[m] = w + j * tstep;
            }
        } else if (d->merged) {  /* kw * C values, gathered */
            for (int p = 0; p < pix; ++p) {
                T *s = slot + (p * nrows + r) * kw * C;
                for (ptrdiff_t jj = 0; jj < kw; ++jj) {
                    const ptrdiff_t c0 = cols[p * kw + jj];
                    for (ptrdiff_t c = 0; c < C; ++c)
                        s[jj * C + c] = c0 >= 0 ? row[c0 + c] : (T)0;
                }
                ptrs[m * pix + p] = s + d->off;
            }
            wts[m++] = w;
        } else {
            for (ptrdiff_t j = 0; j < kw; ++j) {
                int real = 0;
#pragma GCC unroll 4
                for (int p = 0; p < pix; ++p) {
                    const ptrdiff_t c0 = cols[p * kw + j];
                    ptrs[m * pix + p] = c0 >= 0 ? row + c0 + d->off : d->zero;
                    real |= c0 >= 0;
                }
                if (real || !d->skip)
                    wts[m++] = w + j * tstep;
            }
        }
    }
    return m;
}

/* One tile of pix pixels at output column ow: its sources, the microkernel, the sums to y. */
CL_INLINE void FN(dot_tile)(const int pix, const struct FN(dot_row) *d, ptrdiff_t ow,
                            int interior, const T **ptrs, const T **wts, T *slot, T *yp,
                            ptrdiff_t o0, ptrdiff_t no)
{
    const ptrdiff_t m = FN(dot_sources)(pix, d, ow, interior, ptrs, wts, slot);
    VEC acc[DOT_PIX * DOT_O];
    if (pix == DOT_PIX)
        FN(dot_ukernel_full)(ptrs, wts, m, d->cn, d->cnp, acc);
    else
        FN(dot_ukernel_one)(ptrs, wts, m, d->cn, d->cnp, acc);
    const T *bias = (const T *)d->a->bias;
#pragma GCC unroll 4
    for (int p = 0; p < pix; ++p)
        for (ptrdiff_t o = 0; o < no; ++o)
            yp[p * d->a->o + o] = FN(lane_sum)(acc[p * DOT_O + o])
                                  + (bias ? bias[o0 + o] : (T)0);
}

static int FN(dot_pixels)(void) { return DOT_PIX; }

/* Whether all n values at w are finite. */
static int FN(dot_finite)(const T *w, ptrdiff_t n)
{
    for (ptrdiff_t i = 0; i < n; ++i)
        if (!(w[i] - w[i] == 0))
            return 0;
    return 1;
}

/* Pixels q0 <= q < q1 of the flat (N, Ho, Wo) grid, row segment by row segment: per segment
 * its input rows once, then per group and block of DOT_O output channels every tile. */
static int FN(dot)(const struct cl_conv *a, ptrdiff_t q0, ptrdiff_t q1)
{
    const int merged = cl_dot_merged_rows(a, VW);
    const ptrdiff_t C = a->c, kw = a->kw, span = (kw - 1) * a->dw + 1;
    const ptrdiff_t width = (a->wo - 1) * a->sw + span, nrows = a->kd * a->kh;
    const ptrdiff_t taps_row = merged ? 1 : kw, taps = nrows * taps_row;
    const ptrdiff_t cn = merged ? kw * a->cg : a->cg, cnp = (cn + VW - 1) / VW * VW;
    const ptrdiff_t nob = (a->og + DOT_O - 1) / DOT_O, hw = a->ho * a->wo;
    ptrdiff_t *run_len = malloc(sizeof(ptrdiff_t) * (size_t)width);
    ptrdiff_t *cols = malloc(sizeof(ptrdiff_t) * (size_t)(a->wo * kw));
    const T **rows = malloc(sizeof(const T *) * (size_t)nrows);
    const T **ptrs = malloc(sizeof(const T *) * (size_t)(DOT_PIX * taps));
    const T **wts = malloc(sizeof(const T *) * (size_t)taps);
    T *slot = merged ? malloc(sizeof(T) * (size_t)(DOT_PIX * nrows * kw * C)) : NULL;
    int rc = -1;
    if (!run_len || !cols || !rows || !ptrs || !wts || (merged && !slot))
        goto done;
    cl_column_runs(a, width, run_len);  /* pixel ow is interior when run_len[ow*sw] >= span */
    for (ptrdiff_t ow = 0; ow < a->wo; ++ow)
        for (ptrdiff_t j = 0; j < kw; ++j) {
            const int64_t c = a->col_map[ow * a->sw + j * a->dw];
            cols[ow * kw + j] = c < 0 ? -1 : c * C;
        }
    struct FN(dot_row) d = {
        .a = a, .rows = rows, .cols = cols, .cn = cn, .cnp = cnp, .taps_row = taps_row,
        .cstep = a->dw * C, .merged = merged,
        .skip = FN(dot_finite)((const T *)a->w, a->groups * nob * taps * DOT_O * cnp),
    };
    const T *x = (const T *)a->x;
    for (ptrdiff_t q = q0; q < q1;) {
        const ptrdiff_t n = q / hw, oh = q % hw / a->wo, ow0 = q % a->wo;
        const ptrdiff_t ow1 = a->wo - ow0 < q1 - q ? a->wo : ow0 + (q1 - q);
        for (ptrdiff_t dd = 0; dd < a->kd; ++dd) {
            const int64_t plane = a->plane_map ? a->plane_map[n * a->kd + dd] : n;
            for (ptrdiff_t i = 0; i < a->kh; ++i) {
                const int64_t r = plane < 0 ? -1 : a->row_map[oh * a->sh + i * a->dh];
                rows[dd * a->kh + i] = r < 0 ? NULL : x + ((plane * a->ih + r) * a->iw) * C;
            }
        }
        T *yrow = (T *)a->y + (n * hw + oh * a->wo) * a->o;
        for (ptrdiff_t g = 0; g < a->groups; ++g) {
            d.off = g * a->cg;
            d.zero = (const T *)a->zero + d.off;
            for (ptrdiff_t b = 0; b < nob; ++b) {
                const ptrdiff_t o0 = g * a->og + b * DOT_O;
                const ptrdiff_t no = a->og - b * DOT_O < DOT_O ? a->og - b * DOT_O : DOT_O;
                d.wb = (const T *)a->w + (g * nob + b) * taps * DOT_O * cnp;
                for (ptrdiff_t ow = ow0; ow < ow1;) {
                    const int pix = ow + DOT_PIX <= ow1 ? DOT_PIX : 1;
                    int interior = 1;
                    for (int p = 0; interior && p < pix; ++p)
                        interior = run_len[(ow + p) * a->sw] >= span;
                    T *yp = yrow + ow * a->o + o0;
                    if (pix == DOT_PIX)
                        FN(dot_tile)(DOT_PIX, &d, ow, interior, ptrs, wts, slot, yp, o0, no);
                    else
                        FN(dot_tile)(1, &d, ow, interior, ptrs, wts, slot, yp, o0, no);
                    ow += pix;
                }
            }
        }
        q += ow1 - ow0;
    }
    rc = 0;
done:
    free(run_len);
    free(cols);
    free(rows);
    free(ptrs);
    free(wts);
    free(slot);
    return rc;
}

#undef DOT_O
#undef DOT_PIX
