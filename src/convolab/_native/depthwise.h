/* Depthwise convolution (groups == C == O): channels in SIMD lanes.
 *
 * w packed (kh, kw, C) (HWIO with its one input channel dropped); bias (C,) or NULL.
 * Computes output pixels q0 <= q < q1 of the flattened (N, Ho, Wo) grid.
 */
#ifndef CONVOLAB_DEPTHWISE_H
#define CONVOLAB_DEPTHWISE_H

#include "direct.h"

typedef cl_direct_fn cl_depthwise_fn;

#endif
