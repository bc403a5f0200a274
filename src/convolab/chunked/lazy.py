"""``conv2d``, ``corr2d`` and ``convolve2d`` on Dask arrays: the in-memory call, block by block.

The call is validated once, on the full shapes, with the in-memory checks (same errors). Then
one task per output block: it receives the slices of the input's chunks its window reads (own
pixels plus halo, mirrored or wrapped at the border as the padding mode says; see
:mod:`convolab.chunked.halo`), rebuilds the padded window with the block's local index maps,
and runs the in-memory :func:`convolab.conv2d` on it with ``padding="valid"``. Slicing happens
in separate small tasks, so only the halo strips travel between workers, not whole chunks.

Each block computes the in-memory formula on exactly the same numbers, so the result equals the
in-memory one to float rounding, not bit for bit: ``algorithm="auto"`` chooses per block (a
block may use another method than the whole image would), and even one method's GEMMs have
other sizes, so BLAS may sum in another order (about 40% of random float64 cases differ in the
last bit).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import operator

import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from convolab.algorithms import ConvProblem
from convolab.chunked.chunking import Chunks, check_known_chunks, output_chunks
from convolab.chunked.halo import block_windows
from convolab.ops.arguments import FIRST, as_2d, resolve, to_channels_last
from convolab.ops.conv import conv2d as memory_conv2d
from convolab.padding import gather
from convolab.select import choose


def conv2d(
    x: da.Array,
    w: object,
    bias: object = None,
    *,
    stride: object = 1,
    padding: object = "valid",
    dilation: object = 1,
    groups: object = 1,
    data_format: str = "NHWC",
    kernel_format: str = "HWIO",
    padding_mode: str = "zeros",
    algorithm: str = "auto",
    chunks: object = None,
) -> da.Array:
    """:func:`convolab.conv2d` of a Dask array: lazy, block by block, same values.

    Same arguments and semantics as the in-memory call (``convolab.conv2d`` dispatches here
    when ``x`` is a Dask array), plus ``chunks``.

    Parameters
    ----------
    x : dask.array.Array, shape (N, H, W, C) for "NHWC" or (N, C, H, W) for "NCHW"; 3-D is one
        example. Any chunking: blocks read across chunk boundaries, even when chunks are
        smaller than the halo. A chunked channel axis is fine: each task gathers all ``C``
        input channels of its window (the kernel needs them all), and computes all ``O``.
    w, bias : NumPy arrays (small; each goes into the graph once)
    algorithm : as in memory; "auto" chooses per block, for the block's shape
    chunks : None, "auto", int bytes, byte string or explicit chunks of the output (in its
        layout); see :mod:`convolab.chunked.chunking`. ``None`` follows the input's chunks.

    Returns
    -------
    dask.array.Array, shape (N, Ho, Wo, O) or (N, O, Ho, Wo) (3-D for 3-D ``x``), dtype as in
    memory. Equal to the in-memory result to float rounding.

    Examples
    --------
    >>> import dask.array as da
    >>> x = da.from_array(np.arange(16.0).reshape(1, 4, 4, 1), chunks=(1, 2, 2, 1))
    >>> y = conv2d(x, np.ones((3, 3, 1, 1)), padding="same", padding_mode="circular")
    >>> y.chunks
    ((1,), (2, 2), (2, 2), (1,))
    >>> y.compute()[0, :, :, 0]
    array([[60., 57., 66., 63.],
           [48., 45., 54., 51.],
           [84., 81., 90., 87.],
           [72., 69., 78., 75.]])
    """
    if not isinstance(x, da.Array):
        raise TypeError(f"x: expected a dask.array.Array or a NumPy array, got {type(x).__name__}")
    check_known_chunks(x.chunks)
    # the in-memory validation, on a zero-byte stand-in with x's shape and dtype: same errors,
    # nothing read. r.w (HWIO) and r.bias stay in the caller's dtypes, so each block's
    # in-memory call promotes exactly as the whole call would.
    r = resolve(
        np.broadcast_to(np.zeros((), x.dtype), x.shape), w, bias, stride=stride,
        padding=padding, dilation=dilation, groups=groups, data_format=data_format,
        kernel_format=kernel_format, padding_mode=padding_mode,
    )
    p = r.problem
    xc, _ = to_channels_last(x, r.data_format, 2)  # lazy: (N, H, W, C)
    user_axes = (0, 3, 1, 2) if r.data_format == FIRST else (0, 1, 2, 3)
    out_chunks = output_chunks(
        chunks, xc.chunks, p.geom, p.w_shape[3], out_itemsize=r.out_dtype.itemsize,
        in_itemsize=xc.dtype.itemsize, user_axes=user_axes[1:] if r.unbatched else user_axes,
    )
    # an unknown name fails now, not inside a task (the choice itself is made per block)
    choose(dataclasses.replace(p, x_shape=(1, *p.x_shape[1:])), algorithm)
    y = _lazy_conv(xc, np.ascontiguousarray(r.w), r.bias, p, out_chunks, algorithm, r.out_dtype)
    if r.data_format == FIRST:
        y = y.transpose(0, 3, 1, 2)
    return y[0] if r.unbatched else y


def corr2d(X: da.Array, K: object, *, padding: object = "valid", stride: object = 1,
           dilation: object = 1, padding_mode: str = "zeros", chunks: object = None
           ) -> da.Array:
    """:func:`convolab.corr2d` of a 2-D Dask array ``X`` (h, w) with a 2-D kernel ``K``: lazy.

    ``chunks`` as for :func:`conv2d`; explicit chunks are ``(rows, cols)`` of the output (or
    a dict ``{0: rows, 1: cols}``).

    >>> import dask.array as da
    >>> X = da.from_array(np.arange(9.0).reshape(3, 3), chunks=2)
    >>> corr2d(X, [[0, 1], [2, 3]]).compute()
    array([[19., 25.],
           [37., 43.]])
    """
    as_2d(np.broadcast_to(np.zeros((), X.dtype), X.shape), "X")  # free: a zero-stride view
    k = as_2d(K, "K")
    if isinstance(chunks, (tuple, list)) and len(chunks) == 2:
        chunks = (-1, *chunks, -1)  # (N, Ho, Wo, O) around the caller's (Ho, Wo)
    elif isinstance(chunks, dict):
        chunks = {axis % 2 + 1: c for axis, c in chunks.items()}
    y = conv2d(X[None, :, :, None], k[:, :, None, None], padding=padding, stride=stride,
               dilation=dilation, padding_mode=padding_mode, chunks=chunks)
    return y[0, :, :, 0]


def convolve2d(X: da.Array, K: object, *, padding: object = "valid", stride: object = 1,
               dilation: object = 1, padding_mode: str = "zeros", chunks: object = None
               ) -> da.Array:
    """:func:`convolab.convolve2d` (true convolution) of a 2-D Dask array: ``corr2d`` of the
    flipped kernel, lazy.

    >>> import dask.array as da
    >>> X = da.from_array(np.arange(9.0).reshape(3, 3), chunks=2)
    >>> convolve2d(X, [[0, 1], [2, 3]]).compute()
    array([[ 5., 11.],
           [23., 29.]])
    """
    return corr2d(X, as_2d(K, "K")[::-1, ::-1], padding=padding, stride=stride,
                  dilation=dilation, padding_mode=padding_mode, chunks=chunks)


def _lazy_conv(x: da.Array, w: np.ndarray, bias: np.ndarray | None, p: ConvProblem,
               out_chunks: Chunks, algorithm: str, out_dtype: np.dtype) -> da.Array:
    """The task graph: NHWC ``x`` (N, H, W, C) -> NHWC output (N, Ho, Wo, O), ``out_chunks``."""
    if p.x_shape[0] == 0:
        return da.zeros(p.y_shape, dtype=out_dtype, chunks=out_chunks)
    (sh, sw), (span_h, span_w) = p.geom.stride, p.geom.span_shape
    batch = block_windows(np.arange(p.x_shape[0]), out_chunks[0], stride=1, span=1,
                          in_chunks=x.chunks[0])
    rows = block_windows(p.row_map(), out_chunks[1], stride=sh, span=span_h,
                         in_chunks=x.chunks[1])
    cols = block_windows(p.col_map(), out_chunks[2], stride=sw, span=span_w,
                         in_chunks=x.chunks[2])
    channels = [(m, slice(0, c)) for m, c in enumerate(x.chunks[3])]

    token = tokenize(x, w, bias, p, out_chunks, algorithm)
    name, piece, w_key, b_key = (f"{part}-{token}" for part in
                                 ("conv2d", "conv2d-halo", "conv2d-w", "conv2d-bias"))
    task = functools.partial(_block, stride=p.geom.stride, dilation=p.geom.dilation,
                             groups=p.groups, algorithm=algorithm)
    dsk: dict = {w_key: w, b_key: bias}
    for (bn, nb), (bi, rw), (bj, cw) in itertools.product(
        enumerate(batch), enumerate(rows), enumerate(cols)
    ):
        count = itertools.count()
        # nested [batch][rows][cols][channels] like the input, for np.block
        pieces = [[[[_piece(dsk, x, (piece, bn, bi, bj, next(count)), (kb, ki, kj, m),
                            (bs, rs, cs, ms)) for m, ms in channels]
                    for kj, cs in cw.pieces] for ki, rs in rw.pieces] for kb, bs in nb.pieces]
        dsk[(name, bn, bi, bj, 0)] = (task, pieces, rw.local_map, cw.local_map, w_key, b_key)
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[x])
    return da.Array(graph, name, out_chunks, meta=np.empty((0, 0, 0, 0), out_dtype))


def _piece(dsk: dict, x: da.Array, key: tuple, chunk: tuple[int, ...],
           index: tuple[slice, ...]) -> tuple:
    """Key of ``x``'s chunk ``chunk`` sliced by ``index``: a small slicing task under ``key``
    (so only the slice travels to the block's worker), or the chunk itself if taken whole."""
    sizes = tuple(x.chunks[axis][k] for axis, k in enumerate(chunk))
    if all(s.start == 0 and s.stop == n for s, n in zip(index, sizes)):
        return (x.name, *chunk)
    dsk[key] = (operator.getitem, (x.name, *chunk), index)
    return key


def _block(pieces: list, rows: np.ndarray, cols: np.ndarray, w: np.ndarray,
           bias: np.ndarray | None, *, stride: tuple[int, int], dilation: tuple[int, int],
           groups: int, algorithm: str) -> np.ndarray:
    """One output block: (b, r, c, O) from the input pieces its window reads."""
    local = np.block(pieces)  # (b, rows read, cols read, C): distinct input pixels, in order
    # (b, (r-1)*sh + span_h, (c-1)*sw + span_w, C): the padded window, zeros where -1
    band = gather(local, (rows, cols), (1, 2))
    return memory_conv2d(band, w, bias, stride=stride, dilation=dilation, groups=groups,
                         algorithm=algorithm)
