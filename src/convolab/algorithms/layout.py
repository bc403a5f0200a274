"""Channels-first arrays to channels-last and back, by the compiled transpose when it can.

The algorithms work channels-last (NHWC); PyTorch's channels-first (NCHW, NCW, NCDHW) is
converted once at the public edge: (N, C, pixels) <-> (N, pixels, C), whatever the rank. NumPy's
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


def contiguous_channels_last(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``x`` (N, *spatial, C), any strides, as a C-contiguous array of ``dtype``.

    A view of a C-contiguous channels-first array (``to_channels_last``'s transpose) goes
    through the compiled transpose; anything else through NumPy.
    """
    if x.flags.c_contiguous and x.dtype == dtype:  # the usual NHWC call: as it is, at once
        return x
    first = np.moveaxis(x, -1, 1)
    if x.flags.c_contiguous or not first.flags.c_contiguous or not _native_ok(x, dtype):
        return np.ascontiguousarray(x, dtype=dtype)
    n, c = x.shape[0], x.shape[-1]
    pixels = x.size // max(n * c, 1)
    return _transpose(first.reshape(n, c, pixels), n, c, pixels).reshape(x.shape)


def channels_first(y: np.ndarray) -> np.ndarray:
    """A C-contiguous (N, *spatial, C) result as a C-contiguous (N, C, *spatial) array."""
    if not (y.flags.c_contiguous and _native_ok(y, y.dtype)):
        return np.ascontiguousarray(np.moveaxis(y, -1, 1))
    n, c = y.shape[0], y.shape[-1]
    pixels = y.size // max(n * c, 1)
    return _transpose(y.reshape(n, pixels, c), n, pixels, c).reshape(n, c, *y.shape[1:-1])
