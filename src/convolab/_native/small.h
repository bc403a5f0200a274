/* The small-call kernel: a conv too small for tiles, threads or packing (a few thousand
 * multiply-adds), straight from HWIO weights. */
#ifndef CONVOLAB_SMALL_H
#define CONVOLAB_SMALL_H

#include "direct.h"

/* y (N, Ho, Wo, O) = conv of x with w (kh, kw, cg, O) HWIO, bias (O,) or NULL, every pixel. */
void cl_small_f32(const struct cl_conv *a);
void cl_small_f64(const struct cl_conv *a);

#endif
