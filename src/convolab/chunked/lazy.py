"""``conv`` (any rank), its named forms and ``corr``/``convolve`` on Dask arrays: the in-memory
call, block by block.

The call is validated once, on the full shapes, with the in-memory checks (same errors). Then
one task per output block: it receives the slices of the input's chunks its window reads (own
pixels plus halo along every spatial axis, mirrored or wrapped at the border as the padding
mode says; see :mod:`convolab.chunked.halo`), rebuilds the padded window with the block's local
index maps, one per axis, and runs the in-memory :func:`convolab.conv` on it with
``padding="valid"``. Slicing happens in separate small tasks, so only the halo slabs travel
between workers, not whole chunks. Signals, images and volumes go through this one path: the
rank is the number of index maps.

Each block computes the in-memory formula on exactly the same numbers, so the result equals the
in-memory one to float rounding, not bit for bit: ``algorithm="auto"`` chooses per block (a
block may use another method than the whole array would), and even one method's GEMMs have
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
from convolab.ops.arguments import FIRST, as_2d, as_numeric, resolve, to_channels_last
from convolab.ops.conv import conv as memory_conv
from convolab.ops.lowering import engine_problem
from convolab.padding import gather, index_map
from convolab.select import choose


def conv(
    x: da.Array,
    w: object,
    bias: object = None,
    *,
    stride: object = 1,
    padding: object = "valid",
    dilation: object = 1,
    groups: object = 1,
    data_format: str = "channels_last",
    kernel_format: str | None = None,
    padding_mode: str = "zeros",
    algorithm: str = "auto",
    chunks: object = None,
) -> da.Array:
    """:func:`convolab.conv` of a Dask array, any rank ``r = w.ndim - 2``: lazy, block by
    block, same values.

    Same arguments and semantics as the in-memory call (``convolab.conv`` and its named forms
    dispatch here when ``x`` is a Dask array), plus ``chunks``.

    Parameters
    ----------
    x : dask.array.Array, shape (N, *spatial, C) for "channels_last" or (N, C, *spatial) for
        "channels_first"; one dimension fewer is one example. Any chunking: blocks read across
        chunk boundaries along every spatial axis, even when chunks are smaller than the halo.
        A chunked channel axis is fine: each task gathers all ``C`` input channels of its
        window (the kernel needs them all), and computes all ``O``.
    w, bias : NumPy arrays (small; each goes into the graph once)
    algorithm : as in memory; "auto" chooses per block, for the block's shape
    chunks : None, "auto", int bytes, byte string or explicit chunks of the output (in its
        layout); see :mod:`convolab.chunked.chunking`. ``None`` follows the input's chunks.

    Returns
    -------
    dask.array.Array, shape (N, *out, O) or (N, O, *out) (without N for unbatched ``x``), dtype
    as in memory. Equal to the in-memory result to float rounding.

    Examples
    --------
    A volume of 4x4x4 voxels in chunks of 2x2x2, each output voxel the sum of its 3x3x3
    neighbourhood (zero padding):

    >>> import dask.array as da
    >>> x = da.ones((1, 4, 4, 4, 1), chunks=(1, 2, 2, 2, 1))
    >>> y = conv(x, np.ones((3, 3, 3, 1, 1)), padding="same")
    >>> y.chunks
    ((1,), (2, 2), (2, 2), (2, 2), (1,))
    >>> y.compute()[0, 0, :, :, 0]
    array([[ 8., 12., 12.,  8.],
           [12., 18., 18., 12.],
           [12., 18., 18., 12.],
           [ 8., 12., 12.,  8.]])
    """
    return _conv(None, x, w, bias, stride=stride, padding=padding, dilation=dilation,
                 groups=groups, data_format=data_format, kernel_format=kernel_format,
                 padding_mode=padding_mode, algorithm=algorithm, chunks=chunks)


def conv1d(x: da.Array, w: object, bias: object = None, *, stride: object = 1,
           padding: object = "valid", dilation: object = 1, groups: object = 1,
           data_format: str = "NWC", kernel_format: str = "WIO", padding_mode: str = "zeros",
           algorithm: str = "auto", chunks: object = None) -> da.Array:
    """:func:`convolab.conv1d` of a Dask array (signals, ``(N, L, C)`` or ``(N, C, L)``): lazy.

    >>> import dask.array as da
    >>> x = da.ones((1, 6, 1), chunks=(1, 2, 1))
    >>> conv1d(x, np.ones((3, 1, 1)), padding="same").compute()[0, :, 0]
    array([2., 3., 3., 3., 3., 2.])
    """
    return _conv(1, x, w, bias, stride=stride, padding=padding, dilation=dilation,
                 groups=groups, data_format=data_format, kernel_format=kernel_format,
                 padding_mode=padding_mode, algorithm=algorithm, chunks=chunks)


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
    """:func:`convolab.conv2d` of a Dask array: :func:`conv` of images, lazy, block by block.

    Parameters
    ----------
    x : dask.array.Array, shape (N, H, W, C) for "NHWC" or (N, C, H, W) for "NCHW"; 3-D is one
        example. Any chunking, as for :func:`conv`.
    w, bias : NumPy arrays, ``w`` (kh, kw, C // groups, O) "HWIO" or (O, C // groups, kh, kw)
        "OIHW"
    algorithm, chunks : as for :func:`conv`

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
    return _conv(2, x, w, bias, stride=stride, padding=padding, dilation=dilation,
                 groups=groups, data_format=data_format, kernel_format=kernel_format,
                 padding_mode=padding_mode, algorithm=algorithm, chunks=chunks)


def conv3d(x: da.Array, w: object, bias: object = None, *, stride: object = 1,
           padding: object = "valid", dilation: object = 1, groups: object = 1,
           data_format: str = "NDHWC", kernel_format: str = "DHWIO",
           padding_mode: str = "zeros", algorithm: str = "auto", chunks: object = None
           ) -> da.Array:
    """:func:`convolab.conv3d` of a Dask array (volumes and video, ``(N, D, H, W, C)`` or
    ``(N, C, D, H, W)``): :func:`conv` of rank 3, lazy.

    >>> import dask.array as da
    >>> conv3d(da.ones((1, 4, 4, 4, 1), chunks=2), np.ones((3, 3, 3, 1, 1))).shape
    (1, 2, 2, 2, 1)
    """
    return _conv(3, x, w, bias, stride=stride, padding=padding, dilation=dilation,
                 groups=groups, data_format=data_format, kernel_format=kernel_format,
                 padding_mode=padding_mode, algorithm=algorithm, chunks=chunks)


def corr(X: da.Array, K: object, *, padding: object = "valid", stride: object = 1,
         dilation: object = 1, padding_mode: str = "zeros", chunks: object = None
         ) -> da.Array:
    """:func:`convolab.corr` of a Dask array ``X`` with a kernel ``K`` of the same rank: lazy.

    ``chunks`` as for :func:`conv`; explicit chunks are given per axis of the output (a tuple
    of ``X.ndim`` entries, or a dict ``{axis: chunks}``).

    >>> import dask.array as da
    >>> corr(da.from_array(np.array([1.0, 2.0, 4.0, 7.0]), chunks=2), [1, -1]).compute()
    array([-1., -2., -3.])
    """
    k = as_numeric(K, "K")
    as_numeric(_stand_in(X, "X"), "X")
    if k.ndim < 1 or X.ndim != k.ndim:
        raise ValueError(
            f"K: expected a kernel of the rank of X ({X.ndim}-D, shape {X.shape}), got "
            f"{k.ndim}-D with shape {k.shape}"
        )
    return each_channel(X, k, channels=False, padding=padding, stride=stride,
                        dilation=dilation, padding_mode=padding_mode, chunks=chunks)


def convolve(X: da.Array, K: object, *, padding: object = "valid", stride: object = 1,
             dilation: object = 1, padding_mode: str = "zeros", chunks: object = None
             ) -> da.Array:
    """:func:`convolab.convolve` (true convolution, any rank) of a Dask array: :func:`corr` of
    the kernel flipped on every axis, lazy.

    >>> import dask.array as da
    >>> convolve(da.from_array(np.array([1.0, 2.0, 4.0, 7.0]), chunks=2), [1, -1]).compute()
    array([1., 2., 3.])
    """
    k = as_numeric(K, "K")
    return corr(X, k[(slice(None, None, -1),) * k.ndim], padding=padding, stride=stride,
                dilation=dilation, padding_mode=padding_mode, chunks=chunks)


def corr2d(X: da.Array, K: object, *, padding: object = "valid", stride: object = 1,
           dilation: object = 1, padding_mode: str = "zeros", chunks: object = None
           ) -> da.Array:
    """:func:`convolab.corr2d` of a Dask image ``X`` (h, w), or a colour image (h, w, C)
    filtered channel by channel, with a 2-D kernel ``K``: lazy.

    ``chunks`` as for :func:`conv`; explicit chunks are ``(rows, cols)`` of the output (or
    a dict ``{0: rows, 1: cols}``).

    >>> import dask.array as da
    >>> X = da.from_array(np.arange(9.0).reshape(3, 3), chunks=2)
    >>> corr2d(X, [[0, 1], [2, 3]]).compute()
    array([[19., 25.],
           [37., 43.]])
    """
    k = as_2d(K, "K")
    x = as_numeric(_stand_in(X, "X"), "X")
    if x.ndim != 3:
        as_2d(x, "X (an image (h, w) or a colour image (h, w, C))")
    return each_channel(X, k, channels=X.ndim == 3, padding=padding, stride=stride,
                        dilation=dilation, padding_mode=padding_mode, chunks=chunks)


def convolve2d(X: da.Array, K: object, *, padding: object = "valid", stride: object = 1,
               dilation: object = 1, padding_mode: str = "zeros", chunks: object = None
               ) -> da.Array:
    """:func:`convolab.convolve2d` (true convolution) of a Dask image: ``corr2d`` of the
    flipped kernel, lazy.

    >>> import dask.array as da
    >>> X = da.from_array(np.arange(9.0).reshape(3, 3), chunks=2)
    >>> convolve2d(X, [[0, 1], [2, 3]]).compute()
    array([[ 5., 11.],
           [23., 29.]])
    """
    return corr2d(X, as_2d(K, "K")[::-1, ::-1], padding=padding, stride=stride,
                  dilation=dilation, padding_mode=padding_mode, chunks=chunks)


def each_channel(X: da.Array, k: np.ndarray, *, channels: bool, chunks: object = None,
                 **options: object) -> da.Array:
    """``X`` (*spatial) or, with ``channels``, (*spatial, C), every channel cross-correlated
    with the one kernel ``k`` (*kernel), of rank ``k.ndim``: a depthwise :func:`conv` of one
    unbatched example. ``chunks`` are the output's, in ``X``'s layout (a tuple of
    ``k.ndim`` entries leaves the channels whole)."""
    xc = X if channels else X[..., None]  # (*spatial, C)
    c = xc.shape[-1]
    if isinstance(chunks, (tuple, list)) and len(chunks) == k.ndim:
        chunks = (*chunks, -1)
    elif isinstance(chunks, dict):
        chunks = {axis % X.ndim: size for axis, size in chunks.items()}
    # (*kernel, 1, C): channel c's kernel is k, alone in its group (groups = C)
    w = np.broadcast_to(k[..., None, None], (*k.shape, 1, c))
    y = conv(xc, w, groups=c, chunks=chunks, **options)  # (*out, C)
    return y if channels else y[..., 0]


def _stand_in(x: da.Array, name: str = "x") -> np.ndarray:
    """A zero-byte NumPy array with ``x``'s shape and dtype, for the in-memory validation."""
    if not isinstance(x, da.Array):
        raise TypeError(
            f"{name}: expected a dask.array.Array or a NumPy array, got {type(x).__name__}"
        )
    check_known_chunks(x.chunks)
    return np.broadcast_to(np.zeros((), x.dtype), x.shape)


def _conv(rank: int | None, x: da.Array, w: object, bias: object, *, stride: object,
          padding: object, dilation: object, groups: object, data_format: str,
          kernel_format: str | None, padding_mode: str, algorithm: str, chunks: object
          ) -> da.Array:
    """The one body of :func:`conv` and its named forms (of rank ``rank``, None: ``w``'s)."""
    standin = _stand_in(x)
    # the in-memory validation, on a zero-byte stand-in with x's shape and dtype: same errors,
    # nothing read. r.w (*kernel, C/groups, O) and r.bias stay in the caller's dtypes, so each
    # block's in-memory call promotes exactly as the whole call would.
    r = resolve(standin, w, bias, rank=rank, stride=stride, padding=padding,
                dilation=dilation, groups=groups, data_format=data_format,
                kernel_format=kernel_format, padding_mode=padding_mode)
    p = r.problem
    spatial = tuple(range(1, p.rank + 1))
    xc, _ = to_channels_last(x, r.data_format, p.rank)  # lazy: (N, *spatial, C)
    # the canonical axis of each of the caller's output axes
    user_axes = (0, p.rank + 1, *spatial) if r.data_format == FIRST else (0, *spatial, p.rank + 1)
    out_chunks = output_chunks(
        chunks, xc.chunks, p.geom, p.w_shape[-1], out_itemsize=r.out_dtype.itemsize,
        in_itemsize=xc.dtype.itemsize, user_axes=user_axes[1:] if r.unbatched else user_axes,
    )
    # an unknown name fails now, not inside a task (the choice itself is made per block)
    choose(engine_problem(dataclasses.replace(p, x_shape=(1, *p.x_shape[1:]))), algorithm)
    y = _lazy_conv(xc, np.ascontiguousarray(r.w), r.bias, p, out_chunks, algorithm, r.out_dtype)
    if r.data_format == FIRST:
        y = y.transpose(user_axes)  # (N, *out, O) -> (N, O, *out)
    return y[0] if r.unbatched else y


def _lazy_conv(x: da.Array, w: np.ndarray, bias: np.ndarray | None, p: ConvProblem,
               out_chunks: Chunks, algorithm: str, out_dtype: np.dtype) -> da.Array:
    """The task graph: ``x`` (N, *spatial, C) -> output (N, *out, O), chunked ``out_chunks``."""
    rank = p.rank
    if p.empty:  # no input pixel (N = 0, or a spatial size 0 that padding fills): no reads
        y = memory_conv(np.zeros(p.x_shape, x.dtype), w, bias, stride=p.geom.stride,
                        padding=p.geom.pads, dilation=p.geom.dilation, groups=p.groups,
                        padding_mode=p.padding_mode)
        return da.from_array(y.astype(out_dtype, copy=False), chunks=out_chunks)
    batch = block_windows(np.arange(p.x_shape[0]), out_chunks[0], stride=1, span=1,
                          in_chunks=x.chunks[0])
    # per spatial axis, one window per output chunk: the input slices it reads and its local map
    axes = [
        block_windows(index_map(n, before, after, p.padding_mode), out_chunks[i + 1],
                      stride=s, span=span, in_chunks=x.chunks[i + 1])
        for i, (n, (before, after), s, span) in enumerate(
            zip(p.x_shape[1:-1], p.geom.pads, p.geom.stride, p.geom.span_shape))
    ]
    channels = [(m, slice(0, c)) for m, c in enumerate(x.chunks[-1])]

    token = tokenize(x, w, bias, p, out_chunks, algorithm)
    op = f"conv{rank}d"
    name, piece, w_key, b_key = (f"{part}-{token}" for part in
                                 (op, f"{op}-halo", f"{op}-w", f"{op}-bias"))
    task = functools.partial(_block, stride=p.geom.stride, dilation=p.geom.dilation,
                             groups=p.groups, algorithm=algorithm)
    dsk: dict = {w_key: w, b_key: bias}
    for index in itertools.product(*(range(len(a)) for a in (batch, *axes))):
        windows = [a[i] for a, i in zip((batch, *axes), index)]  # (batch, *spatial)
        pieces = _nested(dsk, x, (piece, *index), [*(win.pieces for win in windows), channels],
                         itertools.count())
        maps = tuple(win.local_map for win in windows[1:])
        dsk[(name, *index, 0)] = (task, pieces, maps, w_key, b_key)
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[x])
    return da.Array(graph, name, out_chunks, meta=np.empty((0,) * (rank + 2), out_dtype))


def _nested(dsk: dict, x: da.Array, prefix: tuple, pairs: list, count: itertools.count,
            chunk: tuple[int, ...] = (), index: tuple[slice, ...] = ()) -> list | tuple:
    """The keys of a block's pieces, nested one list per axis of ``x`` like its chunks (for
    ``np.block``). ``pairs[axis]`` lists the ``(chunk, slice)`` read along ``axis``; the
    pieces' slicing tasks are keyed ``(*prefix, 0)``, ``(*prefix, 1)``, ..."""
    if len(chunk) == len(pairs):
        return _piece(dsk, x, (*prefix, next(count)), chunk, index)
    return [_nested(dsk, x, prefix, pairs, count, (*chunk, k), (*index, s))
            for k, s in pairs[len(chunk)]]


def _piece(dsk: dict, x: da.Array, key: tuple, chunk: tuple[int, ...],
           index: tuple[slice, ...]) -> tuple:
    """Key of ``x``'s chunk ``chunk`` sliced by ``index``: a small slicing task under ``key``
    (so only the slice travels to the block's worker), or the chunk itself if taken whole."""
    sizes = tuple(x.chunks[axis][k] for axis, k in enumerate(chunk))
    if all(s.start == 0 and s.stop == n for s, n in zip(index, sizes)):
        return (x.name, *chunk)
    dsk[key] = (operator.getitem, (x.name, *chunk), index)
    return key


def _block(pieces: list, maps: tuple[np.ndarray, ...], w: np.ndarray, bias: np.ndarray | None,
           *, stride: tuple[int, ...], dilation: tuple[int, ...], groups: int, algorithm: str
           ) -> np.ndarray:
    """One output block ``(b, *sides, O)`` from the input pieces its window reads."""
    local = np.block(pieces)  # (b, *read, C): distinct input pixels along each axis, in order
    # (b, *((sides-1)*stride + span), C): the padded window, zeros where a map says -1
    band = gather(local, maps, tuple(range(1, len(maps) + 1)))
    return memory_conv(band, w, bias, stride=stride, dilation=dilation, groups=groups,
                       algorithm=algorithm)

