"""A 1x1 layer in channels-first layout, read as it lies: per image, ``y[n] = w @ x[n]``.

An NCHW 1x1 conv needs no transpose: image ``n`` is the ``(C, S)`` matrix of its channels'
planes (``S`` its pixels, any rank flattened), and its output the ``(O, S)`` product of the
``(O, C)`` kernel with it. The compiled kernel (``_native/pointwise_kernel.h``) runs that
product on ``direct``'s register tiles with the roles swapped (output channels broadcast,
pixels in vectors). Through the NHWC kernels the layer's two transposes cost more than the
conv (pw1x1, 256 -> 64 channels on 16 images of 28x28: 3.6 ms in NCHW, 2.3 in NHWC); here the
same layer runs in 2.4. Its gradients need no transpose either (:func:`backward`): grad_x[n] =
w^T @ grad_y[n] is the same product, and grad_w (C, O) the sum over images of x[n] @ grad_y[n]^T.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

from convolab import _native
from convolab.algorithms import native
from convolab.algorithms.problem import ConvProblem

# Pixels of a task a multiple of this (every vector width and block of the kernel divides
# it), so that a task's pixels split into the kernel's blocks; an image whose pixel count
# it does not divide is split only between images.
ALIGN = 64
# Within an image the tasks split at multiples of a vector (16 lanes at most): the kernel
# computes a run of fewer than a vector's pixels one value at a time.
LANES = 16


def reads(p: ConvProblem) -> bool:
    """Whether :func:`forward` runs ``p`` (channels-last problem of any rank): a 1x1 kernel,
    stride 1, no padding, groups 1, on the compiled core."""
    return (native.available() and not p.empty and p.groups == 1
            and all(k == 1 for k in p.w_shape[:-2])
            and all(s == 1 for s in p.geom.stride)
            and all(pad == (0, 0) for pad in p.geom.pads))


def forward(x: np.ndarray, w: np.ndarray, p: ConvProblem,
            bias: np.ndarray | None = None) -> np.ndarray:
    """``y`` (N, O, *spatial) of ``x`` (N, C, *spatial), C-contiguous in ``p.dtype``, and the
    channels-last kernel ``w`` (1, ..., 1, C, O); ``p`` the channels-last problem."""
    c, o = p.x_shape[-1], p.w_shape[-1]
    b = None if bias is None else np.ascontiguousarray(bias, p.dtype)
    return _product(np.ascontiguousarray(w.reshape(c, o).T, p.dtype), x, b)


def backward(gy: np.ndarray, x: np.ndarray, w: np.ndarray, p: ConvProblem, *, bias: bool,
             input_gradient: bool) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """``(grad_x, grad_w, grad_b)`` of :func:`forward`'s layer: ``gy`` (N, O, *spatial) and
    ``x`` (N, C, *spatial), C-contiguous in ``p.dtype``; grad_x like ``x`` (None unless
    ``input_gradient``), grad_w channels-last like ``w``, grad_b (O,) (None unless ``bias``)."""
    n, c, o = p.x_shape[0], p.x_shape[-1], p.w_shape[-1]
    gy3, x3 = gy.reshape(n, o, -1), x.reshape(n, c, -1)
    gx = (_product(np.ascontiguousarray(w.reshape(c, o), p.dtype), gy, None).reshape(x.shape)
          if input_gradient else None)
    # grad_w = sum over images of x[n] @ gy[n]^T, (C, S) @ (S, O): the images split between
    # the workers, each product on one BLAS thread (on two, OpenBLAS's second thread spun on
    # after it and took a core from the next call's kernel: 2.1 -> 4.2 ms)
    def add(out: np.ndarray, n0: int, n1: int) -> None:
        out += np.matmul(x3[n0:n1], gy3[n0:n1].transpose(0, 2, 1)).sum(axis=0, dtype=p.dtype)

    gw = native.summed(add, native.ranges(n, c * o * x3.shape[2], 1), (c, o), p.dtype,
                       blas=True)
    gb = gy3.sum(axis=(0, 2), dtype=p.dtype) if bias else None
    return gx, gw.reshape(p.w_shape), gb


def _product(wm: np.ndarray, x: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """``wm @ x[n]`` (+ bias) for every image: ``wm`` (O, C) and ``x`` (N, C, *spatial),
    C-contiguous in one dtype -> (N, O, *spatial), by the compiled kernel on the workers."""
    (o, c), n, spatial = wm.shape, x.shape[0], x.shape[2:]
    s = math.prod(spatial)
    y = np.empty((n, o, *spatial), x.dtype)
    rows, cols = _maps(s)
    geometry = (n, 1, s, c, 1, s, o, 1, 1, 1, 1, 1, 1, 1)
    native.region(lambda q0, q1, chunk, workers: _native.core.pointwise_cf(
        x, wm, bias, y, rows, cols, geometry, 0, q0, q1, None, chunk, workers),
        _ranges(n, s, c * o))
    return y


def _ranges(n: int, s: int, macs_per_pixel: int) -> Sequence[tuple[int, int]]:
    """Pixel ranges of the flat (N, S) grid, one a task (``native.ranges``): blocks of
    ``ALIGN`` pixels when every image splits at vectors, else whole images."""
    if s % LANES == 0:
        return native.ranges(n * s, macs_per_pixel, ALIGN)
    return [(i0 * s, i1 * s) for i0, i1 in native.ranges(n, s * macs_per_pixel, 1)]


@functools.lru_cache(maxsize=16)
def _maps(s: int) -> tuple[np.ndarray, np.ndarray]:
    """The identity maps of a row of ``s`` pixels (read-only, kept: a layer calls again)."""
    rows, cols = np.zeros(1, np.int64), np.arange(s, dtype=np.int64)
    rows.flags.writeable = cols.flags.writeable = False
    return rows, cols
