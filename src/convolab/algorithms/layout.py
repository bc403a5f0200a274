"""Channels-first arrays to channels-last and back, by the compiled transpose when it can.

The algorithms work on NHWC; PyTorch's NCHW is converted once at the public edge. NumPy's
strided copy converts at a fifth of copy speed (``(16, 64, 56, 56)`` float32: 4.7 ms, a plain
copy 1.2); the compiled 8 x 8 shuffle transpose (``_native/transpose_kernel.h``) takes 1.5 ms on
one core, and runs on every worker.
"""

from __future__ import annotations

import numpy as np

from convolab import _native
from convolab.algorithms import native, scheduler

SMALL = 1 << 16  # bytes below which NumPy's copy is as fast as calling the kernel
TASK_BYTES = 1 << 20  # bytes a task transposes, about


def _transpose(src: np.ndarray, batch: int, rows: int, cols: int) -> np.ndarray:
    """``src`` (batch, rows, cols), C-contiguous, as a new (batch, cols, rows) array.

    Tasks of ~1 MiB: groups of whole matrices when there are many, else bands of each one's
    destination rows (LeNet's 64 images of 6 x 784 in 64 tasks paid 0.6 ms of hand-outs).
    """
    dst = np.empty((batch, cols, rows), src.dtype)
    per_matrix = rows * cols * src.itemsize
    n_tasks = max(1, min(scheduler.workers() * native.TASKS_PER_WORKER,
                         batch * per_matrix // TASK_BYTES))
    if n_tasks <= batch:  # whole matrices a task
        step = -(-batch // n_tasks)
        tasks = [(b, min(batch, b + step), 0, cols) for b in range(0, batch, step)]
    else:  # bands of rows of each matrix
        step = -(-cols // -(-n_tasks // batch))
        tasks = [(b, b + 1, j, min(cols, j + step)) for b in range(batch)
                 for j in range(0, cols, step)]
    native.run(lambda b0, b1, j0, j1: _native.core.transpose(src, dst, batch, rows, cols, b0, b1,
                                                             j0, j1), tasks)
    return dst


def _native_ok(a: np.ndarray, dtype: np.dtype) -> bool:
    return (_native.available() and a.dtype == dtype and dtype in (np.float32, np.float64)
            and a.nbytes >= SMALL)


def contiguous_nhwc(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``x`` (N, H, W, C), any strides, as a C-contiguous array of ``dtype``.

    A view of a C-contiguous NCHW array (``to_nhwc``'s transpose) goes through the compiled
    transpose; anything else through NumPy.
    """
    nchw = x.transpose(0, 3, 1, 2)
    if x.flags.c_contiguous or not nchw.flags.c_contiguous or not _native_ok(x, dtype):
        return np.ascontiguousarray(x, dtype=dtype)
    n, h, w, c = x.shape
    return _transpose(nchw.reshape(n, c, h * w), n, c, h * w).reshape(n, h, w, c)


def nchw(y: np.ndarray) -> np.ndarray:
    """A C-contiguous (N, H, W, C) result as a C-contiguous (N, C, H, W) array."""
    if not (y.flags.c_contiguous and _native_ok(y, y.dtype)):
        return np.ascontiguousarray(y.transpose(0, 3, 1, 2))
    n, h, w, c = y.shape
    return _transpose(y.reshape(n, h * w, c), n, h * w, c).reshape(n, c, h, w)
