"""Optimizers: ``SGD`` (momentum, Nesterov) and ``Adam``, PyTorch's update rules step by step.

Both update weights in place, from gradients, in one of two ways: ``step(layer)`` takes a
layer's (or a model's) ``grads`` and ``parameters()`` by name; ``apply(grads, weights)`` takes
two lists in the same order (Keras's ``optimizer.apply``). State (momentum buffers, Adam's
moments and step count) is kept per weight array, by identity, and goes when the array goes:
pass the same arrays at every step. For a weight ``w`` with gradient ``g`` and learning rate
``lr`` (``torch.optim.SGD`` and ``torch.optim.Adam``, as their documentation writes them)::

    SGD:   b = momentum * b + g            (b = g at the first step)
           w -= lr * (g + momentum * b  if nesterov else  b)       (w -= lr * g if momentum=0)
    Adam:  t += 1
           m = beta_1 * m + (1 - beta_1) * g
           v = beta_2 * v + (1 - beta_2) * g**2
           w -= lr / (1 - beta_1**t) * m / (sqrt(v) / sqrt(1 - beta_2**t) + epsilon)

Keras writes SGD with a velocity ``u = momentum * u - lr * g``, ``w += u`` (Nesterov: ``w +=
momentum * u - lr * g``): the same steps, as ``u = -lr * b``, while ``lr`` stays constant.
Keras's Adam adds its epsilon to ``sqrt(v)`` before the bias correction, which is the update
above with ``epsilon / sqrt(1 - beta_2**t)``; here epsilon enters as in PyTorch (above), with
Keras's default value 1e-7 (PyTorch's is 1e-8: pass ``epsilon=1e-8`` to get its steps).

>>> from convolab.layers import Conv2D
>>> layer = Conv2D(1, 1, use_bias=False, kernel_initializer="ones")
>>> _ = layer(np.ones((1, 1, 1, 1)))
>>> _ = layer.backward(np.ones((1, 1, 1, 1)))          # dL/dkernel = 1
>>> SGD(learning_rate=0.25).step(layer)
>>> layer.kernel.ravel()
array([0.75], dtype=float32)
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from convolab.layers.base import check_bool, check_real


class Trainable(Protocol):
    """What ``step`` needs: live weights and their gradients, by name."""

    grads: dict[str, np.ndarray]

    def parameters(self) -> dict[str, np.ndarray]: ...


def _rate(value: object, name: str) -> float:
    """A real number in [0, 1)."""
    return check_real(value, name, minimum=0.0, below=1.0)


class Optimizer:
    """What ``SGD`` and ``Adam`` share: the learning rate, per-weight state and the two ways
    of applying gradients. A subclass writes ``_update(w, g, state)``."""

    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = check_real(learning_rate, "learning_rate", minimum=0.0)
        # id(weight) -> (a weak reference to it, its state); a weight that is garbage-collected
        # takes its entry along, so a new array that reuses the id starts afresh
        self._state: dict[int, tuple[weakref.ref, dict[str, Any]]] = {}

    def step(self, layer: Trainable) -> None:
        """Update every weight of ``layer`` that has a gradient, in place."""
        if not layer.grads:
            raise ValueError("step: the layer has no gradients; call layer.backward first")
        params = layer.parameters()
        self.apply(list(layer.grads.values()), [params[name] for name in layer.grads])

    def apply(self, grads: Sequence[np.ndarray], weights: Sequence[np.ndarray]) -> None:
        """Update each array of ``weights`` in place by the gradient at the same position of
        ``grads`` (one step)."""
        if len(grads) != len(weights):
            raise ValueError(f"grads: expected one gradient per weight ({len(weights)}), got "
                             f"{len(grads)}")
        for i, (g, w) in enumerate(zip(grads, weights)):
            g = np.asarray(g)
            if not isinstance(w, np.ndarray) or g.shape != w.shape:
                raise ValueError(
                    f"grads: gradient {i} must have the shape of its weight "
                    f"{getattr(w, 'shape', type(w).__name__)}, got {g.shape}"
                )
            self._update(w, g, self._slots(w))

    def _slots(self, w: np.ndarray) -> dict[str, Any]:
        """The state of weight ``w``, created empty at its first step."""
        key = id(w)
        entry = self._state.get(key)
        if entry is None or entry[0]() is not w:
            entry = self._state[key] = (weakref.ref(w), {})
            weakref.finalize(w, self._state.pop, key, None)
        return entry[1]

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum and Nesterov momentum
    (``torch.optim.SGD``'s update; Keras's arguments and defaults).

    Parameters
    ----------
    learning_rate : float >= 0 (Keras's default 0.01)
    momentum : float in [0, 1)
    nesterov : bool
    """

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0,
                 nesterov: bool = False) -> None:
        super().__init__(learning_rate)
        self.momentum = _rate(momentum, "momentum")
        self.nesterov = check_bool(nesterov, "nesterov")
        self._velocity = self._state  # the momentum buffers, by weight (the older name)

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        if self.momentum:
            b = state.get("momentum_buffer")
            if b is None:
                b = state["momentum_buffer"] = np.array(g, dtype=w.dtype)
            else:
                b *= self.momentum
                b += g
            g = g + self.momentum * b if self.nesterov else b
        w -= self.learning_rate * g

    def get_config(self) -> dict[str, Any]:
        return dict(learning_rate=self.learning_rate, momentum=self.momentum,
                    nesterov=self.nesterov)


class Adam(Optimizer):
    """Adam (``torch.optim.Adam``'s update; Keras's arguments and defaults). See the module for
    where ``epsilon`` enters.

    Parameters
    ----------
    learning_rate : float >= 0
    beta_1, beta_2 : float in [0, 1), the decay of the first and second moments
    epsilon : float >= 0, added to the bias-corrected ``sqrt(v)`` (PyTorch's place; its
        default is 1e-8, Keras's 1e-7)
    """

    def __init__(self, learning_rate: float = 1e-3, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7) -> None:
        super().__init__(learning_rate)
        self.beta_1 = _rate(beta_1, "beta_1")
        self.beta_2 = _rate(beta_2, "beta_2")
        self.epsilon = check_real(epsilon, "epsilon", minimum=0.0)

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        if not state:
            state.update(step=0, m=np.zeros_like(w), v=np.zeros_like(w))
        state["step"] += 1
        t, m, v = state["step"], state["m"], state["v"]
        # in PyTorch's order of operations: m.lerp_(g, 1 - beta_1), v.mul_(beta_2).addcmul_()
        m += (1 - self.beta_1) * (g - m)
        v *= self.beta_2
        v += (1 - self.beta_2) * (g * g)
        step_size = self.learning_rate / (1 - self.beta_1**t)
        denom = np.sqrt(v) / math.sqrt(1 - self.beta_2**t) + self.epsilon
        w -= step_size * (m / denom)

    def get_config(self) -> dict[str, Any]:
        return dict(learning_rate=self.learning_rate, beta_1=self.beta_1, beta_2=self.beta_2,
                    epsilon=self.epsilon)
