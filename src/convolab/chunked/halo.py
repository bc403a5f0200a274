"""Which input pixels each output block reads, axis by axis: its window plus halo.

Along one spatial axis, output block ``r0:r1`` reads padded positions
``r0*s .. (r1-1)*s + span - 1`` (``span = d*(k-1) + 1``): the block's own ``(r1-r0)*s`` rows
plus a halo of ``span - s`` rows shared with the next block. The global index map of the
padding mode (:func:`convolab.padding.index_map`) says which input row each padded position
copies (-1 for a zero), so a block at the border of a reflected image reads the mirrored rows,
and one of a circular image reads rows from the far side. The block fetches the distinct input
rows it needs, in order, as slices of the input's chunks, and a *local* index map says where
each padded position finds its row among them.

>>> from convolab.padding import index_map
>>> win = axis_window(index_map(6, 2, 2, "circular"), 0, 2, stride=1, span=3,
...                   in_chunks=(3, 3))
>>> win.pieces  # input rows 0..1 and 4..5, as (chunk, slice in chunk)
((0, slice(0, 2, None)), (1, slice(1, 3, None)))
>>> win.local_map.tolist()  # padded rows 4, 5, 0, 1 -> positions among rows 0, 1, 4, 5
[2, 3, 0, 1]
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AxisWindow:
    """What one output block reads along one axis.

    ``pieces``: ``(input chunk index, slice within that chunk)``, in input order; concatenated
    they hold the distinct input rows read. ``local_map``: for each padded position of the
    block's window, its row in that concatenation, or -1 for a zero.
    """

    pieces: tuple[tuple[int, slice], ...]
    local_map: np.ndarray

    @property
    def rows_read(self) -> int:
        """Input rows fetched (own rows plus halo, at most: repeated rows are fetched once)."""
        return sum(s.stop - s.start for _, s in self.pieces)


def axis_window(src_map: np.ndarray, r0: int, r1: int, *, stride: int, span: int,
                in_chunks: tuple[int, ...]) -> AxisWindow:
    """The :class:`AxisWindow` of output rows ``r0:r1`` (``r1 > r0``).

    ``src_map`` is the global padded-position -> input-row map of the axis; ``in_chunks`` the
    input's chunk sizes along it.
    """
    window = src_map[r0 * stride : (r1 - 1) * stride + span]
    rows = np.unique(window[window >= 0])
    if rows.size == 0:  # the block sees only zero padding: fetch one row to keep shapes simple
        rows = np.array([0])
    local = np.where(window >= 0, np.searchsorted(rows, window), -1)
    # split the sorted distinct rows into runs of consecutive rows: [a, b) each
    breaks = np.flatnonzero(np.diff(rows) > 1) + 1
    starts = np.r_[0, breaks]
    ends = np.r_[breaks, rows.size]
    offsets = np.r_[0, np.cumsum(in_chunks)]
    pieces = []
    for a, b in zip(rows[starts], rows[ends - 1] + 1):
        first = int(np.searchsorted(offsets, a, side="right")) - 1
        for k in range(first, len(in_chunks)):
            if offsets[k] >= b:
                break
            lo, hi = max(a, offsets[k]), min(b, offsets[k + 1])
            if lo < hi:  # dask allows empty chunks: skip them
                pieces.append((k, slice(int(lo - offsets[k]), int(hi - offsets[k]))))
    return AxisWindow(tuple(pieces), local)


def block_windows(src_map: np.ndarray, out_chunks: tuple[int, ...], *, stride: int, span: int,
                  in_chunks: tuple[int, ...]) -> list[AxisWindow]:
    """One :class:`AxisWindow` per output chunk along an axis."""
    bounds = np.r_[0, np.cumsum(out_chunks)]
    return [
        axis_window(src_map, int(r0), int(r1), stride=stride, span=span, in_chunks=in_chunks)
        for r0, r1 in itertools.pairwise(bounds)
    ]
