/* Winograd F(4x4, 3x3): a 3x3 stride-1 convolution with 4x fewer multiplications, NHWC.
 *
 * Included by isa_template.h after direct_kernel.h (same T, TNAME, VBYTES, ISA; it reuses
 * direct's microkernels for the matrix products).
 *
 * Lavin & Gray (2016). A 4x4 block of outputs ("tile") reads a 6x6 patch d of the padded
 * input; with the interpolation points 0, 1, -1, 1/2, -2 and infinity
 *
 *   B^T = [[1, -3/2,   -2,  3/2,   1, 0],   G = [[    1,     0,     0],
 *          [0,   -1,  1/2,  5/2,   1, 0],        [  1/3,   1/3,   1/3],
 *          [0,    1, -5/2,  1/2,   1, 0],        [ -1/3,   1/3,  -1/3],
 *          [0,   -2,   -1,    2,   1, 0],        [-16/15, -8/15, -4/15],
 *          [0,  1/2,   -1, -1/2,   1, 0],        [ 1/15, -2/15,  4/15],
 *          [0,    1, -3/2,   -2, 3/2, 1]]        [    0,     0,     1]]
 *
 *   A^T = [[1, 1,  1,   1,  1, 0],
 *          [0, 1, -1, 1/2, -2, 0],
 *          [0, 1,  1, 1/4,  4, 0],
 *          [0, 1, -1, 1/8, -8, 1]]
 *
 * the outputs are A^T [ sum_c (G g_c G^T) . (B^T d_c B) ] A. Each of the 36 positions t of a
 * transformed tile is one matrix product over channels, V_t (tiles, C) @ U_t (C, O): 36 C O
 * multiply-adds per 16 outputs, against 144 C O for the direct method. U (the kernel's
 * transform) is made once per call (wino_pack, below), in float64. The point 1/2 in place of the
 * usual 2 (Barabasz et al., "Error analysis and improving the accuracy of Winograd
 * convolution for deep neural networks", 2020) cuts float32's error 2.5-3x: on random
 * normal data, relative to the largest output, 2.3e-6 against 6.7e-6 at 64 channels and
 * 8.5e-6 against 2.5e-5 at 1024. Every coefficient of B and A is exact in binary.
 *
 * A task's tiles go in blocks small enough that a block's V (36 x tiles x C) and M (36 x
 * tiles x O) stay in L2: the input transform writes V, the products (direct's register tiles
 * with one "tap" of C channels, a pixel being a tile) write M, and the output transform reads
 * M and writes y. The input is read through the padding's index maps (no padded copy), as
 * direct reads it; a tile sticking out past the last output row or column reads zeros there
 * and its outputs past the edge are not written.
 *
 * The transforms mix a tile's values, so an Inf or NaN reaches outputs the definition keeps
 * finite, and a finite input can overflow: the kernel returns 1 when any output it wrote is
 * not finite, and the caller then computes the call the direct way.
 */

#ifndef CL_WINO_CONSTANTS
#define CL_WINO_CONSTANTS
/* G of F(4x4, 3x3) for the points 0, 1, -1, 1/2, -2, infinity (see above); G^T . G is also
 * the weight gradient's last map (wino_unpack) */
static const double cl_wino_g[6][3] = {
    {1, 0, 0}, {1. / 3, 1. / 3, 1. / 3}, {-1. / 3, 1. / 3, -1. / 3},
    {-16. / 15, -8. / 15, -4. / 15}, {1. / 15, -2. / 15, 4. / 15}, {0, 0, 1}};
/* bytes of V and M a block holds: half of a 2 MiB L2, leaving room for the block of U the
 * products sweep and the input rows (chosen, not tuned) */
#define CL_WINO_BLOCK_BYTES (1 << 20)
#endif

/* r = B^T d for six vectors d[0], d[s], ..., d[5s] (the rows of a column of a patch, or a row
 * of its column transforms). */
CL_INLINE void FN(wino_bt)(const VEC *d, ptrdiff_t s, VEC *r, ptrdiff_t rs)
{
    const VEC d0 = d[0], d1 = d[s], d2 = d[2 * s], d3 = d[3 * s], d4 = d[4 * s],
              d5 = d[5 * s];
    const VEC a = d4 - d2, b = d3 - d1, h = d4 + (d2 + d3) * (T)0.5;
    r[0] = (d0 - d2) + b * (T)1.5 + a;
    r[rs] = h + d3 * (T)2 - d1;
    r[2 * rs] = h + d1 - d2 * (T)3;
    r[3 * rs] = a + b * (T)2;
    r[4 * rs] = a - b * (T)0.5;
    r[5 * rs] = (d5 - d3) - b + a * (T)1.5;
}

/* r = A^T m for six vectors m[0], m[s], ..., m[5s]: four outputs. */
CL_INLINE void FN(wino_at)(const VEC *m, ptrdiff_t s, VEC *r, ptrdiff_t rs)
{
    const VEC m0 = m[0], m1 = m[s], m2 = m[2 * s], m3 = m[3 * s], m4 = m[4 * s],
              m5 = m[5 * s];
    const VEC p12 = m1 + m2, n12 = m1 - m2, p34 = m3 + m4;
    r[0] = m0 + p12 + p34;
    r[rs] = n12 + m3 * (T)0.5 - m4 * (T)2;
    r[2 * rs] = p12 + m3 * (T)0.25 + m4 * (T)4;
    r[3 * rs] = n12 + m3 * (T)0.125 - m4 * (T)8 + m5;
}

/* Where tile q sits: its image, first output row and column. */
CL_INLINE void FN(wino_tile_at)(const struct cl_conv *a, ptrdiff_t q, ptrdiff_t *n,
                                ptrdiff_t *r0, ptrdiff_t *c0)
{
    const ptrdiff_t tw = (a->wo + 3) / 4, th = (a->ho + 3) / 4;
    *n = q / (th * tw);
    const ptrdiff_t k = q - *n * th * tw;
    *r0 = k / tw * 4;
    *c0 = k % tw * 4;
}

/* V[t][i][:] = (B^T d B)[t] for tile q (slot i of a block of tb tiles), every channel
 * vector of every depth tap: a volume's tap a (of kd) fills channels a*C .. a*C + C - 1 of
 * V's rows (cp values long), as the reduction's kd*C channels (see wino_drive). */
static void FN(wino_input)(const struct cl_conv *a, ptrdiff_t q, T *v, ptrdiff_t tb,
                           ptrdiff_t i, ptrdiff_t cp)
{
    const T *x = (const T *)a->x, *zero = (const T *)a->zero;
    const ptrdiff_t rows_len = a->ho + 2, cols_len = a->wo + 2;  /* the maps' entries */
    const ptrdiff_t ts = tb * cp / VW;  /* vectors between positions t */
    ptrdiff_t n, r0, c0;
    FN(wino_tile_at)(a, q, &n, &r0, &c0);
    for (ptrdiff_t tap = 0; tap < a->kd; ++tap) {
        const int64_t plane = a->plane_map ? a->plane_map[n * a->kd + tap] : n;
        /* the patch's 36 pixels: in the input, or C zeros (a->zero) where the padding is
         * zero or the tile sticks out past the edge; the loops below then have no branch */
        const T *px[36];
        for (int r = 0; r < 6; ++r) {
            const int64_t ri = plane >= 0 && r0 + r < rows_len ? a->row_map[r0 + r] : -1;
            for (int k = 0; k < 6; ++k) {
                const int64_t ck = c0 + k < cols_len ? a->col_map[c0 + k] : -1;
                px[r * 6 + k] = ri < 0 || ck < 0
                    ? zero : x + ((plane * a->ih + ri) * a->iw + ck) * a->c;
            }
        }
        /* a tap's last vector spills zeros into the next tap's first lanes, which that tap
         * then overwrites: taps in order */
        for (ptrdiff_t cv = 0; cv < a->c; cv += VW) {
            const ptrdiff_t lanes = a->c - cv;
            VEC d[36], t[36];
            if (lanes >= VW) {
#pragma GCC unroll 36
                for (int k = 0; k < 36; ++k)
                    d[k] = *(const VEC *)(px[k] + cv);
            } else {
#pragma GCC unroll 36
                for (int k = 0; k < 36; ++k)
                    d[k] = FN(load_lanes)(px[k] + cv, lanes);
            }
#pragma GCC unroll 6
            for (int k = 0; k < 6; ++k)  /* columns: t = B^T d */
                FN(wino_bt)(d + k, 6, t + k, 6);
            VEC *out = (VEC *)(v + i * cp + tap * a->c + cv);
#pragma GCC unroll 6
            for (int r = 0; r < 6; ++r)  /* rows: V = t B */
                FN(wino_bt)(t + r * 6, 1, out + r * 6 * ts, ts);
        }
    }
}

/* y for tile q (slot i of the block) from M[t][i][:] (rows kp long), bias added; whether
 * every value it wrote is finite. */
static int FN(wino_output)(const struct cl_conv *a, ptrdiff_t q, const T *m, ptrdiff_t tb,
                           ptrdiff_t i, ptrdiff_t kp)
{
    T *y = (T *)a->y;
    const T *bias = (const T *)a->bias;
    ptrdiff_t n, r0, c0;
    FN(wino_tile_at)(a, q, &n, &r0, &c0);
    const ptrdiff_t nr = a->ho - r0 < 4 ? a->ho - r0 : 4, nc = a->wo - c0 < 4 ? a->wo - c0 : 4;
    const ptrdiff_t ts = tb * kp / VW;
    VEC check = (VEC){0};
    for (ptrdiff_t ov = 0; ov < a->o; ov += VW) {  /* M's vectors past O hold no output */
        const VEC *mm = (const VEC *)(m + i * kp + ov);
        VEC s[24], out[16];
#pragma GCC unroll 6
        for (int k = 0; k < 6; ++k)  /* columns: s = A^T M */
            FN(wino_at)(mm + k * ts, 6 * ts, s + k, 6);
#pragma GCC unroll 4
        for (int r = 0; r < 4; ++r)  /* rows: out = s A */
            FN(wino_at)(s + r * 6, 1, out + r * 4, 1);
        const VEC b = bias ? *(const VEC *)(bias + ov) : (VEC){0};
        const ptrdiff_t lanes = a->o - ov;
        for (ptrdiff_t r = 0; r < nr; ++r) {
            T *yp = y + ((n * a->ho + r0 + r) * a->wo + c0) * a->o + ov;
            for (ptrdiff_t c = 0; c < nc; ++c) {
                const VEC o = out[r * 4 + c] + b;
                check += o * (T)0;  /* NaN in a lane once an Inf or NaN passed */
                FN(store_lanes)(yp + c * a->o, o, lanes);
            }
        }
    }
    int finite = 1;
    for (int l = 0; l < VW; ++l)
        finite &= check[l] == 0;
    return finite;
}

/* A task's blocks of tiles: V's row length *cp (kd*C channels, and room for the last depth
 * tap's last vector), *kp (O rounded up to whole register tiles of ob), the tiles a block
 * holds *tb (a multiple of `unit`, at most `tiles`, V and the second array within
 * CL_WINO_BLOCK_BYTES when they fit) and the two arrays, 36 x tb x cp then 36 x tb x kp, in
 * one allocation (NULL: out of memory). */
static T *FN(wino_blocks)(const struct cl_conv *a, ptrdiff_t ob, ptrdiff_t unit,
                          ptrdiff_t tiles, ptrdiff_t *cp, ptrdiff_t *kp, ptrdiff_t *tb)
{
    *cp = ((a->kd - 1) * a->c + (a->c + VW - 1) / VW * VW + VW - 1) / VW * VW;
    *kp = (a->o + ob - 1) / ob * ob;
    ptrdiff_t n = CL_WINO_BLOCK_BYTES / (36 * (*cp + *kp) * (ptrdiff_t)sizeof(T)) / unit * unit;
    n = n < unit ? unit : n;
    *tb = tiles < n ? tiles : n;
    const size_t bytes = (size_t)(36 * *tb * (*cp + *kp)) * sizeof(T);
    return aligned_alloc(64, (bytes + 63) / 64 * 64);
}

/* The products of one block of tb tiles: M[t][i][:] = V[t][i][:] @ U[t], by direct's
 * microkernels (one "tap" of C channels; a tile is a pixel, a register tile of them one
 * strided stretch of V, cp apart). */
CL_INLINE void FN(wino_products)(const int pix, const int nv, FN(ukernel_fn) ukernel_s,
                                 FN(ukernel_fn) ukernel1, const struct cl_conv *a,
                                 const T *v, T *m, ptrdiff_t tb, ptrdiff_t cp, ptrdiff_t kp)
{
    const ptrdiff_t ob = nv * VW, nob = kp / ob, full = tb / pix * pix, cn = a->kd * a->c;
    const T *u = (const T *)a->w;
    for (ptrdiff_t b = 0; b < nob; ++b) {
        for (ptrdiff_t t = 0; t < 36; ++t) {
            const T *wt = u + (b * 36 + t) * cn * ob;  /* U_t's o-block b: (kd*C, ob) */
            const T *vt = v + t * tb * cp;
            T *mt = m + t * tb * kp + b * ob;
            for (ptrdiff_t k = 0; k < tb; k += k < full ? pix : 1) {
                const int np = k < full ? pix : 1;
                const T *first = vt + k * cp;
                VEC acc[64] __attribute__((aligned(64)));
                (np == pix ? ukernel_s : ukernel1)(&first, 0, wt, 1, cn, 0, cp, acc);
                for (int p = 0; p < np; ++p)
                    for (int j = 0; j < nv; ++j)
                        *(VEC *)(mt + (k + p) * kp + j * VW) = acc[p * nv + j];
            }
        }
    }
}

/* Tiles q0 <= q < q1 of the flat (N, ceil(Ho/4), ceil(Wo/4)) grid: 0, 1 when an output is
 * not finite (y then holds no result), -1 when out of memory. w is U packed (nob, 36, kd*C,
 * nv * lanes), bias (nob * nv * lanes) or NULL. A volume (kd > 1: output image m sums the
 * kd planes plane_map names, direct.h) is one 2-D Winograd whose reduction runs over the
 * depth taps' channels too: its input transform fills V with every tap's planes. */
CL_INLINE int FN(wino_drive)(const int pix, const int nv, FN(ukernel_fn) ukernel_s,
                             FN(ukernel_fn) ukernel1, const struct cl_conv *a,
                             ptrdiff_t q0, ptrdiff_t q1)
{
    const ptrdiff_t ob = nv * VW;
    ptrdiff_t cp, kp, tb;
    if (q1 <= q0)
        return 0;
    T *v = FN(wino_blocks)(a, ob, pix, q1 - q0, &cp, &kp, &tb);
    if (!v)
        return -1;
    T *m = v + 36 * tb * cp;
    int finite = 1;
    for (ptrdiff_t s = q0; s < q1; s += tb) {
        const ptrdiff_t nt = q1 - s < tb ? q1 - s : tb;
        /* a block's V and M hold nt tiles per position t */
        for (ptrdiff_t i = 0; i < nt; ++i)
            FN(wino_input)(a, s + i, v, nt, i, cp);
        FN(wino_products)(pix, nv, ukernel_s, ukernel1, a, v, m, nt, cp, kp);
        for (ptrdiff_t i = 0; i < nt; ++i)
            finite &= FN(wino_output)(a, s + i, m, nt, i, kp);
    }
    free(v);
    return !finite;
}

/* U = G g G^T for every input channel c and output channel o of HWIO w (3, 3, C, O), in
 * float64, rounded once into u packed (nob, 36, C, ob), zeros past O (u zero-filled by the
 * caller); a volume's w (kd, 3, 3, C, O) as (3, 3, kd*C, O), tap a's channels at a*C. Output
 * channels o0 <= o < o1, in runs of up to 64 that the compiler vectorises. */
static void FN(wino_pack)(const void *wv, void *uv, ptrdiff_t kd, ptrdiff_t c, ptrdiff_t o,
                          ptrdiff_t ob, ptrdiff_t o0, ptrdiff_t o1)
{
    const double(*g)[3] = cl_wino_g;
    const T *w = (const T *)wv;
    T *u = (T *)uv;
    const ptrdiff_t cn = kd * c;  /* the reduction's channels */
    for (ptrdiff_t ci = 0; ci < cn; ++ci) {
        const T *wc = w + ((ci / c) * 9 * c + ci % c) * o;  /* tap ci / c, channel ci % c */
        for (ptrdiff_t s0 = o0; s0 < o1;) {
            /* a run inside one o-block of the packing, at most 64 long */
            ptrdiff_t s1 = (s0 / ob + 1) * ob;
            s1 = s1 > o1 ? o1 : s1;
            s1 = s1 - s0 > 64 ? s0 + 64 : s1;
            const ptrdiff_t len = s1 - s0;
            double r[6][3][64];  /* G k, per output channel of the run */
            for (int a = 0; a < 6; ++a)
                for (int j = 0; j < 3; ++j) {
                    const T *k0 = wc + j * c * o + s0, *k1 = k0 + 3 * c * o,
                            *k2 = k1 + 3 * c * o;
                    for (ptrdiff_t l = 0; l < len; ++l)
                        r[a][j][l] = g[a][0] * k0[l] + g[a][1] * k1[l] + g[a][2] * k2[l];
                }
            T *dst = u + ((s0 / ob) * 36 * cn + ci) * ob + s0 % ob;
            for (int a = 0; a < 6; ++a)  /* U = (G k) G^T */
                for (int b = 0; b < 6; ++b) {
                    T *d = dst + (a * 6 + b) * cn * ob;
                    for (ptrdiff_t l = 0; l < len; ++l)
                        d[l] = (T)(r[a][0][l] * g[b][0] + r[a][1][l] * g[b][1]
                                   + r[a][2][l] * g[b][2]);
                }
            s0 = s1;
        }
    }
}

/* ---- the weight gradient: Winograd F(3x3, 4x4) ------------------------------------------
 *
 * grad_w[i][j][c][o] = sum over output pixels p of x_padded[p + (i, j)][c] * grad_y[p][o]:
 * per 4x4 tile of grad_y, the 3x3 "valid" correlation of the tile's 6x6 input patch d with
 * its 4x4 grad_y patch g. With the same points (and so the same B) as the forward:
 *
 *   grad_w = A'^T [ sum over tiles and (c, o) of (B^T d_c B) . (G' g_o G'^T) ] A',
 *
 *   G' = diag(1/f) [[1, 0,   0,    0    ],   A'^T = [[1, 1,  1,   1,  1, 0],
 *                   [1, 1,   1,    1    ],           [0, 1, -1, 1/2, -2, 0],
 *                   [1, -1,  1,   -1    ],           [0, 1,  1, 1/4,  4, 1]]
 *                   [1, 1/2, 1/4,  1/8  ],
 *                   [1, -2,  4,   -8    ],   f = (1, 3, -3, -15/16, 15, 1)
 *                   [0, 0,   0,    1    ]]
 *
 * The kernel sums M''[t][c][o] = sum over tiles of V_t[tile][c] * W''_t[tile][o], W'' the
 * transform by G'' = G' without its diagonal (every coefficient exact in binary). The
 * diagonal and A' fold into one map from M'' (36 positions) to grad_w (3x3): A'^T diag(1/f)
 * is G^T, the forward's G transposed, so grad_w = G^T M'' G (wino_unpack, in float64, after
 * the tasks' sums are added), the adjoint of the kernel's transform U = G w G^T. The products
 * are outer products summed over a block's tiles on register tiles of pix channels c x nv
 * vectors of o, each block's sum then added to M''.
 */

/* r = G'' g for four vectors g[0], g[s], g[2s], g[3s] (a column of a grad_y patch, or a row
 * of its column transforms): six. */
CL_INLINE void FN(wino_gt)(const VEC *g, ptrdiff_t s, VEC *r, ptrdiff_t rs)
{
    const VEC g0 = g[0], g1 = g[s], g2 = g[2 * s], g3 = g[3 * s];
    const VEC e = g0 + g2, o = g1 + g3;
    r[0] = g0;
    r[rs] = e + o;
    r[2 * rs] = e - o;
    r[3 * rs] = (g0 + g2 * (T)0.25) + (g1 + g3 * (T)0.25) * (T)0.5;
    r[4 * rs] = (g0 + g2 * (T)4) - (g1 + g3 * (T)4) * (T)2;
    r[5 * rs] = g3;
}

/* W''[t][i][:] = (G'' g G''^T)[t] for grad_y's tile q (slot i of a block of tb tiles), every
 * vector of output channels; outputs past the last row or column read zeros. */
static void FN(wino_grad_input)(const struct cl_conv *a, ptrdiff_t q, T *w, ptrdiff_t tb,
                                ptrdiff_t i, ptrdiff_t kp)
{
    const T *gy = (const T *)a->y;
    const ptrdiff_t ts = tb * kp / VW;
    ptrdiff_t n, r0, c0;
    FN(wino_tile_at)(a, q, &n, &r0, &c0);
    const T *px[16];
    for (int r = 0; r < 4; ++r)
        for (int k = 0; k < 4; ++k)
            px[r * 4 + k] = r0 + r < a->ho && c0 + k < a->wo
                ? gy + ((n * a->ho + r0 + r) * a->wo + c0 + k) * a->o : NULL;
    for (ptrdiff_t ov = 0; ov < kp; ov += VW) {
        const ptrdiff_t lanes = a->o - ov;
        VEC g[16], t[24];
#pragma GCC unroll 16
        for (int k = 0; k < 16; ++k)
            g[k] = px[k] ? FN(load_lanes)(px[k] + ov, lanes) : (VEC){0};
#pragma GCC unroll 4
        for (int k = 0; k < 4; ++k)  /* columns: t = G'' g */
            FN(wino_gt)(g + k, 4, t + k, 4);
        VEC *out = (VEC *)(w + i * kp + ov);
#pragma GCC unroll 6
        for (int r = 0; r < 6; ++r)  /* rows: W'' = t G''^T */
            FN(wino_gt)(t + r * 4, 1, out + r * 6 * ts, ts);
    }
}

/* acc[p][j] += sum over n tiles k of v[k * vs + p] * w[k * ws + j * VW]: pix channels x nv
 * vectors of outputs, the sum over tiles; loaded and stored once (its own function, so that
 * the accumulators stay in registers). */
CL_INLINE void FN(outer_ukernel)(const int pix, const int nv, const T *v, ptrdiff_t vs,
                                 const T *w, ptrdiff_t ws, ptrdiff_t n, VEC *acc_io)
{
    VEC acc[4 * 16];
#pragma GCC unroll 64
    for (int k = 0; k < pix * nv; ++k)
        acc[k] = acc_io[k];
    for (ptrdiff_t k = 0; k < n; ++k) {
        VEC wv[4];
#pragma GCC unroll 4
        for (int j = 0; j < nv; ++j)
            wv[j] = *(const VEC *)(w + k * ws + j * VW);
#pragma GCC unroll 16
        for (int p = 0; p < pix; ++p) {
            const T s = v[k * vs + p];
#pragma GCC unroll 4
            for (int j = 0; j < nv; ++j)
                acc[p * nv + j] += wv[j] * s;
        }
    }
#pragma GCC unroll 64
    for (int k = 0; k < pix * nv; ++k)
        acc_io[k] = acc[k];
}

typedef void (*FN(outer_fn))(const T *, ptrdiff_t, const T *, ptrdiff_t, ptrdiff_t, VEC *);

#define CL_OUTER(PIX, NV)                                                                     \
    static __attribute__((noinline)) void FN(outer_##PIX##x##NV)(                             \
        const T *v, ptrdiff_t vs, const T *w, ptrdiff_t ws, ptrdiff_t n, VEC *acc)            \
    {                                                                                         \
        FN(outer_ukernel)(PIX, NV, v, vs, w, ws, n, acc);                                     \
    }

/* M''[t][c][:] += sum over the block's tb tiles of V[t][tile][c] * W''[t][tile][:]. */
CL_INLINE void FN(wino_outer)(const int pix, const int nv, FN(outer_fn) ukernel,
                              FN(outer_fn) ukernel1, T *m, const T *v, const T *w,
                              ptrdiff_t tb, ptrdiff_t cn, ptrdiff_t cp, ptrdiff_t kp)
{
    const ptrdiff_t ob = nv * VW, nob = kp / ob, full = cn / pix * pix;
    for (ptrdiff_t t = 0; t < 36; ++t) {
        const T *vt = v + t * tb * cp, *wt = w + t * tb * kp;
        T *mt = m + t * cn * kp;
        for (ptrdiff_t b = 0; b < nob; ++b) {
            for (ptrdiff_t c = 0; c < cn; c += c < full ? pix : 1) {
                const int np = c < full ? pix : 1;
                /* the block's sum first, then added to the running sums: float32's error
                 * then grows with the blocks and a block's tiles, not with all the tiles
                 * (res3x3a's: 9e-6 of the largest gradient summed straight through) */
                VEC acc[64] __attribute__((aligned(64)));
                for (int k = 0; k < np * nv; ++k)
                    acc[k] = (VEC){0};
                (np == pix ? ukernel : ukernel1)(vt + c, cp, wt + b * ob, kp, tb, acc);
                for (int p = 0; p < np; ++p)
                    for (int j = 0; j < nv; ++j)
                        *(VEC *)(mt + (c + p) * kp + b * ob + j * VW) += acc[p * nv + j];
            }
        }
    }
}

/* Tiles q0 <= q < q1 of grad_y's flat (N, ceil(Ho/4), ceil(Wo/4)) grid, their products added
 * into M'' (a->w: 36, kd*C, kp floats, kp = O rounded up to whole tiles of nv vectors);
 * 0, or -1 when out of memory. */
CL_INLINE int FN(wino_wgrad_drive)(const int pix, const int nv, FN(outer_fn) ukernel,
                                   FN(outer_fn) ukernel1, const struct cl_conv *a,
                                   ptrdiff_t q0, ptrdiff_t q1)
{
    const ptrdiff_t ob = nv * VW, cn = a->kd * a->c;
    ptrdiff_t cp, kp, tb;
    if (q1 <= q0)
        return 0;
    T *v = FN(wino_blocks)(a, ob, 1, q1 - q0, &cp, &kp, &tb);
    if (!v)
        return -1;
    T *w = v + 36 * tb * cp;
    for (ptrdiff_t s = q0; s < q1; s += tb) {
        const ptrdiff_t nt = q1 - s < tb ? q1 - s : tb;  /* a block's V and W hold nt tiles */
        for (ptrdiff_t i = 0; i < nt; ++i) {
            FN(wino_input)(a, s + i, v, nt, i, cp);
            FN(wino_grad_input)(a, s + i, w, nt, i, kp);
        }
        FN(wino_outer)(pix, nv, ukernel, ukernel1, (T *)a->w, v, w, nt, cn, cp, kp);
    }
    free(v);
    return 0;
}

/* The entry points of one tile width NV (PIX pixels or channels a register tile): the
 * forward and the weight gradient, on direct's microkernels and the outer products' */
#define CL_WINO(PIX, NV)                                                                      \
    static int FN(wino_nv##NV)(const struct cl_conv *a, ptrdiff_t q0, ptrdiff_t q1)           \
    {                                                                                         \
        return FN(wino_drive)(PIX, NV, FN(ukernel_##PIX##x##NV##_strided), FN(ukernel_1x##NV), \
                              a, q0, q1);                                                     \
    }                                                                                         \
    static int FN(wino_wgrad_nv##NV)(const struct cl_conv *a, ptrdiff_t q0, ptrdiff_t q1)     \
    {                                                                                         \
        return FN(wino_wgrad_drive)(PIX, NV, FN(outer_##PIX##x##NV), FN(outer_1x##NV), a, q0, \
                                    q1);                                                      \
    }

#if PIX1
CL_OUTER(PIX1, 1)
CL_OUTER(1, 1)
CL_WINO(PIX1, 1)
#endif
#if PIX2
CL_OUTER(PIX2, 2)
CL_OUTER(1, 2)
CL_WINO(PIX2, 2)
#endif
#if PIX4
CL_OUTER(PIX4, 4)
CL_OUTER(1, 4)
CL_WINO(PIX4, 4)
#endif

/* Fill this set's Winograd forward and weight-gradient kernels into their tables (index:
 * nv, as direct's). */
static void FN(wino_fill)(cl_direct_fn *forward, cl_direct_fn *wgrad)
{
#if PIX1
    forward[1] = FN(wino_nv1);
    wgrad[1] = FN(wino_wgrad_nv1);
#endif
#if PIX2
    forward[2] = FN(wino_nv2);
    wgrad[2] = FN(wino_wgrad_nv2);
#endif
#if PIX4
    forward[4] = FN(wino_nv4);
    wgrad[4] = FN(wino_wgrad_nv4);
#endif
}

/* grad_w = G^T M'' G for every channel c of the reduction and output channel o, in float64:
 * m (36, kd*C, kp) -> gw (kd, 3, 3, C, O) (kd = 1: HWIO (3, 3, C, O)). Output channels
 * o0 <= o < o1, in runs of up to 64 that the compiler vectorises. */
static void FN(wino_unpack)(const void *mv, void *gv, ptrdiff_t kd, ptrdiff_t c, ptrdiff_t o,
                            ptrdiff_t kp, ptrdiff_t o0, ptrdiff_t o1)
{
    const double(*g)[3] = cl_wino_g;
    const T *m = (const T *)mv;
    T *gw = (T *)gv;
    const ptrdiff_t cn = kd * c;
    for (ptrdiff_t ci = 0; ci < cn; ++ci) {
        T *dst = gw + ((ci / c) * 9 * c + ci % c) * o;  /* tap ci / c, channel ci % c */
        for (ptrdiff_t s0 = o0; s0 < o1; s0 += 64) {
            const ptrdiff_t len = o1 - s0 < 64 ? o1 - s0 : 64;
            double r[3][6][64];  /* G^T M'', per output channel of the run */
            for (int i = 0; i < 3; ++i)
                for (int b = 0; b < 6; ++b) {
                    for (ptrdiff_t l = 0; l < len; ++l)
                        r[i][b][l] = 0;
                    for (int a = 0; a < 6; ++a) {
                        const T *src = m + ((a * 6 + b) * cn + ci) * kp + s0;
                        const double ga = g[a][i];
                        for (ptrdiff_t l = 0; l < len; ++l)
                            r[i][b][l] += ga * src[l];
                    }
                }
            for (int i = 0; i < 3; ++i)  /* grad_w = (G^T M'') G */
                for (int j = 0; j < 3; ++j) {
                    T *d = dst + (i * 3 + j) * c * o + s0;
                    for (ptrdiff_t l = 0; l < len; ++l) {
                        double v = 0;
                        for (int b = 0; b < 6; ++b)
                            v += r[i][b][l] * g[b][j];
                        d[l] = (T)v;
                    }
                }
        }
    }
}
