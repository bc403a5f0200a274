"""The bias, added by each algorithm to the block of output it has just written (still in cache).

Added afterwards, in a pass of its own over the whole output, the bias costs a read and a write
of every output value from memory: measured 0.9 ms of 6.8 on a 2048x2048 image filter and
0.2 of 2.0 on a 1x1 layer. Every algorithm's ``forward`` takes ``bias`` (O,) or None and calls
:func:`add_bias` on its block, or :func:`write_block` where it copies the block into ``y``
anyway (the add then costs nothing extra).
"""

from __future__ import annotations

import numpy as np

# NumPy's broadcast add loops innermost over O; below this many channels that loop is too short
# to be fast, and a row of Wo copies of the bias is added instead (5x faster for O = 6), except
# to a block of fewer than TILE_FROM values, where building that row (~3 us) costs more
FEW_CHANNELS = 16
TILE_FROM = 2048


def add_bias(y: np.ndarray, bias: np.ndarray | None) -> None:
    """``y += bias`` in place over the last axis: ``y`` (..., Wo, O), ``bias`` (O,) or None."""
    if bias is None:
        return
    wo, o = y.shape[-2:]
    if (o < FEW_CHANNELS and y.size >= TILE_FROM and y.strides[-1] == y.itemsize
            and y.strides[-2] == o * y.itemsize):
        rows = y.reshape(*y.shape[:-2], wo * o)  # a view: each row of Wo*O values is contiguous
        rows += np.tile(bias, wo)
    else:
        y += bias


def write_block(dest: np.ndarray, block: np.ndarray, bias: np.ndarray | None) -> None:
    """``dest[...] = block + bias`` (``block`` alone if ``bias`` is None), one pass.

    ``dest`` and ``block`` are (..., O) of the same shape; ``bias`` is (O,).

    >>> d = np.zeros((2, 3))
    >>> write_block(d, np.ones((2, 3)), np.arange(3.0))
    >>> d.tolist()
    [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]]
    """
    if bias is None:
        dest[...] = block
    else:
        np.add(block, bias, out=dest)
