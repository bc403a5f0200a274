"""Losses and their gradients with respect to the prediction: the squared loss the book
trains its edge kernel with (6.2.4), and the softmax cross-entropy a classifier trains with.

>>> y_pred, y_true = np.array([1.0, 2.0]), np.array([0.0, 0.0])
>>> mse_loss(y_pred, y_true), mse_loss(y_pred, y_true, reduction="sum")
(2.5, 5.0)
>>> mse_loss_grad(y_pred, y_true, reduction="sum")
array([2., 4.])
>>> logits = np.array([[2.0, 0.0], [0.0, 0.0]])
>>> round(cross_entropy(logits, [0, 1]), 6)             # (log(1 + e^-2) + log 2) / 2
0.410038
>>> cross_entropy_grad(logits, [0, 1]).round(4)          # (softmax - one_hot) / N
array([[-0.0596,  0.0596],
       [ 0.25  , -0.25  ]])
"""

from __future__ import annotations

import numpy as np

from convolab.ops.arguments import as_numeric, result_dtype

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


def _log_softmax_and_targets(logits: object, targets: object,
                             reduction: object) -> tuple[np.ndarray, np.ndarray]:
    """``(log_softmax(logits), targets as probabilities)``, both (..., K), after checking."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction: expected 'mean' or 'sum', got {reduction!r}")
    z = as_numeric(logits, "logits")
    z = z.astype(result_dtype(z), copy=False)
    if z.ndim < 1 or z.shape[-1] < 1:
        raise ValueError(
            f"logits: expected (N, K) (or (..., K)) with K >= 1 classes, got shape {z.shape}"
        )
    t = as_numeric(targets, "targets")
    k = z.shape[-1]
    if t.shape == z.shape[:-1]:  # class indices
        if t.dtype.kind == "b" or (t.dtype.kind == "f" and not np.all(t == np.round(t))):
            raise TypeError(f"targets: class indices must be integers, got dtype {t.dtype}")
        if t.size and (t.min() < 0 or t.max() >= k):
            raise ValueError(
                f"targets: class indices must be in [0, {k}) for {k} classes, got values in "
                f"[{t.min()}, {t.max()}]"
            )
        t = np.eye(k, dtype=z.dtype)[t.astype(np.intp)]
    elif t.shape != z.shape:
        raise ValueError(
            f"targets: expected class indices of shape {z.shape[:-1]} or one-hot "
            f"(probability) rows of shape {z.shape}, got {t.shape}"
        )
    else:
        t = t.astype(z.dtype, copy=False)
    # log_softmax = z - max - log(sum(exp(z - max))): exp only sees numbers <= 0, and the
    # largest term is 1, so logits of any size (1e4, -1e4) neither overflow nor give log(0)
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True)), t


def cross_entropy(logits: object, targets: object, *, reduction: str = "mean") -> float:
    """Softmax cross-entropy of ``logits`` (N, K) against ``targets``:
    ``-sum_k t[n, k] * log_softmax(logits)[n, k]``, averaged over the N rows (or summed).

    ``targets`` are class indices (N,) (PyTorch's ``F.cross_entropy`` and Keras's
    ``sparse_categorical_crossentropy(from_logits=True)``) or one-hot or probability rows
    (N, K) (Keras's ``categorical_crossentropy(from_logits=True)``). Leading axes beyond N are
    more rows; the classes are the last axis. Stable for logits of any finite size.
    """
    logp, t = _log_softmax_and_targets(logits, targets, reduction)
    total = -float(np.sum(t * logp, dtype=np.float64))
    return total / max(logp.size // logp.shape[-1], 1) if reduction == "mean" else total


def cross_entropy_grad(logits: object, targets: object, *,
                       reduction: str = "mean") -> np.ndarray:
    """Gradient of :func:`cross_entropy` with respect to ``logits``:
    ``(softmax(logits) - targets) / N`` (without ``/ N`` for ``reduction="sum"``), in the
    logits' float dtype; for probability rows that do not sum to 1, ``softmax * sum(t) - t``.
    """
    logp, t = _log_softmax_and_targets(logits, targets, reduction)
    g = np.exp(logp) * t.sum(axis=-1, keepdims=True) - t
    return g / max(logp.size // logp.shape[-1], 1) if reduction == "mean" else g
