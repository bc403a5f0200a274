"""What every wrapper of a compiled kernel shares: its arguments, and running it on the workers.

The kernels (``convolab._native``) take the input and output as they are (NHWC, C-contiguous),
the padding as the problem's index maps (no padded copy), and a range of output pixels of the
flat ``(N, Ho, Wo)`` grid; they release the GIL. The conv kernels split their range into
tasks themselves, on the native pool's threads (:func:`region`); the others run a task a call
on the workers of ``scheduler.run`` (:func:`run`). They call no BLAS, so BLAS's thread count is
left alone.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar, overload

import numpy as np

from convolab import _native
from convolab.algorithms import scheduler
from convolab.algorithms.problem import ConvProblem
from convolab.padding import index_map

# Work below this many multiply-adds runs as one call on the caller's thread: waking a worker
# costs ~20-50 us, a 2-core machine's kernels do ~100 multiply-adds in a nanosecond.
SERIAL_MACS = 1 << 21
CHUNK = 192  # pixels a kernel walks per block of weights (CL_CHUNK in direct_kernel.h)
TASKS_PER_WORKER = 4  # more tasks than workers, so a core slowed by others does less
# Tasks a worker of a compute-bound kernel (:func:`ranges`): the last task's wait is a
# fraction of one task, so the more tasks the less of a core sits idle at the end. Measured on
# 2 Zen 4 cores, 16 against 4: stem 5.14 -> 4.95 ms, pw1x1 2.2 -> 2.05, res3x3a 7.8 -> 7.55
# (the stencil's memory-bound rows keep TASKS_PER_WORKER: img3x3 was 10% slower with 16).
BALANCED_TASKS_PER_WORKER = 16
TASK_MACS = 50_000_000  # multiply-adds a task: ~1 ms on one core

R = TypeVar("R")


def available() -> bool:
    return _native.available()


def aligned_empty(shape: tuple[int, ...], dtype: np.dtype, align: int = 64,
                  offset: int = 0) -> np.ndarray:
    """An uninitialised array whose data starts ``offset`` bytes past an ``align``-byte
    boundary: a SIMD load of a packed kernel row then never straddles two cache lines
    (measured: 64-byte loads split across lines cost ~1.3x on res3x3b). With ``offset`` the
    input's own offset, the array's vectors fall on lines exactly where the input's do."""
    dtype = np.dtype(dtype)
    size = math.prod(shape) * dtype.itemsize
    raw = np.empty(size + align, np.uint8)
    start = (offset - raw.ctypes.data) % align
    return raw[start:start + size].view(dtype).reshape(shape)


def aligned_zeros(shape: tuple[int, ...], dtype: np.dtype, align: int = 64,
                  offset: int = 0) -> np.ndarray:
    """Zeros placed as :func:`aligned_empty` places them."""
    out = aligned_empty(shape, dtype, align, offset)
    out.fill(0)
    return out


def geometry(p: ConvProblem, images: int | None = None) -> tuple[int, ...]:
    """``(n, h, w, c, ho, wo, o, kh, kw, sh, sw, dh, dw, groups)``, as the kernels take it,
    for ``images`` images of ``p``'s shape (default: its batch); a volume (rank 3) adds
    ``(np, kd)``: its ``N * Do`` output images read ``N * D`` planes through :func:`planes`
    (``_native/direct.h``)."""
    n = p.x_shape[0] if images is None else images
    h, w, c = p.x_shape[-3:]
    kh, kw, _, o = p.w_shape[-4:]
    ho, wo = p.geom.out_shape[-2:]
    image = (h, w, c, ho, wo, o, kh, kw, *p.geom.stride[-2:], *p.geom.dilation[-2:], p.groups)
    if p.rank == 2:
        return (n, *image)
    d, do = p.x_shape[1], p.geom.out_shape[0]
    return (n * do, *image, n * d, p.w_shape[0])


@dataclass(frozen=True)
class Bound:
    """A compiled forward kernel with its weights (and bias) packed for a problem ``p``.

    ``run(x, y, n, i0, i1, chunk=0, workers=1, planar=False)`` computes items ``i0 <= i < i1``
    of the flat grid of ``n`` images (output pixels, or Winograd's tiles, image after image;
    ``items`` of them an image, each ``macs`` multiply-adds) from NHWC ``x`` (n,
    *p.x_shape[1:]) into ``y`` (n, *p.y_shape[1:]), both C-contiguous in ``p.dtype``, bias
    added. It returns whether every output it wrote is finite (always True for a kernel that
    multiplies exactly the definition's products). The weights are packed once: the NHWC
    forward runs it on the whole batch, in chunks of items on ``workers`` threads of the
    native pool (:func:`region`). With ``planar``, ``x`` (n, C, *spatial) and ``y`` (n, O,
    *out) are channels-first and ``i0 .. i1`` count whole images, ``chunk`` of them through
    the thread's NHWC scratch (``algorithms/channels_first.py``). Direct's ``run`` also takes
    a ``placement`` (:func:`placement`): ``y`` is then any buffer, pixel (n, oh, ow) written
    at ``y0 + n*ysn + oh*ysh + ow*ysw``.
    """

    run: Callable[..., bool]
    items: int
    macs: int


@functools.lru_cache(maxsize=64)
def maps(p: ConvProblem) -> tuple[np.ndarray, np.ndarray]:
    """The padding's row and column index maps (the last two spatial axes), int64 (-1: a
    zero), read-only. Kept for the last problems: a layer calls its conv again and again, and
    building them was a tenth of the Python of LeNet's second layer's call."""
    out = (np.ascontiguousarray(p.row_map(), np.int64),
           np.ascontiguousarray(p.col_map(), np.int64))
    for m in out:
        m.flags.writeable = False
    return out


def planes(p: ConvProblem) -> np.ndarray:
    """A volume's plane map, ``(N * Do * kd,)`` int64: the input plane (of the ``N * D``)
    that output plane ``(n, od)`` reads at depth tap ``a``, ``n * D + map[od*sd + a*dd]``, or
    -1 where the depth padding is zeros."""
    (before, after), d = p.geom.pads[0], p.x_shape[1]
    depth = index_map(d, before, after, p.padding_mode)
    od = np.arange(p.geom.out_shape[0])[:, None]
    a = np.arange(p.w_shape[0])[None, :]
    src = depth[od * p.geom.stride[0] + a * p.geom.dilation[0]]  # (Do, kd)
    n = np.arange(p.x_shape[0])[:, None, None]
    return np.ascontiguousarray(np.where(src >= 0, n * d + src, -1).reshape(-1), np.int64)


def plane_map(p: ConvProblem) -> np.ndarray | None:
    """The plane map a kernel call takes for a volume (:func:`planes`), None for an image."""
    return None if p.rank == 2 else planes(p)


def pixel_ranges(p: ConvProblem, macs_per_pixel: int) -> Ranges:
    """Ranges of the flat output grid, one per task: whole ``CHUNK``s, about evenly sized
    (:func:`ranges`)."""
    return ranges(math.prod(p.y_shape[:-1]), macs_per_pixel, CHUNK)


class Ranges(Sequence[tuple[int, int]]):
    """``(i0, i1)`` ranges of ``per`` items covering ``range(items)``, the last one shorter:
    computed when asked for (a region reads its first and last; a list of 32 tuples cost
    LeNet's second layer ~3 us a call)."""

    __slots__ = ("items", "per")

    def __init__(self, items: int, per: int) -> None:
        self.items, self.per = items, per

    def __len__(self) -> int:
        return -(-self.items // self.per)

    @overload
    def __getitem__(self, i: int) -> tuple[int, int]: ...

    @overload
    def __getitem__(self, i: slice) -> list[tuple[int, int]]: ...

    def __getitem__(self, i: int | slice) -> tuple[int, int] | list[tuple[int, int]]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        n = len(self)
        if not -n <= i < n:
            raise IndexError(i)
        q = (i % n) * self.per
        return q, min(self.items, q + self.per)


def ranges(items: int, macs_per_item: int, chunk: int) -> Ranges:
    """``[(i0, i1), ...]`` covering ``range(items)`` (output pixels, Winograd's tiles), one
    per task: whole ``chunk``s, about evenly sized.

    About ``TASK_MACS`` multiply-adds a task (~1 ms on a core), at least
    ``BALANCED_TASKS_PER_WORKER`` tasks a worker: few enough that handing them out costs
    nothing, enough that the last task's wait is short and a core slowed by another process
    takes fewer.
    """
    workers = scheduler.workers()
    macs = items * macs_per_item
    if workers <= 1 or macs < SERIAL_MACS or items == 0:
        return Ranges(items, max(items, 1))
    chunks = -(-items // chunk)
    tasks = min(chunks, max(workers * BALANCED_TASKS_PER_WORKER, macs // TASK_MACS))
    return Ranges(items, -(-chunks // tasks) * chunk)


def region(kernel: Callable[[int, int, int, int], R], tasks: Sequence[tuple[int, int]]) -> R:
    """``kernel(q0, q1, chunk, workers)``: a compiled kernel that runs ``tasks`` itself, the
    ranges of ``chunk`` items covering ``q0 .. q1`` (the last one may be shorter: as
    :func:`ranges` makes them), on ``workers`` threads of the native pool
    (``_native/region.h``): one argument parse and no Python a task. ``workers`` is 1 when a
    parallel region is running already (one at a time, the pool's and ``scheduler.run``'s)."""
    if not tasks:
        return kernel(0, 0, 0, 1)
    q0, q1, chunk = tasks[0][0], tasks[-1][1], tasks[0][1] - tasks[0][0]
    workers = min(scheduler.workers(), len(tasks))
    if workers <= 1:
        return kernel(q0, q1, chunk, 1)
    with scheduler.region_held() as held:
        return kernel(q0, q1, chunk, workers if held else 1)


def run(kernel: Callable[..., None], tasks: list[tuple[int, ...]]) -> None:
    """``kernel(*task)`` for every task (a pixel range, say), on the workers (BLAS untouched)."""
    scheduler.run(tasks, lambda t, _: kernel(*t), min(scheduler.workers(), len(tasks)),
                  limit_blas=False)


def summed(kernel: Callable[..., None], ranges: Sequence[tuple[int, int]],
           shape: tuple[int, ...], dtype: np.dtype, *, blas: bool = False) -> np.ndarray:
    """The sum over ``ranges`` of what ``kernel(out, q0, q1)`` adds into ``out`` (zeros of
    ``shape``): each worker adds its ranges into its own array, and those are summed here
    (a weight gradient, a reduction over pixels). ``blas``: the kernel calls BLAS, held to one
    thread while the workers run."""
    n_workers = min(scheduler.workers(), len(ranges))
    parts = [aligned_zeros(shape, dtype) for _ in range(n_workers)]
    scheduler.run(ranges, lambda r, i: kernel(parts[i], *r), n_workers, limit_blas=blas)
    total = parts[0]
    for part in parts[1:]:
        total += part
    return total


def placement(base: np.ndarray, view: np.ndarray) -> tuple[int, int, int, int]:
    """``(y0, ysn, ysh, ysw)``, in items of ``base``: where ``view`` (N, Ho, Wo, O), a view of
    the C-contiguous ``base`` whose pixels' channels are contiguous, puts pixel (n, oh, ow)
    (``struct cl_conv``'s placement: a kernel writes ``view`` through ``base``)."""
    size = base.itemsize
    if not base.flags.c_contiguous or view.strides[-1] != size or min(view.strides) < 0:
        raise ValueError("placement: expected a C-contiguous base and a view of it with "
                         "contiguous channels and strides >= 0")
    offset = view.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    return (offset // size, *(s // size for s in view.strides[:-1]))


def kernel_name(family: str, p: ConvProblem, tile: str = "") -> str:
    """What runs, as plan() says it: ``direct_f32_12x2_avx512``."""
    dtype = "f64" if p.dtype.itemsize == 8 else "f32"
    return "_".join(s for s in (family, dtype, tile, _native.isa()) if s)
