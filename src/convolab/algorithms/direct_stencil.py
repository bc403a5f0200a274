"""One-channel input by the compiled core: pixels in SIMD lanes, the image streamed once.

``corr2d``, ``convolve2d``, the CLI's ``filter`` (per colour channel) and the Dask path run
``(N, H, W, 1) * (kh, kw, 1, 1)`` convs; LeNet's first layer is ``(N, 28, 28, 1) * (5, 5, 1,
6)``. The kernel (``_native/stencil_kernel.h``) copies each input row once into a ring of
padded rows and sums whole vectors of them per tap, one load per tap serving every output
channel (up to ``MAX_OUTPUTS``), so it reads the image once and writes the output once:
memory-bound for small kernels, as OpenCV's ``filter2D`` is. Any padding mode, vertical stride
and dilation; horizontal stride 1 (the vectors run along the row). Multiplies exactly the
definition's products.
"""

from __future__ import annotations

import numpy as np

from convolab import _native
from convolab.algorithms import im2col, native, scheduler, toeplitz
from convolab.algorithms.cost import Cost
from convolab.algorithms.problem import ConvProblem

NAME = "direct_stencil"
MAX_OUTPUTS = 8  # output channels the kernel holds in registers
REQUIRES = (f"the compiled core, one input channel, at most {MAX_OUTPUTS} output channels, and "
            "horizontal stride 1")
MIN_ROWS = 16  # output rows a task, at least


def supports(p: ConvProblem) -> bool:
    return (native.available() and p.x_shape[3] == 1 and p.w_shape[3] <= MAX_OUTPUTS
            and p.geom.stride[1] == 1)


def cost(p: ConvProblem) -> Cost:
    kh, kw, _, o = p.w_shape
    n, ho, wo, _ = p.y_shape
    item = p.dtype.itemsize
    pixels = n * ho * wo
    # per tap and vector: an unaligned load and an FMA per output channel, plus broadcasts;
    # the loads straddle cache lines and bound it: measured ~3 FMA-times a tap for one output
    # (1024x1024 31x31: 18 ms on 2 cores, where FFT takes 15); interleaving several output
    # channels on the way out costs a scalar store each
    fmas = pixels * kh * kw * (2 + o) + (pixels * o * 16 if o > 1 else 0)
    return Cost(
        flops=p.flops, gemm_flops=0, gemm_mkn=(1, 1, 1),
        # the image read once (and copied into the ring, in cache), the output written once
        bytes_moved=(2 * n * p.x_shape[1] * p.x_shape[2] + pixels * o) * item,
        workspace=(kh + p.geom.stride[0]) * (p.geom.padded_hw[1] + 64) * item
        * min(scheduler.workers(), max(1, n * ho // MIN_ROWS)),
        calls=6, kernel_flops=2 * fmas,
        summary=f"direct_stencil: compiled {native.kernel_name('stencil', p)}, pixels in SIMD "
                "lanes, each input row read once",
    )


def forward(x: np.ndarray, w: np.ndarray, p: ConvProblem,
            bias: np.ndarray | None = None) -> np.ndarray:
    """``(N, H, W, 1) * (kh, kw, 1, O) -> (N, Ho, Wo, O)``, bias added, in ``p.dtype``."""
    kh, kw, _, o = p.w_shape
    n, ho, wo, _ = p.y_shape
    y = np.empty(p.y_shape, p.dtype)
    rows, cols = native.maps(p)
    geometry = native.geometry(p)
    k = w.reshape(kh, kw, o)
    tasks = n * ho // MIN_ROWS if n * ho * wo * kh * kw * o >= native.SERIAL_MACS else 1
    tasks = max(1, min(tasks, scheduler.workers() * native.TASKS_PER_WORKER))
    per = -(-n * ho // tasks)
    ranges = [(r * wo, min(n * ho, r + per) * wo) for r in range(0, n * ho, per)]
    native.run(lambda q0, q1: _native.core.stencil(x, k, bias, y, rows, cols, geometry, 0,
                                                   q0, q1), ranges)
    return y


def backward_weight(gy: np.ndarray, x: np.ndarray, p: ConvProblem) -> np.ndarray:
    """``grad_w`` (kh, kw, 1, O): toeplitz's banded GEMMs where they run, else im2col's.

    With one input channel the compiled weight-gradient kernel does one multiply-add per load
    (LeNet's first layer: 9 ms on 2 cores, toeplitz 1.5).
    """
    module = toeplitz if toeplitz.supports(p) else im2col
    return module.backward_weight(gy, x, p)
