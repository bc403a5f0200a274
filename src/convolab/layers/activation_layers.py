"""The layers ``Activation`` and ``ReLU`` (Keras's), on the functions of ``activations.py``.

>>> layer = Activation("sigmoid")
>>> layer(np.array([[-1e4, 0.0, 1e4]]))
array([[0. , 0.5, 1. ]])
>>> layer.backward(np.ones((1, 3)))                     # y * (1 - y)
array([[0.  , 0.25, 0.  ]])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from convolab.algorithms import elementwise
from convolab.layers.base import Layer, check_real


class Activation(Layer):
    """Applies an activation function: ``Activation("relu")``, Keras's layer.

    Parameters
    ----------
    activation : None, "linear", "relu", "sigmoid", "tanh" or "softmax" (over the last axis)
    name : str or None
    """

    def __init__(self, activation: str | None, name: str | None = None, **unknown: object
                 ) -> None:
        self._init_layer(unknown, activation, name)

    def call(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        return x  # the base class applies the activation

    def _backward(self, g: np.ndarray) -> np.ndarray:
        return g

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, ...]:
        return tuple(input_shape)


class ReLU(Layer):
    """Keras's ``ReLU`` layer: ``max(x, 0)``, optionally capped, leaky and shifted.

    ``y = x`` where ``x > threshold`` (capped at ``max_value``), ``negative_slope * (x -
    threshold)`` below it; Keras's own formula, so with ``threshold != 0`` and no ``max_value``
    an ``x`` in ``(threshold, 0)`` passes through as in Keras. The derivative is 1 where
    ``threshold < x < max_value`` and ``negative_slope`` where ``x <= threshold`` (PyTorch's
    choice at the kinks: ``leaky_relu`` takes the slope at 0, ``hardtanh`` 0 at its ends).

    Parameters
    ----------
    max_value : float >= 0 or None
    negative_slope : float >= 0
    threshold : float
    activation, name : as every layer (the activation applies after the ReLU)

    >>> ReLU(max_value=6.0, negative_slope=0.1)(np.array([-2.0, 3.0, 8.0]))
    array([-0.2,  3. ,  6. ])
    """

    def __init__(self, max_value: float | None = None, negative_slope: float = 0.0,
                 threshold: float = 0.0, activation: str | None = None,
                 name: str | None = None, **unknown: object) -> None:
        self._init_layer(unknown, activation, name)
        self.max_value = None if max_value is None else check_real(max_value, "max_value",
                                                                   minimum=0.0)
        self.negative_slope = check_real(negative_slope, "negative_slope", minimum=0.0)
        self.threshold = check_real(threshold, "threshold")

    def call(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        t = self.threshold
        y = np.maximum(x, 0) if t == 0 else x * (x > t)
        if self.max_value is not None:
            y = np.clip(y, 0, self.max_value)
        if self.negative_slope:
            y = y - self.negative_slope * np.maximum(t - x, 0)
        return y

    def _backward(self, g: np.ndarray) -> np.ndarray:
        x = self._x
        if self.threshold == 0 and self.max_value is None and not self.negative_slope:
            plain = elementwise.relu_grad(np.asarray(g, x.dtype), x)  # g where x > 0, else 0
            if plain is not None:
                return plain
        passes = x > self.threshold
        if self.max_value is not None:
            passes &= x < self.max_value
        slope = passes if not self.negative_slope else np.where(
            x > self.threshold, passes, self.negative_slope)
        return (g * slope).astype(x.dtype, copy=False)

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, ...]:
        return tuple(input_shape)
