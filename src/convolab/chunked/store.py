"""Filter an image or a volume larger than memory: Zarr in, Zarr out, chunk by chunk, never
half-written.

:func:`filter_store` reads a Zarr array lazily, cross-correlates it (every channel alike) with
one kernel of any rank through :func:`convolab.chunked.conv`, and writes the result chunk by
chunk to a temporary sibling of ``dst`` (``.NAME.partial-XXXXXXXX``), renamed into place only
when every chunk is written. Any failure (bad chunk, a cluster that goes away) removes the temporary
store and re-raises Dask's error: ``dst`` is either absent, its old self, or complete.

Runs on whatever Dask scheduler is active: the default threads, or a ``dask.distributed``
``Client`` if one exists (workers must see ``src`` and ``dst`` at the same paths: a shared
file system).
"""

from __future__ import annotations

import math
import os
import shutil
import uuid
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import zarr
from dask.array.core import normalize_chunks
from dask.callbacks import Callback

from convolab.chunked.chunking import DEFAULT_TARGET_BYTES
from convolab.chunked.lazy import each_channel
from convolab.ops.arguments import as_numeric
from convolab.shapes import axis_names, normalize_tuple


def filter_store(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    kernel: object,
    *,
    padding: object = "same",
    stride: object = 1,
    dilation: object = 1,
    padding_mode: str = "zeros",
    chunks: object = None,
    progress: bool = True,
    overwrite: bool = False,
) -> Path:
    """Cross-correlate a Zarr image or volume with ``kernel``, each channel alike, into a new
    Zarr store.

    The kernel's rank ``r`` says how many leading axes of ``src`` are spatial: ``src`` has
    ``r`` axes (one channel), or ``r + 1`` with the channels last. A 3-D ``src`` is a colour
    image (H, W, C) for a 2-D kernel and a volume (D, H, W) for a 3-D one.

    Parameters
    ----------
    src : path of a Zarr array, shape (*spatial) or (*spatial, C): (H, W), (H, W, C),
        (D, H, W), (D, H, W, C), ...
    dst : path of the Zarr array to create, shape (*out) or (*out, C); must not be ``src``
        (nor inside it), and must not exist unless ``overwrite``
    kernel : array, shape (*kernel): (kh, kw), (kd, kh, kw), ...
    padding, stride, dilation, padding_mode : as for :func:`convolab.conv`
    chunks : output chunks: None follows ``src``'s chunks (divided by the stride; chunks over
        ``DEFAULT_TARGET_BYTES`` are read in pieces that divide them); "auto", a
        byte target or explicit ``(rows, cols)`` (one entry per spatial axis) as for
        :func:`convolab.chunked.conv`. Output chunks are made regular (Zarr's), so each Zarr
        chunk is written by one task.
    progress : show a progress bar (tqdm), one step per written chunk

    Returns
    -------
    Path of the written store. Its dtype follows the in-memory rules: float32 image and kernel
    give float32, a float64 kernel gives float64, integers count as float64.

    Examples
    --------
    >>> import tempfile
    >>> tmp = Path(tempfile.mkdtemp())
    >>> _ = zarr.create_array(tmp / "in.zarr", data=np.arange(36.0).reshape(6, 6), chunks=(4, 4))
    >>> out = filter_store(tmp / "in.zarr", tmp / "out.zarr", np.ones((3, 3)) / 9,
    ...                    padding="valid", progress=False)
    >>> zarr.open_array(out)[:]
    array([[ 7.,  8.,  9., 10.],
           [13., 14., 15., 16.],
           [19., 20., 21., 22.],
           [25., 26., 27., 28.]])
    >>> shutil.rmtree(tmp)
    """
    src, dst = Path(src), Path(dst)
    _check_paths(src, dst, overwrite)
    try:
        source = zarr.open_array(src, mode="r")
    except (FileNotFoundError, ValueError, TypeError, zarr.errors.BaseZarrError) as exc:
        raise ValueError(f"src: cannot open a Zarr array at {str(src)!r}: {exc}") from None
    k = as_numeric(kernel, "kernel")
    _check_ranks(source.shape, k)
    x = da.from_zarr(source, chunks=_read_chunks(source))  # (*spatial) or (*spatial, C)
    if chunks is None:  # each output chunk reads (about) one source chunk plus halo
        s = normalize_tuple(stride, "stride", k.ndim)
        chunks = tuple(-(-n // si) for n, si in zip(x.chunksize, s))
    # every channel alike: a depthwise conv (groups = C) with the kernel repeated
    y = each_channel(x, k, channels=x.ndim > k.ndim, stride=stride, padding=padding,
                     dilation=dilation, padding_mode=padding_mode, chunks=chunks)
    blockshape = tuple(axis[0] for axis in y.chunks)
    y = y.rechunk(blockshape)  # a no-op unless the chunks were irregular

    tmp = dst.parent / f".{dst.name}.partial-{uuid.uuid4().hex[:8]}"
    try:
        target = zarr.create_array(tmp, shape=y.shape, dtype=y.dtype, chunks=blockshape)
        _write(y, target, progress)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if hasattr(exc, "add_note"):  # Python >= 3.11
            exc.add_note(f"filter_store: nothing was written to {str(dst)!r}")
        raise
    _move_into_place(tmp, dst)
    return dst


def _check_ranks(shape: tuple[int, ...], k: np.ndarray) -> None:
    """``src`` must have the kernel's rank, or one axis more (the channels)."""
    if k.ndim < 1 or k.ndim > len(shape):
        lower = f" (or {len(shape) - 1}-D, the last axis of src being channels)" * (
            len(shape) > 1)
        raise ValueError(
            f"kernel: expected a {len(shape)}-D kernel{lower} for src of shape {shape}, got "
            f"{k.ndim}-D with shape {k.shape}"
        )
    if len(shape) > k.ndim + 1:
        names = ", ".join(axis_names(k.ndim))
        raise ValueError(
            f"src: expected a {k.ndim}-D ({names}) or {k.ndim + 1}-D ({names}, C) array for "
            f"a {k.ndim}-D kernel, got shape {shape}"
        )


def _read_chunks(source: zarr.Array) -> tuple[int, ...] | tuple[tuple[int, ...], ...]:
    """Dask chunks to read ``source`` by: its own, or sub-chunks if a chunk is too big.

    A store written as one huge chunk is still read (and filtered) in pieces of about
    ``DEFAULT_TARGET_BYTES``, cut to divide its chunks.
    """
    if math.prod(source.chunks) * source.dtype.itemsize <= DEFAULT_TARGET_BYTES:
        return source.chunks
    return normalize_chunks("auto", shape=source.shape, dtype=source.dtype,
                            limit=DEFAULT_TARGET_BYTES, previous_chunks=source.chunks)


def _check_paths(src: Path, dst: Path, overwrite: bool) -> None:
    a, b = src.resolve(), dst.resolve()
    if a == b or a in b.parents or b in a.parents:
        raise ValueError(f"dst: {str(dst)!r} would overwrite the input src={str(src)!r}")
    if dst.exists() and not overwrite:
        raise ValueError(f"dst: {str(dst)!r} already exists; to replace it pass overwrite=True "
                         "(--force on the command line)")
    if not dst.parent.is_dir():
        raise ValueError(f"dst: the directory {str(dst.parent)!r} does not exist")


def _move_into_place(tmp: Path, dst: Path) -> None:
    """Rename the complete ``tmp`` to ``dst``; an old ``dst`` is moved aside, then removed."""
    old = None
    if dst.exists():
        old = dst.parent / f".{dst.name}.old-{uuid.uuid4().hex[:8]}"
        dst.rename(old)
    tmp.rename(dst)
    if old is not None:
        shutil.rmtree(old) if old.is_dir() else old.unlink()


def _write_block(block: np.ndarray, target: zarr.Array, region: tuple[slice, ...]) -> None:
    target[region] = block


def _write(y: da.Array, target: zarr.Array, progress: bool) -> None:
    """Compute ``y`` block by block into ``target`` (same chunks: one writer per Zarr chunk)."""
    from tqdm.auto import tqdm

    offsets = [np.r_[0, np.cumsum(axis)] for axis in y.chunks]
    writes = [
        dask.delayed(_write_block, pure=False)(
            block, target, tuple(slice(o[i], o[i + 1]) for o, i in zip(offsets, index))
        )
        for index, block in np.ndenumerate(y.to_delayed())
    ]
    with tqdm(total=len(writes), unit="chunk", disable=not progress, desc="filter") as bar:
        client = _client()
        if client is None:
            with _Advance(bar, {w.key for w in writes}):
                dask.compute(*writes)
            return
        from distributed import as_completed

        futures = client.compute(writes)
        for future in as_completed(futures):
            future.result()  # re-raises the task's (or the lost cluster's) error
            bar.update()


def _client() -> object | None:
    """The active ``dask.distributed`` client, or None for Dask's local schedulers."""
    try:
        from distributed import default_client

        return default_client()
    except (ImportError, ValueError):
        return None


class _Advance(Callback):
    """Advance a progress bar each time one of ``keys`` finishes (local schedulers)."""

    def __init__(self, bar: object, keys: set) -> None:
        super().__init__()
        self._bar, self._keys = bar, keys

    def _posttask(self, key, result, dsk, state, worker_id) -> None:
        if key in self._keys:
            self._bar.update()
