"""How a lazy conv's output is cut into blocks: follow the input, hit a byte target, or as told.

Output chunks are chosen in the canonical layout, ``(N, *out, O)`` (``(N, Ho, Wo, O)`` for
images, ``(N, Do, Ho, Wo, O)`` for volumes); the output-channel axis is always one chunk (every
block computes all ``O`` channels of its pixels). Every spatial axis is treated alike, whatever
the rank. Each spec:

- ``None``: follow the input. Batch chunks are the input's; along each spatial axis an output
  block boundary is put at the first output position whose window is centred at or past the
  input's chunk boundary, so each output block reads mostly its "own" input chunk plus a halo.
- ``"auto"``, an int or a byte string (``"16MiB"``): a byte target for the larger of an output
  block and the input window it reads (``DEFAULT_TARGET_BYTES`` for ``"auto"``); regular blocks,
  as close to cubes as the array allows, cut at the input's chunk boundaries where they can be
  (a block holds whole input chunks, or splits one evenly), whole examples (several per block)
  when examples are small.
- explicit chunks in the output's own layout, anything ``dask.array`` accepts
  (``(1, 256, 256, -1)``, a dict, or the full tuple of tuples).

>>> import dask.array as da
>>> from convolab.shapes import conv_geometry
>>> geom = conv_geometry((10, 10), (3, 3), padding="same")
>>> x = da.zeros((1, 10, 10, 1), chunks=(1, 4, 5, 1))
>>> output_chunks(None, x.chunks, geom, 1, out_itemsize=8)
((1,), (4, 4, 2), (5, 5), (1,))
"""

from __future__ import annotations

import math

import numpy as np
from dask.array.core import normalize_chunks
from dask.utils import parse_bytes

from convolab.shapes import ConvGeometry

Chunks = tuple[tuple[int, ...], ...]

DEFAULT_TARGET_BYTES = 64 << 20  # per block: input window + output + im2col workspace ~ 3x this
MAX_BLOCKS = 200_000  # past this the task graph alone costs more than the conv


def _follow_axis(in_chunks: tuple[int, ...], before: int, span: int, s: int, out_n: int
                 ) -> tuple[int, ...]:
    """Output chunks along one spatial axis, cut where the input's chunks are cut.

    Output position ``r`` reads padded positions ``r*s .. r*s + span - 1``, centred on input
    position ``r*s - before + (span - 1)/2``; a boundary at input position ``b`` becomes the
    first ``r`` whose centre is ``>= b``: ``ceil((2*(b + before) - (span - 1)) / (2*s))``.
    """
    bounds = np.cumsum(in_chunks)[:-1]
    out_bounds = -((-(2 * (bounds + before) - (span - 1))) // (2 * s))
    cuts = np.unique(np.clip(np.r_[0, out_bounds, out_n], 0, out_n))
    return tuple(int(c) for c in np.diff(cuts))


def _align(n: int, unit: int, total: int) -> int:
    """A block size ``<= n`` that cuts at (or near) the input's chunk boundaries.

    ``unit`` is an input chunk measured in output rows: a block of several chunks is a multiple
    of it, a block smaller than a chunk splits it evenly.
    """
    if n >= total:
        return total
    if n >= unit:
        return n // unit * unit
    return -(-unit // -(-unit // n))  # unit / ceil(unit / n), rounded up: still <= n


def _iroot(n: int, k: int) -> int:
    """The largest ``m >= 1`` with ``m**k <= n`` (``math.isqrt`` for ``k = 2``)."""
    m = max(1, round(n ** (1 / k)))
    while m > 1 and m**k > n:
        m -= 1
    while (m + 1) ** k <= n:
        m += 1
    return m


def _for_target(target: int, shape: tuple[int, ...], geom: ConvGeometry, in_chunks: Chunks,
                in_itemsize: int, out_itemsize: int) -> tuple[int, ...]:
    """Block shape ``(b, *sides, O)`` whose output and input window stay under ``target``,
    cut along the input's chunk boundaries where it can."""
    n, out, o = shape[0], shape[1:-1], shape[-1]
    c = sum(in_chunks[-1])
    # bytes one output pixel costs: its O outputs, or the prod(stride)*C input pixels it consumes
    per_pixel = max(o * out_itemsize, math.prod(geom.stride) * c * in_itemsize, 1)
    pixels = max(1, target // per_pixel)
    if pixels >= math.prod(out):  # whole examples, several per block
        return (max(1, min(n, pixels // math.prod(out))), *out, o)
    # an input chunk measured in output positions, per axis
    units = [-(-max(ch) // s) for ch, s in zip(in_chunks[1:-1], geom.stride)]
    sides, budget = list(out), pixels
    for i, (size, unit) in enumerate(zip(out, units)):  # a cube's side, axis by axis
        side = _iroot(budget, len(out) - i)
        sides[i] = _align(min(size, side), unit, size)
        budget = max(1, budget // sides[i])
    for i, (size, unit) in enumerate(zip(out[:-1], units)):  # thin arrays: grow the others
        rest = math.prod(sides) // sides[i]
        sides[i] = _align(min(size, max(sides[i], pixels // rest)), unit, size)
    return (1, *sides, o)


def check_known_chunks(chunks: Chunks) -> None:
    """Raise if some chunk sizes are unknown (nan, as after boolean indexing)."""
    if any(math.isnan(c) for axis in chunks for c in axis):
        raise ValueError(
            "x: has unknown (nan) chunk sizes, so the halo of each block cannot be located; "
            "call x.compute_chunk_sizes() first"
        )


def output_chunks(spec: object, in_chunks: Chunks, geom: ConvGeometry, o: int, *,
                  out_itemsize: int, in_itemsize: int = 8,
                  user_axes: tuple[int, ...] | None = None) -> Chunks:
    """Chunks of the channels-last output ``(N, *out, O)`` for a chunk ``spec`` (see module
    docstring); the rank is ``geom.rank``.

    Parameters
    ----------
    spec : None, "auto", int bytes, byte string, or explicit chunks in the output's layout
    in_chunks : chunks of the channels-last input ``(N, *spatial, C)``, all sizes known
    geom : the conv's resolved geometry
    o : output channels
    user_axes : for explicit chunks, the canonical axis of each axis of the output as the
        caller sees it (NCHW: ``(0, 3, 1, 2)``; unbatched NDHWC: ``(1, 2, 3, 4)``); None is
        the canonical layout itself

    Raises
    ------
    ValueError
        if explicit chunks do not fit the output, the
        output channels are split, or the blocks would be too many for a task graph.
    """
    shape = (sum(in_chunks[0]), *geom.out_shape, o)
    if spec is None:
        chunks: Chunks = (
            tuple(b for b in in_chunks[0] if b) or (0,),  # dask allows empty chunks: drop
            *(_follow_axis(ch, before, span, s, n) for ch, (before, _), span, s, n in zip(
                in_chunks[1:-1], geom.pads, geom.span_shape, geom.stride, geom.out_shape)),
            (o,),
        )
    elif isinstance(spec, (int, str)) and not isinstance(spec, bool):
        target = _target_bytes(spec)
        block = _for_target(target, shape, geom, in_chunks, in_itemsize, out_itemsize)
        chunks = normalize_chunks(block, shape=shape)
    else:
        chunks = _explicit(spec, shape, tuple(range(len(shape))) if user_axes is None
                           else user_axes)
    count = math.prod(len(axis) for axis in chunks)
    if count > MAX_BLOCKS:
        raise ValueError(
            f"chunks: {spec!r} cuts the {shape} output into {count} blocks, more than "
            f"{MAX_BLOCKS} (the task graph would cost more than the conv); pass chunks='auto' "
            "or a larger byte target (None follows the input's chunks: rechunk it, or override)"
        )
    return chunks


def _target_bytes(spec: int | str) -> int:
    if spec == "auto":
        return DEFAULT_TARGET_BYTES
    try:
        target = spec if isinstance(spec, int) else parse_bytes(spec)
    except ValueError:
        target = 0
    if target < 1:
        raise ValueError(
            "chunks: expected None, 'auto', a positive number of bytes (int or '64MiB') or "
            f"explicit chunks, got {spec!r}"
        )
    return target


def _explicit(spec: object, shape: tuple[int, ...], user_axes: tuple[int, ...]) -> Chunks:
    """Explicit chunks given in the caller's output layout, returned for the canonical one."""
    user_shape = tuple(shape[a] for a in user_axes)
    try:
        user = normalize_chunks(spec, shape=user_shape)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"chunks: do not fit the output of shape {user_shape}: {exc}"
        ) from None
    chunks = [(n,) for n in shape]  # the batch axis of an unbatched call is one chunk
    for axis, c in zip(user_axes, user):
        chunks[axis] = tuple(c)
    if any(0 in c for c, n in zip(chunks, shape) if n):
        raise ValueError(f"chunks: every block must be non-empty, got {tuple(chunks)}")
    if len(chunks[-1]) > 1:
        raise ValueError(
            f"chunks: the output-channel axis must be one chunk (each block computes all "
            f"{shape[-1]} channels), got {chunks[-1]}"
        )
    return tuple(chunks)
