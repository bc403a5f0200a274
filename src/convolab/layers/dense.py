"""``Dense``: the fully connected layer, ``y = activation(x @ kernel + bias)`` on the last axis.

As Keras's: ``kernel`` is ``(in, units)`` (PyTorch's ``nn.Linear.weight`` is its transpose),
every leading axis of ``x`` is a batch axis, and the weights are created on the first call from
``x.shape[-1]``.

>>> layer = Dense(2, kernel_initializer="ones", bias_initializer=0.5)
>>> layer(np.array([[1.0, 2.0, 3.0]]))                   # (N, in) -> (N, units)
array([[6.5, 6.5]], dtype=float32)
>>> layer.backward(np.array([[1.0, -1.0]]))              # dL/dx = g @ kernel.T
array([[0., 0., 0.]], dtype=float32)
>>> layer.grads["kernel"][:, 0], layer.grads["bias"]    # x.T @ g and the sum of g
(array([1., 2., 3.], dtype=float32), array([ 1., -1.], dtype=float32))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from convolab.algorithms.matmul import matmul
from convolab.layers import initializers
from convolab.layers.base import (
    Layer,
    check_dtype,
    check_positive_int,
    torch_array,
    torch_module,
)


class Dense(Layer):
    """Fully connected layer: ``activation(x @ kernel + bias)``, Keras's ``Dense``.

    Parameters
    ----------
    units : int, the output size
    activation : None, "linear", "relu", "sigmoid", "tanh" or "softmax"
    use_bias : bool
    kernel_initializer, bias_initializer : Keras name, number or callable f(shape, dtype, rng)
        (Keras's defaults: "glorot_uniform" and "zeros")
    seed : int or None; the same seed gives the same initial weights
    dtype : "float32" (default, as Keras), "float64" or "float16"; inputs are cast to it
    name : str or None (then Keras's: ``dense``, ``dense_1``, ...)

    Attributes
    ----------
    kernel : ndarray, shape (in, units), once built
    bias : ndarray, shape (units,), or None
    grads : dict, "kernel" and "bias" after ``backward``
    """

    _weight_names = ("kernel", "bias")

    def __init__(self, units: int, activation: str | None = None, use_bias: bool = True,
                 kernel_initializer: object = "glorot_uniform",
                 bias_initializer: object = "zeros", seed: int | None = None,
                 dtype: object = "float32", name: str | None = None,
                 **unknown: object) -> None:
        self._init_layer(unknown, activation, name)
        self.units = check_positive_int(units, "units")
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self._init_kernel = initializers.get(kernel_initializer, "kernel_initializer")
        self._init_bias = initializers.get(bias_initializer, "bias_initializer")
        self.seed = seed
        self.dtype = check_dtype(dtype)
        self.kernel: np.ndarray | None = None
        self.bias: np.ndarray | None = None

    def _features(self, input_shape: Sequence[int | None], name: str = "input_shape") -> int:
        if len(input_shape) < 1 or input_shape[-1] is None:
            raise ValueError(
                f"{name}: Dense needs (..., features) with a known last axis, got "
                f"{tuple(input_shape)}"
            )
        return int(input_shape[-1])

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Create ``kernel`` (in, units) and ``bias`` (units,) for inputs (..., in)."""
        n_in = self._features(input_shape)
        self._make_weights([
            ("kernel", (n_in, self.units), self._init_kernel),
            ("bias", (self.units,) if self.use_bias else None, self._init_bias),
        ], self.seed)

    def call(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """(..., in) -> (..., units)."""
        if x.shape[-1:] != self.kernel.shape[:1]:
            raise ValueError(
                f"x: expected (..., {self.kernel.shape[0]}) (the layer was built for "
                f"{self.kernel.shape[0]} features), got {x.shape}"
            )
        y = matmul(x.reshape(-1, x.shape[-1]), self.kernel).reshape(*x.shape[:-1], self.units)
        if self.bias is not None:
            y += self.bias
        return y

    def _check_input(self, shape: tuple[int, ...]) -> None:
        self._features(shape, "x")

    def _backward(self, g: np.ndarray) -> np.ndarray:
        # y = x @ K + b over the rows of x (every leading axis): dK = x^T g, db = sum of g's rows
        g = g.astype(self.dtype, copy=False)
        x2 = self._x.reshape(-1, self.kernel.shape[0])  # (rows, in)
        g2 = g.reshape(-1, self.units)  # (rows, units)
        self.grads = {"kernel": matmul(x2.T, g2)}
        if self.use_bias:
            self.grads["bias"] = g2.sum(axis=0)
        return matmul(g2, self.kernel.T).reshape(*g.shape[:-1], self.kernel.shape[0])

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, ...]:
        """``(..., in) -> (..., units)``.

        >>> Dense(10).compute_output_shape((None, 84))
        (None, 10)
        """
        self._features(input_shape)
        return (*tuple(input_shape)[:-1], self.units)

    @classmethod
    def from_torch(cls, module: Any) -> Dense:
        """A built ``Dense`` equal to a ``torch.nn.Linear``: ``kernel = weight.T``, the
        module's bias (or none), the weights' dtype. torch is not imported here."""
        torch_module(cls, module, "Linear")
        weight = torch_array(module.weight)  # (units, in)
        layer = cls(module.out_features, use_bias=module.bias is not None, dtype=weight.dtype)
        layer.build((1, module.in_features))
        weights = [weight.T] + ([torch_array(module.bias)] if module.bias is not None else [])
        layer.set_weights(weights)
        return layer
