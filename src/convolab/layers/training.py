"""A full-batch training loop: forward, squared loss, backward, SGD step, per epoch."""

from __future__ import annotations

from collections.abc import Callable

from convolab.layers.conv2d import Conv2D
from convolab.layers.losses import mse_loss, mse_loss_grad
from convolab.layers.optimizers import SGD


def fit(
    layer: Conv2D,
    x: object,
    y: object,
    *,
    epochs: int,
    learning_rate: float,
    momentum: float = 0.0,
    reduction: str = "sum",
    callback: Callable[[int, float, Conv2D], None] | None = None,
) -> list[float]:
    """Train ``layer`` to map ``x`` to ``y`` by gradient descent on the squared loss.

    Each epoch is one step on the whole batch, as the book's loop (6.2.4): the loss
    ``sum((layer(x) - y)**2)`` (or its mean) is recorded before the step. ``callback(epoch, loss,
    layer)`` is called after each step, ``epoch`` counting from 1. Each call starts a fresh
    :class:`~convolab.layers.optimizers.SGD` (zero momentum state).

    Parameters
    ----------
    x : array, the layer's input, e.g. (N, H, W, C)
    y : array, the target, the shape of ``layer(x)``

    Returns
    -------
    list of float, the loss of each epoch

    Examples
    --------
    >>> import numpy as np
    >>> x = np.ones((1, 6, 8, 1)); x[:, :, 2:6] = 0        # the book's edge image
    >>> y = x[:, :, :-1] - x[:, :, 1:]                      # its edges, kernel [[1, -1]]
    >>> layer = Conv2D(1, kernel_size=(1, 2), use_bias=False, seed=0)
    >>> losses = fit(layer, x, y, epochs=20, learning_rate=3e-2)
    >>> bool(losses[-1] < losses[0]), np.round(layer.kernel[:, :, 0, 0], 1)
    (True, array([[ 1., -1.]], dtype=float32))
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs: expected an int >= 0, received epochs={epochs!r}")
    optimizer = SGD(learning_rate, momentum)
    losses = []
    for epoch in range(1, epochs + 1):
        y_hat = layer(x)
        losses.append(mse_loss(y_hat, y, reduction=reduction))
        layer.backward(mse_loss_grad(y_hat, y, reduction=reduction))
        optimizer.step(layer)
        if callback is not None:
            callback(epoch, losses[-1], layer)
    return losses
