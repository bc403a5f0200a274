/* The small-call kernel: plain loops over the definition, for convs of a few thousand
 * multiply-adds, where a tiled kernel's packing and a thread's wake-up cost more than the
 * arithmetic (a 4x4 image and a 3x3 kernel: 144 multiply-adds). Padding through the index
 * maps; a padded tap multiplies a real zero, as the definition does. */
#include "small.h"

#define CL_SMALL(T, NAME)                                                                     \
    void NAME(const struct cl_conv *a)                                                        \
    {                                                                                         \
        const T *x = (const T *)a->x, *w = (const T *)a->w, *bias = (const T *)a->bias;      \
        T *y = (T *)a->y;                                                                     \
        for (ptrdiff_t n = 0; n < a->n; ++n)                                                  \
            for (ptrdiff_t oh = 0; oh < a->ho; ++oh)                                          \
                for (ptrdiff_t ow = 0; ow < a->wo; ++ow, y += a->o)                           \
                    for (ptrdiff_t o = 0; o < a->o; ++o) {                                    \
                        const ptrdiff_t c0 = o / a->og * a->cg;                               \
                        T acc = 0;                                                            \
                        for (ptrdiff_t i = 0; i < a->kh; ++i) {                               \
                            const int64_t r = a->row_map[oh * a->sh + i * a->dh];             \
                            for (ptrdiff_t j = 0; j < a->kw; ++j) {                           \
                                const int64_t cc = a->col_map[ow * a->sw + j * a->dw];        \
                                const T *px = x + ((n * a->ih + r) * a->iw + cc) * a->c + c0; \
                                const T *pw = w + (i * a->kw + j) * a->cg * a->o + o;         \
                                for (ptrdiff_t c = 0; c < a->cg; ++c)                         \
                                    acc += (r < 0 || cc < 0 ? (T)0 : px[c]) * pw[c * a->o];   \
                            }                                                                 \
                        }                                                                     \
                        y[o] = bias ? acc + bias[o] : acc;                                    \
                    }                                                                         \
    }

CL_SMALL(float, cl_small_f32)
CL_SMALL(double, cl_small_f64)
