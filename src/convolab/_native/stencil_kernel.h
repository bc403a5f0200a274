/* Few input channels (groups 1, O <= 8 outputs, horizontal stride 1): pixels in SIMD lanes.
 *
 * Included by isa_template.h after direct_kernel.h (same T, TNAME, VBYTES, ISA).
 *
 * The image is streamed once: each input row a task needs is copied once, with its padding,
 * into a ring of padded rows, one plane of the row per input channel (the interior by memcpy
 * when C is 1, deinterleaved from the pixels' channels otherwise; the border through the
 * column map; a padding row is a row of zeros), and every output row is then a sum over taps
 * and channels of whole vectors of that ring: y[oh, ow..ow+U*VW) += w[i, j, c] *
 * row_i,c[ow + j*dw ..]. U = 4 vectors are accumulated at once (4 independent FMA chains),
 * each tap costing U unaligned loads, one weight broadcast and U FMAs per output channel. The
 * output row is written once. For a 3x3 one-channel filter that is ~10 loads and FMAs per 16
 * outputs against a memory-bound stream of 8 bytes per pixel (read + written): the kernel
 * runs at the memory's speed, as OpenCV's filter2D does. With a few outputs and several
 * inputs (the input gradient of LeNet's layers: 6 -> 1, 16 -> 6) every lane is a useful
 * output pixel, where direct's tiles of output channels would leave most lanes empty.
 */

#define ST_U 4
/* Sets of sums that consecutive column taps take turns over, for `chains` sums of a tap: an
 * FMA's latency is 4 cycles and two retire a cycle, so fewer than 8 chains leave the units
 * idle (one output channel of a 28-pixel row, 2 chains, ran at a quarter of their speed).
 * stencil_run and stencil_pair_run both take it: a row sums in the same order either way. */
#define ST_SETS(chains) ((chains) >= 6 ? 1 : (chains) >= 3 ? 2 : 4)

/* acc[o * vecs + u] += wt[o] * src[u * VW ..]: one tap (and input channel) of a run. */
CL_INLINE void FN(stencil_tap)(const int oc, const int vecs, const T *src, const T *wt,
                               VEC *acc)
{
    VEC xv[4];
#pragma GCC unroll 4
    for (int u = 0; u < vecs; ++u)
        xv[u] = *(const VEC *)(src + u * VW);
#pragma GCC unroll 8
    for (int o = 0; o < oc; ++o) {
        const T wo = wt[o];
#pragma GCC unroll 4
        for (int u = 0; u < vecs; ++u)
            acc[o * vecs + u] += xv[u] * wo;
    }
}

/* Output pixels ow .. ow + vecs*VW of one row, all oc output channels: y[(ow + k) * oc + o] =
 * bias[o] + sum over taps (i, j) and input channels c of w[i][j][c][o] * rows[i][c * cstride
 * + ow + k + j*dw], vectors of pixels, the last one holding `lanes` pixels. One unaligned load
 * per tap, channel and vector serves every output channel; oc > 1 (LeNet's first layer: 6)
 * interleaves the channels on the way out, or, with plane > 0 (an NCHW result), stores
 * channel o's vectors at y[o * plane + ow + k]. */
CL_INLINE void FN(stencil_run)(const int oc, const int vecs, const struct cl_conv *a,
                               const T *const *rows, ptrdiff_t cstride, const T *w, T *y,
                               ptrdiff_t ow, ptrdiff_t lanes, const T *bias, ptrdiff_t plane)
{
    const int sets = ST_SETS(oc * vecs);
    VEC acc[24];
#pragma GCC unroll 24
    for (int k = 0; k < sets * oc * vecs; ++k)
        acc[k] = (VEC){0};
    const ptrdiff_t tap = a->c * oc;  /* w's step from one column tap to the next */
    for (ptrdiff_t i = 0; i < a->kh; ++i) {
        for (ptrdiff_t c = 0; c < a->c; ++c) {
            const T *src = rows[i] + c * cstride + ow;
            const T *wt = w + i * a->kw * tap + c * oc;
            ptrdiff_t j = 0;
            for (; j + sets <= a->kw; j += sets)
#pragma GCC unroll 4
                for (int s = 0; s < sets; ++s)
                    FN(stencil_tap)(oc, vecs, src + (j + s) * a->dw, wt + (j + s) * tap,
                                    acc + s * oc * vecs);
            for (; j < a->kw; ++j)
                FN(stencil_tap)(oc, vecs, src + j * a->dw, wt + j * tap, acc);
        }
    }
#pragma GCC unroll 4
    for (int s = 1; s < sets; ++s)
#pragma GCC unroll 24
        for (int k = 0; k < oc * vecs; ++k)
            acc[k] += acc[s * oc * vecs + k];
    if (oc == 1 || plane > 0) {
#pragma GCC unroll 8
        for (int o = 0; o < oc; ++o)
#pragma GCC unroll 4
            for (int u = 0; u < vecs; ++u)
                FN(store_lanes)(y + o * plane + ow + u * VW,
                                acc[o * vecs + u] + (bias ? bias[o] : (T)0),
                                u == vecs - 1 ? lanes : VW);
        return;
    }
    /* interleaved through a buffer in L1: the vectors stored whole, then each pixel's oc
     * values copied out (taking the lanes out of registers one by one cost a third of
     * LeNet's first layer) */
#pragma GCC unroll 4
    for (int u = 0; u < vecs; ++u) {
        const ptrdiff_t n = u == vecs - 1 ? lanes : VW;
        T buf[8 * VW] __attribute__((aligned(64)));
#pragma GCC unroll 8
        for (int o = 0; o < oc; ++o)
            *(VEC *)(buf + o * VW) = acc[o * vecs + u] + (bias ? bias[o] : (T)0);
        T *yp = y + (ow + u * VW) * oc;
/* GCC cannot see that rows o < oc of buf were just written */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
        for (ptrdiff_t l = 0; l < n; ++l)
#pragma GCC unroll 8
            for (int o = 0; o < oc; ++o)
                yp[l * oc + o] = buf[o * VW + l];
#pragma GCC diagnostic pop
    }
}

#define ST_UNROLL(OC) ((OC) * ST_U <= 24 ? ST_U : 24 / (OC))

/* One output row, all its pixels, oc output channels. */
CL_INLINE void FN(stencil_row)(const int oc, const struct cl_conv *a, const T *const *rows,
                               ptrdiff_t cstride, const T *w, T *y, const T *bias,
                               ptrdiff_t plane)
{
    const int u = ST_UNROLL(oc);
    ptrdiff_t ow = 0;
    for (; ow + u * VW <= a->wo; ow += u * VW)
        FN(stencil_run)(oc, u, a, rows, cstride, w, y, ow, VW, bias, plane);
    /* the rest in one run of independent sums (one vector at a time chained each vector's
     * taps: a 56-pixel row took 4x its loads' time); the ring's zeros past a row's end are
     * what the last vector's empty lanes read */
    const ptrdiff_t rest = a->wo - ow, last = rest - (rest - 1) / VW * VW;
    switch ((rest + VW - 1) / VW) {
    case 0:
        break;
    case 1:
        FN(stencil_run)(oc, 1, a, rows, cstride, w, y, ow, last, bias, plane);
        break;
    case 2:
        FN(stencil_run)(oc, 2, a, rows, cstride, w, y, ow, last, bias, plane);
        break;
    case 3:
        FN(stencil_run)(oc, 3, a, rows, cstride, w, y, ow, last, bias, plane);
        break;
    default: /* 4 vectors: only where u is 4 (oc <= 6), so oc * 4 sums fit the 24 */
        FN(stencil_run)(oc, ST_UNROLL(oc) < 4 ? 3 : 4, a, rows, cstride, w, y, ow, last, bias,
                        plane);
        break;
    }
}

#define CL_STENCIL_ROW(OC)                                                                    \
    static __attribute__((noinline)) void FN(stencil_row_##OC)(                               \
        const struct cl_conv *a, const T *const *rows, ptrdiff_t cstride, const T *w, T *y,  \
        const T *bias, ptrdiff_t plane)                                                       \
    {                                                                                         \
        FN(stencil_row)(OC, a, rows, cstride, w, y, bias, plane);                             \
    }
CL_STENCIL_ROW(1)
CL_STENCIL_ROW(2)
CL_STENCIL_ROW(3)
CL_STENCIL_ROW(4)
CL_STENCIL_ROW(5)
CL_STENCIL_ROW(6)
CL_STENCIL_ROW(7)
CL_STENCIL_ROW(8)

/* One tap of a pair of rows: its input vectors loaded once, into the top row's sums with
 * weight wt and the bottom row's with wb (where the row has that kernel row). */
CL_INLINE void FN(stencil_pair_tap)(const int vecs, int has_top, int has_bottom, const T *src,
                                    T wt, T wb, VEC *top, VEC *bottom)
{
    VEC xv[4];
#pragma GCC unroll 4
    for (int u = 0; u < vecs; ++u)
        xv[u] = *(const VEC *)(src + u * VW);
    if (has_top)
#pragma GCC unroll 4
        for (int u = 0; u < vecs; ++u)
            top[u] += xv[u] * wt;
    if (has_bottom)
#pragma GCC unroll 4
        for (int u = 0; u < vecs; ++u)
            bottom[u] += xv[u] * wb;
}

/* Output pixels ow .. ow + vecs*VW of two consecutive output rows of one output channel
 * (vertical stride and dilation 1): rows[0 .. kh] are the kh + 1 padded rows they read, y and
 * y + ystep the two output rows. Each input vector is loaded once for both: padded row r feeds
 * kernel row r of the first and r - 1 of the second ((kh + 1) * kw loads a vector of pixels
 * and channel for the two rows, where a row at a time took 2 * kh * kw). */
CL_INLINE void FN(stencil_pair_run)(const int vecs, const struct cl_conv *a,
                                    const T *const *rows, ptrdiff_t cstride, const T *w, T *y,
                                    ptrdiff_t ystep, ptrdiff_t ow, ptrdiff_t lanes,
                                    const T *bias)
{
    /* stencil_run's sets of sums (column tap j in set j % sets, the last kw % sets taps in
     * set 0) and its order of terms, so that a row computes to the same bits alone or in a
     * pair: a region's chunks decide which rows pair up */
    const int sets = ST_SETS(vecs);
    VEC top[16], bottom[16];  /* [set][vector] */
#pragma GCC unroll 16
    for (int k = 0; k < sets * vecs; ++k)
        top[k] = bottom[k] = (VEC){0};
    const ptrdiff_t kh = a->kh, kw = a->kw, C = a->c, tap = C;  /* w's column-tap step */
    for (ptrdiff_t r = 0; r <= kh; ++r) {
        /* padded row r: kernel row r of the top row (none past the last), r - 1 of the
         * bottom one (none before the first); a missing one's weights are not read */
        const int has_top = r < kh, has_bottom = r > 0;
        for (ptrdiff_t c = 0; c < C; ++c) {
            const T *src = rows[r] + c * cstride + ow;
            const T *wt = w + (has_top ? r : 0) * kw * tap + c;
            const T *wb = w + (has_bottom ? r - 1 : 0) * kw * tap + c;
            ptrdiff_t j = 0;
            for (; j + sets <= kw; j += sets)
#pragma GCC unroll 4
                for (int s = 0; s < sets; ++s)
                    FN(stencil_pair_tap)(vecs, has_top, has_bottom, src + (j + s) * a->dw,
                                         wt[(j + s) * tap], wb[(j + s) * tap],
                                         top + s * vecs, bottom + s * vecs);
            for (; j < kw; ++j)
                FN(stencil_pair_tap)(vecs, has_top, has_bottom, src + j * a->dw, wt[j * tap],
                                     wb[j * tap], top, bottom);
        }
    }
#pragma GCC unroll 4
    for (int s = 1; s < sets; ++s)
#pragma GCC unroll 4
        for (int u = 0; u < vecs; ++u) {
            top[u] += top[s * vecs + u];
            bottom[u] += bottom[s * vecs + u];
        }
    const T b = bias ? bias[0] : (T)0;
#pragma GCC unroll 4
    for (int u = 0; u < vecs; ++u) {
        const ptrdiff_t n = u == vecs - 1 ? lanes : VW;
        FN(store_lanes)(y + ow + u * VW, top[u] + b, n);
        FN(store_lanes)(y + ystep + ow + u * VW, bottom[u] + b, n);
    }
}

/* Two consecutive output rows, all their pixels, one output channel (as stencil_row). */
static __attribute__((noinline)) void FN(stencil_pair_row)(const struct cl_conv *a,
                                                           const T *const *rows,
                                                           ptrdiff_t cstride, const T *w, T *y,
                                                           ptrdiff_t ystep, const T *bias)
{
    ptrdiff_t ow = 0;
    for (; ow + ST_U * VW <= a->wo; ow += ST_U * VW)
        FN(stencil_pair_run)(ST_U, a, rows, cstride, w, y, ystep, ow, VW, bias);
    const ptrdiff_t rest = a->wo - ow, last = rest - (rest - 1) / VW * VW;
    switch ((rest + VW - 1) / VW) {
    case 0:
        break;
    case 1:
        FN(stencil_pair_run)(1, a, rows, cstride, w, y, ystep, ow, last, bias);
        break;
    case 2:
        FN(stencil_pair_run)(2, a, rows, cstride, w, y, ystep, ow, last, bias);
        break;
    case 3:
        FN(stencil_pair_run)(3, a, rows, cstride, w, y, ystep, ow, last, bias);
        break;
    default:
        FN(stencil_pair_run)(4, a, rows, cstride, w, y, ystep, ow, last, bias);
        break;
    }
}

/* The interior of the column map: the longest run [lo, hi) of padded columns that read the
 * input row's columns map[lo], map[lo] + 1, ... (one memcpy a row). Found once a call: walking
 * the map column by column for every row took 35% of a 2048x2048 3x3 filter's time, twice
 * its sums. */
struct FN(interior) {
    ptrdiff_t lo, hi;
};

static struct FN(interior) FN(stencil_interior)(const struct cl_conv *a, ptrdiff_t width)
{
    struct FN(interior) best = {0, 0};
    for (ptrdiff_t c = 0; c < width;) {
        ptrdiff_t run = 0;
        const int64_t m = a->col_map[c];
        while (m >= 0 && c + run < width && a->col_map[c + run] == m + run)
            ++run;
        if (run > best.hi - best.lo)
            best = (struct FN(interior)){c, c + run};
        c += run > 0 ? run : 1;
    }
    return best;
}

/* The input row that padded row pr of output image n reads at depth tap d (plane n for an
 * image), or NULL where the padding (of rows or planes) reads zeros. */
CL_INLINE const T *FN(stencil_source)(const struct cl_conv *a, ptrdiff_t n, ptrdiff_t pr,
                                      ptrdiff_t d)
{
    const int64_t plane = a->plane_map ? a->plane_map[n * a->kd + d] : n;
    const int64_t r = a->row_map[pr];
    return plane < 0 || r < 0 ? NULL : (const T *)a->x + (plane * a->ih + r) * a->iw * a->c;
}

/* dst[k] = src[k] for k < n, by vectors (a row of a small image is a few of them: the call
 * to memcpy cost more than the copy, a tenth of an NCHW depthwise conv of 56x56 planes). */
CL_INLINE void FN(copy_run)(T *dst, const T *src, ptrdiff_t n)
{
    ptrdiff_t k = 0;
    for (; k + VW <= n; k += VW)
        *(VEC *)(dst + k) = *(const VEC *)(src + k);
    if (k < n)
        FN(store_lanes)(dst + k, FN(load_lanes)(src + k, n - k), n - k);
}

/* One channel's padded row into `slot` from the input row src (NULL: a row of zeros): width
 * padded columns (the interior copied at once, the border column by column through the map),
 * then VW * ST_U zeros that vector loads past the end may read. */
static void FN(stencil_pad_row)(const struct cl_conv *a, const T *src, T *slot,
                                ptrdiff_t width, struct FN(interior) in)
{
    if (!src) {
        memset(slot, 0, sizeof(T) * (size_t)width);
        return;
    }
    for (ptrdiff_t c = 0; c < in.lo; ++c)
        slot[c] = a->col_map[c] < 0 ? (T)0 : src[a->col_map[c]];
    if (in.hi > in.lo)
        FN(copy_run)(slot + in.lo, src + a->col_map[in.lo], in.hi - in.lo);
    for (ptrdiff_t c = in.hi; c < width; ++c)
        slot[c] = a->col_map[c] < 0 ? (T)0 : src[a->col_map[c]];
}

/* dst[c * cstride + k] = src[k * C + c] for k < n: n pixels' C channels deinterleaved into
 * planes, C a constant where inlined (the channel loop unrolled: one load and store a value). */
CL_INLINE void FN(deinterleave)(const int C, const T *src, T *dst, ptrdiff_t cstride,
                                ptrdiff_t n)
{
    for (ptrdiff_t k = 0; k < n; ++k)
#pragma GCC unroll 8
        for (int c = 0; c < C; ++c)
            dst[c * cstride + k] = src[k * C + c];
}

#define ST_DEINTERLEAVE(C)                                                                    \
    static void FN(deinterleave_##C)(const T *src, T *dst, ptrdiff_t cstride, ptrdiff_t n)   \
    {                                                                                         \
        FN(deinterleave)(C, src, dst, cstride, n);                                            \
    }
ST_DEINTERLEAVE(2)
ST_DEINTERLEAVE(3)
ST_DEINTERLEAVE(4)
ST_DEINTERLEAVE(5)
ST_DEINTERLEAVE(6)
ST_DEINTERLEAVE(7)
ST_DEINTERLEAVE(8)
#undef ST_DEINTERLEAVE

/* Padded columns c0 <= col < c1 of the planes in slot, through the column map from src, the
 * input row's pixels. */
static void FN(pad_planes_border)(const struct cl_conv *a, const T *src, T *slot,
                                  ptrdiff_t cstride, ptrdiff_t c0, ptrdiff_t c1)
{
    for (ptrdiff_t col = c0; col < c1; ++col) {
        const int64_t m = a->col_map[col];
        for (ptrdiff_t c = 0; c < a->c; ++c)
            slot[c * cstride + col] = m < 0 ? (T)0 : src[m * a->c + c];
    }
}

/* One padded row of C > 1 channels as C planes, cstride apart, from the input row src (NULL:
 * zeros): the interior's pixels deinterleaved at once (by a loop compiled for C up to 8, by
 * the transpose's 8x8 tiles past that), the border column by column through the column map. */
static void FN(stencil_pad_planes)(const struct cl_conv *a, const T *src, T *slot,
                                   ptrdiff_t width, ptrdiff_t cstride, struct FN(interior) in)
{
    typedef void (*split_fn)(const T *, T *, ptrdiff_t, ptrdiff_t);
    static const split_fn by_c[9] = {NULL, NULL, FN(deinterleave_2), FN(deinterleave_3),
                                     FN(deinterleave_4), FN(deinterleave_5),
                                     FN(deinterleave_6), FN(deinterleave_7),
                                     FN(deinterleave_8)};
    const ptrdiff_t C = a->c;
    if (!src) {
        for (ptrdiff_t c = 0; c < C; ++c)
            memset(slot + c * cstride, 0, sizeof(T) * (size_t)width);
        return;
    }
    FN(pad_planes_border)(a, src, slot, cstride, 0, in.lo);
    if (in.hi > in.lo) {
        const T *from = src + a->col_map[in.lo] * C;
        if (C <= 8)
            by_c[C](from, slot + in.lo, cstride, in.hi - in.lo);
        else  /* (pixels, C) -> (C, pixels) in 8x8 register tiles */
            FN(transpose_to)(from, slot + in.lo, in.hi - in.lo, C, cstride, 0, C);
    }
    FN(pad_planes_border)(a, src, slot, cstride, in.hi, width);
}

/* Output rows of the flat (N, Ho) grid from q0 / Wo to q1 / Wo (q0, q1 multiples of Wo);
 * w (kh, kw, kd * C, O) (a volume's depth taps beside the channels), bias (O,) or NULL,
 * 1 <= O <= 8; or, with a->cp = K > 0, a bank of K such kernels (and biases), image n
 * filtered by kernel n % K. Output image n of a volume reads kd planes through the plane map,
 * as direct's kernels do: each output plane sums its depth taps in the registers. */
static int FN(stencil)(const struct cl_conv *a, ptrdiff_t q0, ptrdiff_t q1)
{
    const ptrdiff_t wo = a->wo, width = wo + (a->kw - 1) * a->dw;
    /* a slot: the padded row's kd * C planes (depth taps, channels), each with VW * ST_U
     * zeros after it; the sums run over them as over kd * C channels */
    const ptrdiff_t cstride = width + VW * ST_U, stride = a->kd * a->c * cstride;
    const ptrdiff_t slots = (a->kh - 1) * a->dh + 1 + a->sh;  /* the span, and a stride */
    struct cl_conv flat = *a;
    flat.c = a->kd * a->c;
    const struct FN(interior) interior = FN(stencil_interior)(a, width);
    T *ring = calloc((size_t)(slots * stride), sizeof(T));
    ptrdiff_t *tag = malloc(sizeof(ptrdiff_t) * (size_t)slots);
    const T **rows = malloc(sizeof(const T *) * (size_t)(a->kh + 1));
    if (!ring || !tag || !rows) {
        free(ring);
        free(tag);
        free(rows);
        return -1;
    }
    typedef void (*row_fn)(const struct cl_conv *, const T *const *, ptrdiff_t, const T *, T *,
                           const T *, ptrdiff_t);
    static const row_fn by_oc[9] = {NULL, FN(stencil_row_1), FN(stencil_row_2),
                                    FN(stencil_row_3), FN(stencil_row_4), FN(stencil_row_5),
                                    FN(stencil_row_6), FN(stencil_row_7), FN(stencil_row_8)};
    const row_fn run_row = by_oc[a->o];
    /* one output channel, vertical stride and dilation 1: output rows in pairs that share
     * their input rows' loads (stencil_pair_row); the ring's span + 1 slots hold both's */
    const int pairs = a->o == 1 && a->sh == 1 && a->dh == 1;
    const T *w = (const T *)a->w, *bias = (const T *)a->bias;
    ptrdiff_t last_n = -1, prev_first = -1, base = 0;
    for (ptrdiff_t row = q0 / wo; row < q1 / wo; ++row) {
        const ptrdiff_t n = row / a->ho, oh = row - n * a->ho;
        if (n != last_n) {  /* a new image: no padded row of it is in the ring */
            for (ptrdiff_t s = 0; s < slots; ++s)
                tag[s] = -1;
            last_n = n;
            prev_first = -1 - a->sh;
        }
        /* each kernel row's padded row pr: in slot pr % slots, copied there unless it is
         * already (the rows an output row reads and those the previous one read span
         * span + sh consecutive padded rows, so no slot holds two rows in use) */
        const ptrdiff_t first = oh * a->sh;
        /* first % slots, carried from row to row (a division per kernel row cost a quarter
         * of a 3x3 filter's bookkeeping on 56-pixel rows) */
        base = first == prev_first + a->sh ? base + a->sh : first % slots;
        base -= base >= slots ? slots : 0;
        prev_first = first;
        const int pair = pairs && oh + 1 < a->ho && row + 1 < q1 / wo;
        for (ptrdiff_t i = 0, slot = base; i < a->kh + pair; ++i) {
            const ptrdiff_t pr = first + i * a->dh;
            if (tag[slot] != pr) {
                tag[slot] = pr;
                for (ptrdiff_t d = 0; d < a->kd; ++d) {  /* each depth tap's C planes */
                    const T *src = FN(stencil_source)(a, n, pr, d);
                    T *planes = ring + slot * stride + d * a->c * cstride;
                    if (a->c == 1)
                        FN(stencil_pad_row)(a, src, planes, width, interior);
                    else
                        FN(stencil_pad_planes)(a, src, planes, width, cstride, interior);
                }
            }
            rows[i] = ring + slot * stride;
            slot += a->dh;
            slot -= slot >= slots ? slots : 0;
        }
        /* image n's kernel: one for all, or (cycle > 0) kernel n % cycle of a bank: an NCHW
         * depthwise conv is N*C one-channel images, image n*C + c filtered by kernel c */
        const ptrdiff_t k = a->cp > 0 ? n % a->cp : 0;
        /* output row oh of every channel: interleaved (NHWC), or row oh of each channel's
         * plane (planar: an NCHW result, written as it lies) */
        T *y = (T *)a->y + (a->planar ? (n * a->o * a->ho + oh) * wo : row * wo * a->o);
        const T *wk = w + k * a->kh * a->kw * flat.c * a->o, *bk = bias ? bias + k * a->o : NULL;
        if (pair) {  /* rows oh and oh + 1: one output channel, so the next row is wo on */
            FN(stencil_pair_row)(&flat, rows, cstride, wk, y, wo, bk);
            ++row;
            prev_first = first + 1;  /* as if row oh + 1 had gone through the loop */
            base += 1;
            base -= base >= slots ? slots : 0;
            continue;
        }
        run_row(&flat, rows, cstride, wk, y, bk, a->planar ? a->ho * wo : 0);
    }
    free(ring);
    free(tag);
    free(rows);
    return 0;
}

/* The weight gradient of a one-channel conv (C == 1, horizontal stride 1), any O:
 * grad_w[i, j, o] += sum over output pixels of xpad[oh*sh + i*dh, ow + j*dw] * gy[oh, ow, o],
 * for output rows q0 / Wo .. q1 / Wo of the flat (N, Ho) grid.
 *
 * An output row of grad_y is Wo * O values in a row (NHWC); each padded input row is
 * expanded once into the same interleaving, e[w * O + o] = xpad[w], so that tap (i, j) of an
 * output row is one run of vector FMAs, acc_ij[f] += e_i[j*dw*O + f] * gy_row[f] over the flat
 * index f = ow * O + o. The accumulators (kh * kw rows of Wo * O lanes, in L1) are folded into
 * grad_w[i, j, f % O] once, at the task's end. Rows are taken in blocks of an image's
 * ST_WG_ROWS output rows, its padded rows expanded once per block: for one vector f and
 * kernel row i, up to 8 column taps' accumulators stay in registers over the block's rows,
 * each row costing one gy load and a load and an FMA per tap. The last, partial vector of a
 * row is a masked load of both factors, so no lane past the row multiplies anything (an Inf
 * there would otherwise make a NaN that no real product makes). */

#define ST_WG_ROWS 32
/* lane indices, as malloc aligns them (not to a whole vector) */
#if TSIZE == 4
typedef int32_t FN(st_ivec) __attribute__((vector_size(VBYTES), aligned(4)));
#else
typedef int64_t FN(st_ivec) __attribute__((vector_size(VBYTES), aligned(8)));
#endif
#define ST_IVEC FN(st_ivec)

/* acc[j] (jn of them, consecutive column taps from e) += over the block's nb rows of
 * e_r[j * estep] * g_r, for one vector of lanes (all of them when FULL). */
CL_INLINE void FN(stencil_wgrad_taps)(const int jn, const int full, VEC *acc, ptrdiff_t accstep,
                                      const T *e, ptrdiff_t estep, ptrdiff_t erow,
                                      const T *g, ptrdiff_t grow, ptrdiff_t nb,
                                      ptrdiff_t lanes)
{
    VEC s[8];
#pragma GCC unroll 8
    for (int j = 0; j < jn; ++j)
        s[j] = acc[j * accstep];
    for (ptrdiff_t r = 0; r < nb; ++r, e += erow, g += grow) {
        const VEC gv = full ? *(const VEC *)g : FN(load_lanes)(g, lanes);
#pragma GCC unroll 8
        for (int j = 0; j < jn; ++j)
            s[j] += (full ? *(const VEC *)(e + j * estep) : FN(load_lanes)(e + j * estep, lanes))
                    * gv;
    }
#pragma GCC unroll 8
    for (int j = 0; j < jn; ++j)
        acc[j * accstep] = s[j];
}

#define ST_WG_TAPS(JN)                                                                        \
    static __attribute__((noinline)) void FN(stencil_wgrad_##JN)(                             \
        int full, VEC *acc, ptrdiff_t accstep, const T *e, ptrdiff_t estep, ptrdiff_t erow,  \
        const T *g, ptrdiff_t grow, ptrdiff_t nb, ptrdiff_t lanes)                           \
    {                                                                                         \
        if (full)                                                                             \
            FN(stencil_wgrad_taps)(JN, 1, acc, accstep, e, estep, erow, g, grow, nb, lanes);  \
        else                                                                                  \
            FN(stencil_wgrad_taps)(JN, 0, acc, accstep, e, estep, erow, g, grow, nb, lanes);  \
    }
ST_WG_TAPS(1)
ST_WG_TAPS(2)
ST_WG_TAPS(3)
ST_WG_TAPS(4)
ST_WG_TAPS(5)
ST_WG_TAPS(6)
ST_WG_TAPS(7)
ST_WG_TAPS(8)

static int FN(stencil_wgrad)(const struct cl_conv *a, ptrdiff_t q0, ptrdiff_t q1)
{
    typedef void (*taps_fn)(int, VEC *, ptrdiff_t, const T *, ptrdiff_t, ptrdiff_t, const T *,
                            ptrdiff_t, ptrdiff_t, ptrdiff_t);
    static const taps_fn by_jn[9] = {NULL, FN(stencil_wgrad_1), FN(stencil_wgrad_2),
                                     FN(stencil_wgrad_3), FN(stencil_wgrad_4),
                                     FN(stencil_wgrad_5), FN(stencil_wgrad_6),
                                     FN(stencil_wgrad_7), FN(stencil_wgrad_8)};
    const ptrdiff_t wo = a->wo, O = a->o, kh = a->kh, kw = a->kw;
    const ptrdiff_t width = wo + (kw - 1) * a->dw, len = wo * O, nv = (len + VW - 1) / VW;
    const struct FN(interior) interior = FN(stencil_interior)(a, width);
    const ptrdiff_t estride = width * O + VW, estep = a->dw * O;
    const ptrdiff_t span = (ST_WG_ROWS - 1) * a->sh + (kh - 1) * a->dh + 1;
    /* expanded rows in whole vectors; the padded row's slack (VW * ST_U zeros) covers the
     * last vector's load */
    const ptrdiff_t ev = (width * O + VW - 1) / VW;
    T *padded = malloc(sizeof(T) * (size_t)(width + VW * ST_U));
    T *expanded = malloc(sizeof(T) * (size_t)(span * estride));
    VEC *acc = calloc((size_t)(kh * kw * nv), sizeof(VEC));
    ST_IVEC *perm = malloc(sizeof(ST_IVEC) * (size_t)ev);
    if (!padded || !expanded || !acc || !perm) {
        free(padded);
        free(expanded);
        free(acc);
        free(perm);
        return -1;
    }
    for (ptrdiff_t v = 0; v < ev; ++v)
        for (ptrdiff_t l = 0; l < VW; ++l)
            perm[v][l] = (v * VW + l) / O - v * VW / O;
    for (ptrdiff_t row = q0 / wo; row < q1 / wo;) {
        const ptrdiff_t n = row / a->ho, oh = row - n * a->ho;
        ptrdiff_t nb = a->ho - oh < ST_WG_ROWS ? a->ho - oh : ST_WG_ROWS;
        nb = q1 / wo - row < nb ? q1 / wo - row : nb;
        /* the block's padded rows, each expanded once: vector v of a row is lanes of the
         * padded row from column v * VW / O on, put in place by one permutation */
        const ptrdiff_t count = (nb - 1) * a->sh + (kh - 1) * a->dh + 1;
        for (ptrdiff_t k = 0; k < count; ++k) {
            FN(stencil_pad_row)(a, FN(stencil_source)(a, n, oh * a->sh + k, 0), padded, width,
                                interior);
            T *e = expanded + k * estride;
            for (ptrdiff_t v = 0; v < ev; ++v)
                *(VEC *)(e + v * VW) = __builtin_shuffle(
                    *(const VEC *)(padded + v * VW / O), perm[v]);
        }
        const T *g = (const T *)a->y + row * len;
        for (ptrdiff_t v = 0; v < nv; ++v) {
            const ptrdiff_t f = v * VW, lanes = len - f < VW ? len - f : VW;
            for (ptrdiff_t i = 0; i < kh; ++i) {
                for (ptrdiff_t j0 = 0; j0 < kw; j0 += 8) {
                    const ptrdiff_t jn = kw - j0 < 8 ? kw - j0 : 8;
                    by_jn[jn](lanes == VW, acc + (i * kw + j0) * nv + v, nv,
                              expanded + i * a->dh * estride + j0 * estep + f, estep,
                              a->sh * estride, g + f, len, nb, lanes);
                }
            }
        }
        row += nb;
    }
    T *gw = (T *)a->w;  /* (kh, kw, O) */
    for (ptrdiff_t t = 0; t < kh * kw; ++t) {
        const T *lane = (const T *)(acc + t * nv);
        for (ptrdiff_t f = 0, o = 0; f < len; ++f, o = o + 1 == O ? 0 : o + 1)
            gw[t * O + o] += lane[f];
    }
    free(padded);
    free(expanded);
    free(acc);
    free(perm);
    return 0;
}

#undef ST_WG_TAPS
#undef ST_WG_ROWS
#undef ST_IVEC
#undef ST_U
