"""Image filters: a kernel shared by a few interleaved channels, and separable kernels as two
1-D passes.

Two facts about filtering an image make it cheaper than a general depthwise conv:

1. **One kernel for every channel** (``corr2d`` of a colour image, the CLI's ``filter``). An
   NHWC image ``(H, W, C)`` is then a one-channel image ``(H, W*C)``: output value ``(i, j, c)``
   at flat column ``j*C + c`` reads flat columns ``(j + b*dw)*C + c``, i.e. the kernel with a
   horizontal dilation of ``C*dw``, and the border through the column map, pixel by pixel::

       x (N, H, W, C) -> (N, H, W*C)      col_map'[q*C + c] = col_map[q]*C + c   (or -1)

   so the compiled one-channel stencil (``_native/stencil_kernel.h``) runs it as it lies: no
   plane copied out or back (``direct_stencil``'s per-plane mode copies each one), every SIMD
   lane busy (``direct_depthwise`` fills 3 of 16 for RGB). 8192x8192x3 float32, 7x7, on 2
   cores: 0.32-0.34 s, as ``cv2.filter2D`` (0.33), both allocating their output; 0.28 s of it
   is the pass itself (``benchmarks/filter_big.py``).

2. **A rank-1 kernel** ``k = outer(col, row)`` (Gaussian, box, Sobel, Prewitt, Scharr)::

       y[i, j] = sum_b row[b] * t[i, j*sw + b*dw]      t[i, q] = sum_a col[a] * xp[i*sh + a*dh, q]

   ``kh + kw`` taps a pixel instead of ``kh * kw``. The vertical pass reads the image through
   the row map and keeps every column (no column padding); the horizontal pass reads ``t``
   through the column map: padding maps are per axis, so the padded image of the definition is
   exactly the one the two passes see. ``t`` lives in bands of rows sized for the cache
   (``BAND_BYTES``), one per worker, never as a whole image. Each pass costs more than its taps
   (a row copied into the kernel's ring, a row stored: the band twice), so they pay from about
   9x9 on; 8192x8192x3 float32, one pass against two: 5x5 0.27 s / 0.40, 7x7 0.34 / 0.43, 9x9
   0.48 / 0.42, 11x11 0.69 / 0.50, 15x15 1.14 / 0.51 (``cv2.filter2D``: 0.24, 0.33, 0.47, 0.74,
   3.2), hence ``TWO_PASS_SAVES``.

A kernel is rank 1 when :func:`factors` finds ``col`` and ``row`` (in the working dtype) with
``col[a] * row[b] == k[a, b]`` to ``TOLERANCE`` units of rounding, and zero exactly where
``k`` is: an exact test, not an SVD's "nearly". The two passes round differently from one
(the intermediate ``t`` is rounded to the dtype): the result is the definition's to float
rounding (errors relative to ``sum |k| |x|``), as every algorithm's is.

Inf and NaN: with the zero pattern exact, an Inf or NaN reaches the same outputs through the
two passes as through the definition (``k[a, b] == 0`` exactly when ``col[a]`` or ``row[b]``
is, so ``0 * inf`` forms in both or in neither). An intermediate can still overflow where the
definition's sum does not, so any band whose result is not finite is recomputed by one 2-D
pass, which multiplies exactly the definition's products: non-finite values end up where the
definition puts them.

What "auto" cannot see: a cost model prices shapes (:class:`~convolab.algorithms.problem.
ConvProblem` holds no values), and whether channels share a kernel or a kernel factors is a
property of the values. So this algorithm is priced as what it falls back to (``direct_stencil``,
else ``direct_depthwise``, else ``depthwise``) and "auto" never picks it; a caller that knows
its kernel (the CLI's ``filter``) asks for it with ``algorithm="separable"``. Kernels that
differ by channel run as two NumPy passes when each factors, else on the fallback; so do
horizontal strides above 1 and machines without the compiled core.
"""

from __future__ import annotations

import dataclasses
import math
from types import ModuleType

import numpy as np

from convolab import _native
from convolab.algorithms import (
    depthwise,
    direct_depthwise,
    direct_stencil,
    im2col,
    native,
    scheduler,
)
from convolab.algorithms.cost import Cost
from convolab.algorithms.finite import all_finite
from convolab.algorithms.problem import ConvProblem

NAME = "separable"
REQUIRES = ("groups equal to the input and output channels (one channel, or depthwise without "
            "a channel multiplier)")
TOLERANCE = 4  # units of the dtype's eps: measured <= 2.3 on every Gaussian up to 6 sigma
# Two passes when they save this many taps a pixel: a pass costs about 60 taps' worth of
# reading, writing and calls (see the module's text: 7x7 saves 35 and loses, 9x9 saves 63 and
# wins, on 2 cores; a 7x1 pass alone takes 0.17 s on 8192x8192x3, the 7x7 pass 0.28)
TWO_PASS_SAVES = 60
BAND_BYTES = 8 << 20  # the intermediate band of a worker: measured 6-8 MiB best (L2 is 2 MiB)
MIN_ROWS = 16  # output rows of a one-pass task, at least (as direct_stencil's)


def supports(p: ConvProblem) -> bool:
    return p.groups == p.x_shape[-1] == p.w_shape[-1]


def factors(k: np.ndarray, dtype: np.dtype | type = np.float64
            ) -> tuple[np.ndarray, np.ndarray] | None:
    """``(col, row)`` of a rank-1 kernel, ``k[a, b] == col[a] * row[b]``, in ``dtype``; None if
    ``k`` (kh, kw) is not rank 1 (or holds an Inf or NaN).

    Exact: every product is ``k[a, b]`` to ``TOLERANCE`` eps of ``dtype`` (relative), and is
    zero exactly where ``k[a, b]`` is, one factor being zero. The factors are a column and a
    row of ``k`` through its largest value, scaled by a power of two (exactly) so that both
    reach about ``sqrt(max |k|)``.

    >>> col, row = factors(np.outer([1.0, 2.0, 1.0], [-1.0, 0.0, 1.0]))  # Sobel, d/dx
    >>> np.outer(col, row)
    array([[-1.,  0.,  1.],
           [-2.,  0.,  2.],
           [-1.,  0.,  1.]])
    >>> factors(np.array([[0.0, 1.0], [1.0, 0.0]])) is None
    True
    """
    dtype = np.dtype(dtype)
    k = np.asarray(k, np.float64)
    if not np.isfinite(k).all():
        return None
    p, q = np.unravel_index(np.argmax(np.abs(k)), k.shape)
    if k[p, q] == 0:
        col, row = np.zeros(k.shape[0]), np.zeros(k.shape[1])
    else:  # col * 2^-e and row * 2^e, 2^e ~ sqrt(|pivot|): both scaled exactly
        e = math.frexp(abs(k[p, q]))[1] // 2
        col, row = np.ldexp(k[:, q], -e), np.ldexp(k[p, :] / k[p, q], e)
    col, row = col.astype(dtype), row.astype(dtype)
    c64, r64 = col.astype(np.float64), row.astype(np.float64)
    if not np.array_equal((c64 == 0)[:, None] | (r64 == 0)[None, :], k == 0):
        return None
    info = np.finfo(dtype)
    close = np.abs(np.outer(c64, r64) - k) <= TOLERANCE * info.eps * np.abs(k) + info.tiny
    return (col, row) if close.all() else None


def _fallback(p: ConvProblem) -> ModuleType:
    """What runs a kernel that neither is shared nor factors: the compiled one-channel filter
    plane by plane, else the compiled depthwise kernel, else NumPy's shift-and-add."""
    for module in (direct_stencil, direct_depthwise):
        if module.supports(p):
            return module
    return depthwise


def _compiled(p: ConvProblem) -> bool:
    """Whether the compiled stencil can run the interleaved image: horizontal stride 1."""
    return native.available() and p.geom.stride[1] == 1


def cost(p: ConvProblem) -> Cost:
    # priced as its fallback (and a little more: the kernel's checks), so that "auto", which
    # cannot see whether a kernel is shared or factors, never picks it: see the module's text
    base = _fallback(p).cost(p)
    return dataclasses.replace(
        base, calls=base.calls + 6, workspace=max(base.workspace, _band_workspace(p)),
        summary=f"separable: a kernel shared by the channels over the interleaved image, in "
                f"two 1-D passes if it is rank 1 and large, else one; other kernels as "
                f"{_fallback(p).NAME}, whose price this is (auto never picks it: run it with "
                f"algorithm='separable' when the kernel is known to suit it)")


def _band_rows(p: ConvProblem) -> int:
    """Output rows of one band of the two-pass intermediate (at most a worker's share of
    ``BAND_BYTES`` and of the workspace limit)."""
    row = p.x_shape[2] * p.x_shape[3] * p.dtype.itemsize  # t keeps every column
    total = p.x_shape[0] * p.geom.out_shape[0] * row
    return max(1, min(p.geom.out_shape[0], scheduler.block_budget(total, BAND_BYTES) // row))


def _band_workspace(p: ConvProblem) -> int:
    row = p.x_shape[2] * p.x_shape[3] * p.dtype.itemsize
    busy = min(scheduler.workers(), p.x_shape[0] * -(-p.geom.out_shape[0] // _band_rows(p)))
    return busy * _band_rows(p) * row


def forward(x: np.ndarray, w: np.ndarray, p: ConvProblem,
            bias: np.ndarray | None = None) -> np.ndarray:
    """``(N, H, W, C) * (kh, kw, 1, C) -> (N, Ho, Wo, C)`` (C = 1: a one-channel image), bias
    added, in ``p.dtype``."""
    k = w.reshape(w.shape[0], w.shape[1], -1)  # (kh, kw, C): channel c's kernel
    shared = bool((k == k[:, :, :1]).all())
    if shared and _compiled(p):
        f = factors(k[:, :, 0], p.dtype)
        kh, kw = k.shape[:2]
        if f is not None and kh * kw - (kh + kw) >= TWO_PASS_SAVES:
            y = _two_passes(x, k[:, :, 0], *f, p)
        else:
            y = _one_pass(x, k[:, :, 0], p)
    else:
        per_channel = [factors(k[:, :, c], p.dtype) for c in range(k.shape[2])]
        if any(f is None for f in per_channel):
            return _fallback(p).forward(x, w, p, bias)
        y = _numpy_passes(x, np.stack([f[0] for f in per_channel], -1),  # (kh, C)
                          np.stack([f[1] for f in per_channel], -1), p)  # (kw, C)
        if y is None:  # an Inf or NaN: the fallback puts it where the definition does
            return _fallback(p).forward(x, w, p, bias)
    if bias is not None:
        y += bias
    return y


def _interleaved(col_map: np.ndarray, c: int) -> np.ndarray:
    """The column map of the ``(H, W*C)`` image: pixel column ``q``'s channel ``ch`` is flat
    column ``q*C + ch`` (-1 stays -1, a zero)."""
    m = col_map[:, None]
    return np.ascontiguousarray(np.where(m >= 0, m * c + np.arange(c), -1).reshape(-1), np.int64)


def _one_pass(x: np.ndarray, k: np.ndarray, p: ConvProblem) -> np.ndarray:
    """The shared (kh, kw) kernel ``k`` over the interleaved image, by the compiled stencil."""
    n, h, wd, c = p.x_shape
    ho, wo = p.geom.out_shape
    kh, kw = k.shape
    y = np.empty(p.y_shape, p.dtype)
    rows, cols = native.maps(p)
    geometry = (n, h, wd * c, 1, ho, wo * c, 1, kh, kw, p.geom.stride[0], 1,
                p.geom.dilation[0], p.geom.dilation[1] * c, 1)
    flat, kernel, cmap = x.reshape(n, h, wd * c), np.ascontiguousarray(k[:, :, None]), \
        _interleaved(cols, c)
    tasks = n * ho // MIN_ROWS if n * ho * wo * c * kh * kw >= native.SERIAL_MACS else 1
    tasks = max(1, min(tasks, scheduler.workers() * native.TASKS_PER_WORKER))
    per = -(-n * ho // tasks)
    ranges = [(r * wo * c, min(n * ho, r + per) * wo * c) for r in range(0, n * ho, per)]
    native.region(lambda q0, q1, chunk, workers: _native.core.stencil(
        flat, kernel, None, y, rows, cmap, geometry, 0, q0, q1, None, chunk, workers), ranges)
    return y


def _two_passes(x: np.ndarray, k: np.ndarray, col: np.ndarray, row: np.ndarray,
                p: ConvProblem) -> np.ndarray:
    """The shared rank-1 kernel ``k = outer(col, row)`` as a vertical then a horizontal pass
    of the compiled stencil, band by band of output rows; a band that comes out with an Inf or
    NaN is recomputed by one 2-D pass of ``k``."""
    n, h, wd, c = p.x_shape
    ho, wo = p.geom.out_shape
    kh, kw = k.shape
    (sh, _), (dh, dw) = p.geom.stride, p.geom.dilation
    width, out_width = wd * c, wo * c  # flat columns of t (every column) and of y
    rows, cols = native.maps(p)
    cmap = _interleaved(cols, c)
    every = np.arange(max(width, ho), dtype=np.int64)  # identity maps: no padding
    vertical = np.ascontiguousarray(col.reshape(kh, 1, 1))
    horizontal = np.ascontiguousarray(row.reshape(1, kw, 1))
    one = np.ascontiguousarray(k[:, :, None])
    flat = x.reshape(n, h, width)
    y = np.empty(p.y_shape, p.dtype)
    out = y.reshape(n, ho, out_width)
    band = _band_rows(p)
    bands = [(i, r0, min(ho, r0 + band)) for i in range(n) for r0 in range(0, ho, band)]
    workers = min(scheduler.workers(), len(bands))
    scratch = [np.empty((band, width), p.dtype) for _ in range(workers)]

    def work(task: tuple[int, int, int], worker: int) -> None:
        i, r0, r1 = task
        r = r1 - r0
        t = scratch[worker][:r]  # (r, W*C): the vertical pass's rows, every column
        needed = rows[r0 * sh : (r1 - 1) * sh + (kh - 1) * dh + 1]  # padded rows it reads
        _native.core.stencil(flat[i : i + 1], vertical, None, t, needed, every[:width],
                             (1, h, width, 1, r, width, 1, kh, 1, sh, 1, dh, 1, 1), 0, 0,
                             r * width)
        _native.core.stencil(t, horizontal, None, out[i, r0:r1], every[:r], cmap,
                             (1, r, width, 1, r, out_width, 1, 1, kw, 1, 1, 1, dw * c, 1), 0,
                             0, r * out_width)
        if not all_finite(out[i, r0:r1]):  # as the definition multiplies (see the module)
            _native.core.stencil(flat[i : i + 1], one, None, out[i, r0:r1], needed, cmap,
                                 (1, h, width, 1, r, out_width, 1, kh, kw, sh, 1, dh, dw * c, 1),
                                 0, 0, r * out_width)

    scheduler.run(bands, work, workers, limit_blas=False)
    return y


def _numpy_passes(x: np.ndarray, col: np.ndarray, row: np.ndarray,
                  p: ConvProblem) -> np.ndarray | None:
    """Per-channel rank-1 kernels, ``col`` (kh, C) and ``row`` (kw, C), as two passes of NumPy
    multiply-adds over bands of output rows (any stride); None if the result is not all finite
    (the fallback then multiplies as the definition does, see the module)."""
    n, _, wd, c = p.x_shape
    ho, wo = p.geom.out_shape
    kh, kw = col.shape[0], row.shape[0]
    (sh, sw), (dh, dw) = p.geom.stride, p.geom.dilation
    rmap, cmap = p.row_map(), p.col_map()
    # (Wo, kw): the column of t that output column j reads at tap b (wd: a zero column)
    taps = cmap[np.arange(wo)[:, None] * sw + np.arange(kw)[None, :] * dw]
    taps = np.where(taps >= 0, taps, wd)
    y = np.empty(p.y_shape, p.dtype)
    row_bytes = (wd + 1 + 2 * wo) * c * p.dtype.itemsize  # t, and a product and y's row
    blocks = scheduler.row_blocks(n, ho, row_bytes, depthwise.BLOCK_BYTES)

    def work(block: tuple[int, int, int, int], _: int) -> None:
        with np.errstate(over="ignore", invalid="ignore"):  # an Inf is checked for below
            _passes(block)

    def _passes(block: tuple[int, int, int, int]) -> None:
        n0, n1, r0, r1 = block
        out_rows = np.arange(r0, r1)
        t = np.zeros((n1 - n0, r1 - r0, wd + 1, c), p.dtype)  # a zero column at the end
        for a in range(kh):
            src = rmap[out_rows * sh + a * dh]  # (r,) the input row of each output row
            read = src >= 0
            band = x[n0:n1, np.where(read, src, 0)]  # (b, r, W, C)
            t[:, :, :wd] += col[a] * np.where(read[:, None, None], band, 0)
        yb = y[n0:n1, r0:r1]
        yb[...] = row[0] * t[:, :, taps[:, 0]]
        for b in range(1, kw):
            yb += row[b] * t[:, :, taps[:, b]]

    scheduler.run(blocks, work, scheduler.workers(), limit_blas=False)
    return y if all_finite(y) else None


def backward_weight(gy: np.ndarray, x: np.ndarray, p: ConvProblem) -> np.ndarray:
    """``grad_w`` (kh, kw, 1, C) by the fallback's own way (im2col's if it has none)."""
    module = _fallback(p)
    return getattr(module, "backward_weight", im2col.backward_weight)(gy, x, p)
