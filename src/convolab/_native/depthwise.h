/* Depthwise convolution (groups == C == O): channels in SIMD lanes.
 *
 * w packed (kh, kw, C) (HWIO with its one input channel dropped); bias (C,) or NULL.
 * Computes output pixels q0 <= q < q1 of the flattened (N, Ho, Wo) grid.
 */
#ifndef CONVOLAB_DEPTHWISE_H
#define CONVOLAB_DEPTHWISE_H

#include "direct.h"

typedef int (*cl_depthwise_fn)(const struct cl_conv *a, ptrdiff_t q0, ptrdiff_t q1);

#endif
