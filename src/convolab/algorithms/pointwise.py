"""1x1 convolution as one plain GEMM: ``(N*H*W, C) @ (C, O)``, no copy of the input.

With a 1x1 kernel every output pixel is its input pixel times a ``(C, O)`` matrix, and NHWC
already stores the input as the ``(N*H*W, C)`` matrix: the conv is a single BLAS call writing
straight into the output. A stride keeps every ``s``-th row and column: a strided slice, the
only copy (of ``1/(sh*sw)`` of the input). Padding adds border pixels, so only unpadded
problems come here.
"""

from __future__ import annotations

import numpy as np

from convolab.algorithms import scheduler
from convolab.algorithms.cost import Cost
from convolab.algorithms.problem import ConvProblem

NAME = "pointwise"
REQUIRES = "a 1x1 kernel, no padding and groups=1"


def supports(p: ConvProblem) -> bool:
    return p.w_shape[:2] == (1, 1) and p.groups == 1 and p.geom.pads == ((0, 0), (0, 0))


def cost(p: ConvProblem) -> Cost:
    n, ho, wo, o = p.y_shape
    c = p.x_shape[3]
    strided = p.geom.stride != (1, 1)
    item = p.dtype.itemsize
    return Cost(
        flops=p.flops, gemm_flops=p.flops, gemm_mkn=(n * ho * wo, c, o),
        bytes_moved=2 * n * ho * wo * c * item if strided else 0,
        workspace=n * ho * wo * c * item if strided else 0,
        calls=2,
        summary=f"pointwise: one GEMM ({n * ho * wo} x {c}) @ ({c} x {o})"
                + (", after a strided slice" if strided else ", no copy"),
    )


def _pixels(x: np.ndarray, p: ConvProblem) -> np.ndarray:
    """The input pixels the output reads, as a ``(N*Ho*Wo, C)`` matrix (a view at stride 1)."""
    sh, sw = p.geom.stride
    return np.ascontiguousarray(x[:, ::sh, ::sw]).reshape(-1, p.x_shape[3])


def forward(x: np.ndarray, w: np.ndarray, p: ConvProblem,
            bias: np.ndarray | None = None) -> np.ndarray:
    """``(N, H, W, C)`` NHWC, ``(1, 1, C, O)`` HWIO, ``bias`` (O,) or None -> ``(N, Ho, Wo, O)``.

    Large products are split by rows among the scheduler's workers, each multiplying its
    share on one BLAS thread (OpenBLAS splits thin products poorly over threads); below
    ``scheduler.PARALLEL_BYTES`` of input pixels, one call with BLAS's own threads.
    """
    pixels, y = _pixels(x, p), np.empty(p.y_shape, p.dtype)
    out = y.reshape(-1, p.w_shape[3])  # (N*Ho*Wo, O)
    rows = len(pixels)
    # one block per worker (or one in all, for a small product): no workspace, no copies
    n_blocks = -(-pixels.nbytes // scheduler.block_budget(pixels.nbytes, pixels.nbytes))
    step = max(1, -(-rows // n_blocks))

    def work(rs: slice, _: int) -> None:
        np.matmul(pixels[rs], w[0, 0], out=out[rs])
        if bias is not None:
            out[rs] += bias  # while the block is in cache

    scheduler.run([slice(r0, r0 + step) for r0 in range(0, rows, step)], work,
                  scheduler.workers())
    return y


def backward_input(gy: np.ndarray, w: np.ndarray, p: ConvProblem) -> np.ndarray:
    """``grad_x = gy @ w^T`` on the pixels the forward read; zero on the ones a stride skipped."""
    c = p.x_shape[3]
    gx_pixels = gy.reshape(-1, p.w_shape[3]) @ w[0, 0].T  # (N*Ho*Wo, O) @ (O, C)
    if p.geom.stride == (1, 1):
        return gx_pixels.reshape(p.x_shape)
    sh, sw = p.geom.stride
    gx = np.zeros(p.x_shape, p.dtype)
    gx[:, ::sh, ::sw] = gx_pixels.reshape(*p.y_shape[:3], c)
    return gx


def backward_weight(gy: np.ndarray, x: np.ndarray, p: ConvProblem) -> np.ndarray:
    """``grad_w = pixels^T @ gy``: ``(C, N*Ho*Wo) @ (N*Ho*Wo, O)`` -> ``(1, 1, C, O)``."""
    return (_pixels(x, p).T @ gy.reshape(-1, p.w_shape[3]))[None, None]
