/* One-channel image filtering (C == O == 1, horizontal stride 1): pixels in SIMD lanes.
 *
 * Included by isa_template.h after direct_kernel.h (same T, TNAME, VBYTES, ISA).
 *
 * The image is streamed once: each input row a task needs is copied once, with its padding,
 * into a ring of padded rows (the interior by memcpy, the border through the column map; a
 * padding row is a row of zeros), and every output row is then a sum over taps of whole
 * vectors of that ring: y[oh, ow..ow+U*VW) += w[i, j] * row_i[ow + j*dw ..]. U = 4 vectors are
 * accumulated at once (4 independent FMA chains), each tap costing U unaligned loads, one
 * weight broadcast and U FMAs. The output row is written once. For a 3x3 kernel that is ~10
 * loads and FMAs per 16 outputs against a memory-bound stream of 8 bytes per pixel (read +
 * written): the kernel runs at the memory's speed, as OpenCV's filter2D does.
 */

#define CL_CAT3_(a, b, c) a##_##b##_##c
#define CL_CAT3(a, b, c) CL_CAT3_(a, b, c)
#define FN(name) CL_CAT3(name, TNAME, ISA)
#define VEC FN(vec)
#define VW ((ptrdiff_t)(VBYTES / sizeof(T)))
#define ST_U 4

/* y_row[0, n) = bias + sum over taps of w[i][j] * rows[i][j*dw + ...], vectors of `vecs`
 * (1 or ST_U), the last one holding `lanes` values (VW: all). */
CL_INLINE void FN(stencil_run)(const int vecs, const struct cl_conv *a, const T *const *rows,
                               const T *w, T *y, ptrdiff_t ow, ptrdiff_t lanes, T bias)
{
    VEC acc[ST_U];
#pragma GCC unroll 4
    for (int u = 0; u < vecs; ++u)
        acc[u] = (VEC){0};
    for (ptrdiff_t i = 0; i < a->kh; ++i) {
        const T *row = rows[i] + ow;
        for (ptrdiff_t j = 0; j < a->kw; ++j) {
            const T wij = w[i * a->kw + j];
            const T *src = row + j * a->dw;
#pragma GCC unroll 4
            for (int u = 0; u < vecs; ++u)
                acc[u] += *(const VEC *)(src + u * VW) * wij;
        }
    }
#pragma GCC unroll 4
    for (int u = 0; u < vecs; ++u)
        FN(store_lanes)(y + ow + u * VW, acc[u] + bias, u == vecs - 1 ? lanes : VW);
}

/* The padded row pr (an index of the padded image) of image n into `slot`: width padded
 * columns, then VW * ST_U zeros that vector loads past the end may read. */
static void FN(stencil_pad_row)(const struct cl_conv *a, ptrdiff_t n, ptrdiff_t pr, T *slot,
                                ptrdiff_t width)
{
    const int64_t r = a->row_map[pr];
    if (r < 0) {
        memset(slot, 0, sizeof(T) * (size_t)width);
        return;
    }
    const T *src = (const T *)a->x + (n * a->ih + r) * a->iw;
    ptrdiff_t c = 0;
    while (c < width) {
        const int64_t m = a->col_map[c];
        /* a run of the identity part of the map: one copy */
        ptrdiff_t run = 0;
        while (c + run < width && a->col_map[c + run] == m + run && m >= 0)
            ++run;
        if (run > 0) {
            memcpy(slot + c, src + m, sizeof(T) * (size_t)run);
            c += run;
        } else {
            slot[c] = m < 0 ? (T)0 : src[m];
            ++c;
        }
    }
}

/* Output rows of the flat (N, Ho) grid from q0 / Wo to q1 / Wo (q0, q1 multiples of Wo). */
static int FN(stencil)(const struct cl_conv *a, ptrdiff_t q0, ptrdiff_t q1)
{
    const ptrdiff_t wo = a->wo, width = wo + (a->kw - 1) * a->dw;
    const ptrdiff_t stride = width + VW * ST_U, slots = a->kh + a->sh;
    T *ring = calloc((size_t)(slots * stride), sizeof(T));
    ptrdiff_t *tag = malloc(sizeof(ptrdiff_t) * (size_t)slots);
    const T **rows = malloc(sizeof(const T *) * (size_t)a->kh);
    if (!ring || !tag || !rows) {
        free(ring);
        free(tag);
        free(rows);
        return -1;
    }
    const T *w = (const T *)a->w;
    const T bias = a->bias ? *(const T *)a->bias : (T)0;
    ptrdiff_t last_n = -1;
    for (ptrdiff_t row = q0 / wo; row < q1 / wo; ++row) {
        const ptrdiff_t n = row / a->ho, oh = row - n * a->ho;
        if (n != last_n) {  /* a new image: no padded row of it is in the ring */
            for (ptrdiff_t s = 0; s < slots; ++s)
                tag[s] = -1;
            last_n = n;
        }
        /* each kernel row's padded row: in the ring, or copied over the oldest slot that
         * this output row does not use (rows come in increasing order, so the oldest are the
         * ones done with; with dilation a newer one may still be needed, hence `mine`) */
        const ptrdiff_t first = oh * a->sh, last = first + (a->kh - 1) * a->dh;
        for (ptrdiff_t i = 0; i < a->kh; ++i) {
            const ptrdiff_t pr = first + i * a->dh;
            ptrdiff_t found = -1, oldest = -1;
            for (ptrdiff_t s = 0; s < slots; ++s) {
                const int mine = tag[s] >= first && tag[s] <= last && (tag[s] - first) % a->dh == 0;
                if (tag[s] == pr)
                    found = s;
                else if (!mine && (oldest < 0 || tag[s] < tag[oldest]))
                    oldest = s;
            }
            if (found < 0) {
                found = oldest;
                tag[found] = pr;
                FN(stencil_pad_row)(a, n, pr, ring + found * stride, width);
            }
            rows[i] = ring + found * stride;
        }
        T *y = (T *)a->y + row * wo;
        ptrdiff_t ow = 0;
        for (; ow + ST_U * VW <= wo; ow += ST_U * VW)
            FN(stencil_run)(ST_U, a, rows, w, y, ow, VW, bias);
        for (; ow < wo; ow += VW)
            FN(stencil_run)(1, a, rows, w, y, ow, wo - ow < VW ? wo - ow : VW, bias);
    }
    free(ring);
    free(tag);
    free(rows);
    return 0;
}

#undef ST_U
#undef VEC
#undef VW
#undef FN
