"""Depthwise convolution (``groups == C == O``) by the compiled core: channels in SIMD lanes.

Each tap is one weight vector reused across a tile of output pixels, one input-vector load
and FMA per pixel (``_native/depthwise_kernel.h``); padding read through the index maps, no
copy. Multiplies exactly the definition's products. A channel multiplier (``O = m * C``, m >
1) runs on ``direct`` instead.
"""

from __future__ import annotations

import math

import numpy as np

from convolab import _native
from convolab.algorithms import native
from convolab.algorithms.cost import Cost
from convolab.algorithms.problem import ConvProblem

NAME = "direct_depthwise"
REQUIRES = "the compiled core, and groups equal to the input and output channels"
ROW = 64  # packed kernel rows are a multiple of this many channels (the kernel's contract)
# outputs of at least this many bytes are stored non-temporally, from a line's start
# (CL_STREAM_BYTES in _native/direct_kernel.h)
STREAM_BYTES = 16 << 20


def supports(p: ConvProblem) -> bool:
    c = p.x_shape[3]
    return native.available() and p.groups == c == p.w_shape[3]


def cost(p: ConvProblem) -> Cost:
    kh, kw, _, c = p.w_shape
    n, ho, wo, _ = p.y_shape
    lanes = _native.core.lanes(p.dtype.itemsize)
    vectors = -(-c // lanes)
    # a load per FMA: half the FMA rate; a ragged last vector costs a lane loop
    fmas = n * ho * wo * kh * kw * vectors * lanes * 2
    ragged = (c % lanes != 0) * n * ho * wo * kh * kw * lanes * 4
    return Cost(
        flops=p.flops, gemm_flops=0, gemm_mkn=(1, 1, 1), bytes_moved=0,
        workspace=kh * kw * ROW * p.dtype.itemsize, calls=8,
        kernel_flops=2 * (fmas + ragged),
        summary=f"direct_depthwise: compiled {native.kernel_name('depthwise', p)}, "
                "channels in SIMD lanes",
    )


def bind(w: np.ndarray, p: ConvProblem, bias: np.ndarray | None = None,
         offset: int = 0) -> native.Bound:
    """The kernel of ``p`` with ``w`` (and ``bias``) packed: items are output pixels. The
    kernel and bias are placed ``offset`` bytes past a 64-byte line, where the input and output
    it runs on start: the kernel then aligns all their vectors (_native/depthwise_kernel.h,
    dw_head)."""
    kh, kw, _, c = p.w_shape
    cp = -(-c // ROW) * ROW
    packed = native.aligned_zeros((kh, kw, cp), p.dtype, offset=offset)
    packed[..., :c] = w.reshape(kh, kw, c)
    b = None
    if bias is not None:
        b = native.aligned_zeros((cp,), p.dtype, offset=offset)
        b[:c] = bias
    rows, cols = native.maps(p)

    def run(x: np.ndarray, y: np.ndarray, n: int, q0: int, q1: int, chunk: int = 0,
            workers: int = 1, planar: bool = False) -> bool:
        _native.core.depthwise(x, packed, b, y, rows, cols, native.geometry(p, n), cp, q0, q1,
                               None, chunk, workers, planar)
        return True

    return native.Bound(run, p.y_shape[1] * p.y_shape[2], kh * kw * c)


def forward(x: np.ndarray, w: np.ndarray, p: ConvProblem,
            bias: np.ndarray | None = None) -> np.ndarray:
    """``(N, H, W, C) * (kh, kw, 1, C) -> (N, Ho, Wo, C)``, bias added, in ``p.dtype``."""
    # a large output starts a line, whose whole lines the kernel then stores non-temporally;
    # a smaller one at the input's offset, so that both align (_native/depthwise_kernel.h)
    large = math.prod(p.y_shape) * p.dtype.itemsize >= STREAM_BYTES
    offset = 0 if large else x.ctypes.data % 64
    kernel = bind(w, p, bias, offset)
    y = native.aligned_empty(p.y_shape, p.dtype, offset=offset)
    n = p.x_shape[0]
    native.region(lambda q0, q1, chunk, workers: kernel.run(x, y, n, q0, q1, chunk, workers),
                  native.pixel_ranges(p, kernel.macs))
    return y


def backward_weight(gy: np.ndarray, x: np.ndarray, p: ConvProblem) -> np.ndarray:
    """``grad_w`` (kh, kw, 1, C) from NHWC ``gy`` (N, Ho, Wo, C) and ``x``: per worker a
    packed (kh*kw, Cp) sum over its pixel ranges by the compiled kernel, added here."""
    return _weight_gradients(gy, x, p, bias=False)[0]


def backward_weight_and_bias(gy: np.ndarray, x: np.ndarray, p: ConvProblem
                             ) -> tuple[np.ndarray, np.ndarray]:
    """``grad_w`` as :func:`backward_weight`, and ``grad_b`` (C,), ``gy`` summed over images
    and pixels, in the same pass over ``gy`` (a pass of its own was a sixth of dw3x3's
    backward)."""
    return _weight_gradients(gy, x, p, bias=True)  # type: ignore[return-value]


def _weight_gradients(gy: np.ndarray, x: np.ndarray, p: ConvProblem, *, bias: bool
                      ) -> tuple[np.ndarray, np.ndarray | None]:
    """``grad_w``, and ``grad_b`` when ``bias``: each worker's sums in one packed array,
    (kh*kw, Cp) rows of ``grad_w`` then a row of ``grad_b``."""
    kh, kw, _, c = p.w_shape
    cp = -(-c // ROW) * ROW
    taps = kh * kw
    rows, cols = native.maps(p)
    geometry = native.geometry(p)
    gy = np.ascontiguousarray(gy, p.dtype)
    sums = native.summed(
        lambda out, q0, q1: _native.core.dw_wgrad(x, out[:taps], out[taps] if bias else None,
                                                  gy, rows, cols, geometry, cp, q0, q1),
        native.pixel_ranges(p, taps * c), (taps + bias, cp), p.dtype)
    gw = np.ascontiguousarray(sums[:taps, :c].reshape(kh, kw, 1, c))
    return gw, (sums[taps, :c].copy() if bias else None)
