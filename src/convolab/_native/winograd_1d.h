/* The shape of Winograd F(4, 3) along a row (winograd_1d_kernel.h), shared by the kernel, its
 * kernel transform and the entry point's checks. */
#ifndef CONVOLAB_WINOGRAD_1D_H
#define CONVOLAB_WINOGRAD_1D_H

#include <stddef.h>

/* G: the groups of three a row's polyphase taps split into. A kernel of kw taps at stride sw
 * has ceil(kw / sw) taps over positions of sw * C values; G is that count over three, rounded
 * up (the taps past it weigh zero). */
static inline ptrdiff_t cl_wino1d_groups(ptrdiff_t kw, ptrdiff_t sw)
{
    return ((kw - 1) / sw + 1 + 2) / 3;  /* kw, sw >= 1: no sum that can overflow */
}

/* Blocks of an output row of wo columns: each 4 * G columns, G tiles of four (the last block
 * may stick out past the row's end). */
static inline ptrdiff_t cl_wino1d_blocks(ptrdiff_t wo, ptrdiff_t g)
{
    return (wo + 4 * g - 1) / (4 * g);
}

#endif
