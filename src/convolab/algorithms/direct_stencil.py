"""One-channel image filtering by the compiled core: pixels in SIMD lanes, the image streamed once.

``corr2d``, ``convolve2d``, the CLI's ``filter`` (per colour channel) and the Dask path run
``(N, H, W, 1) * (kh, kw, 1, 1)`` convs. The kernel (``_native/stencil_kernel.h``) copies each
input row once into a ring of padded rows and sums whole vectors of them per tap, so it reads
the image once and writes the output once: memory-bound for small kernels, as OpenCV's
``filter2D`` is. Any padding mode, vertical stride and dilation; horizontal stride 1 (the
vectors run along the row). Multiplies exactly the definition's products.
"""

from __future__ import annotations

import numpy as np

from convolab import _native
from convolab.algorithms import native, scheduler
from convolab.algorithms.cost import Cost
from convolab.algorithms.problem import ConvProblem

NAME = "direct_stencil"
REQUIRES = "the compiled core, one input and one output channel, and horizontal stride 1"
MIN_ROWS = 16  # output rows a task, at least


def supports(p: ConvProblem) -> bool:
    return (native.available() and p.x_shape[3] == 1 and p.w_shape[3] == 1
            and p.geom.stride[1] == 1)


def cost(p: ConvProblem) -> Cost:
    kh, kw, _, _ = p.w_shape
    n, ho, wo, _ = p.y_shape
    item = p.dtype.itemsize
    pixels = n * ho * wo
    # per tap and vector: an unaligned load and an FMA, plus a broadcast per 4 vectors; the
    # loads straddle cache lines and bound it: measured ~3 FMA-times a tap (1024x1024 31x31:
    # 18 ms on 2 cores, where FFT takes 15)
    fmas = pixels * kh * kw * 3
    return Cost(
        flops=p.flops, gemm_flops=0, gemm_mkn=(1, 1, 1),
        # the image read once (and copied into the ring, in cache), the output written once
        bytes_moved=(2 * n * p.x_shape[1] * p.x_shape[2] + pixels) * item,
        workspace=(kh + p.geom.stride[0]) * (p.geom.padded_hw[1] + 64) * item
        * min(scheduler.workers(), max(1, n * ho // MIN_ROWS)),
        calls=6, kernel_flops=2 * fmas,
        summary=f"direct_stencil: compiled {native.kernel_name('stencil', p)}, pixels in SIMD "
                "lanes, each input row read once",
    )


def forward(x: np.ndarray, w: np.ndarray, p: ConvProblem,
            bias: np.ndarray | None = None) -> np.ndarray:
    """``(N, H, W, 1) * (kh, kw, 1, 1) -> (N, Ho, Wo, 1)``, bias added, in ``p.dtype``."""
    kh, kw, _, _ = p.w_shape
    n, ho, wo, _ = p.y_shape
    y = np.empty(p.y_shape, p.dtype)
    rows, cols = native.maps(p)
    geometry = native.geometry(p)
    k = w.reshape(kh, kw)
    tasks = n * ho // MIN_ROWS if n * ho * wo * kh * kw >= native.SERIAL_MACS else 1
    tasks = max(1, min(tasks, scheduler.workers() * native.TASKS_PER_WORKER))
    per = -(-n * ho // tasks)
    ranges = [(r * wo, min(n * ho, r + per) * wo) for r in range(0, n * ho, per)]
    native.run(lambda q0, q1: _native.core.stencil(x, k, bias, y, rows, cols, geometry, 0,
                                                   q0, q1), ranges)
    return y
