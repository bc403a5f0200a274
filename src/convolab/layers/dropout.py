"""``Dropout``: zero a random fraction ``rate`` of the values while training, Keras's layer.

Inverted dropout, as Keras and PyTorch do it: in training each value is kept with probability
``1 - rate`` and scaled by ``1 / (1 - rate)`` (so the expected output is the input), and the
layer is the identity at inference (``training=False``, the default of every call). The mask
of the last training call is kept: ``backward`` sends the gradient through the same values,
scaled the same way. ``rate=1`` drops everything (zeros, as PyTorch's ``p=1``).

The masks come from a NumPy generator seeded by ``seed``: a layer built with the same seed
draws the same sequence of masks (not PyTorch's: the generators differ).

>>> layer = Dropout(0.5, seed=0)
>>> x = np.ones((2, 4))
>>> layer(x) is x                                         # inference: the identity
True
>>> y = layer(x, training=True)
>>> sorted(set(y.ravel().tolist()))                      # kept values scaled by 1 / (1 - 0.5)
[0.0, 2.0]
>>> bool(np.array_equal(layer.backward(np.ones((2, 4))), y))
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from convolab.layers.base import Layer, check_real, torch_module


class Dropout(Layer):
    """Randomly zeros values in training (probability ``rate``), scaling the rest by
    ``1 / (1 - rate)``; the identity at inference.

    Parameters
    ----------
    rate : float in [0, 1], the fraction dropped
    noise_shape : None (a mask value per input value) or a shape that broadcasts to the
        input's, None entries taken from the input: ``(None, 1, 1, None)`` drops whole
        channels of an image batch (Keras's argument)
    seed : int or None
    activation, name : as every layer
    """

    def __init__(self, rate: float, noise_shape: Sequence[int | None] | None = None,
                 seed: int | None = None, activation: str | None = None,
                 name: str | None = None, **unknown: object) -> None:
        self._init_layer(unknown, activation, name)
        self.rate = check_real(rate, "rate", minimum=0.0, below=1.0, inclusive=True)
        if noise_shape is not None and (
            isinstance(noise_shape, str) or not isinstance(noise_shape, Sequence)
            or not all(d is None or (isinstance(d, (int, np.integer)) and d >= 1)
                       for d in noise_shape)
        ):
            raise ValueError(
                "noise_shape: expected None or a sequence of positive ints and None, got "
                f"{noise_shape!r}"
            )
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self._mask: np.ndarray | None = None  # the scaled mask of the last training call

    def _mask_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if self.noise_shape is None:
            return shape
        if len(self.noise_shape) != len(shape):
            raise ValueError(
                f"noise_shape: must have one entry per axis of x, got {self.noise_shape} for x "
                f"of shape {shape}"
            )
        mask = tuple(n if d is None else d for d, n in zip(self.noise_shape, shape))
        if any(d not in (1, n) for d, n in zip(mask, shape)):
            raise ValueError(
                f"noise_shape: {self.noise_shape} does not broadcast to x's shape {shape}"
            )
        return mask

    def call(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if not training or self.rate == 0:
            self._mask = None
            return x
        keep = self._rng.random(self._mask_shape(x.shape)) >= self.rate
        # PyTorch's order: the mask is scaled first, then multiplies x
        self._mask = (keep / (1 - self.rate) if self.rate < 1 else keep).astype(x.dtype)
        return x * self._mask

    def _backward(self, g: np.ndarray) -> np.ndarray:
        out = g if self._mask is None else g * self._mask
        return out.astype(self._x.dtype, copy=False)

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, ...]:
        return tuple(input_shape)

    @classmethod
    def from_torch(cls, module: Any, seed: int | None = None) -> Dropout:
        """A ``Dropout`` of a ``torch.nn.Dropout``'s ``p`` (its masks are NumPy's, from
        ``seed``)."""
        torch_module(cls, module, "Dropout")
        return cls(module.p, seed=seed)
