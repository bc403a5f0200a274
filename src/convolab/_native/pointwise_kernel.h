/* A 1x1 convolution in channels-first layout, read as it lies: per image, a matrix product.
 *
 * Included by isa_template.h once per dtype, after direct_kernel.h (whose reduction it runs).
 * x is (N, C, S), y (N, O, S) (S: the spatial size, flattened), w the caller's (O, C) kernel,
 * bias (O,) or NULL: y[n][o][s] = bias[o] + sum_c w[o][c] * x[n][c][s]. Through the NHWC
 * kernels this layer's two transposes took longer than the conv itself (pw1x1, 256 -> 64
 * channels on 28x28: 3.6 ms in NCHW against 2.3 in NHWC). Here the roles of direct's tile
 * swap: a tile is PIX output channels (rows of w, whose values are broadcast) x NV vectors of
 * consecutive pixels (x's rows, loaded as direct loads its packed weights), summed over C
 * with every product the definition has, in order of c.
 */

/* Output channels o0 .. o0 + rows - 1 (w, y and bias at their row o0) of nv vectors of
 * pixels from x (at the block's first pixel, channel 0). */
CL_INLINE void FN(pw_tile)(const int rows, const int nv, const T *w, ptrdiff_t c,
                           const T *x, ptrdiff_t s, const T *bias, T *y)
{
    VEC acc[64] __attribute__((aligned(64)));
#pragma GCC unroll 16
    for (int r = 0; r < rows; ++r)
#pragma GCC unroll 4
        for (int j = 0; j < nv; ++j)
            acc[r * nv + j] = (VEC){0} + (bias ? bias[r] : (T)0);
    /* a strided tile of `rows` pixels c apart: w's rows, one tap of c channels */
    FN(direct_reduce)(rows, nv, 1, &w, 0, x, 1, c, 0, c, acc, 0, NULL, s);
#pragma GCC unroll 16
    for (int r = 0; r < rows; ++r)
#pragma GCC unroll 4
        for (int j = 0; j < nv; ++j)
            *(VEC *)(y + r * s + j * VW) = acc[r * nv + j];
}

/* FN(pw_tile_ROWSxNV); NV PW_NV is named by the macro's name: pw_tile_6xPW_NV */
#define CL_PW_TILE(ROWS, NV)                                                                  \
    static __attribute__((noinline)) void FN(pw_tile_##ROWS##x##NV)(                          \
        const T *w, ptrdiff_t c, const T *x, ptrdiff_t s, const T *bias, T *y)                \
    {                                                                                         \
        FN(pw_tile)(ROWS, NV, w, c, x, s, bias, y);                                           \
    }

#if PIX4
#define PW_NV 4
#define PW_ROWS PIX4
#else
#define PW_NV 2
#define PW_ROWS PIX2
#endif
_Static_assert(PW_ROWS == 6, "pointwise_cf's tables hold tiles of 1 to 6 rows");
CL_PW_TILE(6, PW_NV)
CL_PW_TILE(5, PW_NV)
CL_PW_TILE(4, PW_NV)
CL_PW_TILE(3, PW_NV)
CL_PW_TILE(2, PW_NV)
CL_PW_TILE(1, PW_NV)
CL_PW_TILE(6, 1)
CL_PW_TILE(5, 1)
CL_PW_TILE(4, 1)
CL_PW_TILE(3, 1)
CL_PW_TILE(2, 1)
CL_PW_TILE(1, 1)

typedef void (*FN(pw_tile_fn))(const T *, ptrdiff_t, const T *, ptrdiff_t, const T *, T *);

/* Every output channel of pixels s0 .. s1 of one image (x, y at the image), by tiles of
 * `width` pixels: tiles[6] (6 channels) while 6 are left, then the last few channels as one
 * tile (tiles[1..5]: 64 channels ran 4 single-channel tiles, a tenth of the time). */
CL_INLINE void FN(pw_columns)(const ptrdiff_t width, const FN(pw_tile_fn) tiles[7],
                              const struct cl_conv *a, const T *x, T *y, ptrdiff_t s0,
                              ptrdiff_t s1)
{
    const ptrdiff_t c = a->c, o = a->o, s = a->iw, last = o / 6 * 6;
    const T *w = (const T *)a->w, *bias = (const T *)a->bias;
    for (ptrdiff_t p = s0; p + width <= s1; p += width) {
        for (ptrdiff_t r = 0; r < o; r += 6)
            tiles[r < last ? 6 : o - r](w + r * c, c, x + p, s, bias ? bias + r : NULL,
                                        y + r * s + p);
    }
}

/* Pixels q0 <= q < q1 of the flat (N, S) grid (geometry: ih = 1, iw = S, 1x1, stride 1):
 * blocks of PW_NV vectors, then single vectors, then a last few pixels one at a time. */
static int FN(pointwise_cf)(const struct cl_conv *a, ptrdiff_t q0, ptrdiff_t q1)
{
    static const FN(pw_tile_fn) wide[7] = {
        NULL, FN(pw_tile_1xPW_NV), FN(pw_tile_2xPW_NV), FN(pw_tile_3xPW_NV),
        FN(pw_tile_4xPW_NV), FN(pw_tile_5xPW_NV), FN(pw_tile_6xPW_NV)};
    /* single vectors (an image's last pixels) */
    static const FN(pw_tile_fn) narrow[7] = {
        NULL, FN(pw_tile_1x1), FN(pw_tile_2x1), FN(pw_tile_3x1), FN(pw_tile_4x1),
        FN(pw_tile_5x1), FN(pw_tile_6x1)};
    const ptrdiff_t c = a->c, o = a->o, s = a->iw, blk = PW_NV * VW;
    const T *w = (const T *)a->w, *bias = (const T *)a->bias;
    for (ptrdiff_t q = q0; q < q1;) {
        const ptrdiff_t n = q / s, s0 = q - n * s, s1 = q1 - n * s < s ? q1 - n * s : s;
        const T *x = (const T *)a->x + n * c * s;
        T *y = (T *)a->y + n * o * s;
        const ptrdiff_t full = s0 + (s1 - s0) / blk * blk;
        const ptrdiff_t vecs = full + (s1 - full) / VW * VW;
        FN(pw_columns)(blk, wide, a, x, y, s0, full);
        FN(pw_columns)(VW, narrow, a, x, y, full, vecs);
        for (ptrdiff_t r = 0; r < o; ++r)
            for (ptrdiff_t p = vecs; p < s1; ++p) {
                T sum = bias ? bias[r] : (T)0;
                for (ptrdiff_t k = 0; k < c; ++k)
                    sum += w[r * c + k] * x[k * s + p];
                y[r * s + p] = sum;
            }
        q = n * s + s1;
    }
    return 0;
}
#undef PW_NV
#undef PW_ROWS
