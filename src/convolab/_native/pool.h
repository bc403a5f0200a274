/* Pooling (max and average, forward and backward), channels last, any rank up to 3.
 *
 * x is (B, D, H, W, C) and the output grid (B, OD, OH, OW); an image has D = OD = kd = 1, a
 * signal also H = OH = kh = 1. Each axis's windows are a tap map: taps[a][o * k[a] + j] is
 * the input position that tap j of output o reads along axis a, or -1 where it is padding
 * (never read: max pooling's -inf and average pooling's 0 are the identities of the scan and
 * the sum). A window's taps are scanned in row-major order, PyTorch's.
 */
#ifndef CONVOLAB_POOL_H
#define CONVOLAB_POOL_H

#include <stddef.h>
#include <stdint.h>

enum cl_pool_mode {
    CL_POOL_MAX = 0,      /* out = y, the running maximum (a NaN wins); index if not NULL */
    CL_POOL_AVG = 1,      /* out = y, the window's sum divided by div[pixel] */
    CL_POOL_MAX_BACK = 2, /* out = grad_x (added to): g to each window's maximum */
    CL_POOL_AVG_BACK = 3, /* out = grad_x (added to): g / div[pixel] (div NULL: g as given)
                             to every tap */
};

struct cl_pool {
    enum cl_pool_mode mode;
    const void *x;         /* (B, D, H, W, C); unused by CL_POOL_AVG_BACK */
    const void *g;         /* backward: grad_y (B, OD, OH, OW, C) */
    void *out;             /* forward: y (B, OD, OH, OW, C); backward: grad_x like x */
    int64_t *index;        /* CL_POOL_MAX: each maximum's flat position in (D, H, W), or NULL */
    const void *div;       /* CL_POOL_AVG (and CL_POOL_AVG_BACK, or NULL): (OD, OH, OW)
                              divisors */
    const int64_t *taps[3];  /* per axis (out[a], k[a]): -1 or [0, in[a]) */
    ptrdiff_t b, c, in[3], out_[3], k[3];
    int assign;  /* backward: the windows partition the input (every pixel in exactly one), so
                    grad_x is written, not added to, and need not start at zero */
};

/* Output pixels q0 <= q < q1 of the flat (B, OD, OH, OW) grid, every channel; 0, or -1 when
 * out of memory. Backward tasks run side by side only when their windows read disjoint
 * input pixels (the caller splits by image where windows overlap). */
typedef int (*cl_pool_fn)(const struct cl_pool *p, ptrdiff_t q0, ptrdiff_t q1);

#endif
