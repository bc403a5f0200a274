/* dst (cols, rows) = src (rows, cols) transposed, for destination rows j0 <= j < j1 only (so
 * that tasks write disjoint parts). */
#ifndef CONVOLAB_TRANSPOSE_H
#define CONVOLAB_TRANSPOSE_H

#include <stddef.h>

typedef void (*cl_transpose_f32_fn)(const float *src, float *dst, ptrdiff_t rows,
                                    ptrdiff_t cols, ptrdiff_t j0, ptrdiff_t j1);
typedef void (*cl_transpose_f64_fn)(const double *src, double *dst, ptrdiff_t rows,
                                    ptrdiff_t cols, ptrdiff_t j0, ptrdiff_t j1);

#endif
