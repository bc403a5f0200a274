/* cl_watch (spin.h). */
#include "spin.h"

#include <sched.h>
#include <time.h>

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static inline void relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

int cl_watch(const atomic_ulong *flag, unsigned long value)
{
    const long long until = now_ns() + CL_SPIN_NS;
    for (int i = 0;; ++i) {
        if (atomic_load_explicit(flag, memory_order_acquire) != value)
            return 1;
        relax();
        if ((i & 63) == 63) {
            if (now_ns() > until)
                return 0;
            /* a thread with work waiting for this core (the other pool's helper, a BLAS or
             * OpenMP thread) runs now, not after the watch */
            sched_yield();
        }
    }
}
