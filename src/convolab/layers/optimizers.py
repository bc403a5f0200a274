"""Stochastic gradient descent with momentum, Keras's formulation.

For each weight ``w`` with gradient ``g``: ``v = momentum * v - learning_rate * g``, then
``w = w + v`` (``momentum=0`` is plain ``w -= learning_rate * g``). Weights are updated in place.

>>> from convolab.layers import Conv2D
>>> layer = Conv2D(1, 1, use_bias=False, kernel_initializer="ones")
>>> _ = layer(np.ones((1, 1, 1, 1)))
>>> _ = layer.backward(np.ones((1, 1, 1, 1)))          # dL/dkernel = 1
>>> SGD(learning_rate=0.25).step(layer)
>>> layer.kernel.ravel()
array([0.75], dtype=float32)
"""

from __future__ import annotations

import numbers
import weakref
from typing import Protocol

import numpy as np


class Trainable(Protocol):
    """What an optimizer needs from a layer: live weights and their gradients, by name."""

    grads: dict[str, np.ndarray]

    def parameters(self) -> dict[str, np.ndarray]: ...


def _check_rate(value: object, name: str, *, below_one: bool = False) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and value >= 0
    if not ok or (below_one and value >= 1):
        rule = "in [0, 1)" if below_one else ">= 0"
        raise ValueError(f"{name}: expected a real number {rule}, received {name}={value!r}")
    return float(value)


class SGD:
    """Gradient descent on a layer's ``parameters()`` using its ``grads``."""

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0) -> None:
        self.learning_rate = _check_rate(learning_rate, "learning_rate")
        self.momentum = _check_rate(momentum, "momentum", below_one=True)
        # Per layer, per weight name; a layer that is garbage-collected takes its state along
        # (keying by id() would hand a stale velocity to a new layer that reuses the id).
        self._velocity: weakref.WeakKeyDictionary[object, dict[str, np.ndarray]] = (
            weakref.WeakKeyDictionary()
        )

    def step(self, layer: Trainable) -> None:
        """Update every weight of ``layer`` that has a gradient, in place."""
        if not layer.grads:
            raise ValueError("step: the layer has no gradients; call layer.backward first")
        params = layer.parameters()
        for name, g in layer.grads.items():
            w = params[name]
            if self.momentum == 0.0:
                w -= self.learning_rate * g
                continue
            v = self._velocity.setdefault(layer, {}).setdefault(name, np.zeros_like(w))
            v *= self.momentum
            v -= self.learning_rate * g
            w += v
