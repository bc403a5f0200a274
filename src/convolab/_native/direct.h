/* The arguments every convolution kernel takes: plain pointers and sizes, nothing of Python.
 *
 * Layouts are the package's canonical ones: x (N, H, W, C), y (N, Ho, Wo, O), C-contiguous.
 * Volumes: x is np planes (np, H, W, C) and output image m (of n) sums kd depth taps, tap a
 * reading plane plane_map[m * kd + a] (or zeros when it is -1): the depth axis of a 3-D conv
 * (N * D planes in, N * Do output images), its padding and stride folded into the map. Only
 * the kernels built on the shared indirection (direct, depthwise, their weight gradients)
 * take kd > 1; for images plane_map is NULL, np == n and kd == 1.
 * Padding of every mode is an index map per axis (convolab.padding.index_map): padded row r
 * reads input row row_map[r], or zeros when it is -1; the same for columns. A kernel reads
 * the pixel the map names (or `zero`, cg zeros) instead of a padded copy, so it multiplies
 * exactly the products of the definition, and no padded input is ever made.
 */
#ifndef CONVOLAB_DIRECT_H
#define CONVOLAB_DIRECT_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct cl_conv {
    const void *x;            /* (N, H, W, C) */
    const void *w;            /* packed kernel, layout per family (see its template) */
    const void *bias;         /* packed bias, or NULL */
    void *y;                  /* (N, Ho, Wo, O), written */
    const void *zero;         /* at least cg (direct) or C (depthwise) zeros */
    const int64_t *row_map;   /* (Ho - 1) * sh + (kh - 1) * dh + 1 entries, -1 or [0, ih) */
    const int64_t *col_map;   /* (Wo - 1) * sw + (kw - 1) * dw + 1 entries, -1 or [0, iw) */
    const int64_t *plane_map; /* n * kd entries, -1 or [0, np); NULL: image m reads plane m */
    ptrdiff_t np, kd;         /* input planes, depth taps */
    ptrdiff_t n, ih, iw, c;   /* input batch, height, width, channels */
    ptrdiff_t ho, wo, o;
    ptrdiff_t kh, kw, sh, sw, dh, dw;
    ptrdiff_t groups, cg, og;
    ptrdiff_t nv;             /* direct: output-channel vectors per tile */
    ptrdiff_t cp;             /* depthwise: row length of the packed kernel (>= C);
                                 stencil: kernels in the bank (0: one for all images) */
    int planar;               /* stencil: y is (N, O, Ho, Wo), an NCHW result */
    int stream;               /* depthwise: whole aligned output vectors stored
                                 non-temporally (set by the kernel itself) */
    const ptrdiff_t *run_start; /* direct's merged rows' run starts and tile breaks
                                   (cl_run_starts), found once a region, or NULL: each
                                   kernel call finds its own */
    /* direct: output pixel (n, oh, ow) starts at y + y0 + n*ysn + oh*ysh + ow*ysw, which is
     * (N, Ho, Wo, O) itself unless the entry point was given a placement (a stride's phase
     * of an input gradient writes every sh-th row and sw-th column of grad_x) */
    ptrdiff_t y0, ysn, ysh, ysw;
};

/* Whether direct's kernels walk a kernel row as one merged tap of kw * C values (groups == 1,
 * no horizontal dilation, a short row): the packed kernel's layout depends on it. */
static inline int cl_merged_rows(const struct cl_conv *a)
{
    return a->groups == 1 && a->dw == 1 && a->kw > 1 && a->kw * a->c <= 256;
}

/* Whether the dot kernel (few output channels, the reduction in SIMD lanes) merges kernel
 * rows: only when a tap's channels would fill less than one vector of `lanes`. */
static inline int cl_dot_merged_rows(const struct cl_conv *a, ptrdiff_t lanes)
{
    return cl_merged_rows(a) && a->cg < lanes;
}

/* run_start[ow] for every output column (direct's merged rows), in O(Wo + padded width): a run
 * of kw consecutive input columns starts at padded column col when the column map names a
 * real column there and counts up by one for the next kw - 1 entries, i.e. when no "break"
 * (an entry not one past the real column before it) lies in (col, col + kw). breaks[i]
 * counts the breaks at 0 < j <= i: a prefix sum, one add a column, where a right-to-left
 * run length (a compare-and-select chain) cost ~10 cycles a column, 8% of a 16000-sample
 * signal's conv when every task built its plan. Checking kw entries per column instead cost
 * Wo * kw per task: 1.3 million steps for an 80-tap kernel, more than the conv itself.
 * tile_breaks[ow], the same kind of prefix count over output columns: the columns 0 < j <= ow
 * whose run is not column j - 1's moved on by sw. Output columns ow .. ow + P - 1 read one
 * strided stretch of the input (column p's run at run_start[ow] + p * sw) when run_start[ow]
 * >= 0 and tile_breaks[ow + P - 1] == tile_breaks[ow]: a tile of them needs no pointer a
 * pixel (direct_kernel.h's strided tiles). */
static inline void cl_run_starts_into(const struct cl_conv *a, ptrdiff_t *run_start,
                                      ptrdiff_t *tile_breaks, ptrdiff_t *breaks)
{
    const int64_t *m = a->col_map;
    const ptrdiff_t width = (a->wo - 1) * a->sw + a->kw;  /* the columns windows read */
    ptrdiff_t count = 0, i = 1;
    breaks[0] = 0;
    /* Breaks are few (a padding's edges): a block of 8 columns is checked for one at once,
     * with adds and ORs the compiler vectorises (a zero difference m[j] - m[j-1] - 1 and a
     * clear sign bit of m[j-1] at every j: no break), and only a block with one is counted
     * column by column (the count's chain alone cost a 16000-sample signal's call 13 us). */
    for (; i + 8 <= width; i += 8) {
        uint64_t any = 0;
        for (int j = 0; j < 8; ++j)
            any |= ((uint64_t)m[i + j] - (uint64_t)m[i + j - 1] - 1)
                   | ((uint64_t)m[i + j - 1] & ((uint64_t)1 << 63));
        if (any)
            for (int j = 0; j < 8; ++j) {
                count += m[i + j - 1] < 0 || m[i + j] != m[i + j - 1] + 1;
                breaks[i + j] = count;
            }
        else
            for (int j = 0; j < 8; ++j)
                breaks[i + j] = count;
    }
    for (; i < width; ++i) {
        count += m[i - 1] < 0 || m[i] != m[i - 1] + 1;
        breaks[i] = count;
    }
    count = 0;
    for (ptrdiff_t ow = 0; ow < a->wo; ++ow) {
        const ptrdiff_t col = ow * a->sw;
        run_start[ow] = m[col] >= 0 && breaks[col + a->kw - 1] == breaks[col] ? m[col] : -1;
        count += ow > 0 && (run_start[ow] < 0 || run_start[ow] != run_start[ow - 1] + a->sw);
        tile_breaks[ow] = count;
    }
}

/* The merged rows' run starts of call a, then their tile breaks (Wo entries each, one
 * malloc'd block: free run_start), or NULL when out of memory. An entry point finds them once
 * for a region; a kernel called alone, per call. */
static inline ptrdiff_t *cl_run_starts(const struct cl_conv *a)
{
    /* run_start, tile_breaks (Wo entries each), then the breaks (the padded width the
     * windows read) */
    ptrdiff_t *run_start = malloc(sizeof(ptrdiff_t) * (size_t)(2 * a->wo + (a->wo - 1) * a->sw
                                                                + a->kw));
    if (run_start)
        cl_run_starts_into(a, run_start, run_start + a->wo, run_start + 2 * a->wo);
    return run_start;
}

#ifndef CL_CHUNK
/* pixels whose indirection a direct kernel builds at once: a multiple of every PIX (12, 8,
 * 6), and the grain of its regions' guided claims (region.h) */
#define CL_CHUNK 192
#endif

/* Compute output pixels q0 <= q < q1 of the flattened (N, Ho, Wo) grid, every channel;
 * 0, or -1 when out of memory (y then holds no result).
 * Direct: w packed (G, nob, kh, kw, cg, nv * lanes), zero-filled past og; bias packed
 * (G, nob, nv * lanes). */
typedef int (*cl_direct_fn)(const struct cl_conv *a, ptrdiff_t q0, ptrdiff_t q1);

#endif
