/* Layout changes at memory speed: a row-major (rows, cols) matrix to (cols, rows).
 *
 * Included by isa_template.h once per dtype (T, TNAME, ISA). NCHW -> NHWC is, per image,
 * (C, H*W) -> (H*W, C); NHWC -> NCHW is (H*W, O) -> (O, H*W). NumPy's strided copy does this
 * at a fifth of copy speed (12 MiB in 4.7 ms; a copy takes 1.2), about as fast as a scalar
 * blocked loop here. So the matrix is walked in 64 x 64 cache blocks, each as 8 x 8 tiles:
 * eight row loads, three rounds of shuffles (unpack pairs, then pairs of pairs, then halves),
 * eight row stores, all in registers. Ragged edges are copied one value at a time.
 */


typedef T FN(v8) __attribute__((vector_size(8 * sizeof(T)), aligned(sizeof(T))));
#if TSIZE == 8
typedef long long FN(m8) __attribute__((vector_size(64)));
#else
typedef int FN(m8) __attribute__((vector_size(32)));
#endif
#define V8 FN(v8)
#define M8 FN(m8)

/* out[j][i] = r[i][j]: an 8 x 8 transpose in registers. */
CL_INLINE void FN(transpose8)(const V8 r[8], V8 out[8])
{
    V8 t[8], u[8];
    for (int k = 0; k < 8; k += 2) {
        t[k] = __builtin_shuffle(r[k], r[k + 1], (M8){0, 8, 1, 9, 4, 12, 5, 13});
        t[k + 1] = __builtin_shuffle(r[k], r[k + 1], (M8){2, 10, 3, 11, 6, 14, 7, 15});
    }
    for (int k = 0; k < 8; k += 4) {
        for (int h = 0; h < 2; ++h) {
            u[k + 2 * h] = __builtin_shuffle(t[k + h], t[k + h + 2],
                                             (M8){0, 1, 8, 9, 4, 5, 12, 13});
            u[k + 2 * h + 1] = __builtin_shuffle(t[k + h], t[k + h + 2],
                                                 (M8){2, 3, 10, 11, 6, 7, 14, 15});
        }
    }
    for (int k = 0; k < 4; ++k) {
        out[k] = __builtin_shuffle(u[k], u[k + 4], (M8){0, 1, 2, 3, 8, 9, 10, 11});
        out[k + 4] = __builtin_shuffle(u[k], u[k + 4], (M8){4, 5, 6, 7, 12, 13, 14, 15});
    }
}

/* dst[j][i] = src[i][j] for an 8 x 8 tile (row strides ls, ld). */
CL_INLINE void FN(tile8)(const T *src, ptrdiff_t ls, T *dst, ptrdiff_t ld)
{
    V8 r[8], out[8];
    for (int k = 0; k < 8; ++k)
        r[k] = *(const V8 *)(src + k * ls);
    FN(transpose8)(r, out);
    for (int k = 0; k < 8; ++k)
        *(V8 *)(dst + k * ld) = out[k];
}

/* Columns j0 <= j < j1 of a matrix of rows < 8 (a few channels: LeNet's 6, RGB's 3) into a
 * dense dst (ld == rows), 8 columns a step: the rows' 8 values each, transposed as a tile
 * with zero rows below, and its 8 output rows stored in order, each 8 values wide, so that
 * each store's values past `rows` are overwritten by the next (a scalar loop a value was
 * most of LeNet's second layer's channels-first cost). A step runs only while the last
 * store's overhang stays inside column j1's start: what is left goes to the caller's
 * scalar loop, which overwrites the overhang; nothing is written outside columns < j1. */
static ptrdiff_t FN(transpose_few_rows)(const T *src, T *dst, ptrdiff_t rows, ptrdiff_t cols,
                                        ptrdiff_t j0, ptrdiff_t j1)
{
    ptrdiff_t j = j0;
    for (; (j + 7) * rows + 8 <= j1 * rows; j += 8) {
        V8 r[8], out[8];
        for (int k = 0; k < 8; ++k)
            r[k] = k < rows ? *(const V8 *)(src + k * cols + j) : (V8){0};
        FN(transpose8)(r, out);
        for (int k = 0; k < 8; ++k)
            *(V8 *)(dst + (j + k) * rows) = out[k];
    }
    return j;
}

/* dst (cols, rows) = src (rows, cols)^T, destination rows j0 <= j < j1, ld apart (>= rows:
 * the stencil's deinterleaved planes are padded rows). */
static void FN(transpose_to)(const T *src, T *dst, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t ld,
                             ptrdiff_t j0, ptrdiff_t j1)
{
    if (rows < 8 && ld == rows)
        j0 = FN(transpose_few_rows)(src, dst, rows, cols, j0, j1);
    for (ptrdiff_t jb = j0; jb < j1; jb += 64) {
        const ptrdiff_t je = j1 - jb < 64 ? j1 : jb + 64;
        for (ptrdiff_t ib = 0; ib < rows; ib += 64) {
            const ptrdiff_t ie = rows - ib < 64 ? rows : ib + 64;
            ptrdiff_t j = jb;
            for (; j + 8 <= je; j += 8) {
                ptrdiff_t i = ib;
                for (; i + 8 <= ie; i += 8)
                    FN(tile8)(src + i * cols + j, cols, dst + j * ld + i, ld);
                for (; i < ie; ++i)
                    for (ptrdiff_t jj = j; jj < j + 8; ++jj)
                        dst[jj * ld + i] = src[i * cols + jj];
            }
            for (; j < je; ++j)
                for (ptrdiff_t i = ib; i < ie; ++i)
                    dst[j * ld + i] = src[i * cols + j];
        }
    }
}

static void FN(transpose)(const T *src, T *dst, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t j0,
                          ptrdiff_t j1)
{
    FN(transpose_to)(src, dst, rows, cols, rows, j0, j1);
}

#undef V8
#undef M8
