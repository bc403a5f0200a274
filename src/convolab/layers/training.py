"""Training steps that stop cleanly when they diverge, and the book's full-batch loop.

:func:`train_step` is one step (forward, loss, backward, update) with NumPy's floating-point
checks raising: :func:`fit` (one layer, squared loss, the book's 6.2.4 loop) and
``Sequential.fit`` (mini-batches, any loss and optimizer) both run it, so a diverging run
stops the same way, with :class:`TrainingDivergedError`, whichever loop it is in.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from convolab.layers.conv import BaseConv
from convolab.layers.losses import mse_loss, mse_loss_grad
from convolab.layers.optimizers import SGD


class TrainingDivergedError(ValueError, FloatingPointError):
    """Training went non-finite: a loss, gradient or weight overflowed or became NaN.

    A ``ValueError`` (the usual cause is a learning rate too large for the data: a bad value
    of an argument) and a ``FloatingPointError`` (what NumPy raises for an overflow), so either
    ``except`` catches it. ``epoch`` (counting from 1) is the step that failed, ``loss`` the
    loss computed at that epoch (``nan`` when it could not be computed), ``detail``
    what went wrong in words.
    """

    def __init__(self, epoch: int, loss: float, stage: str, learning_rate: float) -> None:
        if stage == "loss" or math.isnan(loss):
            detail = f"the {stage} overflowed"
        else:
            detail = f"loss {loss:.3g}, then the {stage} overflowed"
        super().__init__(f"fit: training diverged at epoch {epoch}: {detail}; try a smaller "
                         f"learning_rate (received learning_rate={learning_rate:g})")
        self.epoch, self.loss, self.learning_rate, self.detail = epoch, loss, learning_rate, detail


def check_finite(**arrays: object) -> None:
    """Raise a ValueError naming the first argument that holds inf or nan: training data must be
    finite, or a non-finite loss would mean bad data, not divergence."""
    for name, a in arrays.items():
        if not np.isfinite(np.asarray(a, dtype=np.float64)).all():
            raise ValueError(f"{name}: expected finite values, received an array with inf or "
                             "nan")


def train_step(
    model: Any,
    x: object,
    y: object,
    *,
    loss: Callable[[np.ndarray, object], float],
    loss_grad: Callable[[np.ndarray, object], np.ndarray],
    optimizer: Any,
    epoch: int,
    forward: Callable[[object], np.ndarray] | None = None,
    input_gradient: bool = True,
) -> tuple[float, np.ndarray]:
    """One training step on the batch ``(x, y)``; returns ``(loss, prediction)``.

    ``forward(x)`` (default ``model(x)``) predicts, ``loss(y_hat, y)`` is recorded before the
    update, ``model.backward(loss_grad(y_hat, y))`` fills ``model.grads`` (with
    ``input_gradient=False``, passed on to ``backward``, a first conv layer skips ``dL/dx``,
    which training does not need), and
    ``optimizer.step(model)`` updates ``model.parameters()`` in place. ``model`` is a layer or
    anything with the same ``backward``, ``grads`` and ``parameters()`` (a ``Sequential``).

    Every stage runs with NumPy's overflow, invalid-operation and division checks raising, and
    the weights are checked after the update (the compiled kernels raise no NumPy error): the
    first non-finite value stops the step with :class:`TrainingDivergedError` for ``epoch``,
    naming the stage, so no ``RuntimeWarning`` is printed and no ``inf``/``nan`` weights are
    handed back as a result. The weights are then those of the failed step, not restored.
    """
    value, stage = math.nan, "forward pass"
    try:
        # Raise at the first overflow or inf-inf of the step (float32 values overflow long
        # before the float64 loss does): a diverging run stops there, warning-free.
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            y_hat = (model if forward is None else forward)(x)
            stage = "loss"
            value = float(loss(y_hat, y))
            if not math.isfinite(value):
                raise FloatingPointError
            stage = "backward pass"
            if input_gradient:
                model.backward(loss_grad(y_hat, y))
            else:
                model.backward(loss_grad(y_hat, y), input_gradient=False)
            stage = "update"
            optimizer.step(model)
            if not all(np.isfinite(w).all() for w in model.parameters().values()):
                raise FloatingPointError  # non-finite without a NumPy error (C kernels)
    except FloatingPointError:
        raise TrainingDivergedError(epoch, value, stage, optimizer.learning_rate) from None
    return value, y_hat


def fit(
    layer: BaseConv,
    x: object,
    y: object,
    *,
    epochs: int,
    learning_rate: float,
    momentum: float = 0.0,
    reduction: str = "sum",
    callback: Callable[[int, float, BaseConv], None] | None = None,
) -> list[float]:
    """Train ``layer`` to map ``x`` to ``y`` by gradient descent on the squared loss.

    Each epoch is one step on the whole batch, as the book's loop (6.2.4): the loss
    ``sum((layer(x) - y)**2)`` (or its mean) is recorded before the step. ``callback(epoch, loss,
    layer)`` is called after each step, ``epoch`` counting from 1. Each call starts a fresh
    :class:`~convolab.layers.optimizers.SGD` (zero momentum state).

    Training that goes non-finite stops with :class:`TrainingDivergedError` (a ``ValueError``
    and a ``FloatingPointError``) naming the epoch and its loss: every step runs with NumPy's
    overflow and invalid-operation checks raising, so no ``RuntimeWarning`` is printed and no
    ``inf``/``nan`` weights are returned as a result. The layer's weights are then those of the
    failed step, not restored. ``x`` and ``y`` must be finite.

    Parameters
    ----------
    x : array, the layer's input, e.g. (N, H, W, C)
    y : array, the target, the shape of ``layer(x)``

    Returns
    -------
    list of float, the loss of each epoch

    Raises
    ------
    ValueError : ``epochs`` is not an int >= 0, or ``x``/``y`` hold inf or nan
    TrainingDivergedError : a loss, gradient or weight became non-finite (too large a
        ``learning_rate``)

    Examples
    --------
    >>> import numpy as np
    >>> from convolab.layers import Conv2D
    >>> x = np.ones((1, 6, 8, 1)); x[:, :, 2:6] = 0        # the book's edge image
    >>> y = x[:, :, :-1] - x[:, :, 1:]                      # its edges, kernel [[1, -1]]
    >>> layer = Conv2D(1, kernel_size=(1, 2), use_bias=False, seed=0)
    >>> losses = fit(layer, x, y, epochs=20, learning_rate=3e-2)
    >>> bool(losses[-1] < losses[0]), np.round(layer.kernel[:, :, 0, 0], 1)
    (True, array([[ 1., -1.]], dtype=float32))
    >>> fit(Conv2D(1, kernel_size=(1, 2), use_bias=False, seed=0), x, y, epochs=20,
    ...     learning_rate=10)
    Traceback (most recent call last):
    ...
    convolab.layers.training.TrainingDivergedError: fit: training diverged at epoch 8: ...
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs: expected an int >= 0, received epochs={epochs!r}")
    optimizer = SGD(learning_rate, momentum)
    check_finite(x=x, y=y)
    loss = functools.partial(mse_loss, reduction=reduction)
    loss_grad = functools.partial(mse_loss_grad, reduction=reduction)
    losses: list[float] = []
    for epoch in range(1, epochs + 1):
        value, _ = train_step(layer, x, y, loss=loss, loss_grad=loss_grad, optimizer=optimizer,
                              epoch=epoch)
        losses.append(value)
        if callback is not None:
            callback(epoch, value, layer)
    return losses
