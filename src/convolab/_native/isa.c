/* Which instruction set runs: asked of the CPU once, capped by the caller, filled into
 * cl_kernels. */
#include <string.h>

#include "isa.h"

struct cl_kernels cl_kernels;

static const char *const NAMES[CL_ISA_COUNT] = {"baseline", "avx2", "avx512"};

static int supported(enum cl_isa isa)
{
    switch (isa) {
    case CL_BASELINE:
        return 1;
#if defined(__x86_64__) && defined(__GNUC__)
    /* libgcc's checks include the OS's XSAVE state (xgetbv): a CPU whose AVX-512 registers
     * the kernel does not save reads as not supporting it */
    case CL_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case CL_AVX512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2")
            && __builtin_cpu_supports("fma");
#endif
    default:
        return 0;
    }
}

enum cl_isa cl_isa_best(enum cl_isa cap)
{
    for (int i = (cap < CL_ISA_COUNT ? (int)cap : CL_ISA_COUNT - 1); i > 0; --i)
        if (supported((enum cl_isa)i))
            return (enum cl_isa)i;
    return CL_BASELINE;
}

void cl_isa_use(enum cl_isa isa)
{
    struct cl_kernels k;
    memset(&k, 0, sizeof k);
    k.isa = isa;
    k.name = NAMES[isa];
    switch (isa) {
    case CL_AVX512:
        cl_fill_avx512(&k);
        break;
    case CL_AVX2:
        cl_fill_avx2(&k);
        break;
    default:
        cl_fill_baseline(&k);
        break;
    }
    cl_kernels = k;
}
