"""Squared loss and its gradient: what the book trains its edge kernel with (6.2.4).

>>> y_pred, y_true = np.array([1.0, 2.0]), np.array([0.0, 0.0])
>>> mse_loss(y_pred, y_true), mse_loss(y_pred, y_true, reduction="sum")
(2.5, 5.0)
>>> mse_loss_grad(y_pred, y_true, reduction="sum")
array([2., 4.])
"""

from __future__ import annotations

import numpy as np

from convolab.ops.arguments import as_numeric

_REDUCTIONS = ("mean", "sum")


def _check(y_pred: object, y_true: object, reduction: object) -> tuple[np.ndarray, np.ndarray]:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction: expected 'mean' or 'sum', got {reduction!r}")
    yp, yt = as_numeric(y_pred, "y_pred"), as_numeric(y_true, "y_true")
    if yp.shape != yt.shape:  # no broadcasting: a shape mismatch is a bug, not a request
        raise ValueError(
            f"y_true: expected the shape of y_pred {yp.shape}, got {yt.shape}"
        )
    return yp, yt


def mse_loss(y_pred: object, y_true: object, *, reduction: str = "mean") -> float:
    """``sum((y_pred - y_true)**2)``, divided by the element count for ``reduction="mean"``."""
    yp, yt = _check(y_pred, y_true, reduction)
    total = float(np.sum(np.square(yp - yt, dtype=np.float64)))
    return total / max(yp.size, 1) if reduction == "mean" else total


def mse_loss_grad(y_pred: object, y_true: object, *, reduction: str = "mean") -> np.ndarray:
    """Gradient of :func:`mse_loss` with respect to ``y_pred``: ``2 (y_pred - y_true)`` (/ size).

    Same shape as ``y_pred``, in the promoted dtype of the two.
    """
    yp, yt = _check(y_pred, y_true, reduction)
    g = 2 * (yp - yt)
    return g / max(yp.size, 1) if reduction == "mean" else g
