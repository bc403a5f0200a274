"""Activation functions with their derivatives (Keras's ``keras.activations``); the layers
``Activation`` and ``ReLU`` are in ``activation_layers.py``.

Every layer applies its ``activation=`` after its own computation (after the bias, for the
layers that have one), and its ``backward`` goes back through it first. The derivatives are
written in terms of the activation's output ``y`` (which every layer keeps anyway), as
PyTorch's autograd writes them:

=========== ============================================ ==========================================
name        y = f(x)                                     dL/dx given g = dL/dy
=========== ============================================ ==========================================
``linear``  ``x`` (also ``None``)                        ``g``
``relu``    ``max(x, 0)``                                ``g`` where ``y > 0``, else 0
``sigmoid`` ``1 / (1 + exp(-x))``                        ``g * y * (1 - y)``
``tanh``    ``tanh(x)``                                  ``g * (1 - y**2)``
``softmax`` ``exp(x) / sum(exp(x))`` over the last axis  ``y * (g - sum(g * y))`` over the last axis
=========== ============================================ ==========================================

Sigmoid and softmax are computed without overflow for any finite input (``exp`` only ever sees
numbers <= 0), so training under ``np.errstate(over="raise")`` never trips on them.

>>> sigmoid = get("sigmoid")
>>> y = sigmoid.forward(np.array([-1e4, 0.0, 1e4]))
>>> y
array([0. , 0.5, 1. ])
>>> sigmoid.backward(np.ones(3), y)                      # y * (1 - y)
array([0.  , 0.25, 0.  ])
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from convolab.algorithms import elementwise


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """``exp(min(x, 0)) / (1 + exp(-|x|))``: ``1 / (1 + e)`` for ``x >= 0`` and ``e / (1 + e)``
    below, with ``e = exp(-|x|)`` in (0, 1], so neither exp overflows. The compiled core does
    it in one pass; NumPy in seven in-place ones, without ``np.where``, whose branches
    mispredict on inputs of mixed sign (6 ms for 1.2 M floats, against 2.5)."""
    y = elementwise.sigmoid(x)
    if y is not None:
        return y
    den = np.abs(x)
    np.negative(den, out=den)
    np.exp(den, out=den)
    den += 1
    y = np.minimum(x, 0)
    np.exp(y, out=y)
    y /= den
    return y


def _sigmoid_backward(g: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``g * (1 - y) * y``, in that order, in one pass (compiled) or with one temporary."""
    d = elementwise.sigmoid_grad(g, y)
    if d is not None:
        return d
    d = g * (1 - y)
    d *= y
    return d


def _relu(x: np.ndarray) -> np.ndarray:
    """``max(x, 0)`` in one compiled pass on the workers, or NumPy's (single-threaded:
    0.24 ms of every LeNet step for the first layer's 256x28x28x6)."""
    y = elementwise.relu(x)
    return np.maximum(x, 0) if y is None else y


def _relu_backward(g: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``g`` where the unit is on (``y > 0``), else 0: PyTorch's rule (an Inf or NaN gradient
    of a unit that is off gives 0, not NaN)."""
    d = elementwise.relu_grad(g, y)
    if d is not None:
        return d
    return np.where(y > 0, g, np.zeros((), np.result_type(g, y)))


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))  # the largest term is exp(0) = 1
    return e / e.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class _Function:
    """An activation: ``forward(x) -> y`` and ``backward(g, y) -> dL/dx``."""

    name: str
    forward: Callable[[np.ndarray], np.ndarray]
    backward: Callable[[np.ndarray, np.ndarray], np.ndarray]


ACTIVATIONS: dict[str, _Function] = {
    f.name: f
    for f in (
        _Function("linear", lambda x: x, lambda g, y: g),
        _Function("relu", _relu, _relu_backward),
        _Function("sigmoid", _sigmoid, _sigmoid_backward),
        _Function("tanh", np.tanh, lambda g, y: g * (1 - y * y)),
        _Function("softmax", _softmax,
                  lambda g, y: y * (g - (g * y).sum(axis=-1, keepdims=True))),
    )
}


def check_activation(activation: object) -> str | None:
    """``activation`` as given if it names one of :data:`ACTIVATIONS` (any case) or is None;
    else a clear error."""
    if activation is None:
        return None
    if isinstance(activation, str) and activation.lower() in ACTIVATIONS:
        return activation.lower()
    names = ", ".join(repr(n) for n in ACTIVATIONS)
    close = (difflib.get_close_matches(activation.lower(), list(ACTIVATIONS), n=1, cutoff=0.6)
             if isinstance(activation, str) else [])
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    kind = ValueError if isinstance(activation, str) else TypeError
    raise kind(f"activation: expected None or one of {names}, got {activation!r}{hint}")


def get(activation: str | None) -> _Function:
    """The activation named by a checked ``activation`` (None is ``linear``)."""
    return ACTIVATIONS["linear" if activation is None else activation]
