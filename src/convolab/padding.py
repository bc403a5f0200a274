"""Pad an array along its spatial axes, and the adjoint of padding (for gradients).

Every mode is described by one *index map* per axis: for each position of the padded axis, the
index of the input pixel it copies, or -1 for a zero. Padding is a gather through the maps; its
adjoint (needed by backward passes) is a scatter-add through the same maps, so the gradient of a
reflected or wrapped border folds back onto exactly the pixels it copied.

Modes (canonical names; aliases are resolved by :func:`convolab.shapes.normalize_padding_mode`),
for an axis ``a b c d`` padded by 3 on each side:

============  =====================  =============================  ==========================
mode          padded axis            also called                    limit per side
============  =====================  =============================  ==========================
zeros         0 0 0 a b c d 0 0 0    constant                       none
reflect       d c b a b c d c b a    mirror (scipy), REFLECT_101    < axis length (PyTorch's)
symmetric     c b a a b c d d c b    reflect (scipy!), REFLECT      <= axis length
replicate     a a a a b c d d d d    edge, nearest                  none
circular      b c d a b c d a b c    wrap                           <= axis length (PyTorch's)
============  =====================  =============================  ==========================
"""

from __future__ import annotations

import numpy as np

from convolab.shapes import Pads, Sizes, axis_names

_LIMITS = {
    # mode: (largest allowed padding as a function of the axis length, rule in words)
    "reflect": (lambda n: n - 1, "less than"),
    "symmetric": (lambda n: n, "at most"),
    "circular": (lambda n: n, "at most"),
}


_MODES = ("zeros", "replicate", "circular", "reflect", "symmetric")  # what index_map knows


def check_padding_fits(in_shape: Sizes, pads: Pads, mode: str) -> None:
    """Raise ValueError if ``mode`` cannot pad an ``in_shape`` input (any rank) by ``pads``."""
    for n, (before, after), name in zip(in_shape, pads, axis_names(len(in_shape))):
        if n == 0 and mode != "zeros" and before + after > 0:
            raise ValueError(
                f"padding: padding_mode={mode!r} has no pixels to copy from an input {name} "
                "of 0; only padding_mode='zeros' pads an empty axis"
            )
        if mode in _LIMITS and max(before, after) > _LIMITS[mode][0](n):
            raise ValueError(
                f"padding: padding_mode={mode!r} needs padding {_LIMITS[mode][1]} the input "
                f"{name} {n} on each side, got {(before, after)}"
            )


def index_map(n: int, before: int, after: int, mode: str) -> np.ndarray:
    """Source index (or -1 for zero) of each of the ``before + n + after`` padded positions.

    >>> index_map(4, 3, 3, "reflect").tolist()
    [3, 2, 1, 0, 1, 2, 3, 2, 1, 0]
    >>> index_map(4, 3, 3, "symmetric").tolist()
    [2, 1, 0, 0, 1, 2, 3, 3, 2, 1]
    """
    pos = np.arange(-before, n + after)
    if before == after == 0 and mode in _MODES:  # every mode maps an unpadded axis to itself
        return pos
    if mode == "zeros":
        if before < 0 or after < 0:  # negative amounts crop: the general form
            return np.where((pos >= 0) & (pos < n), pos, -1)
        pos[:before] = -1  # two slice writes: a third of the time of a masked np.where
        pos[before + n :] = -1
        return pos
    if mode == "replicate":
        return np.clip(pos, 0, n - 1)
    if mode == "circular":
        return pos % n
    if mode == "reflect":
        period = 2 * (n - 1)
        if period == 0:  # n == 1 and no padding is allowed: nothing to reflect
            return np.zeros_like(pos)
        q = pos % period
        return np.where(q < n, q, period - q)
    if mode == "symmetric":
        q = pos % (2 * n)
        return np.where(q < n, q, 2 * n - 1 - q)
    raise ValueError(f"padding_mode: unknown canonical mode {mode!r}")


def default_axes(pads: Pads) -> tuple[int, ...]:
    """The spatial axes of a channels-last batch (N, *spatial, C) with one pad per axis."""
    return tuple(range(1, len(pads) + 1))


def gather(x: np.ndarray, maps: tuple[np.ndarray, ...], axes: tuple[int, ...]) -> np.ndarray:
    """``x`` indexed by ``maps[i]`` along ``axes[i]``, with zeros where an index is -1.

    A contiguous run of in-range indices is taken as a slice (no gather).
    """
    out = x
    for axis, idx in zip(axes, maps):
        if _is_run(idx):
            out = out[(slice(None),) * axis + (slice(idx[0], idx[0] + len(idx)),)]
            continue
        zero = idx < 0
        out = np.take(out, np.where(zero, 0, idx), axis=axis)
        if zero.any():
            out[(slice(None),) * axis + (zero,)] = 0
    return out


def _is_run(idx: np.ndarray) -> bool:
    """Whether ``idx`` (1-D ints) is ``i0, i0 + 1, ..., i0 + len - 1`` with ``i0 >= 0``.

    >>> _is_run(np.arange(2, 6)), _is_run(np.array([0, 2, 1, 3])), _is_run(np.array([-1, 0]))
    (True, False, False)
    """
    n = len(idx)
    if not n or idx[0] < 0 or idx[-1] - idx[0] != n - 1:
        return False
    i0 = int(idx[0])
    if n <= 64:  # short maps (small images, bands of rows): a Python list compares faster
        return idx.tolist() == list(range(i0, i0 + n))
    return bool((idx[1:] - idx[:-1] == 1).all())


def pad(x: np.ndarray, pads: Pads, mode: str, *, axes: tuple[int, ...] | None = None
        ) -> np.ndarray:
    """Pad ``x`` along ``axes`` (default: the spatial axes of a channels-last batch) by one
    ``(before, after)`` per axis (``((top, bottom), (left, right))`` for NHWC).

    >>> pad(np.arange(3.0).reshape(1, 1, 3, 1), ((0, 0), (2, 1)), "circular")[0, 0, :, 0]
    array([1., 2., 0., 1., 2., 0.])
    """
    axes = default_axes(pads) if axes is None else axes
    maps = tuple(index_map(x.shape[a], b, e, mode) for a, (b, e) in zip(axes, pads))
    return gather(x, maps, axes)


def pad_adjoint(
    g: np.ndarray, pads: Pads, mode: str, in_shape: Sizes, *, axes: tuple[int, ...] | None = None
) -> np.ndarray:
    """Adjoint of :func:`pad`: fold a gradient on the padded array back onto the input.

    Each padded position adds its value to the input pixel it was copied from; zero padding
    simply drops the border.
    """
    out = g
    for axis, n, (before, after) in zip(default_axes(pads) if axes is None else axes,
                                        in_shape, pads):
        idx = index_map(n, before, after, mode)
        inner = out[(slice(None),) * axis + (slice(before, before + n),)]
        if mode == "zeros" or (before == 0 and after == 0):
            out = inner
            continue
        folded = np.array(inner, copy=True)
        border = np.r_[0:before, before + n : before + n + after]
        moved = np.moveaxis(folded, axis, 0)
        np.add.at(moved, idx[border], np.moveaxis(np.take(out, border, axis=axis), axis, 0))
        out = folded
    return np.ascontiguousarray(out)
