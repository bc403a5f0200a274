"""Max and average pooling, forward and backward, by the compiled core (``_native/pool_kernel.h``).

Channels sit in SIMD lanes and each output pixel scans its window's taps once; padding is a
tap map per axis (-1: not read), so no padded copy is made. The values are those of the NumPy
engine in ``ops/pooling.py`` (the same scan, the same order of the sums); only an average
window's backward adds overlapping contributions in another order. Arrays are canonical
``(B, *spatial, C)``; ``ops.pooling`` validates and resolves everything before.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from convolab import _native
from convolab.algorithms import native, scheduler

MAX, AVG, MAX_BACK, AVG_BACK = range(4)  # enum cl_pool_mode
MAX_TAPS = 1 << 24  # the kernel carries tap numbers in float32 lanes: exact below this
SERIAL_WORK = 1 << 18  # channel-taps below which one call on this thread beats waking workers
TASKS_PER_WORKER = 4


@dataclass(frozen=True)
class Windows:
    """A pooling's windows, as the kernel takes them: shapes padded to rank 3 in front (a
    signal is one row of an image, an image one plane of a volume) and one tap map per axis,
    ``(out, k)`` int64: the input position each tap reads, or -1 for padding."""

    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]
    size: tuple[int, int, int]
    maps: tuple[np.ndarray, np.ndarray, np.ndarray]
    overlap: bool  # whether two windows can read the same input pixel
    partition: bool  # whether every input pixel is in exactly one window

    @classmethod
    def of(cls, in_shape: tuple[int, ...], out_shape: tuple[int, ...],
           pool_size: tuple[int, ...], strides: tuple[int, ...], dilation: tuple[int, ...],
           before: tuple[int, ...]) -> Windows:
        """The windows of a resolved pooling (``before``: each axis's padding before)."""
        maps, overlap, partition = [], False, True
        for n, o, k, s, d, b in zip(in_shape, out_shape, pool_size, strides, dilation, before):
            pos = (np.arange(o) * s - b)[:, None] + np.arange(k)[None, :] * d
            maps.append(np.ascontiguousarray(np.where((pos >= 0) & (pos < n), pos, -1),
                                             np.int64))
            overlap |= s < d * (k - 1) + 1
            partition &= n == o * k and bool((pos.ravel() == np.arange(o * k)).all())
        pad = 3 - len(in_shape)
        one = np.zeros((1, 1), np.int64)
        return cls((1,) * pad + tuple(in_shape), (1,) * pad + tuple(out_shape),
                   (1,) * pad + tuple(pool_size), tuple([one] * pad + maps), overlap,
                   partition)

    @property
    def taps(self) -> int:
        return math.prod(self.size)


def supports(x: np.ndarray, rank: int, taps: int) -> bool:
    """Whether the compiled kernel runs this pooling (float32/64, rank <= 3, a window of
    fewer than ``MAX_TAPS`` taps)."""
    return (native.available() and x.dtype in (np.float32, np.float64) and rank <= 3
            and taps < MAX_TAPS)


def _run(mode: int, x: np.ndarray | None, g: np.ndarray | None, out: np.ndarray,
         index: np.ndarray | None, div: np.ndarray | None, w: Windows, batch: int,
         channels: int) -> None:
    """The kernel over every output pixel, split into tasks on the workers when it is large;
    a backward pass with overlapping windows splits only between images."""
    grid = math.prod(w.out_shape)
    pixels = batch * grid
    dims = (batch, channels, *w.in_shape, *w.out_shape, *w.size)
    workers = scheduler.workers()
    step = grid if mode >= MAX_BACK and w.overlap else 1  # a task's pixels: whole images
    units = pixels // step
    if workers <= 1 or units <= 1 or pixels * channels * w.taps < SERIAL_WORK:
        bounds = [(0, pixels)]
    else:
        tasks = min(units, workers * TASKS_PER_WORKER)
        per = -(-units // tasks) * step
        bounds = [(q, min(pixels, q + per)) for q in range(0, pixels, per)]
    assign = mode >= MAX_BACK and w.partition
    native.run(lambda q0, q1: _native.core.pool(mode, x, g, out, index, div, *w.maps, dims,
                                                q0, q1, assign), bounds)


def max_forward(x: np.ndarray, w: Windows, want_index: bool
                ) -> tuple[np.ndarray, np.ndarray | None]:
    """``(B, *spatial, C) -> (B, *out, C)``, the maxima, and PyTorch's indices (each
    maximum's flat position in its channel's spatial input, int64) if asked."""
    x = np.ascontiguousarray(x)
    b, c = x.shape[0], x.shape[-1]
    shape = (b, *w.out_shape[3 - (x.ndim - 2):], c)
    y = np.empty(shape, x.dtype)
    index = np.empty(shape, np.int64) if want_index else None
    _run(MAX, x, None, y, index, None, w, b, c)
    return y, index


def _divisors(div: np.ndarray, out: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """``div`` (anything that broadcasts to ``(1, *out, 1)``) as the kernel's flat grid."""
    return np.ascontiguousarray(np.broadcast_to(div, (1, *out, 1)), dtype).reshape(-1)


def avg_forward(x: np.ndarray, w: Windows, div: np.ndarray) -> np.ndarray:
    """``(B, *spatial, C) -> (B, *out, C)``: each window's sum (its taps inside the input in
    row-major order) divided by ``div`` (anything that broadcasts to ``(1, *out, 1)``)."""
    x = np.ascontiguousarray(x)
    b, c = x.shape[0], x.shape[-1]
    out = w.out_shape[3 - (x.ndim - 2):]
    y = np.empty((b, *out, c), x.dtype)
    _run(AVG, x, None, y, None, _divisors(div, out, x.dtype), w, b, c)
    return y


def max_backward(x: np.ndarray, gy: np.ndarray, w: Windows) -> np.ndarray:
    """``dL/dx`` ``(B, *spatial, C)``: each output's gradient ``gy`` to its window's maximum."""
    x, gy = np.ascontiguousarray(x), np.ascontiguousarray(gy, x.dtype)
    gx = np.empty_like(x) if w.partition else np.zeros_like(x)  # a partition writes every pixel
    _run(MAX_BACK, x, gy, gx, None, None, w, x.shape[0], x.shape[-1])
    return gx


def avg_backward(g: np.ndarray, in_shape: tuple[int, ...], w: Windows,
                 div: np.ndarray) -> np.ndarray:
    """``dL/dx`` of shape ``in_shape`` ``(B, *spatial, C)``: each output's ``g`` divided by its
    window's divisor ``div`` (as :func:`avg_forward` takes it; divided in the kernel, as NumPy's
    ``g / div`` rounds, without that pass over ``g``) added to every input pixel its window
    reads."""
    g = np.ascontiguousarray(g)
    gx = np.empty(in_shape, g.dtype) if w.partition else np.zeros(in_shape, g.dtype)
    _run(AVG_BACK, None, g, gx, None, _divisors(div, g.shape[1:-1], g.dtype), w, in_shape[0],
         in_shape[-1])
    return gx
