"""Implicit GEMM for stride-1 convolutions: one GEMM per kernel tap, straight from the input.

With stride 1 and the padded band flattened to a matrix of pixels ``(rows*Wp, C)`` (row-major,
channels last), the pixel under tap ``(a, b)`` of output ``(i, j)`` sits at a fixed offset
``a*dh*Wp + b*dw`` from pixel ``(i, j)``. So, computing an output for every column of the padded
width (the last ``Wp - Wo`` of each row are thrown away, ~4% extra work on ResNet layers)::

    Y (M, O) = sum over taps  band[off : off + M] (M, C) @ w[a, b] (C, O)

where every ``band[off : off + M]`` is a plain matrix *view* of the input: no im2col copy at
all. The sum over taps is BLAS's own ``C = A @ B + beta * C`` with ``beta = 1``, which NumPy does
not expose, so the GEMMs are called in NumPy's own OpenBLAS through ``ctypes``
(``algorithms/blas.py``). When that library or its ``cblas_?gemm`` cannot be found, the
algorithm reports itself unsupported.
"""

from __future__ import annotations

import numpy as np

from convolab.algorithms import im2col, scheduler
from convolab.algorithms.bias import write_block
from convolab.algorithms.blas import MIN_CHANNELS, gemm, gemms
from convolab.algorithms.cost import Cost
from convolab.algorithms.problem import ConvProblem

NAME = "implicit"
REQUIRES = (f"stride 1, groups=1, at least {MIN_CHANNELS} input and output channels, and NumPy's "
            "BLAS to be an OpenBLAS whose cblas_sgemm/cblas_dgemm can be called")
BLOCK_BYTES = 2 << 20  # bytes of Y and band per block (measured: 2 MiB best on 2 workers)


def supports(p: ConvProblem) -> bool:
    return (p.geom.stride == (1, 1) and p.groups == 1
            and min(p.x_shape[3], p.w_shape[3]) >= MIN_CHANNELS and p.dtype in gemms())


def _sizing(p: ConvProblem) -> tuple[int, int, int]:
    """``(images, output rows, bytes a row)``: a row is Wp pixels of Y and of the band."""
    row_bytes = p.geom.padded_shape[1] * (p.w_shape[3] + p.x_shape[3]) * p.dtype.itemsize
    return p.x_shape[0], p.geom.out_shape[0], row_bytes


def cost(p: ConvProblem) -> Cost:
    kh, kw, c, o = p.w_shape
    n, (ho, wo), (_, wp) = p.x_shape[0], p.geom.out_shape, p.geom.padded_shape
    rows, per_row = scheduler.block_rows(*_sizing(p), BLOCK_BYTES), _sizing(p)[2]
    n_blocks = max(1, -(-(n * ho) // rows))
    gemm = p.flops * wp // max(wo, 1)  # the thrown-away columns are computed too
    return Cost(
        flops=gemm, gemm_flops=gemm, gemm_mkn=(rows * wp, c, o),
        bytes_moved=n * ho * wo * o * p.dtype.itemsize,  # the copy of Y into y
        workspace=min(n_blocks, scheduler.workers()) * rows * per_row,
        calls=n_blocks * (kh * kw + 4),
        summary=f"implicit GEMM: {n_blocks} block(s), {kh * kw} GEMMs "
                f"({rows * wp} x {c}) @ ({c} x {o}) on views of the input, no im2col copy",
    )


def forward(x: np.ndarray, w: np.ndarray, p: ConvProblem,
            bias: np.ndarray | None = None) -> np.ndarray:
    """Cross-correlate NHWC ``x`` with HWIO ``w``, stride 1, plus ``bias`` (O,) if given:
    ``(N, H, W, C) -> (N, Ho, Wo, O)``."""
    kh, kw, c, o = p.w_shape
    dh, dw = p.geom.dilation
    wo, wp = p.geom.out_shape[1], p.geom.padded_shape[1]
    y = np.empty(p.y_shape, p.dtype)
    n_workers = scheduler.workers()
    scratch = scheduler.Scratch(n_workers)
    taps = [(a, b, a * dh * wp + b * dw) for a in range(kh) for b in range(kw)]

    def work(block: tuple[int, int, int, int], i: int) -> None:
        n0, n1, r0, r1 = block
        # (b*rows_in*Wp, C): the padded band as a matrix of pixels, one row per pixel
        band = np.ascontiguousarray(im2col.padded_band(x, p, n0, n1, r0, r1))
        b, rows_in = band.shape[:2]
        band = band.reshape(-1, c)
        m = len(band) - taps[-1][2]  # every pixel whose taps all stay inside the band
        full = scratch.get(i, "y", (b, rows_in, wp, o), p.dtype)  # Y for every band pixel
        flat = full.reshape(-1, o)
        for t, (a, bb, off) in enumerate(taps):
            gemm(band, off, m, np.ascontiguousarray(w[a, bb]), flat, 0.0 if t == 0 else 1.0)
        write_block(y[n0:n1, r0:r1], full[:, : r1 - r0, :wo], bias)

    scheduler.run(scheduler.row_blocks(*_sizing(p), BLOCK_BYTES), work, n_workers)
    return y
