"""``Flatten``: every axis but the batch axis into one, Keras's layer.

``(N, d1, d2, ...) -> (N, d1 * d2 * ...)`` in C order. Keras's ``data_format`` says only in
which order the values of an image come out: "channels_last" (the default) flattens the array
as it lies; "channels_first" takes an ``(N, C, *spatial)`` input and moves the channels last
first, so that its features come out in the order of a channels_last model (the purpose Keras
gives the argument). PyTorch's ``nn.Flatten`` after channels-first layers is the default here:
the array as it lies, ``(C, H, W)`` order.

>>> x = np.arange(8.0).reshape(1, 2, 2, 2)
>>> Flatten()(x)
array([[0., 1., 2., 3., 4., 5., 6., 7.]])
>>> Flatten(data_format="channels_first")(x)         # x read as (N, C, H, W): C moved last
array([[0., 4., 1., 5., 2., 6., 3., 7.]])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from convolab.layers.base import Layer, check_data_format, torch_module
from convolab.ops.arguments import FIRST


class Flatten(Layer):
    """Flattens every axis but the first (the batch): ``(N, ...) -> (N, prod(...))``.

    Parameters
    ----------
    data_format : "channels_last" (the default, also None: flatten as the array lies) or
        "channels_first"
        (channels moved last before flattening, Keras's meaning)
    activation, name : as every layer
    """

    def __init__(self, data_format: str | None = "channels_last", activation: str | None = None,
                 name: str | None = None, **unknown: object) -> None:
        self._init_layer(unknown, activation, name)
        self.data_format = check_data_format(data_format)

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, ...]:
        """``(N, ...) -> (N, prod(...))``, None if any of them is unknown.

        >>> Flatten().compute_output_shape((None, 5, 5, 16))
        (None, 400)
        """
        if len(input_shape) < 1:
            raise ValueError(f"input_shape: Flatten needs a batch axis, got {tuple(input_shape)}")
        rest = tuple(input_shape[1:])
        return (input_shape[0], None if None in rest else math.prod(rest))

    def _check_input(self, shape: tuple[int, ...]) -> None:
        if len(shape) < 1:
            raise ValueError(f"x: Flatten needs a batch axis, got a scalar of shape {shape}")

    def call(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if self.data_format == FIRST and x.ndim > 2:
            x = np.moveaxis(x, 1, -1)  # (N, C, *spatial) -> (N, *spatial, C)
        return x.reshape(x.shape[0], math.prod(x.shape[1:]))  # explicit sizes: N may be 0

    def _backward(self, g: np.ndarray) -> np.ndarray:
        x = self._x
        if self.data_format == FIRST and x.ndim > 2:
            shape = (x.shape[0], *x.shape[2:], x.shape[1])
            return np.moveaxis(g.reshape(shape), -1, 1).astype(x.dtype, copy=False)
        return g.reshape(x.shape).astype(x.dtype, copy=False)

    @classmethod
    def from_torch(cls, module: Any) -> Flatten:
        """The ``Flatten`` equal to ``torch.nn.Flatten()`` (``start_dim=1, end_dim=-1``, its
        defaults; other values are a ValueError)."""
        torch_module(cls, module, "Flatten")
        if (module.start_dim, module.end_dim) != (1, -1):
            raise ValueError(
                "module: Flatten flattens every axis after the batch axis (start_dim=1, "
                f"end_dim=-1), got start_dim={module.start_dim}, end_dim={module.end_dim}"
            )
        return cls()
