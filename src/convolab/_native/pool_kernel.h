/* Pooling, channels last: one source for every ISA and dtype (pool.h has the arguments).
 *
 * Included by isa_template.h after direct_kernel.h (same T, TNAME, VBYTES, ISA, and its
 * load_lanes/store_lanes). Channels sit in SIMD lanes: an output pixel is walked one vector
 * of channels at a time (the last one masked to C % lanes), over the window's taps. The
 * window's input positions are listed once per pixel (pos[t], -1 for padding), so padding,
 * ceil_mode's overhang and dilation cost nothing in the scan.
 *
 * Max pooling keeps, per lane, the running maximum and the tap that holds it: a tap replaces
 * it when greater or NaN, which is PyTorch's scan (the first maximum wins, a NaN wins and a
 * later NaN replaces it); the scan starts from the window's first tap inside the input, so a
 * window of -inf still names a real element. The tap number rides in a vector of T (exact:
 * the caller keeps windows under 2^24 taps). Without a vector select in C, the blend is
 * bitwise on an integer view of the lanes.
 */

#if TSIZE == 4
typedef int32_t FN(ivec) __attribute__((vector_size(VBYTES)));
#else
typedef int64_t FN(ivec) __attribute__((vector_size(VBYTES)));
#endif
#define IVEC FN(ivec)

/* take ? a : b, lane by lane (take: all ones or all zeros per lane) */
CL_INLINE VEC FN(pool_select)(IVEC take, VEC a, VEC b)
{
    return (VEC)((take & (IVEC)a) | (~take & (IVEC)b));
}

/* The taps of output pixel (od, oh, ow)'s window that lie inside the input, in row-major
 * order: their input positions into pos; returns how many. */
CL_INLINE ptrdiff_t FN(pool_window)(const struct cl_pool *p, ptrdiff_t od, ptrdiff_t oh,
                                    ptrdiff_t ow, ptrdiff_t *pos)
{
    const ptrdiff_t kd = p->k[0], kh = p->k[1], kw = p->k[2], H = p->in[1], W = p->in[2];
    const int64_t *td = p->taps[0] + od * kd, *th = p->taps[1] + oh * kh,
                  *tw = p->taps[2] + ow * kw;
    ptrdiff_t m = 0;
    for (ptrdiff_t i = 0; i < kd; ++i) {
        if (td[i] < 0)
            continue;
        for (ptrdiff_t j = 0; j < kh; ++j) {
            if (th[j] < 0)
                continue;
            const ptrdiff_t row = (td[i] * H + th[j]) * W;
            for (ptrdiff_t l = 0; l < kw; ++l) {
                if (tw[l] < 0)
                    continue;
                pos[m++] = row + tw[l];
            }
        }
    }
    return m;
}

/* Whether output pixel (od, oh, ow)'s window lies inside the input on every axis (positions
 * grow along a window, so its first and last taps tell). */
CL_INLINE int FN(pool_inside)(const struct cl_pool *p, ptrdiff_t od, ptrdiff_t oh,
                              ptrdiff_t ow)
{
    const int64_t *td = p->taps[0] + od * p->k[0], *th = p->taps[1] + oh * p->k[1],
                  *tw = p->taps[2] + ow * p->k[2];
    return td[0] >= 0 && td[p->k[0] - 1] >= 0 && th[0] >= 0 && th[p->k[1] - 1] >= 0
           && tw[0] >= 0 && tw[p->k[2] - 1] >= 0;
}

/* Every output pixel q0 <= q < q1 in one mode (a compile-time constant once inlined, so each
 * mode's loop carries nothing of the others; `index`: max pooling keeps its winners' places).
 * A window inside the input reads at fixed offsets (rel, found at the first such window) from
 * its first tap: listing its taps through the maps cost as much as the scan (LeNet's 2x2
 * pooling of 6 channels). */
CL_INLINE void FN(pool_pixels)(const enum cl_pool_mode mode, const int index,
                               const struct cl_pool *p, ptrdiff_t q0, ptrdiff_t q1,
                               ptrdiff_t *pos, ptrdiff_t *rel)
{
    const ptrdiff_t taps = p->k[0] * p->k[1] * p->k[2];
    int have_rel = 0;
    const ptrdiff_t C = p->c, OD = p->out_[0], OH = p->out_[1], OW = p->out_[2];
    const ptrdiff_t in_pixels = p->in[0] * p->in[1] * p->in[2], out_pixels = OD * OH * OW;
    const VEC minus_inf = (VEC){0} - (T)__builtin_inf();
    /* the pixel's coordinates are counted, not divided out of q */
    ptrdiff_t ow = q0 % OW, oh = q0 / OW % OH, od = q0 / (OW * OH) % OD, b = q0 / out_pixels;
    for (ptrdiff_t q = q0; q < q1; ++q) {
        ptrdiff_t m;
        if (FN(pool_inside)(p, od, oh, ow)) {
            const ptrdiff_t first = (p->taps[0][od * p->k[0]] * p->in[1]
                                     + p->taps[1][oh * p->k[1]]) * p->in[2]
                                    + p->taps[2][ow * p->k[2]];
            if (!have_rel) {
                FN(pool_window)(p, od, oh, ow, rel);
                for (ptrdiff_t t = 0; t < taps; ++t)
                    rel[t] -= first;
                have_rel = 1;
            }
            for (ptrdiff_t t = 0; t < taps; ++t)
                pos[t] = first + rel[t];
            m = taps;
        } else {
            m = FN(pool_window)(p, od, oh, ow, pos);
        }
        const ptrdiff_t xoff = b * in_pixels * C, yoff = q * C;
        for (ptrdiff_t c = 0; c < C; c += VW) {
            const ptrdiff_t n = C - c < VW ? C - c : VW;
            if (mode == CL_POOL_MAX || mode == CL_POOL_MAX_BACK) {
                const T *xb = (const T *)p->x + xoff + c;
                /* win: per lane, the winner's place t among the inside taps (pos[t]) */
                VEC best = minus_inf, win = (VEC){0}, t_vec = (VEC){0};
                for (ptrdiff_t t = 0; t < m; ++t, t_vec += 1) {
                    const VEC v = FN(load_lanes)(xb + pos[t] * C, n);
                    const IVEC take = (v > best) | (v != v);
                    best = FN(pool_select)(take, v, best);
                    if (index)
                        win = FN(pool_select)(take, t_vec, win);
                }
                if (m == 0)  /* a window of padding alone (the caller never makes one) */
                    continue;
                if (mode == CL_POOL_MAX) {
                    FN(store_lanes)((T *)p->out + yoff + c, best, n);
                    if (index)
                        for (ptrdiff_t l = 0; l < n; ++l)
                            p->index[yoff + c + l] = pos[(ptrdiff_t)win[l]];
                } else if (p->assign) {  /* each tap's pixel: g at the winner, else 0 */
                    T *gx = (T *)p->out + xoff + c;
                    const VEC g = FN(load_lanes)((const T *)p->g + yoff + c, n);
                    VEC t_at = (VEC){0};
                    for (ptrdiff_t t = 0; t < m; ++t, t_at += 1)
                        FN(store_lanes)(gx + pos[t] * C,
                                        FN(pool_select)(win == t_at, g, (VEC){0}), n);
                } else {
                    T *gx = (T *)p->out + xoff + c;
                    const T *g = (const T *)p->g + yoff + c;
                    for (ptrdiff_t l = 0; l < n; ++l)
                        gx[pos[(ptrdiff_t)win[l]] * C + l] += g[l];
                }
            } else if (mode == CL_POOL_AVG) {
                const T *xb = (const T *)p->x + xoff + c;
                VEC sum = (VEC){0};
                for (ptrdiff_t t = 0; t < m; ++t)
                    sum += FN(load_lanes)(xb + pos[t] * C, n);
                sum /= (VEC){0} + ((const T *)p->div)[q - b * out_pixels];
                FN(store_lanes)((T *)p->out + yoff + c, sum, n);
            } else {
                T *gx = (T *)p->out + xoff + c;
                VEC g = FN(load_lanes)((const T *)p->g + yoff + c, n);
                if (p->div)  /* as NumPy's g / div: one division, the same rounding */
                    g /= (VEC){0} + ((const T *)p->div)[q - b * out_pixels];
                for (ptrdiff_t t = 0; t < m; ++t) {
                    T *dst = gx + pos[t] * C;
                    FN(store_lanes)(dst, p->assign ? g : FN(load_lanes)(dst, n) + g, n);
                }
            }
        }
        if (++ow == OW) {
            ow = 0;
            if (++oh == OH) {
                oh = 0;
                if (++od == OD) {
                    od = 0;
                    ++b;
                }
            }
        }
    }
}

static int FN(pool)(const struct cl_pool *p, ptrdiff_t q0, ptrdiff_t q1)
{
    const ptrdiff_t taps = p->k[0] * p->k[1] * p->k[2];
    ptrdiff_t *pos = malloc(2 * (size_t)taps * sizeof *pos);  /* pos, then rel */
    if (!pos)
        return -1;
    switch (p->mode) {
    case CL_POOL_MAX:  /* the winners' places only when their indices are asked for */
        if (p->index)
            FN(pool_pixels)(CL_POOL_MAX, 1, p, q0, q1, pos, pos + taps);
        else
            FN(pool_pixels)(CL_POOL_MAX, 0, p, q0, q1, pos, pos + taps);
        break;
    case CL_POOL_AVG:
        FN(pool_pixels)(CL_POOL_AVG, 0, p, q0, q1, pos, pos + taps);
        break;
    case CL_POOL_MAX_BACK:
        FN(pool_pixels)(CL_POOL_MAX_BACK, 1, p, q0, q1, pos, pos + taps);
        break;
    case CL_POOL_AVG_BACK:
        FN(pool_pixels)(CL_POOL_AVG_BACK, 0, p, q0, q1, pos, pos + taps);
        break;
    }
    free(pos);
    return 0;
}

#undef IVEC
