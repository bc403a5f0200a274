/* Per-channel sums and affine maps over channels-last data (rows of C values): what batch
 * normalisation computes. One source for every ISA and dtype (included by isa_template.h).
 *
 * NumPy's batch norm made a temporary of the whole batch at each of its seven steps (x - mean,
 * its square, x-hat, times gamma, ...): 20 ms for 16x56x56x64 float32, forward and backward
 * each. Here the statistics are two reading passes and the output one writing pass; the
 * backward is one reading pass for its two sums and one writing pass. Rows are walked in
 * order and the inner loop runs over the channels, contiguous, so the compiler vectorizes it.
 * Sums accumulate in T over blocks of CH_BLOCK rows and in double across blocks, so a
 * float32 channel of millions of values keeps float64's accuracy to within a block's.
 */

#define CH_BLOCK 256

/* out (C or 2C doubles) += over rows r0 <= r < r1 of (rows, C):
 *   mode 0: a[r, c]
 *   mode 1: (a[r, c] - s[c])^2
 *   mode 2: b[r, c] into out[c], and b[r, c] * (a[r, c] - s[c]) into out[C + c] */
static int FN(channel_sums)(int mode, const void *av, const void *bv, const void *sv,
                            double *out, ptrdiff_t C, ptrdiff_t r0, ptrdiff_t r1)
{
    const T *a = av, *b = bv, *s = sv;
    T *part = malloc(sizeof(T) * (size_t)(2 * C));
    if (!part)
        return -1;
    T *p0 = part, *p1 = part + C;
    for (ptrdiff_t q = r0; q < r1; q += CH_BLOCK) {
        const ptrdiff_t e = r1 - q < CH_BLOCK ? r1 : q + CH_BLOCK;
        for (ptrdiff_t c = 0; c < 2 * C; ++c)
            part[c] = 0;
        for (ptrdiff_t r = q; r < e; ++r) {
            const T *ar = a + r * C, *br = b ? b + r * C : NULL;
            if (mode == 0) {
                for (ptrdiff_t c = 0; c < C; ++c)
                    p0[c] += ar[c];
            } else if (mode == 1) {
                for (ptrdiff_t c = 0; c < C; ++c) {
                    const T d = ar[c] - s[c];
                    p0[c] += d * d;
                }
            } else {
                for (ptrdiff_t c = 0; c < C; ++c) {
                    p0[c] += br[c];
                    p1[c] += br[c] * (ar[c] - s[c]);
                }
            }
        }
        for (ptrdiff_t c = 0; c < C; ++c)
            out[c] += (double)p0[c];
        if (mode == 2)
            for (ptrdiff_t c = 0; c < C; ++c)
                out[C + c] += (double)p1[c];
    }
    free(part);
    return 0;
}

/* out[r, c] = g[r, c] * p[c] + (x[r, c] - s[c]) * q[c] + t[c] for rows r0 <= r < r1 (the
 * first term left out when g is NULL): batch norm's output (q = gamma / std, t = beta) and
 * its input gradient. */
static void FN(channel_affine)(const void *gv, const void *xv, const void *sv,
                               const void *pv, const void *qv, const void *tv, void *outv,
                               ptrdiff_t C, ptrdiff_t r0, ptrdiff_t r1)
{
    const T *g = gv, *x = xv, *s = sv, *p = pv, *q = qv, *t = tv;
    T *out = outv;
    for (ptrdiff_t r = r0; r < r1; ++r) {
        const T *xr = x + r * C;
        T *o = out + r * C;
        if (g) {
            const T *gr = g + r * C;
            for (ptrdiff_t c = 0; c < C; ++c)
                o[c] = gr[c] * p[c] + (xr[c] - s[c]) * q[c] + t[c];
        } else {
            for (ptrdiff_t c = 0; c < C; ++c)
                o[c] = (xr[c] - s[c]) * q[c] + t[c];
        }
    }
}

#undef CH_BLOCK
