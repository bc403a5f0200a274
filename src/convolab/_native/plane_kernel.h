/* Whole planes read flat: a one-channel convolution whose output has its input's shape.
 *
 * Included by isa_template.h after direct_kernel.h (same T, TNAME, VBYTES, ISA).
 *
 * With stride 1, zero padding and Ho == H, Wo == W ("same" for an odd kernel), output k of a
 * plane of P = H*W values (row k / W, column k % W) is
 *     y[k] = bias + sum over taps (i, j) of w[i][j] * x[k + off(i, j)],
 *     off(i, j) = (i*dh - pt) * W + j*dw - pl,
 * a tap reading zero where its column leaves the row or its row leaves the plane. A plane is
 * then one long row: a vector of VW consecutive outputs, across row ends, takes each tap as
 * one unaligned load and one FMA, the lanes whose column leaves the row zeroed by a mask
 * (per column tap, from the lanes' columns, carried as a vector from one vector to the next).
 * There is no padded copy and no per-row work: a 56x56 plane of a depthwise layer in NCHW is
 * 196 vectors of 16, where the row ring (stencil_kernel.h) copies each 56-value row and ends
 * it with a ragged vector. The outputs are aligned stores, non-temporal when the output is
 * large (CL_STREAM_BYTES).
 *
 * A vector whose loads would leave its plane (within the padding's reach of the plane's start
 * or end), and the outputs of a task's range before its first aligned vector and after its
 * last, are computed the same way from a zero-padded copy of the stretch they read.
 */

/* a lane's column, in an integer of T's size */
#if TSIZE == 4
typedef int32_t FN(plane_int);
typedef uint32_t FN(plane_uint);
#else
typedef int64_t FN(plane_int);
typedef uint64_t FN(plane_uint);
#endif
typedef FN(plane_int) FN(plane_ivec) __attribute__((vector_size(VBYTES)));
typedef FN(plane_uint) FN(plane_uvec) __attribute__((vector_size(VBYTES)));
#define PL_INT FN(plane_int)
#define PL_IVEC FN(plane_ivec)
#define PL_UINT FN(plane_uint)
#define PL_UVEC FN(plane_uvec)

/* A plane's geometry: its size, width, the kernel's shape, the offset of tap (0, 0) (lo, the
 * lowest a vector reads) and of the last tap (hi, the highest), per kernel row (rstep) and
 * column (dw), and the left padding. */
struct FN(plane) {
    ptrdiff_t P, W, kh, kw, lo, hi, rstep, dw, pl;
    ptrdiff_t reps;  /* conditional subtractions of W that bring a column back into the row */
};

/* The columns of VW consecutive outputs from plane position k. */
CL_INLINE PL_IVEC FN(plane_columns)(const struct FN(plane) *g, ptrdiff_t k)
{
    PL_IVEC col;
    for (ptrdiff_t l = 0; l < VW; ++l)
        col[l] = (PL_INT)((k + l) % g->W);
    return col;
}

/* The columns of the vector VW outputs on. */
CL_INLINE PL_IVEC FN(plane_next)(const struct FN(plane) *g, PL_IVEC col)
{
    col += (PL_IVEC){0} + (PL_INT)VW;
    for (ptrdiff_t r = 0; r < g->reps; ++r)
        col -= (col >= (PL_IVEC){0} + (PL_INT)g->W) & (PL_INT)g->W;
    return col;
}

/* acc + the taps' sum for the VW outputs whose columns are col, `at` pointing at E[k] (the
 * plane, or a copy with zeros around it); wv the broadcast weights, (kh, kw). KH, KW: the
 * kernel's shape when it is a constant (0: g's); CENTERED: an odd kernel's left padding
 * (kw - 1) / 2 * dw ("same"), so that the middle column tap needs no mask. Every other column
 * tap masks its lanes (all of them kept, mostly: a mask costs less than a branch a tap). */
CL_INLINE VEC FN(plane_vector)(const int KH, const int KW, const int CENTERED,
                               const struct FN(plane) *g, const T *at, PL_IVEC col,
                               const VEC *wv, VEC acc)
{
    const ptrdiff_t kh = KH ? KH : g->kh, kw = KW ? KW : g->kw;
    const ptrdiff_t dw = g->dw, pl = g->pl;
    const ptrdiff_t rstep = g->rstep;
    const PL_UVEC width = (PL_UVEC){0} + (PL_UINT)g->W;
    const T *src = at + g->lo;
#pragma GCC unroll 8
    for (ptrdiff_t j = 0; j < kw; ++j) {
        const ptrdiff_t dc = j * dw - pl;  /* the column a tap reads, from the output's */
        /* column + dc in [0, W): one unsigned compare */
        const PL_IVEC keep = (PL_IVEC)((PL_UVEC)(col + (PL_INT)dc) < width);
#pragma GCC unroll 8
        for (ptrdiff_t i = 0; i < kh; ++i) {
            VEC v = *(const VEC *)(src + j * dw + i * rstep);
            if (!CENTERED || 2 * j != kw - 1)
                v = (VEC)((PL_IVEC)v & keep);
            acc += v * wv[i * kw + j];
        }
    }
    return acc;
}

/* Outputs [k0, k1) of a plane, aligned vectors whose loads stay inside it: xp is its input,
 * yp its output. */
CL_INLINE void FN(plane_run)(const int KH, const int KW, const int CENTERED,
                             const struct FN(plane) *g, const T *xp, T *yp, ptrdiff_t k0,
                             ptrdiff_t k1, const VEC *wv, VEC bias, int stream)
{
    /* a constant kernel's weights in locals, which registers can hold through the loop */
    VEC local[KH && KW ? KH * KW : 1];
    const VEC *wk = wv;
    if (KH && KW) {
        for (int t = 0; t < KH * KW; ++t)
            local[t] = wv[t];
        wk = local;
    }
    PL_IVEC col = FN(plane_columns)(g, k0);
    for (ptrdiff_t k = k0; k < k1; k += VW) {
        const VEC out = FN(plane_vector)(KH, KW, CENTERED, g, xp + k, col, wk, bias);
        if (stream)
            FN(stream_store)(yp + k, out);
        else
            *(VEC *)(yp + k) = out;
        col = FN(plane_next)(g, col);
    }
}

#define CL_PLANE_RUN(NAME, KH, KW, CENTERED)                                                  \
    static __attribute__((noinline)) void FN(NAME)(const struct FN(plane) *g, const T *xp,   \
                                                   T *yp, ptrdiff_t k0, ptrdiff_t k1,         \
                                                   const VEC *wv, VEC bias, int stream)       \
    {                                                                                         \
        FN(plane_run)(KH, KW, CENTERED, g, xp, yp, k0, k1, wv, bias, stream);                 \
    }
CL_PLANE_RUN(plane_run_3x3, 3, 3, 1)
CL_PLANE_RUN(plane_run_5x5, 5, 5, 1)
CL_PLANE_RUN(plane_run_any, 0, 0, 0)
#undef CL_PLANE_RUN

/* Outputs [k0, k1) of a plane, any of them, from `copy`: the input positions
 * [k0 + lo, k0 + n*VW + hi) of the plane (n = the vectors), zeros outside it, then stored
 * value by value. copy holds (k1 - k0 + VW) + hi - lo values at least. */
static void FN(plane_edge)(const struct FN(plane) *g, const T *xp, T *yp, ptrdiff_t k0,
                           ptrdiff_t k1, const VEC *wv, VEC bias, T *copy)
{
    const ptrdiff_t vecs = (k1 - k0 + VW - 1) / VW;
    const ptrdiff_t t0 = k0 + g->lo, t1 = k0 + vecs * VW + g->hi;
    const ptrdiff_t r0 = t0 > 0 ? t0 : 0, r1 = t1 < g->P ? t1 : g->P;
    if (r1 <= r0) {
        memset(copy, 0, sizeof(T) * (size_t)(t1 - t0));
    } else {
        memset(copy, 0, sizeof(T) * (size_t)(r0 - t0));
        memcpy(copy + (r0 - t0), xp + r0, sizeof(T) * (size_t)(r1 - r0));
        memset(copy + (r1 - t0), 0, sizeof(T) * (size_t)(t1 - r1));
    }
    PL_IVEC col = FN(plane_columns)(g, k0);
    for (ptrdiff_t k = k0; k < k1; k += VW) {
        const VEC out = FN(plane_vector)(0, 0, 0, g, copy + (k - t0), col, wv, bias);
        FN(store_lanes)(yp + k, out, k1 - k);
        col = FN(plane_next)(g, col);
    }
}

/* The leading padding of a zero-padding index map: how many -1 entries start it. */
static ptrdiff_t FN(plane_pad)(const int64_t *map)
{
    ptrdiff_t p = 0;
    while (map[p] < 0)
        ++p;
    return p;
}

/* Output pixels q0 <= q < q1 of the flat (N, H, W) grid: plane m filtered by kernel m % cp of
 * the bank w (cp, kh, kw) (cp 0: one kernel), plus bias[m % cp]. a's maps are zero padding
 * (checked by the entry point), Ho == H, Wo == W, C == O == 1, stride 1. 0, or -1 when out of
 * memory. */
static int FN(plane_stencil)(const struct cl_conv *a, ptrdiff_t q0, ptrdiff_t q1)
{
    struct FN(plane) g = {.W = a->iw, .P = a->ih * a->iw, .kh = a->kh, .kw = a->kw,
                          .rstep = a->dh * a->iw, .dw = a->dw, .pl = FN(plane_pad)(a->col_map)};
    const ptrdiff_t pt = FN(plane_pad)(a->row_map);
    g.lo = -pt * g.W - g.pl;
    g.hi = g.lo + (g.kh - 1) * g.rstep + (g.kw - 1) * g.dw;
    g.reps = (g.W - 1 + VW) / g.W;
    const ptrdiff_t taps = g.kh * g.kw;
    /* an edge piece: a whole number of vectors covering the padding's reach (or more) */
    const ptrdiff_t piece = ((g.hi - g.lo) / VW + 16) * VW;
    VEC *wv = aligned_alloc(VBYTES, sizeof(VEC) * (size_t)taps);
    T *copy = malloc(sizeof(T) * (size_t)(piece + VW + g.hi - g.lo));
    if (!wv || !copy) {
        free(wv);
        free(copy);
        return -1;
    }
    typedef void (*run_fn)(const struct FN(plane) *, const T *, T *, ptrdiff_t, ptrdiff_t,
                           const VEC *, VEC, int);
    const int centered = g.kw % 2 == 1 && g.pl == (g.kw - 1) / 2 * g.dw;
    const run_fn run = centered && g.kh == 3 && g.kw == 3 ? FN(plane_run_3x3)
                       : centered && g.kh == 5 && g.kw == 5 ? FN(plane_run_5x5)
                       : FN(plane_run_any);
    /* y at T's alignment (as NumPy makes it) lets its vectors be aligned */
    const int aligned = (uintptr_t)a->y % sizeof(T) == 0;
    const int stream = aligned && (size_t)(a->n * g.P) * sizeof(T) >= CL_STREAM_BYTES;
    const T *w = (const T *)a->w, *bias = (const T *)a->bias;
    const T *x = (const T *)a->x;
    T *y = (T *)a->y;
    ptrdiff_t kernel = -1;
    VEC bv = (VEC){0};
    for (ptrdiff_t m = q0 / g.P; m * g.P < q1; ++m) {
        const ptrdiff_t k = a->cp > 0 ? m % a->cp : 0;
        if (k != kernel) {
            kernel = k;
            for (ptrdiff_t t = 0; t < taps; ++t)
                wv[t] = (VEC){0} + w[k * taps + t];
            bv = (VEC){0} + (bias ? bias[k] : 0);
        }
        const T *xp = x + m * g.P;
        T *yp = y + m * g.P;
        const ptrdiff_t s = q0 > m * g.P ? q0 - m * g.P : 0;
        const ptrdiff_t e = q1 < (m + 1) * g.P ? q1 - m * g.P : g.P;
        /* the aligned vectors whose loads stay inside the plane: from the first aligned
         * output at or past -lo, to the last that ends by P - hi */
        ptrdiff_t ka = s > -g.lo ? s : -g.lo;
        if (aligned)
            ka += (ptrdiff_t)((VBYTES - (uintptr_t)(yp + ka) % VBYTES) % VBYTES / sizeof(T));
        const ptrdiff_t end = e < g.P - g.hi ? e : g.P - g.hi;
        ptrdiff_t kb = ka + (end - ka) / VW * VW;
        if (end - ka < VW)  /* no whole vector inside: the range is all edge */
            ka = kb = e;
        for (ptrdiff_t k0 = s; k0 < ka; k0 += piece)
            FN(plane_edge)(&g, xp, yp, k0, k0 + piece < ka ? k0 + piece : ka, wv, bv, copy);
        run(&g, xp, yp, ka, kb, wv, bv, stream);
        for (ptrdiff_t k0 = kb; k0 < e; k0 += piece)
            FN(plane_edge)(&g, xp, yp, k0, k0 + piece < e ? k0 + piece : e, wv, bv, copy);
    }
#if defined(__SSE2__)
    if (stream)
        _mm_sfence();  /* the non-temporal stores ordered before the region's end */
#endif
    free(wv);
    free(copy);
    return 0;
}

#undef PL_INT
#undef PL_IVEC
#undef PL_UINT
#undef PL_UVEC
