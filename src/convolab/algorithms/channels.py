"""Per-channel statistics and affine maps of channels-last data by the compiled core
(``_native/channel_kernel.h``): batch normalisation's arithmetic in a few passes over memory.

``x`` is ``(rows, C)``: every axis but the channels flattened (N*H*W rows for NHWC images).
Each function returns None where the core does not run (not built, turned off, another
dtype, a strided array), and the caller computes with NumPy. Sums run in float64 across
blocks of rows, split between the workers by rows.
"""

from __future__ import annotations

import numpy as np

from convolab import _native
from convolab.algorithms import native, scheduler

SERIAL = 1 << 18  # values below which one call on this thread beats waking the workers


def runs(*arrays: np.ndarray) -> bool:
    """Whether the kernels take these ``(rows, C)`` arrays: float32/64, one dtype and shape,
    C-contiguous."""
    first = arrays[0]
    return (native.available() and first.ndim == 2 and first.dtype in (np.float32, np.float64)
            and all(a.dtype == first.dtype and a.shape == first.shape and a.flags.c_contiguous
                    for a in arrays))


def _ranges(rows: int, channels: int) -> list[tuple[int, int]]:
    workers = scheduler.workers()
    if workers <= 1 or rows * channels < SERIAL:
        return [(0, rows)]
    per = -(-rows // (2 * workers))
    return [(r, min(rows, r + per)) for r in range(0, rows, per)]


def sums(x: np.ndarray) -> np.ndarray:
    """Each column's sum, float64: ``(C,)``."""
    rows, c = x.shape
    return native.summed(lambda out, r0, r1: _native.core.channel_sums(0, x, None, None, out, c,
                                                                       r0, r1),
                         _ranges(rows, c), (c,), np.float64)


def mean_var(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each channel's mean and biased variance (the mean of squared deviations from that
    mean, a second pass), in ``x``'s dtype."""
    rows, c = x.shape
    ranges = _ranges(rows, c)
    mean = (sums(x) / rows).astype(x.dtype)
    squares = native.summed(lambda out, r0, r1: _native.core.channel_sums(1, x, None, mean,
                                                                          out, c, r0, r1),
                            ranges, (c,), np.float64)
    return mean, (squares / rows).astype(x.dtype)


def gradient_sums(x: np.ndarray, g: np.ndarray, mean: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """``(sum of g, sum of g * (x - mean))`` per channel, float64."""
    rows, c = x.shape
    both = native.summed(lambda out, r0, r1: _native.core.channel_sums(2, x, g, mean, out, c,
                                                                       r0, r1),
                         _ranges(rows, c), (2 * c,), np.float64)
    return both[:c], both[c:]


def affine(x: np.ndarray, s: np.ndarray, q: np.ndarray, t: np.ndarray,
           g: np.ndarray | None = None, p: np.ndarray | None = None) -> np.ndarray:
    """``g * p + (x - s) * q + t`` per channel (without ``g * p`` when ``g`` is None), in one
    pass: ``(rows, C)`` in ``x``'s dtype."""
    rows, c = x.shape
    out = np.empty_like(x)
    s, q, t = (np.ascontiguousarray(v, x.dtype) for v in (s, q, t))
    p = None if p is None else np.ascontiguousarray(p, x.dtype)
    native.run(lambda r0, r1: _native.core.channel_affine(g, x, s, p, q, t, out, c, r0, r1),
               _ranges(rows, c))
    return out
