"""Run independent blocks of a conv on every core: one worker per core, single-threaded BLAS.

NumPy releases the GIL in copies, element-wise loops and matrix products, so Python threads run
the heavy part of each block in parallel. Measured on 2 cores (OpenBLAS, SkylakeX kernels), the
thin GEMMs of conv layers, ``(3136 x 576) @ (576 x 64)``, run at ~135 GFLOP/s on one thread but
~55 GFLOP/s on two (the threads split a matrix too small to share). So each worker takes whole
blocks — gather, unfold, multiply — with BLAS limited to one thread, and the workers together
keep both cores busy: one packs while the other multiplies.

The BLAS limit is process-wide (``threadpoolctl``), so only one parallel region runs at a time;
a call that finds the region busy (another thread's conv, or a nested call) runs its blocks
serially, on BLAS limited to one thread by the region. ``workers()`` keeps answering the count
from outside any region, so the algorithm and blocks chosen for a conv do not depend on what
other threads run. Without ``threadpoolctl`` installed, blocks run serially.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TypeVar

import numpy as np

from convolab.algorithms import crew
from convolab.config import get_workspace_limit

T = TypeVar("T")

_region = threading.Lock()
_limit = threading.Lock()  # guards applying/lifting the BLAS limit and reading the count
_DONE = object()
_state: dict = {}


def _controller():  # -> threadpoolctl.ThreadpoolController | None
    """The BLAS controller, created once (after NumPy has loaded its BLAS)."""
    if "blas" not in _state:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _state["blas"] = None
        else:
            _state["blas"] = ThreadpoolController().select(user_api="blas")
    return _state["blas"]


def workers() -> int:
    """How many workers a parallel region uses: the BLAS's own thread count (1 if unknown).

    While a region holds BLAS at one thread, the count from before it is answered.
    """
    getters = _state.get("getters")
    if getters is None:
        blas = _controller()
        # each library's get_num_threads, bound once (what its ``num_threads`` property calls):
        # asked on every call, so a limit the user set through threadpoolctl is still seen
        getters = _state["getters"] = [] if blas is None else [
            c.get_num_threads for c in blas.lib_controllers
        ]
    if not getters:
        return 1
    with _limit:
        if not _state.get("limited"):
            n = getters[0]() if len(getters) == 1 else min(g() for g in getters)
            _state["threads"] = max(1, n)
        return _state["threads"]


# Below this much workspace in all, a conv runs as one block, BLAS threading it as it likes:
# measured on LeNet's layers (4-5 MiB of columns) and a 1x1 layer (3 MiB), handing blocks to
# workers cost more than it saved.
PARALLEL_BYTES = 8 << 20


def block_budget(total: int, cache: int) -> int:
    """Bytes of workspace one block may use, for work needing ``total`` bytes in all.

    A worker's share of the workspace limit, at most ``cache`` (what fits the cache level the
    algorithm wants to stay in), and at most ``total / workers()`` so that a mid-sized problem
    still splits into a block per worker instead of running on one core. Below
    ``PARALLEL_BYTES`` in all, handing blocks to worker threads costs more than it saves.
    """
    n = workers()
    if total < PARALLEL_BYTES:  # handing blocks to threads costs more than it saves
        return max(1, min(get_workspace_limit(), cache, total))
    return max(1, min(get_workspace_limit() // n, cache, -(-total // n)))


def even_rows(rows: int, n: int, height: int) -> int:
    """Rows per block, ``rows`` at most, evened so that the last block is not a small remainder.

    Blocks are whole images when ``rows >= height`` (``n`` images of ``height`` rows), else
    rows of one image. A remainder block costs a worker's full overhead for little work.

    >>> even_rows(31 * 28, 64, 28) // 28  # 64 images, 31 a block: 3 blocks of 22, not 31+31+2
    22
    >>> even_rows(20, 1, 56)  # 56 rows, 20 a block: 3 blocks of 19
    19
    """
    if n < 1 or height < 1:  # nothing to split
        return rows
    if rows >= height:
        per_block = rows // height
        return -(-n // -(-n // per_block)) * height
    return -(-height // -(-height // rows))


Block = tuple[int, int, int, int]  # (n0, n1, r0, r1): images n0:n1, rows r0:r1 of each


def block_rows(n: int, height: int, row_bytes: int, cache: int) -> int:
    """Rows per block for ``n`` images of ``height`` rows, ``row_bytes`` of workspace a row.

    As many as :func:`block_budget` allows (at least one), evened by :func:`even_rows`; a
    multiple of ``height`` (whole images) when an image fits.

    >>> block_rows(64, 28, 1 << 10, 1 << 20)  # 1 MiB: 36 images a block, evened to 2 of 32
    896
    """
    budget = block_budget(n * height * row_bytes, cache)
    return even_rows(max(1, budget // max(row_bytes, 1)), n, height)


def row_blocks(n: int, height: int, row_bytes: int, cache: int) -> list[Block]:
    """The blocks of ``n`` images of ``height`` rows, sized by :func:`block_rows`.

    Several whole images per block when an image fits, else rows of one image; every
    algorithm that blocks by output rows (or tile rows, or whole images) asks here.

    >>> row_blocks(3, 4, 1 << 10, 1 << 20)  # small: one block
    [(0, 3, 0, 4)]
    >>> row_blocks(1, 10, 2 << 20, 4 << 20)  # 2 MiB a row, 4 MiB a block: rows of one image
    [(0, 1, 0, 2), (0, 1, 2, 4), (0, 1, 4, 6), (0, 1, 6, 8), (0, 1, 8, 10)]
    """
    rows = block_rows(n, height, row_bytes, cache)
    if rows >= height:
        per_block = rows // height
        return [(n0, min(n, n0 + per_block), 0, height) for n0 in range(0, n, per_block)]
    return [(n0, n0 + 1, r0, min(height, r0 + rows))
            for n0 in range(n) for r0 in range(0, height, rows)]


def run(tasks: Sequence[T], work: Callable[[T, int], None], n_workers: int, *,
        limit_blas: bool = True) -> None:
    """Call ``work(task, worker)`` for every task, on ``n_workers`` threads.

    Workers take the next task as they finish one (so a core slowed by another process does
    less), and worker ``i`` (``0 <= i < n_workers``) keeps its own workspace, indexed by
    ``worker``, across its tasks. BLAS is limited to one thread while the workers run, unless
    ``limit_blas`` is False (work that calls no BLAS: the compiled kernels; limiting costs
    ~50 us). ``n_workers == 1`` runs everything here, BLAS untouched.
    """
    if n_workers <= 1 or len(tasks) <= 1 or not _region.acquire(blocking=False):
        for t in tasks:
            work(t, 0)
        return
    try:
        queue = _Queue(tasks)
        blas = _controller() if limit_blas else None
        if blas is None:  # nothing to limit: the workers straight away (~10 us less a region)
            _run_workers(queue, work, n_workers)
            return
        workers()  # record the count from outside the region before limiting BLAS
        with _limit:  # applied under the lock, so workers() never reads the limited count
            _state["limited"] = True
            limit: AbstractContextManager = blas.limit(limits=1)
        try:
            _run_workers(queue, work, n_workers)
        finally:
            with _limit:
                limit.__exit__(None, None, None)  # threadpoolctl restores the original count
                _state["limited"] = False
    finally:
        _region.release()


@contextmanager
def region_held() -> Iterator[bool]:
    """Whether this thread now holds the one parallel region (for the block): the native
    pool's regions (``native.region``) and the workers of :func:`run` take turns, so a region
    inside another runs on its caller's thread alone."""
    held = _region.acquire(blocking=False)
    try:
        yield held
    finally:
        if held:
            _region.release()


def _run_workers(queue: _Queue, work: Callable[[T, int], None], n_workers: int) -> None:
    """The queue's tasks on ``n_workers`` workers; the caller is worker 0 (one thread fewer to
    wake up and wait for). Every worker has finished on return, and a worker's exception is
    raised here."""
    crew.run(n_workers, lambda i: _worker(queue, work, i))


class Scratch:
    """Per-worker scratch arrays, reused from block to block within one conv call.

    A worker asking again for a buffer of the same name gets the same memory back, grown if
    needed; blocks of one call run on one thread per worker, so a worker never shares one.
    (Keeping buffers from call to call measured no faster: the allocator reuses the memory.)

    >>> s = Scratch(2)
    >>> a = s.get(0, "v", (4, 3), np.float32)
    >>> s.get(0, "v", (2, 3), np.float32).base is a.base
    True
    """

    def __init__(self, n_workers: int) -> None:
        self._buffers: list[dict[str, np.ndarray]] = [{} for _ in range(n_workers)]

    def get(self, worker: int, name: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """An uninitialised array of ``shape`` and ``dtype``, owned by ``worker``."""
        size = math.prod(shape)
        buf = self._buffers[worker].get(name)
        if buf is None or buf.size < size or buf.dtype != dtype:
            buf = self._buffers[worker][name] = np.empty(size, dtype)
        return buf[:size].reshape(shape)


class _Queue:
    """Tasks handed out one at a time; after a failure, none."""

    def __init__(self, tasks: Sequence[T]) -> None:
        self._tasks = iter(tasks)
        self._lock = threading.Lock()
        self.failed = False

    def next(self) -> object:
        with self._lock:
            return _DONE if self.failed else next(self._tasks, _DONE)


def _worker(queue: _Queue, work: Callable[[T, int], None], i: int) -> None:
    while (t := queue.next()) is not _DONE:
        try:
            work(t, i)  # type: ignore[arg-type]
        except BaseException:
            queue.failed = True  # the other workers stop at their next task
            raise
