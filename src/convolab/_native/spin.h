/* Waiting that watches before it sleeps: a thread woken from sleep starts ~50 us late on these
 * machines (a 1 us region on two threads took 50-60 us back to back), so a thread about to
 * wait for something that usually comes soon watches for it first, for CL_SPIN_NS at most.
 * Not longer, and yielding the core as it watches: a waiting thread that spins takes a core
 * from the work (OpenBLAS's idle threads, spinning for milliseconds after a product on two
 * threads, slowed the compiled kernels that ran next 1.5-2x). */
#ifndef CONVOLAB_SPIN_H
#define CONVOLAB_SPIN_H

#include <stdatomic.h>

#ifndef CL_SPIN_NS
#define CL_SPIN_NS 200000  /* 200 us: a layer's Python between two regions is ~10-100 us */
#endif

/* Spin for up to CL_SPIN_NS while *flag == value; whether it changed. */
int cl_watch(const atomic_ulong *flag, unsigned long value);

#endif
