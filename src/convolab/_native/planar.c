/* cl_planar_chunk (planar.h): per thread, one scratch reused from chunk to chunk. */
#include "planar.h"

#include "isa.h"

/* the thread's scratch, grown as needed and kept (a helper thread runs many regions; freeing
 * it after each chunk would fault its pages in again every time) */
static __thread void *scratch;
static __thread size_t scratch_bytes;

static void *thread_scratch(size_t bytes)
{
    if (bytes <= scratch_bytes)
        return scratch;
    free(scratch);
    scratch_bytes = 0;
    if (posix_memalign(&scratch, 64, bytes) != 0) {
        scratch = NULL;
        return NULL;
    }
    scratch_bytes = bytes;
    return scratch;
}

/* dst[b] (cols, rows) = src[b] (rows, cols) for `count` matrices */
static void transpose_all(int f64, const void *src, void *dst, ptrdiff_t count, ptrdiff_t rows,
                          ptrdiff_t cols)
{
    for (ptrdiff_t b = 0; b < count; ++b) {
        const ptrdiff_t off = b * rows * cols;
        if (f64)
            cl_kernels.transpose_f64((const double *)src + off, (double *)dst + off, rows, cols,
                                     0, cols);
        else
            cl_kernels.transpose_f32((const float *)src + off, (float *)dst + off, rows, cols,
                                     0, cols);
    }
}

int cl_planar_chunk(const struct cl_conv *a, ptrdiff_t b0, ptrdiff_t b1)
{
    const struct cl_planar *pl = (const struct cl_planar *)a;
    const ptrdiff_t images = b1 - b0, size = pl->f64 ? 8 : 4;
    const ptrdiff_t pixels = a->ih * a->iw, out_pixels = a->ho * a->wo;
    /* 64-byte aligned, both: the depthwise kernel's packing assumes x's alignment */
    const ptrdiff_t x_bytes = (images * pixels * a->c * size + 63) / 64 * 64;
    char *xs = thread_scratch((size_t)(x_bytes + images * out_pixels * a->o * size));
    if (!xs)
        return -1;
    char *ys = xs + x_bytes;
    transpose_all(pl->f64, (const char *)a->x + b0 * a->c * pixels * size, xs, images, a->c,
                  pixels);
    struct cl_conv here = *a;
    here.x = xs;
    here.y = ys;
    here.n = here.np = images;
    const int rc = pl->fn(&here, 0, images * pl->items);
    if (rc >= 0)
        transpose_all(pl->f64, ys, (char *)a->y + b0 * a->o * out_pixels * size, images,
                      out_pixels, a->o);
    return rc;
}
