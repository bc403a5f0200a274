"""Activations and their derivatives by the compiled core (``_native/activation_kernel.h``):
one pass over memory each, on the workers for large arrays.

NumPy's sigmoid is seven passes (each writing a temporary), its derivative three; a LeNet
batch's first activation (256x28x28x6) took 2.5-4 ms that way, ~0.3-0.6 ms here. Each
function returns None where the core does not run (not built, turned off, or another dtype
or a strided array), and the caller computes with NumPy.
"""

from __future__ import annotations

import numpy as np

from convolab import _native
from convolab.algorithms import native, scheduler

SIGMOID, SIGMOID_GRAD, RELU_GRAD, RELU = range(4)
SERIAL = 1 << 18  # elements below which one call on this thread beats waking the workers


def _runs(*arrays: np.ndarray) -> bool:
    first = arrays[0]
    return (native.available() and first.dtype in (np.float32, np.float64)
            and all(a.dtype == first.dtype and a.shape == first.shape
                    and a.flags.c_contiguous for a in arrays))


def _apply(op: int, a: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    out = np.empty_like(a)
    n = a.size
    workers = scheduler.workers()
    if workers <= 1 or n < SERIAL:
        _native.core.activation(op, a, b, out, 0, n)
        return out
    per = -(-n // (workers * 2))
    native.run(lambda i0, i1: _native.core.activation(op, a, b, out, i0, i1),
               [(i, min(n, i + per)) for i in range(0, n, per)])
    return out


def sigmoid(x: np.ndarray) -> np.ndarray | None:
    """``1 / (1 + exp(-x))`` without overflow (within 3 ulp of the exact value), or None."""
    return _apply(SIGMOID, x, None) if _runs(x) else None


def sigmoid_grad(g: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """``g * (1 - y) * y`` (the sigmoid's derivative given its output ``y``), or None."""
    return _apply(SIGMOID_GRAD, g, y) if _runs(g, y) else None


def relu(x: np.ndarray) -> np.ndarray | None:
    """``max(x, 0)`` as ``np.maximum(x, 0)`` (NaN stays NaN, -0 gives +0), or None."""
    return _apply(RELU, x, None) if _runs(x) else None


def relu_grad(g: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """``g`` where ``y > 0``, else 0 (relu's derivative given its output), or None."""
    return _apply(RELU_GRAD, g, y) if _runs(g, y) else None
