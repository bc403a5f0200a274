/* A channels-first call on the NHWC kernels, its layout changes fused into the region.
 *
 * Converting a whole NCHW batch before the conv and its whole result after moves every byte
 * through memory twice more. Here each chunk of a region (region.h) is a few whole images:
 * they are transposed into the thread's NHWC scratch, which stays in its core's L2, the
 * kernel runs on that into a second scratch, and that is transposed into the NCHW output.
 * Memory sees what an NHWC call sees; the transposes run on cached data. In C, a chunk costs
 * two transposes and a kernel call; as Python tasks it cost three calls, each parsing its
 * arguments and taking the GIL back (LeNet's second layer in NCHW: 1.7x its NHWC time).
 */
#ifndef CONVOLAB_PLANAR_H
#define CONVOLAB_PLANAR_H

#include "direct.h"

struct cl_planar {
    struct cl_conv a;  /* first (cl_planar_chunk gets a pointer to it): x (N, C, H, W) and
                          y (N, O, Ho, Wo) are the caller's channels-first arrays */
    cl_direct_fn fn;   /* the kernel, run on NHWC scratch */
    ptrdiff_t items;   /* its items an image (output pixels, or Winograd's tiles) */
    int f64;           /* the dtype: double, else float */
};

/* Images b0 <= b < b1 of the call a (the first member of a struct cl_planar): a region's
 * chunk. The kernel's result: 0, 1 (Winograd: an output not finite), or -1 when out of
 * memory. */
int cl_planar_chunk(const struct cl_conv *a, ptrdiff_t b0, ptrdiff_t b1);

#endif
