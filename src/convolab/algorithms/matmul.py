"""Matrix products for the layers (``Dense``'s forward and gradients), with OpenBLAS's own
threads left asleep.

A product that NumPy hands to OpenBLAS with two threads wakes OpenBLAS's other thread, which
then spins, waiting for more work, long after the product is done: on a 2-core machine it
takes a core from the compiled kernels that run next. In a LeNet training step (three
``Dense`` layers between the convolutions) that made the convolutions and poolings 1.5-2x
slower than alone: a step took 37.6 ms, 25.9 with OpenBLAS's spinning cut short
(``OPENBLAS_THREAD_TIMEOUT=4``). Here BLAS runs at one thread: a small product on the calling
thread, a large one split by rows between convolab's workers, one single-threaded BLAS call
each.
"""

from __future__ import annotations

import numpy as np

from convolab.algorithms import blas, scheduler

# Below this many multiply-adds (~0.1-0.2 ms on one core) one thread does the product: waking
# a worker costs more than it saves.
SERIAL_MACS = 1 << 21


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for 2-D ``a`` ``(M, K)`` and ``b`` ``(K, N)`` (any strides: a transposed view
    too): ``(M, N)`` in NumPy's result dtype."""
    m, k = a.shape
    n = b.shape[1]
    workers = scheduler.workers()
    with blas.one_thread():
        if workers <= 1 or m < 2 * workers or m * k * n < SERIAL_MACS:
            return a @ b
        out = np.empty((m, n), np.result_type(a, b))
        step = -(-m // workers)
        blocks = [(i, min(m, i + step)) for i in range(0, m, step)]
        scheduler.run(blocks, lambda r, _: np.matmul(a[r[0]:r[1]], b, out=out[r[0]:r[1]]),
                      len(blocks), limit_blas=False)
    return out
