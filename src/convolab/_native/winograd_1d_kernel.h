/* Winograd F(4, 3) along a row: a kernel of one row (a signal's, any length and stride) with
 * about half the multiplications of the direct method, NHWC.
 *
 * Included by isa_template.h after direct_kernel.h and winograd_kernel.h (same T, TNAME,
 * VBYTES, ISA): it reuses the 2-D kernel's one-dimensional transforms (wino_bt, wino_at) and
 * G (cl_wino_g), whose points 0, 1, -1, 1/2, -2 and infinity keep every coefficient exact in
 * binary.
 *
 * Polyphase: with L = sw * C, output column ow of a row is a stride-1 conv over "positions" of
 * L values each (position p holds the padded row's flat values p*L .. p*L + L - 1):
 *
 *   y[ow] = sum over taps q < 3G and l < L of  wq[q][l] * xp[(ow + q) * L + l],
 *
 * wq[q][r*C + c] = w[sw*q + r][c] (zero for a tap past kw), G = cl_wino1d_groups. The taps split
 * as q = a + G*b (a < G, b < 3): for each a, a 3-tap conv with dilation G, which F(4, 3) does
 * with six products for four outputs instead of twelve. A tile is four outputs t, t + G,
 * t + 2G, t + 3G; for every a it reads positions t + a + G*j (j < 6), i.e. the flat values
 * t*L + G*L*j + m for m < G*L. So with the six transformed copies of the row
 *
 *   T_k[f] = sum_j B^T[k][j] xp[f + G*L*j]     (each value transformed once, not per tile),
 *
 * tile t's transformed input at position k is the G*L consecutive values T_k[t*L ...], and
 *
 *   M_k[t] = sum_{m < G*L} T_k[t*L + m] U_k[m],    U_k[a*L + l] = sum_b G[k][b] wq[a + G*b][l],
 *   y[t + G*i] = sum_k A^T[i][k] M_k[t] + bias,
 *
 * 6 G L multiply-adds per four outputs and output channel, against 4 kw C: an 80-tap stride-4
 * kernel on one channel (the M5 network's first layer) takes 168 against 320.
 *
 * A row's outputs go in blocks of 4G columns, block c holding the tiles t = 4Gc + a (a < G).
 * The tiles of one a in consecutive blocks lie 4G positions apart in T. The register tile is
 * TP such tiles x NV vectors of output channels x all six positions k: 6 TP NV accumulators
 * (24 of AVX-512's 32 registers: 2 x 2 or 4 x 1; 12 of AVX2's 16), so the products never leave
 * the registers: per channel m of the G*L, NV weight vectors of each U_k and one value of each
 * T_k a tile feed 6 TP NV multiply-adds, and the outputs are mapped and stored straight from
 * the accumulators. (The products first ran on direct's 12-pixel tiles, one position at a
 * time, through an array in L1: the six products' stores, loads and the map took 25-35% of
 * the M5 layer's time.) U is packed (nob, G*L, 6, NV*lanes), a channel's six positions in one
 * stretch. The kernel's items are blocks of the flat (N, Ho, blocks) grid; a task transforms
 * its blocks' stretch of each row (up to CL_WINO1D_BYTES at a time, so that T stays in L2),
 * then sweeps its register tiles, every a of TP blocks in turn (their outputs, 4G*TP columns,
 * written while those lines are in cache).
 *
 * The input is read through the padding's index maps (no padded copy): a stretch that is one
 * run of the input row is transformed where it lies, any other (a padding's edge, the values
 * past the row's end a last block reads) is gathered first. Like the 2-D kernel, the
 * transforms mix values, so an Inf or NaN would reach outputs the definition keeps finite
 * (and a finite input can overflow): the kernel returns 1 when an output it wrote is not
 * finite, and the caller computes the call the direct way.
 */

#ifndef CL_WINO1D_BYTES
/* bytes of the transformed stretch (six copies) and its source a task holds at once: within
 * a core's L2 beside the products' weights (chosen, not tuned) */
#define CL_WINO1D_BYTES (256 << 10)
#endif

/* tiles a register tile, by NV: 6 TP NV accumulators fill 24 of 32 registers or 12 of 16 */
#undef CL_WINO1D_TP1
#undef CL_WINO1D_TP2
#if VBYTES == 64
#define CL_WINO1D_TP1 4
#define CL_WINO1D_TP2 2
#else
#define CL_WINO1D_TP1 2
#define CL_WINO1D_TP2 1
#endif

/* The flat values f0 .. f0 + len - 1 of padded row ri (< 0: a row of zeros) of image n, f0 and
 * len whole columns (multiples of C): a pointer into x when they are one run of the input row,
 * else a copy in buf, gathered through the column map a run of consecutive columns at a time
 * (zeros where it says so, and past the columns it covers). */
static const T *FN(wino1d_source)(const struct cl_conv *a, ptrdiff_t n, int64_t ri,
                                  ptrdiff_t f0, ptrdiff_t len, T *buf)
{
    const ptrdiff_t c = a->c, col0 = f0 / c, cols = len / c;
    const ptrdiff_t width = (a->wo - 1) * a->sw + a->kw;  /* the map's entries */
    const int64_t *m = a->col_map;
    const T *row = (const T *)a->x + (n * a->ih + (ri < 0 ? 0 : ri)) * a->iw * c;
    ptrdiff_t inside = width - col0 < cols ? width - col0 : cols;  /* columns the map names */
    inside = ri < 0 || inside < 0 ? 0 : inside;
    if (inside == cols && m[col0] >= 0) {
        uint64_t any = 0;  /* a difference other than one anywhere: not one run */
        for (ptrdiff_t j = col0 + 1; j < col0 + cols; ++j)
            any |= (uint64_t)m[j] - (uint64_t)m[j - 1] - 1;
        if (!any)
            return row + m[col0] * c;
    }
    for (ptrdiff_t j = 0; j < cols;) {
        const int64_t cj = j < inside ? m[col0 + j] : -1;
        ptrdiff_t k = j + 1;
        if (cj < 0) {
            while (k < cols && (k >= inside || m[col0 + k] < 0))
                ++k;
            memset(buf + j * c, 0, (size_t)((k - j) * c) * sizeof(T));
        } else {
            while (k < inside && m[col0 + k] == cj + (k - j))
                ++k;
            memcpy(buf + j * c, row + cj * c, (size_t)((k - j) * c) * sizeof(T));
        }
        j = k;
    }
    return buf;
}

/* t[k * nt + f] = T_k[f] = sum_j B^T[k][j] src[f + j * gl] for f < nf: src holds nf + 5 gl
 * values, and no more are read. */
static void FN(wino1d_transform)(const T *src, ptrdiff_t gl, ptrdiff_t nf, T *t, ptrdiff_t nt)
{
    VEC d[6], r[6];
    ptrdiff_t f = 0;
    for (; f + VW <= nf; f += VW) {
#pragma GCC unroll 6
        for (int j = 0; j < 6; ++j)
            d[j] = *(const VEC *)(src + f + j * gl);
        FN(wino_bt)(d, 1, r, 1);
#pragma GCC unroll 6
        for (int k = 0; k < 6; ++k)
            *(VEC *)(t + k * nt + f) = r[k];
    }
    if (f < nf) {
        for (int j = 0; j < 6; ++j)
            d[j] = FN(load_lanes)(src + f + j * gl, nf - f);
        FN(wino_bt)(d, 1, r, 1);
        for (int k = 0; k < 6; ++k)
            FN(store_lanes)(t + k * nt + f, r[k], nf - f);
    }
}

/* A register tile: tp tiles (the first reading T_k at t + k * nt, the next pstep further on)
 * x nv vectors of output channels (U's block u, (cn, 6, nv * VW)) x the six positions, summed
 * over the cn = G*L channels in registers, then mapped to each tile's four outputs, bias
 * added: stored at y + p * yp + i * ys (tile p, output i) when `out` is NULL, else into
 * out[(p * 4 + i) * nv + j] for the caller to place.
 * *sum adds the outputs (Inf or NaN once one is: see wino1d_drive). Its own function, so that
 * the accumulators stay in registers. */
CL_INLINE void FN(wino1d_tile)(const int tp, const int nv, const T *t, ptrdiff_t nt,
                               ptrdiff_t pstep, const T *u, ptrdiff_t cn, const T *bias,
                               T *y, ptrdiff_t yp, ptrdiff_t ys, VEC *out, VEC *sum)
{
    VEC acc[6 * 4 * 2];
#pragma GCC unroll 48
    for (int i = 0; i < 6 * tp * nv; ++i)
        acc[i] = (VEC){0};
    /* six row pointers and one index per tile: the loads are row + index, 6 + tp + 1
     * general registers (GCC otherwise kept a pointer per row and tile, and spilled) */
    const T *r[6];
    ptrdiff_t ix[4];
#pragma GCC unroll 6
    for (int k = 0; k < 6; ++k) {
        r[k] = t + k * nt;
        __asm__("" : "+r"(r[k]));
    }
#pragma GCC unroll 4
    for (int p = 0; p < tp; ++p)
        ix[p] = p * pstep;
    for (ptrdiff_t m = 0; m < cn; ++m, u += 6 * nv * VW) {
#pragma GCC unroll 6
        for (int k = 0; k < 6; ++k) {
            VEC wv[2];
#pragma GCC unroll 2
            for (int j = 0; j < nv; ++j) {
                wv[j] = *(const VEC *)(u + (k * nv + j) * VW);
                CL_IN_REGISTER(wv[j]);  /* else loaded tp times (36 loads for 24 FMAs) */
            }
#pragma GCC unroll 4
            for (int p = 0; p < tp; ++p) {
                const T s = r[k][ix[p]];
#pragma GCC unroll 2
                for (int j = 0; j < nv; ++j)
                    acc[(k * tp + p) * nv + j] += wv[j] * s;
            }
        }
#pragma GCC unroll 4
        for (int p = 0; p < tp; ++p)
            ++ix[p];
    }
    VEC total = (VEC){0};
#pragma GCC unroll 4
    for (int p = 0; p < tp; ++p)
#pragma GCC unroll 2
        for (int j = 0; j < nv; ++j) {
            VEC s[6], o[4];
#pragma GCC unroll 6
            for (int k = 0; k < 6; ++k)
                s[k] = acc[(k * tp + p) * nv + j];
            if (bias)  /* every output has M_1 with weight one (A^T's second column) */
                s[1] += *(const VEC *)(bias + j * VW);
            FN(wino_at)(s, 1, o, 1);
#pragma GCC unroll 4
            for (int i = 0; i < 4; ++i) {
                total += o[i];
                if (out)
                    out[(p * 4 + i) * nv + j] = o[i];
                else
                    *(VEC *)(y + p * yp + i * ys + j * VW) = o[i];
            }
        }
    *sum += total;
}

typedef void (*FN(wino1d_tile_fn))(const T *, ptrdiff_t, ptrdiff_t, const T *, ptrdiff_t,
                                   const T *, T *, ptrdiff_t, ptrdiff_t, VEC *, VEC *);

/* FN(wino1d_tile_TPxNV) */
#define CL_WINO1D_TILE(TP, NV)                                                                \
    static __attribute__((noinline)) void FN(wino1d_tile_##TP##x##NV)(                       \
        const T *t, ptrdiff_t nt, ptrdiff_t pstep, const T *u, ptrdiff_t cn, const T *bias,   \
        T *y, ptrdiff_t yp, ptrdiff_t ys, VEC *out, VEC *sum)                                 \
    {                                                                                         \
        FN(wino1d_tile)(TP, NV, t, nt, pstep, u, cn, bias, y, yp, ys, out, sum);              \
    }

/* Blocks q0 <= q < q1 of the flat (N, Ho, blocks) grid: 0, 1 when an output is not finite (y
 * then holds no result), -1 when out of memory. w is U packed (nob, G*L, 6, nv * lanes), bias
 * (nob * nv * lanes) or NULL, both zero past O.
 * Finiteness: the sum of every output written is Inf or NaN once one of them is (or,
 * harmlessly, when finite ones overflow it: the caller then recomputes the call), one add an
 * output. */
CL_INLINE int FN(wino1d_drive)(const int tp, const int nv, FN(wino1d_tile_fn) tile,
                               const struct cl_conv *a, ptrdiff_t q0, ptrdiff_t q1)
{
    if (q1 <= q0)
        return 0;
    const ptrdiff_t g = cl_wino1d_groups(a->kw, a->sw), nb = cl_wino1d_blocks(a->wo, g);
    const ptrdiff_t l = a->sw * a->c, gl = g * l, span = 4 * gl;  /* a block's flat values */
    const ptrdiff_t ob = nv * VW, nob = (a->o + ob - 1) / ob, o = a->o;
    /* blocks a pass transforms (six rows of T and the source, span values a block each), in
     * whole register tiles: a pass's last one reads blocks past the pass (or the row) and
     * writes only its own */
    ptrdiff_t per = CL_WINO1D_BYTES / (7 * span * (ptrdiff_t)sizeof(T)) / tp * tp;
    per = per < tp ? tp : per;
    per = per > (q1 - q0 + tp - 1) / tp * tp ? (q1 - q0 + tp - 1) / tp * tp : per;
    /* T's rows: whole 4 KiB pages and nine lines apart. Rows a multiple of 4 KiB apart (256
     * channels, 8 blocks) put the twelve values a channel's products read in one set of L1,
     * whose eight ways then thrash (text1d ran at 60% of the FMA peak) */
    const ptrdiff_t page = 4096 / (ptrdiff_t)sizeof(T);
    const ptrdiff_t nt = (per * span + page - 1) / page * page + 9 * 64 / (ptrdiff_t)sizeof(T);
    const size_t bytes = (size_t)(6 * nt + per * span + 5 * gl) * sizeof(T);
    T *tr = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!tr)
        return -1;
    T *buf = tr + 6 * nt;
    const T *u = (const T *)a->w, *bias = (const T *)a->bias;
    VEC sum = (VEC){0};
    for (ptrdiff_t q = q0; q < q1;) {
        const ptrdiff_t row = q / nb, c0 = q % nb;
        ptrdiff_t nblk = nb - c0 < per ? nb - c0 : per;
        nblk = nblk > q1 - q ? q1 - q : nblk;
        const ptrdiff_t nf = (nblk + tp - 1) / tp * tp * span;  /* whole register tiles */
        const ptrdiff_t n = row / a->ho, oh = row % a->ho;
        const T *src = FN(wino1d_source)(a, n, a->row_map[oh * a->sh], c0 * span,
                                         nf + 5 * gl, buf);
        FN(wino1d_transform)(src, gl, nf, tr, nt);
        T *yrow = (T *)a->y + row * a->wo * o;
        for (ptrdiff_t b = 0; b < nob; ++b) {
            const T *ub = u + b * gl * 6 * ob, *bb = bias ? bias + b * ob : NULL;
            const ptrdiff_t lanes = o - b * ob;  /* this block's output channels */
            for (ptrdiff_t c = 0; c < nblk; c += tp) {
                const ptrdiff_t np = nblk - c < tp ? nblk - c : tp;
                for (ptrdiff_t ga = 0; ga < g; ++ga) {
                    const ptrdiff_t t0 = (c0 + c) * 4 * g + ga;  /* tile 0's first column */
                    T *y0 = yrow + t0 * o + b * ob;
                    const T *tt = tr + (c * 4 * g + ga) * l;
                    /* stored in place unless a tile is missing, an output lies past the row's
                     * end or the block's vectors past O */
                    if (np == tp && t0 + (tp - 1) * 4 * g + 3 * g < a->wo && lanes >= ob) {
                        tile(tt, nt, span, ub, gl, bb, y0, 4 * g * o, g * o, NULL, &sum);
                        continue;
                    }
                    VEC out[4 * 4 * 2];
                    tile(tt, nt, span, ub, gl, bb, y0, 0, 0, out, &sum);
                    for (ptrdiff_t p = 0; p < np; ++p)
                        for (int i = 0; i < 4 && t0 + p * 4 * g + i * g < a->wo; ++i)
                            for (int j = 0; j < nv; ++j)
                                FN(store_lanes)(y0 + (p * 4 * g + i * g) * o + j * VW,
                                                out[(p * 4 + i) * nv + j], lanes - j * VW);
                }
            }
        }
        q += nblk;
    }
    free(tr);
    const VEC zero = sum * (T)0;
    int finite = 1;
    for (int i = 0; i < VW; ++i)
        finite &= zero[i] == 0;
    return !finite;
}

/* U_k[a*L + r*C + c][o] = sum_b G[k][b] w[sw*(a + G*b) + r][c][o] (zero for a tap past kw) of
 * w (kw, C, O) (a one-row HWIO kernel), in float64, rounded once into u packed (nob, G*L, 6,
 * ob), zeros past O (u zero-filled by the caller). Output channels o0 <= o < o1, in runs of
 * up to 64 that the compiler vectorises. */
static void FN(wino1d_pack)(const void *wv, void *uv, ptrdiff_t kw, ptrdiff_t sw, ptrdiff_t c,
                            ptrdiff_t o, ptrdiff_t ob, ptrdiff_t o0, ptrdiff_t o1)
{
    const T *w = (const T *)wv;
    T *u = (T *)uv;
    const ptrdiff_t l = sw * c, g = cl_wino1d_groups(kw, sw), gl = g * l;
    for (ptrdiff_t mi = 0; mi < gl; ++mi) {
        const ptrdiff_t ga = mi / l, r = mi % l / c, ci = mi % c;
        for (ptrdiff_t s0 = o0; s0 < o1;) {
            /* a run inside one o-block of the packing, at most 64 long */
            ptrdiff_t s1 = (s0 / ob + 1) * ob;
            s1 = s1 > o1 ? o1 : s1;
            s1 = s1 - s0 > 64 ? s0 + 64 : s1;
            const ptrdiff_t len = s1 - s0;
            double acc[6][64];
            for (int k = 0; k < 6; ++k)
                for (ptrdiff_t i = 0; i < len; ++i)
                    acc[k][i] = 0;
            for (int bb = 0; bb < 3; ++bb) {
                const ptrdiff_t tap = sw * (ga + g * bb) + r;
                if (tap >= kw)
                    continue;
                const T *src = w + (tap * c + ci) * o + s0;
                for (int k = 0; k < 6; ++k) {
                    const double gk = cl_wino_g[k][bb];
                    for (ptrdiff_t i = 0; i < len; ++i)
                        acc[k][i] += gk * src[i];
                }
            }
            T *dst = u + ((s0 / ob) * gl + mi) * 6 * ob + s0 % ob;
            for (int k = 0; k < 6; ++k)
                for (ptrdiff_t i = 0; i < len; ++i)
                    dst[k * ob + i] = (T)acc[k][i];
            s0 = s1;
        }
    }
}

/* FN(wino1d_nvNV): the kernel of NV output-channel vectors a register tile (CL_WINO1D
 * expands its arguments first: TP is a macro) */
#define CL_WINO1D(TP, NV) CL_WINO1D_(TP, NV)
#define CL_WINO1D_(TP, NV)                                                                    \
    CL_WINO1D_TILE(TP, NV)                                                                    \
    static int FN(wino1d_nv##NV)(const struct cl_conv *a, ptrdiff_t q0, ptrdiff_t q1)         \
    {                                                                                         \
        return FN(wino1d_drive)(TP, NV, FN(wino1d_tile_##TP##x##NV), a, q0, q1);              \
    }

CL_WINO1D(CL_WINO1D_TP1, 1)
CL_WINO1D(CL_WINO1D_TP2, 2)

/* Fill this set's kernels into their table (index: nv, 1 or 2). */
static void FN(wino1d_fill)(cl_direct_fn *forward)
{
    forward[1] = FN(wino1d_nv1);
    forward[2] = FN(wino1d_nv2);
}
