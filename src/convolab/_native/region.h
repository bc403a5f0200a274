/* A parallel region on the native side: one kernel call split over a pool of threads.
 *
 * A conv entry point parses and checks its arguments once, then hands the whole range of
 * items (output pixels, rows, tiles) to cl_region, which runs chunks of it on the calling
 * thread and on up to workers - 1 helper threads, each taking the next chunk as it finishes
 * one. That replaces a Python task per chunk (a queue, a closure, an argument parse, the GIL
 * given back and taken again): ~5-10 us a chunk, where a small layer's chunk computes for
 * 20-50 us.
 */
#ifndef CONVOLAB_REGION_H
#define CONVOLAB_REGION_H

#include "direct.h"

/* most helper threads the pool starts (a region asks for workers - 1 of them) */
#define CL_MAX_HELPERS 63

/* fn over items q0 <= q < q1 in chunks of `chunk` (the last one shorter), on `workers`
 * threads (the caller and helpers; 1, or a chunk covering the range, runs here alone). One
 * region runs at a time: a call that finds one running runs alone on its thread. The result
 * is -1 when any chunk returned -1 (out of memory), else 1 when any returned 1 (Winograd: an
 * output that is not finite), else 0. Called without the GIL; fn must write only its items'
 * outputs.
 * With `grain` > 0 (a kernel whose cost a call does not grow with its range: direct's), the
 * threads claim guided shares instead, each a multiple of `grain` items: a fourth of what is
 * left between two threads, one grain at least. The first claims are long runs of
 * neighbouring items, and the last thread to finish waits for one grain's work at most, not
 * for most of a chunk's (a stem's chunk is ~0.15 ms). */
int cl_region(cl_direct_fn fn, const struct cl_conv *a, ptrdiff_t q0, ptrdiff_t q1,
              ptrdiff_t chunk, int workers, ptrdiff_t grain);

#endif
