/* Activations and their derivatives, element by element: one source for every ISA and dtype.
 *
 * Included by isa_template.h (same T, TNAME, VBYTES, ISA). NumPy computes a sigmoid as seven
 * passes over memory (exp, abs, minimum, add, divide, each writing a temporary) and its
 * derivative as three; here each is one pass, whole vectors and a scalar tail.
 *
 * exp: Cody-Waite reduction x = k ln2 + r, |r| <= ln2 / 2, a Taylor polynomial in r (degree
 * 7 for float32: truncation below 5e-9; degree 13 for float64: below 5e-18), times 2^k built
 * in the exponent bits, in two factors so that results down to the subnormals stay right.
 * Only arguments <= 0 are needed (sigmoid's exp(-|x|)); below the smallest subnormal the
 * result is 0.
 */

#if TSIZE == 4
typedef int32_t FN(aivec) __attribute__((vector_size(VBYTES)));
#define ACT_MANT 23
#define ACT_BIAS 127
#define ACT_SHIFT 12582912.0f            /* 1.5 * 2^23: adding it rounds to an integer */
#define ACT_LOWEST -104.0f               /* exp below: < 2^-150, rounds to 0 */
#define ACT_LN2_HI 0.693145751953125f
#define ACT_LN2_LO 1.428606765330187e-06f
#else
typedef int64_t FN(aivec) __attribute__((vector_size(VBYTES)));
#define ACT_MANT 52
#define ACT_BIAS 1023
#define ACT_SHIFT 6755399441055744.0     /* 1.5 * 2^52 */
#define ACT_LOWEST -746.0                /* exp below: < 2^-1076, rounds to 0 */
#define ACT_LN2_HI 0.6931471803691238
#define ACT_LN2_LO 1.9082149292705877e-10
#endif
#define AIVEC FN(aivec)

/* exp(x) for x <= 0, lane by lane. */
CL_INLINE VEC FN(exp_nonpos)(VEC x)
{
    const VEC lowest = (VEC){0} + (T)ACT_LOWEST, shift = (VEC){0} + (T)ACT_SHIFT;
    x = (VEC)(((AIVEC)(x < lowest) & (AIVEC)lowest) | (~(AIVEC)(x < lowest) & (AIVEC)x));
    const VEC kf = (x * (T)1.4426950408889634 + shift) - shift;   /* round(x / ln2) */
    const VEC r = (x - kf * (T)ACT_LN2_HI) - kf * (T)ACT_LN2_LO;
#if TSIZE == 4
    VEC p = (VEC){0} + (T)(1.0 / 5040);
    p = p * r + (T)(1.0 / 720);
    p = p * r + (T)(1.0 / 120);
    p = p * r + (T)(1.0 / 24);
#else
    VEC p = (VEC){0} + (T)(1.0 / 6227020800.0);
    p = p * r + (T)(1.0 / 479001600.0);
    p = p * r + (T)(1.0 / 39916800.0);
    p = p * r + (T)(1.0 / 3628800.0);
    p = p * r + (T)(1.0 / 362880.0);
    p = p * r + (T)(1.0 / 40320.0);
    p = p * r + (T)(1.0 / 5040.0);
    p = p * r + (T)(1.0 / 720.0);
    p = p * r + (T)(1.0 / 120.0);
    p = p * r + (T)(1.0 / 24.0);
#endif
    p = p * r + (T)(1.0 / 6);
    p = p * r + (T)0.5;
    p = p * r + (T)1;
    p = p * r + (T)1;
    /* 2^k as 2^k1 * 2^k2, both normal for every k >= the lowest's */
    const AIVEC k = __builtin_convertvector(kf, AIVEC), k1 = k / 2, k2 = k - k1;
    const VEC s1 = (VEC)((k1 + ACT_BIAS) << ACT_MANT), s2 = (VEC)((k2 + ACT_BIAS) << ACT_MANT);
    return p * s1 * s2;
}

/* sigmoid(x) = 1 / (1 + e) for x >= 0 and e / (1 + e) below, e = exp(-|x|): no overflow. A
 * NaN stays NaN. */
CL_INLINE VEC FN(sigmoid_vec)(VEC x)
{
    const VEC ax = (VEC)((AIVEC)x & ~(AIVEC)(-(VEC){0}));  /* |x|: the sign bit (of -0) off */
    const VEC e = FN(exp_nonpos)(-ax), one = (VEC){0} + (T)1;
    const AIVEC neg = (AIVEC)(x < (VEC){0});
    const VEC num = (VEC)((neg & (AIVEC)e) | (~neg & (AIVEC)one));
    const VEC y = num / (one + e);
    const AIVEC nan = (AIVEC)(x != x);
    return (VEC)((nan & (AIVEC)x) | (~nan & (AIVEC)y));
}

/* The ops, on elements i0 <= i < i1. */
static void FN(act_sigmoid)(const T *x, T *y, ptrdiff_t i0, ptrdiff_t i1)
{
    ptrdiff_t i = i0;
    for (; i + VW <= i1; i += VW)
        *(VEC *)(y + i) = FN(sigmoid_vec)(*(const VEC *)(x + i));
    if (i < i1)
        FN(store_lanes)(y + i, FN(sigmoid_vec)(FN(load_lanes)(x + i, i1 - i)), i1 - i);
}

/* g * (1 - y) * y: the sigmoid's derivative in its output, NumPy's order of operations */
static void FN(act_sigmoid_grad)(const T *g, const T *y, T *out, ptrdiff_t i0, ptrdiff_t i1)
{
    for (ptrdiff_t i = i0; i < i1; ++i)
        out[i] = g[i] * ((T)1 - y[i]) * y[i];
}

/* y > 0 ? g : 0: relu's derivative in its output (PyTorch's threshold_backward: an Inf or
 * NaN gradient where the unit is off gives 0) */
static void FN(act_relu_grad)(const T *g, const T *y, T *out, ptrdiff_t i0, ptrdiff_t i1)
{
    for (ptrdiff_t i = i0; i < i1; ++i)
        out[i] = y[i] > 0 ? g[i] : (T)0;
}

/* max(x, 0) as np.maximum(x, 0) gives it: a NaN stays NaN, -0 gives +0 */
static void FN(act_relu)(const T *x, T *y, ptrdiff_t i0, ptrdiff_t i1)
{
    ptrdiff_t i = i0;
    for (; i + VW <= i1; i += VW) {
        const VEC v = *(const VEC *)(x + i);
        *(VEC *)(y + i) = (VEC)(((AIVEC)(v > (VEC){0}) | (AIVEC)(v != v)) & (AIVEC)v);
    }
    for (; i < i1; ++i)
        y[i] = x[i] > 0 || x[i] != x[i] ? x[i] : (T)0;
}

/* The table entry: op 0 sigmoid (a = x, b unused), 1 sigmoid_grad (a = g, b = y), 2 relu_grad
 * (a = g, b = y), 3 relu (a = x, b unused). */
static void FN(activation)(int op, const void *a, const void *b, void *out, ptrdiff_t i0,
                           ptrdiff_t i1)
{
    switch (op) {
    case 0:
        FN(act_sigmoid)((const T *)a, (T *)out, i0, i1);
        break;
    case 1:
        FN(act_sigmoid_grad)((const T *)a, (const T *)b, (T *)out, i0, i1);
        break;
    case 2:
        FN(act_relu_grad)((const T *)a, (const T *)b, (T *)out, i0, i1);
        break;
    default:
        FN(act_relu)((const T *)a, (T *)out, i0, i1);
        break;
    }
}

#undef AIVEC
#undef ACT_MANT
#undef ACT_BIAS
#undef ACT_SHIFT
#undef ACT_LOWEST
#undef ACT_LN2_HI
#undef ACT_LN2_LO
