"""The small-call kernel: plain compiled loops for convs of a few thousand multiply-adds.

A tiled kernel packs its weights, builds an indirection buffer and may wake a worker: tens of
microseconds that a 4x4 image with a 3x3 kernel (144 multiply-adds) does not need. This one
reads HWIO weights as they are, on the calling thread (``_native/small.c``). ``ops`` also
remembers the resolved call of such a problem, so that calling it again skips validation and
planning (``ops/small_call.py``).
"""

from __future__ import annotations

import numpy as np

from convolab import _native
from convolab.algorithms import direct, native
from convolab.algorithms.cost import Cost
from convolab.algorithms.problem import ConvProblem

NAME = "small"
REQUIRES = f"the compiled core, and at most {1 << 14} multiply-adds"
MAX_MACS = 1 << 14


def supports(p: ConvProblem) -> bool:
    return native.available() and p.flops // 2 <= MAX_MACS


def cost(p: ConvProblem) -> Cost:
    # scalar loops: one multiply-add a cycle or so, 1/32 of a core's FMA rate in float32
    return Cost(flops=p.flops, gemm_flops=0, gemm_mkn=(1, 1, 1), bytes_moved=0, workspace=0,
                calls=1, kernel_flops=p.flops * 32,
                summary="small: compiled plain loops on the calling thread, no packing")


def forward(x: np.ndarray, w: np.ndarray, p: ConvProblem,
            bias: np.ndarray | None = None) -> np.ndarray:
    """``(N, H, W, C) * (kh, kw, C/G, O) -> (N, Ho, Wo, O)``, bias added, in ``p.dtype``."""
    y = np.empty(p.y_shape, p.dtype)
    rows, cols = native.maps(p)
    n, ho, wo, _ = p.y_shape
    _native.core.small(x, w, bias, y, rows, cols, native.geometry(p), 0, 0, n * ho * wo)
    return y


# the compiled weight gradient of any conv (the same products, read the other way)
backward_weight = direct.backward_weight
