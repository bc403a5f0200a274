"""Keras's weight initializers, drawn with NumPy and reproducible from a seed.

A kernel of shape ``(*kernel, C_in, C_out)`` (WIO, HWIO, DHWIO: any rank) has, as in Keras,
``fan_in = prod(kernel)*C_in`` and ``fan_out = prod(kernel)*C_out`` (``prod(kernel)`` is the
receptive field size: ``kh*kw`` for an image). The variance-scaling family draws with
variance ``scale / n`` where ``n`` is ``fan_in`` (He: scale 2; LeCun: scale 1) or
``(fan_in + fan_out) / 2`` (Glorot: scale 1); the "normal" variants draw from a normal truncated
at two standard deviations, rescaled so the variance is still ``scale / n`` (Keras's
``0.87962566103423978`` correction).

>>> w = get("glorot_uniform")((1, 2, 1, 1), np.float32, np.random.default_rng(0))
>>> w.shape, w.dtype, bool(np.all(np.abs(w) <= np.sqrt(6 / 4)))
((1, 2, 1, 1), dtype('float32'), True)
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Initializer = Callable[[tuple[int, ...], np.dtype, np.random.Generator], np.ndarray]

# std of a standard normal truncated to [-2, 2]
_TRUNCATED_STD = 0.87962566103423978


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight shape, as Keras computes them: for a kernel
    ``(*kernel, C_in, C_out)`` of any rank, ``prod(kernel) * C_in`` and ``prod(kernel) * C_out``;
    for a Dense ``(in, out)``, ``in`` and ``out``; a vector's length for both; 1 for a scalar.

    >>> fans((3, 3, 16, 32))
    (144, 288)
    >>> fans((5, 4, 8)), fans((3, 3, 3, 2, 4))
    ((20, 40), (54, 108))
    >>> fans((10,)), fans(())
    ((10, 10), (1, 1))
    """
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def _truncated_normal(rng: np.random.Generator, shape: tuple[int, ...], std: float) -> np.ndarray:
    """Normal with std ``std`` before truncation at two standard deviations (redrawn)."""
    z = rng.standard_normal(shape)
    bad = np.abs(z) > 2
    while bad.any():
        z[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(z) > 2
    return z * std


@dataclass(frozen=True)
class VarianceScaling:
    """Draw with variance ``scale / n``; ``mode`` picks n, ``distribution`` the shape."""

    scale: float = 1.0
    mode: str = "fan_in"  # "fan_in", "fan_out" or "fan_avg"
    distribution: str = "truncated_normal"  # or "uniform"

    def __call__(self, shape, dtype, rng):
        fan_in, fan_out = fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            w = rng.uniform(-limit, limit, shape)
        else:
            w = _truncated_normal(rng, shape, math.sqrt(variance) / _TRUNCATED_STD)
        return w.astype(dtype)


@dataclass(frozen=True)
class Constant:
    """Every entry ``value``."""

    value: float = 0.0

    def __call__(self, shape, dtype, rng):
        return np.full(shape, self.value, dtype)


@dataclass(frozen=True)
class RandomNormal:
    """Normal with ``mean`` and ``stddev`` (Keras's defaults 0 and 0.05)."""

    mean: float = 0.0
    stddev: float = 0.05

    def __call__(self, shape, dtype, rng):
        return rng.normal(self.mean, self.stddev, shape).astype(dtype)


@dataclass(frozen=True)
class TruncatedNormal:
    """Normal with ``mean`` and ``stddev``, redrawn beyond two standard deviations."""

    mean: float = 0.0
    stddev: float = 0.05

    def __call__(self, shape, dtype, rng):
        return (self.mean + _truncated_normal(rng, shape, self.stddev)).astype(dtype)


@dataclass(frozen=True)
class RandomUniform:
    """Uniform on ``[minval, maxval)`` (Keras's defaults -0.05 and 0.05)."""

    minval: float = -0.05
    maxval: float = 0.05

    def __call__(self, shape, dtype, rng):
        return rng.uniform(self.minval, self.maxval, shape).astype(dtype)


INITIALIZERS: dict[str, Initializer] = {
    "glorot_uniform": VarianceScaling(1.0, "fan_avg", "uniform"),
    "glorot_normal": VarianceScaling(1.0, "fan_avg", "truncated_normal"),
    "he_uniform": VarianceScaling(2.0, "fan_in", "uniform"),
    "he_normal": VarianceScaling(2.0, "fan_in", "truncated_normal"),
    "lecun_uniform": VarianceScaling(1.0, "fan_in", "uniform"),
    "lecun_normal": VarianceScaling(1.0, "fan_in", "truncated_normal"),
    "zeros": Constant(0.0),
    "ones": Constant(1.0),
    "constant": Constant(0.0),
    "random_normal": RandomNormal(),
    "random_uniform": RandomUniform(),
    "truncated_normal": TruncatedNormal(),
}


def get(identifier: object, name: str = "initializer") -> Initializer:
    """An initializer from a Keras name ("he_normal", "HeNormal"), a number or a callable.

    A number ``v`` means ``Constant(v)``; a callable is called as ``f(shape, dtype, rng)``.

    >>> get("Ones")((2,), np.float32, np.random.default_rng(0))
    array([1., 1.], dtype=float32)
    """
    if callable(identifier):
        return identifier
    if isinstance(identifier, (int, float)) and not isinstance(identifier, bool):
        return Constant(float(identifier))
    if isinstance(identifier, str):
        # Keras accepts class names too: "GlorotUniform" -> "glorot_uniform"
        key = "".join(f"_{ch.lower()}" if ch.isupper() else ch for ch in identifier).lstrip("_")
        if key in INITIALIZERS:
            return INITIALIZERS[key]
        close = difflib.get_close_matches(key, list(INITIALIZERS), n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(
            f"{name}: unknown initializer {identifier!r}{hint}; expected one of "
            f"{sorted(INITIALIZERS)}, a number or a callable f(shape, dtype, rng)"
        )
    raise TypeError(
        f"{name}: expected an initializer name, a number or a callable f(shape, dtype, rng), "
        f"got {identifier!r}"
    )
