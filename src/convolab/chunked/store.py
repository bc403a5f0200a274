"""Filter an image or a volume larger than memory: Zarr in, Zarr out, chunk by chunk. A fault
costs time, never data, and never leaves an output that looks finished and is not.

:func:`filter_store` reads a Zarr array lazily, cross-correlates it (every channel alike) with
one kernel of any rank through :func:`convolab.chunked.conv`, and writes the result chunk by
chunk straight into ``dst``. What it guarantees:

- ``dst`` is born *marked incomplete*: its attributes (``attrs["convolab"]``) record the job
  (input path, shape and dtype; kernel shape, dtype and SHA-256; resolved padding, stride,
  dilation and padding mode; output shape, dtype and chunks) and ``"complete": false``, which
  turns true only once every chunk is on disk. An interrupted run (Ctrl-C, SIGTERM, a crash, a
  full disk, a cluster that goes away) leaves it marked incomplete, and its missing chunks read
  as NaN (the fill value), never as plausible zeros. :func:`store_status` reads the mark.
- Each chunk is written whole or not at all (:class:`_WholeChunkStore`), so the chunks on disk
  are exactly the finished ones, and ``resume=True`` computes only the others. A chunk is one
  task, computed from the same input pixels by the same code whenever it runs, so a resumed
  result is bit for bit an uninterrupted run's.
- On a ``dask.distributed`` cluster, a worker that dies costs its tasks only: the scheduler
  reruns them on the other workers (counted as retried), with the same bits.
- A bad input (not a Zarr array, wrong dtype or rank) and a ``dst`` that holds another job are
  refused before any work. A write error (disk full, permission denied) stops the run with an
  ``OSError`` naming the chunk's path and the cause. The input is opened read-only.

Runs on whatever Dask scheduler is active: the default threads, or a ``dask.distributed``
``Client`` if one exists (workers must see ``src`` and ``dst`` at the same paths: a shared
file system).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import zarr
from dask.array.core import normalize_chunks
from dask.callbacks import Callback
from zarr.storage import LocalStore

from convolab.chunked.chunking import DEFAULT_TARGET_BYTES
from convolab.chunked.lazy import each_channel
from convolab.ops.arguments import as_numeric
from convolab.shapes import axis_names, conv_geometry, normalize_padding_mode, normalize_tuple

try:
    from distributed.diagnostics.plugin import SchedulerPlugin
except ImportError:  # Dask's local schedulers only: nothing is retried, nothing to count
    SchedulerPlugin = object

RECORD = "convolab"  # the attribute holding the job and its completion mark
PARTIAL = ".partial"  # suffix of a file being written; never a chunk key (keys are digits)


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
    resume: bool = False,
) -> Path:
    """Cross-correlate a Zarr image or volume with ``kernel``, each channel alike, into a new
    Zarr store, chunk by chunk; an interrupted run can be resumed.

    The kernel's rank ``r`` says how many leading axes of ``src`` are spatial: ``src`` has
    ``r`` axes (one channel), or ``r + 1`` with the channels last. A 3-D ``src`` is a colour
    image (H, W, C) for a 2-D kernel and a volume (D, H, W) for a 3-D one.

    Parameters
    ----------
    src : path of a Zarr array, shape (*spatial) or (*spatial, C): (H, W), (H, W, C),
        (D, H, W), (D, H, W, C), ...; real numbers (float, int or bool)
    dst : path of the Zarr array to create, shape (*out) or (*out, C); must not be ``src``
        (nor inside it), and must not exist unless ``overwrite`` or ``resume``
    kernel : array, shape (*kernel): (kh, kw), (kd, kh, kw), ...
    padding, stride, dilation, padding_mode : as for :func:`convolab.conv`
    chunks : output chunks: None follows ``src``'s chunks (divided by the stride; chunks over
        ``DEFAULT_TARGET_BYTES`` are read in pieces that divide them); "auto", a
        byte target or explicit ``(rows, cols)`` (one entry per spatial axis) as for
        :func:`convolab.chunked.conv`. Output chunks are made regular (Zarr's), so each Zarr
        chunk is written by one task.
    progress : show a progress bar (tqdm): chunks done of all chunks, the ones an earlier run
        wrote included
    overwrite : replace an existing ``dst`` (removed before the run starts)
    resume : finish an interrupted run: ``dst`` must hold this same job (same input path,
        shape and dtype, kernel, options, output chunks), and only its missing chunks are
        computed. Without a ``dst``, the run starts afresh; with a finished one, nothing is
        computed.

    Returns
    -------
    Path of the written store, marked complete (:func:`store_status`). Its dtype follows the
    in-memory rules: float32 image and kernel give float32, a float64 kernel gives float64,
    integers count as float64. ``attrs["convolab"]["last_run"]`` counts this call's chunks:
    ``computed``, ``resumed`` (written by an earlier run) and ``retried`` (computed again after
    a lost worker; None when the scheduler cannot count them).

    Raises
    ------
    ValueError, TypeError
        before any work: a ``src`` that is no Zarr array of real numbers of a fitting rank,
        bad options, a ``dst`` that exists (without ``overwrite``/``resume``) or holds another
        job (with ``resume``).
    OSError
        when a chunk cannot be written (disk full, permission denied): names the chunk's path
        and the cause; ``dst`` stays marked incomplete, and ``resume=True`` finishes it.
    Anything else (KeyboardInterrupt, Dask's errors) is re-raised unchanged, with a note
    saying how much of ``dst`` was written.

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
    >>> store_status(out).complete, zarr.open_array(out).attrs["convolab"]["last_run"]
    (True, {'computed': 1, 'resumed': 0, 'retried': 0})
    >>> shutil.rmtree(tmp)
    """
    src, dst = Path(src), Path(dst)
    if resume and overwrite:
        raise ValueError("resume, overwrite: give one (resume=True finishes an interrupted run "
                         "of the same job, overwrite=True starts over)")
    _check_paths(src, dst)
    source = _open_source(src)
    k = as_numeric(kernel, "kernel")
    _check_source(src, source, k)
    x = da.from_zarr(source, chunks=_read_chunks(source))  # (*spatial) or (*spatial, C)
    if chunks is None:  # each output chunk reads (about) one source chunk plus halo
        s = normalize_tuple(stride, "stride", k.ndim)
        chunks = tuple(-(-n // si) for n, si in zip(x.chunksize, s))
    # every channel alike: a depthwise conv (groups = C) with the kernel repeated
    y = each_channel(x, k, channels=x.ndim > k.ndim, stride=stride, padding=padding,
                     dilation=dilation, padding_mode=padding_mode, chunks=chunks)
    blockshape = tuple(axis[0] for axis in y.chunks)
    y = y.rechunk(blockshape)  # a no-op unless the chunks were irregular
    job = _job(src, source, k, y, padding=padding, stride=stride, dilation=dilation,
               padding_mode=padding_mode)
    target, done = _prepare(dst, y, job, overwrite=overwrite, resume=resume)
    total = math.prod(y.numblocks)
    try:
        computed, retried = _write(y, target, done, progress)
        _finish(target, dst, total, {"computed": computed, "resumed": len(done),
                                     "retried": retried})
    except OSError as exc:
        if exc.errno is None or not _inside(exc.filename, dst):
            _note(exc, dst, total)
            raise  # not a write of ours (a dropped connection to a worker, ...)
        # one line for the CLI: the path that failed, the cause, and what to do
        raise type(exc)(exc.errno, f"{exc.strerror}; {_state(dst, total)}", exc.filename
                        ) from exc
    except BaseException as exc:
        _note(exc, dst, total)
        raise
    return dst


@dataclass(frozen=True)
class StoreStatus:
    """What a Zarr array written by :func:`filter_store` says about itself.

    ``complete``: every chunk was written and the run finished (False for an interrupted run,
    and for an array not written by :func:`filter_store`). ``written`` of ``total`` chunks are
    on disk, each whole (``written`` is 0 for an array not written by :func:`filter_store`).
    ``job``: the recorded job (None if not written by :func:`filter_store`); ``last_run``: the
    chunk counts of the last call that finished.
    """

    path: Path
    complete: bool
    written: int
    total: int
    job: dict | None
    last_run: dict | None


def store_status(path: str | os.PathLike) -> StoreStatus:
    """Whether the Zarr array at ``path`` is a finished :func:`filter_store` result, and how
    many of its chunks are written.

    >>> import tempfile
    >>> tmp = Path(tempfile.mkdtemp())
    >>> _ = zarr.create_array(tmp / "in.zarr", data=np.ones((6, 6)), chunks=(3, 3))
    >>> status = store_status(filter_store(tmp / "in.zarr", tmp / "out.zarr", np.ones((1, 1)),
    ...                                    progress=False))
    >>> status.complete, status.written, status.total, status.job["kernel"]["shape"]
    (True, 4, 4, [1, 1])
    >>> shutil.rmtree(tmp)
    """
    path = Path(path)
    try:
        array = zarr.open_array(path, mode="r")
    except (FileNotFoundError, zarr.errors.BaseZarrError) as exc:
        raise ValueError(f"path: cannot open a Zarr array at {str(path)!r}: {exc}") from None
    record = array.attrs.get(RECORD)
    record = record if isinstance(record, dict) and "job" in record else None
    total = math.prod(-(-n // c) for n, c in zip(array.shape, array.chunks))
    written = len(_chunk_files(path, array.ndim)[0]) if record else 0
    return StoreStatus(path, bool(record and record.get("complete") is True), written, total,
                       record and record["job"], record and record.get("last_run"))


# --- before any work: the input, the job, the output ----------------------------------------


def _check_paths(src: Path, dst: Path) -> None:
    a, b = src.resolve(), dst.resolve()
    if a == b or a in b.parents or b in a.parents:
        raise ValueError(f"dst: {str(dst)!r} would overwrite the input src={str(src)!r}")
    if not dst.parent.is_dir():
        raise ValueError(f"dst: the directory {str(dst.parent)!r} does not exist")


def _open_source(src: Path) -> zarr.Array:
    """``src`` opened read-only, or a ValueError that says what is there instead."""
    where = f"src: cannot open a Zarr array at {str(src)!r}"
    if not src.exists():
        raise ValueError(f"{where}: no such file or directory")
    try:
        return zarr.open_array(src, mode="r")
    except zarr.errors.NodeTypeValidationError:  # a group: name the arrays it holds
        arrays = sorted(zarr.open_group(src, mode="r").array_keys())
        hint = (f"its arrays: {', '.join(map(repr, arrays))} (give one's path, e.g. "
                f"{str(src / arrays[0])!r})" if arrays else "it holds no array")
        raise ValueError(f"{where}: it is a Zarr group, not an array; {hint}") from None
    except (OSError, ValueError, TypeError, zarr.errors.BaseZarrError) as exc:
        raise ValueError(f"{where}: {exc}") from None


def _check_source(src: Path, source: zarr.Array, k: np.ndarray) -> None:
    """``src`` holds real numbers, and has the kernel's rank or one axis more (channels)."""
    try:
        as_numeric(np.zeros(0, source.dtype), "src")
    except TypeError as exc:
        raise TypeError(f"{exc} (the Zarr array at {str(src)!r})") from None
    _check_ranks(source.shape, k)


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


def _job(src: Path, source: zarr.Array, k: np.ndarray, y: da.Array, *, padding: object,
         stride: object, dilation: object, padding_mode: str) -> dict:
    """Everything the output's bits depend on, as JSON: two runs with equal jobs write equal
    chunks. Options are recorded resolved ("same" as its pads), so equal meanings compare
    equal; the kernel by its SHA-256 (and shape and dtype)."""
    geom = conv_geometry(source.shape[:k.ndim], k.shape, stride=stride, padding=padding,
                         dilation=dilation)
    kernel = np.ascontiguousarray(k)
    job = {
        "src": str(src.resolve()),
        "src_shape": source.shape,
        "src_dtype": str(source.dtype),
        "kernel": {"shape": k.shape, "dtype": str(k.dtype),
                   "sha256": hashlib.sha256(kernel.tobytes()).hexdigest()},
        "padding": geom.pads,
        "stride": geom.stride,
        "dilation": geom.dilation,
        "padding_mode": normalize_padding_mode(padding_mode),
        "shape": y.shape,
        "dtype": str(y.dtype),
        "chunks": tuple(axis[0] for axis in y.chunks),
    }
    return json.loads(json.dumps(job, default=int))  # tuples -> lists, as read back


def _differences(recorded: dict, job: dict) -> str:
    """``"kernel: 3x3 float64 sha256 1a2b3c4d5e6f there, 5x5 ... here; stride: ..."``."""

    def show(field: str, value: object) -> str:
        if field == "kernel" and isinstance(value, dict):
            shape = "x".join(map(str, value.get("shape", ())))
            return f"{shape} {value.get('dtype')} sha256 {str(value.get('sha256'))[:12]}"
        return json.dumps(value)

    fields = [*job, *(f for f in recorded if f not in job)]
    return "; ".join(f"{f}: {show(f, recorded.get(f))} there, {show(f, job.get(f))} here"
                     for f in fields if recorded.get(f) != job.get(f))


def _recorded(dst: Path) -> dict | None:
    """The record ``filter_store`` keeps in ``dst``'s attributes, or None if there is none."""
    try:
        record = zarr.open_array(dst, mode="r").attrs.get(RECORD)
    except (OSError, ValueError, TypeError, zarr.errors.BaseZarrError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("job"), dict) else None


def _prepare(dst: Path, y: da.Array, job: dict, *, overwrite: bool, resume: bool
             ) -> tuple[zarr.Array, set[tuple[int, ...]]]:
    """The target array for this job and the chunks it already holds: a new ``dst`` marked
    incomplete, or with ``resume`` this job's earlier run. Refuses, before any work, a ``dst``
    that exists (without ``overwrite``/``resume``) or holds another job (with ``resume``)."""
    exists = dst.exists() or dst.is_symlink()
    if exists and overwrite:
        shutil.rmtree(dst) if dst.is_dir() and not dst.is_symlink() else dst.unlink()
    elif exists:
        record = _recorded(dst)
        name = repr(str(dst))
        if record is None:
            how = ("was not written by filter_store (no job recorded in its attributes), so "
                   "there is nothing to resume; remove it or pass" if resume else
                   "already exists; to replace it pass")
            raise ValueError(f"dst: {name} {how} overwrite=True (--force on the command line)")
        differs = _differences(record["job"], job)
        if differs:
            what = ("holds another job, and resuming would mix two results" if resume else
                    "already exists and holds another job")
            raise ValueError(f"dst: {name} {what} ({differs}); pass overwrite=True (--force "
                             "on the command line) to replace it")
        target = _open_target(dst)
        done = _chunk_files(dst, target.ndim)[0]
        if (target.shape, target.chunks, target.dtype) != (y.shape, tuple(job["chunks"]),
                                                           y.dtype):
            raise ValueError(f"dst: {name}'s array (shape {target.shape}, chunks "
                             f"{target.chunks}, dtype {target.dtype}) is not the one its "
                             "recorded job writes; pass overwrite=True (--force) to replace it")
        if not resume:
            total = math.prod(y.numblocks)
            state = ("this job's finished result; pass overwrite=True (--force on the "
                     "command line) to compute it again" if record.get("complete") is True else
                     f"an interrupted run of this same job ({len(done)} of {total} chunks "
                     "written); pass resume=True (--resume on the command line) to finish it, "
                     "or overwrite=True (--force) to start over")
            raise ValueError(f"dst: {name} already exists: {state}")
        return target, done
    return _create_target(dst, y, job), set()


def _create_target(dst: Path, y: da.Array, job: dict) -> zarr.Array:
    """A new array at ``dst`` for ``y``, its attributes marking it incomplete from the start
    (the first file written is ``zarr.json`` with the mark)."""
    from convolab import __version__

    record = {"format": 1, "complete": False, "job": job, "convolab": __version__,
              "last_run": None}
    try:
        with zarr.config.set({"array.write_empty_chunks": True}):
            return zarr.create_array(
                store=_WholeChunkStore(dst), shape=y.shape, dtype=y.dtype,
                chunks=tuple(job["chunks"]), fill_value=np.nan, attributes={RECORD: record},
                chunk_key_encoding={"name": "default", "separator": "/"})
    except OSError as exc:
        with contextlib.suppress(OSError):
            shutil.rmtree(dst) if dst.is_dir() else dst.unlink()
        if exc.errno is None:
            raise
        raise type(exc)(exc.errno, f"{exc.strerror}; cannot create the output store, "
                                   "nothing was written", str(dst)) from exc


def _open_target(dst: Path) -> zarr.Array:
    # write_empty_chunks: a chunk equal to the fill value is still written, so a chunk's file
    # on disk is what says it is done (the setting travels with the array to the workers)
    with zarr.config.set({"array.write_empty_chunks": True}):
        return zarr.open_array(store=_WholeChunkStore(dst), mode="r+")


# --- writing ----------------------------------------------------------------------------------


class _WholeChunkStore(LocalStore):
    """A :class:`zarr.storage.LocalStore` that writes every key whole or not at all.

    Zarr reads a chunk by its key alone (``c/i/j``, one file per chunk here). Each write goes
    to ``c/i/j.<random>.partial`` first, and is then renamed over ``c/i/j`` (``os.replace``,
    POSIX ``rename``). Why no reader, and no later run, can see a torn chunk:

    - the bytes are all written, and the file closed, under a name zarr never reads (chunk
      keys are digits);
    - ``rename`` swaps the directory entry atomically: an ``open`` of ``c/i/j`` finds no file
      (and reads the fill value, NaN) or the whole new file, never one being written;
    - a process killed at any moment (SIGKILL, out of memory, a dead worker) either had not
      reached the rename, leaving a ``.partial`` file that zarr ignores and the next finished
      run removes, or had, and the chunk is whole.

    So a chunk on disk is a finished chunk, and ``resume`` trusts presence alone (the target
    arrays have ``write_empty_chunks`` on: every chunk gets its file). ``zarr.json``, which
    holds the completion mark, is written the same way. Zarr >= 3.1's own LocalStore also
    writes through a temporary; this class keeps the guarantee for every zarr >= 3.0 and
    names the chunk's path in errors. Not covered: power loss or a kernel crash, which would
    need an fsync of every file and directory.
    """

    async def set(self, key: str, value: object) -> None:
        if not self._is_open:
            await self._open()
        self._check_writable()
        await asyncio.to_thread(_put_whole, self.root / key, value.as_numpy_array())

    def set_sync(self, key: str, value: object) -> None:
        self._check_writable()
        _put_whole(self.root / key, value.as_numpy_array())


def _put_whole(path: Path, data: np.ndarray) -> None:
    """Write ``data`` (bytes as uint8) to ``path`` whole or not at all: into a temporary
    beside it, then renamed over it. An error names ``path``, not the temporary."""
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}{PARTIAL}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if exc.errno is None:
            raise
        raise type(exc)(exc.errno, exc.strerror, str(path)) from None


def _write_block(block: np.ndarray, target: zarr.Array, region: tuple[slice, ...]) -> None:
    target[region] = block  # exactly one Zarr chunk: no read-modify-write


def _write(y: da.Array, target: zarr.Array, done: set[tuple[int, ...]], progress: bool
           ) -> tuple[int, int | None]:
    """Compute the blocks of ``y`` not in ``done`` into ``target`` (same chunks: one writer
    per Zarr chunk); return how many were computed and how many of them retried."""
    from tqdm.auto import tqdm

    offsets = [np.r_[0, np.cumsum(axis)] for axis in y.chunks]
    blocks = y.to_delayed()
    todo = [index for index in np.ndindex(blocks.shape) if index not in done]
    writes = [
        dask.delayed(_write_block, pure=False)(
            blocks[index], target, tuple(slice(o[i], o[i + 1]) for o, i in zip(offsets, index))
        )
        for index in todo
    ]
    with tqdm(total=blocks.size, initial=blocks.size - len(todo), unit="chunk",
              disable=not progress, desc="filter") as bar:
        if len(todo) < blocks.size:
            bar.set_postfix_str(f"{blocks.size - len(todo)} resumed", refresh=False)
        client = _client()
        if client is None:  # Dask's local schedulers: a task that fails stops the run
            with _Advance(bar, {w.key for w in writes}):
                dask.compute(*writes)
            retried = 0
        else:
            pairs = [(w.key, blocks[index].key) for w, index in zip(writes, todo)]
            retried = _write_on_cluster(client, writes, pairs, bar)
        bar.set_postfix_str(f"{len(todo)} computed, {blocks.size - len(todo)} resumed, "
                            f"{retried} retried")
    return len(todo), retried


def _write_on_cluster(client: object, writes: list, pairs: list[tuple], bar: object
                      ) -> int | None:
    """Run ``writes`` on a ``dask.distributed`` cluster, advancing ``bar`` as each finishes;
    return how many chunks were retried (None if the scheduler cannot count them).

    A finished write's future is dropped at once, so a worker lost later does not make the
    scheduler recompute chunks already on disk. On any error (or Ctrl-C) the writes not
    finished are cancelled.
    """
    from distributed import as_completed

    counter = _Starts(f"convolab-starts-{uuid.uuid4().hex}", pairs)
    try:
        client.register_plugin(counter)
    except Exception:  # e.g. a remote scheduler that cannot import convolab
        counter = None
    pending = set(client.compute(writes))
    try:
        for future in as_completed(list(pending)):
            pending.discard(future)
            future.result()  # re-raises the task's (or the lost cluster's) error
            bar.update()
        if counter is None:
            return None
        return client.run_on_scheduler(_retried_chunks, name=counter.name)
    except BaseException:
        with contextlib.suppress(Exception):
            client.cancel(list(pending))
        raise
    finally:
        if counter is not None:
            with contextlib.suppress(Exception):
                client.unregister_scheduler_plugin(counter.name)


class _Starts(SchedulerPlugin):
    """On the scheduler: how often each chunk's block and write tasks start. A chunk whose
    tasks started more than once was retried (its worker died, or held its block when it
    died)."""

    def __init__(self, name: str, pairs: list[tuple]) -> None:
        self.name, self.pairs = name, pairs
        self.keys = {key for pair in pairs for key in pair}
        self.starts: dict = {}

    def transition(self, key, start, finish, *args, **kwargs) -> None:
        if finish == "processing" and key in self.keys:
            self.starts[key] = self.starts.get(key, 0) + 1


def _retried_chunks(dask_scheduler: object, name: str) -> int:
    counter = dask_scheduler.plugins[name]
    return sum(max(counter.starts.get(w, 0), counter.starts.get(b, 0)) > 1
               for w, b in counter.pairs)


def _finish(target: zarr.Array, dst: Path, total: int, counts: dict) -> None:
    """Mark ``target`` complete, once every one of its ``total`` chunks is on disk; remove the
    leftovers of writes that were killed."""
    done, partial = _chunk_files(dst, target.ndim)
    if len(done) != total:  # every write returned: only something else can have removed one
        raise ValueError(f"dst: {total - len(done)} of the {total} chunks of {str(dst)!r} are "
                         "missing after every write returned (removed while the run went on?)")
    for leftover in partial:
        leftover.unlink(missing_ok=True)
    record = dict(target.attrs[RECORD])
    record.update(complete=True, last_run=counts)
    target.attrs[RECORD] = record  # zarr.json rewritten whole: the mark flips atomically


def _chunk_files(root: Path, ndim: int) -> tuple[set[tuple[int, ...]], list[Path]]:
    """The chunks on disk under ``root/c`` (their grid indices) and the ``.partial``
    leftovers of writes that were killed."""
    done, partial = set(), []
    base = root / "c"
    for folder, _, files in os.walk(base):
        parents = Path(folder).relative_to(base).parts
        for name in files:
            parts = (*parents, name)
            if name.endswith(PARTIAL):
                partial.append(Path(folder, name))
            elif len(parts) == ndim and all(p.isdigit() for p in parts):
                done.add(tuple(int(p) for p in parts))
    return done, partial


# --- when it stops early ----------------------------------------------------------------------


def _inside(path: object, root: Path) -> bool:
    try:
        return path is not None and Path(path).resolve().is_relative_to(root.resolve())
    except (OSError, TypeError, ValueError):
        return False


def _state(dst: Path, total: int) -> str:
    """``"'out.zarr' stays marked incomplete, 12 of 64 chunks written ..."``: what a stopped
    run leaves, and how to finish it."""
    record = _recorded(dst)
    if record is None:
        return f"nothing was written to {str(dst)!r}"
    try:
        written = len(_chunk_files(dst, len(record["job"]["shape"]))[0])
    except OSError:
        written = "some"
    return (f"{str(dst)!r} stays marked incomplete, {written} of {total} chunks written (each "
            "whole); fix the cause, then run again with resume=True (--resume on the command "
            "line) to compute only the others")


def _note(exc: BaseException, dst: Path, total: int) -> None:
    if hasattr(exc, "add_note"):  # Python >= 3.11
        exc.add_note(f"filter_store: {_state(dst, total)}")


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
