"""The large Dask runs: a 4 GiB image filtered 5x5 and a 2 GiB volume filtered 5x5x5, Zarr to
Zarr on a small LocalCluster.

Two rows, one procedure (the rank is the kernel's):

- 2-D: a 32768x32768 float32 image (4 GiB) in 2048x2048 chunks, a 5x5 kernel;
- 3-D: a 512x1024x1024 float32 volume (2 GiB) in 128x256x256 chunks, a 5x5x5 kernel
  (``--kernel3d 3`` for 3x3x3).

For each, in order:

1. setup (not in the throughput): writes a deterministic random array, generated lazily by
   ``dask.array.random`` chunk by chunk, to ``src.zarr`` in a scratch directory;
2. the measured run: ``convolab.chunked.filter_store(src.zarr, dst.zarr, kernel,
   padding="same")`` on the cluster, sampling every worker's RSS every 0.25 s; then the same
   conv through ``convolab.corr`` on the Dask array, reduced to a sum instead of written (the
   conv's rate without the Zarr write);
3. spot-checks boxes of ``dst.zarr`` (every corner, the centre, one across a chunk corner)
   against the in-memory ``convolab.corr`` of the same input window;
4. times the in-memory call on one ``--tile``-sized tile (``--tile3d`` for the volume; 1 BLAS
   thread, as each worker has, and all threads) for the throughput comparison;
5. prints a Markdown summary and deletes the scratch directory.

One ``LocalCluster`` of ``--workers`` worker processes (1 thread each, ``--memory-limit``
each) serves both rows. Run it alone (it loads every core)::

    python benchmarks/dask_large.py --scratch /work          # both rows: 4 GiB, then 2 GiB
    python benchmarks/dask_large.py --only-3d --scratch /work            # the volume only
    python benchmarks/dask_large.py --size 4096 --chunk 1024 --volume 64x256x256 \\
        --chunk3d 32x128x128 --tile3d 32x128x128 --memory-limit 1GiB   # a dry run, both rows
"""

from __future__ import annotations

import argparse
import itertools
import math
import shutil
import tempfile
import threading
import time
from pathlib import Path

import dask.array as da
import numpy as np
import psutil
import zarr
from dask.utils import format_bytes, parse_bytes
from distributed import Client, LocalCluster
from threadpoolctl import threadpool_limits

import convolab as cl
from convolab.chunked import filter_store


def _rss() -> int:
    return psutil.Process().memory_info().rss


class PeakMemory:
    """Sample each worker's RSS in a background thread; keep the peak per worker."""

    def __init__(self, client: Client, every: float = 0.25) -> None:
        self.client, self.every = client, every
        self.peak: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for worker, rss in self.client.run(_rss).items():
                self.peak[worker] = max(self.peak.get(worker, 0), rss)
            self._stop.wait(self.every)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def kernel(size: int, rank: int) -> np.ndarray:
    """An asymmetric ``size**rank`` float32 kernel (a flipped or shifted result would show)."""
    taps = size**rank
    return ((np.arange(taps, dtype=np.float32) - taps // 2) / (4 * taps)).reshape((size,) * rank)


def in_memory_box(src: zarr.Array, k: np.ndarray, box: tuple[slice, ...]) -> np.ndarray:
    """In-memory "same" (zeros) ``corr`` of the whole array, restricted to the outputs in
    ``box``. Reads the box plus its halo; where the halo falls off the array, zero padding
    replaces it (exactly what "same" with zeros does there)."""
    before = [(n - 1) // 2 for n in k.shape]  # TensorFlow's split of k - 1
    lo = [max(s.start - b, 0) for s, b in zip(box, before)]
    hi = [min(s.stop + n - 1 - b, size) for s, n, b, size in zip(box, k.shape, before, src.shape)]
    window = src[tuple(slice(a, z) for a, z in zip(lo, hi))]
    pads = tuple((b - (s.start - a), (s.stop + n - 1 - b) - z)
                 for s, n, b, a, z in zip(box, k.shape, before, lo, hi))
    return cl.corr(window, k, padding=pads)


def spot_boxes(shape: tuple[int, ...], chunk: tuple[int, ...], side: int
               ) -> list[tuple[slice, ...]]:
    """Every corner, the centre, and a box straddling the first chunk corner."""
    t = [min(side, n) for n in shape]
    corners = itertools.product(*[(0, n - ti) for n, ti in zip(shape, t)])
    centre = tuple(n // 2 - ti // 2 for n, ti in zip(shape, t))
    across = tuple(max(min(c, n - ti // 2) - ti // 2, 0) for n, c, ti in zip(shape, chunk, t))
    return [tuple(slice(s, s + ti) for s, ti in zip(start, t))
            for start in [*corners, centre, across]]


def run(client: Client, scratch: Path, shape: tuple[int, ...], chunk: tuple[int, ...],
        k: np.ndarray, tile: tuple[int, ...], spot: int) -> dict:
    """One row: setup, filter_store (peak RSS), the conv without the write, spot checks and
    the in-memory rate on one tile. Removes its stores afterwards."""
    src_path, dst_path = scratch / "src.zarr", scratch / "dst.zarr"
    out: dict = {}
    try:
        t0 = time.perf_counter()
        x = da.random.default_rng(0).random(shape, dtype=np.float32, chunks=chunk)
        da.to_zarr(x, str(src_path))
        out["setup"] = time.perf_counter() - t0
        workers = set(client.scheduler_info()["workers"])

        t0 = time.perf_counter()
        with PeakMemory(client) as memory:
            filter_store(src_path, dst_path, k, padding="same")
        out["seconds"], out["peak"] = time.perf_counter() - t0, memory.peak
        out["restarted"] = workers != set(client.scheduler_info()["workers"])

        # the same conv without the Zarr write (read, filter, reduce): the conv's own rate
        t0 = time.perf_counter()
        with PeakMemory(client) as memory_nowrite:
            lazy = cl.corr(da.from_zarr(str(src_path)), k, padding="same")
            lazy.sum(dtype=np.float64).compute()
        out["seconds_nowrite"] = time.perf_counter() - t0
        out["peak_nowrite"] = memory_nowrite.peak

        src, dst = zarr.open_array(src_path), zarr.open_array(dst_path)
        out["blocks"] = math.prod(-(-n // c) for n, c in zip(dst.shape, dst.chunks))
        worst, identical = 0.0, True
        boxes = spot_boxes(shape, chunk, spot)
        for box in boxes:
            expected, got = in_memory_box(src, k, box), dst[box]
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)  # float32 rounding
            worst = max(worst, float(np.max(np.abs(got - expected))))
            identical &= bool(np.array_equal(got, expected))
        out["spots"], out["worst"], out["identical"] = boxes, worst, identical

        t = tuple(min(ti, n) for ti, n in zip(tile, shape))
        block = src[tuple(slice(0, ti) for ti in t)]
        out["tile"], out["rates"] = t, {}
        for threads in (1, None):
            with threadpool_limits(threads):
                cl.corr(block, k, padding="same")  # warm up
                best = min(_timed(lambda: cl.corr(block, k, padding="same")) for _ in range(3))
            out["rates"][threads] = block.size / best
        out["disk"] = sum(f.stat().st_size for f in dst_path.rglob("*") if f.is_file())
    finally:
        shutil.rmtree(src_path, ignore_errors=True)
        shutil.rmtree(dst_path, ignore_errors=True)
    return out


def report(r: dict, shape: tuple[int, ...], chunk: tuple[int, ...], k: np.ndarray,
           workers: int, limit: int) -> None:
    """The row's Markdown table."""
    x = "x".join(map(str, shape))
    voxels, unit = math.prod(shape), "Mpixel/s" if len(shape) == 2 else "Mvoxel/s"
    kind = "image" if len(shape) == 2 else "volume"
    print(f"| {kind} | {x} float32 ({format_bytes(4 * voxels)}), "
          f"{'x'.join(map(str, k.shape))} kernel, \"same\", zeros |")
    print("|---|---|")
    print(f"| cluster | LocalCluster, {workers} worker processes x 1 thread, "
          f"memory limit {format_bytes(limit)} each |")
    print(f"| chunks | {'x'.join(map(str, chunk))} source and output Zarr chunks "
          f"({r['blocks']} blocks) |")
    print(f"| setup (write lazily generated source to Zarr) | {r['setup']:.1f} s |")
    print(f"| filter_store, Zarr -> Zarr | {r['seconds']:.1f} s, "
          f"{voxels / r['seconds'] / 1e6:.1f} {unit} |")
    print(f"| same conv, read + filter + sum, no write | {r['seconds_nowrite']:.1f} s, "
          f"{voxels / r['seconds_nowrite'] / 1e6:.1f} {unit}; peak RSS "
          f"{', '.join(format_bytes(v) for v in r['peak_nowrite'].values())} |")
    print(f"| peak worker RSS (filter_store) | "
          f"{', '.join(format_bytes(v) for v in r['peak'].values())} "
          f"(limit {format_bytes(limit)}); workers restarted: {r['restarted']} |")
    print(f"| output on disk | {format_bytes(r['disk'])} |")
    side = "x".join(str(s.stop - s.start) for s in r["spots"][0])
    print(f"| spot checks ({len(r['spots'])} boxes of {side}: corners, centre, across a chunk "
          f"corner) | max abs diff {r['worst']:.3g}, bit-identical: {r['identical']} |")
    t = "x".join(map(str, r["tile"]))
    print(f"| in memory, one {t} tile | {r['rates'][1] / 1e6:.1f} {unit} (1 thread), "
          f"{r['rates'][None] / 1e6:.1f} {unit} (all threads) |")


def _sides(text: str) -> tuple[int, ...]:
    """ "512x1024x1024" -> (512, 1024, 1024); one number is a cube."""
    sides = tuple(int(v) for v in text.lower().split("x"))
    return sides * 3 if len(sides) == 1 else sides


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=32768, help="2-D image side")
    parser.add_argument("--chunk", type=int, default=2048,
                        help="2-D source (and output) chunk side")
    parser.add_argument("--tile", type=int, default=4096,
                        help="2-D in-memory comparison tile side")
    parser.add_argument("--volume", type=_sides, default=(512, 1024, 1024),
                        help="3-D volume DxHxW (default 512x1024x1024: 2 GiB of float32)")
    parser.add_argument("--chunk3d", type=_sides, default=(128, 256, 256),
                        help="3-D source (and output) chunk DxHxW")
    parser.add_argument("--tile3d", type=_sides, default=(128, 256, 256),
                        help="3-D in-memory comparison tile DxHxW")
    parser.add_argument("--kernel3d", type=int, default=5, choices=(3, 5),
                        help="3-D kernel side (5x5x5 or 3x3x3)")
    rows = parser.add_mutually_exclusive_group()
    rows.add_argument("--only-3d", action="store_true", help="run the volume row only")
    rows.add_argument("--only-2d", action="store_true", help="run the image row only")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="2GiB")
    parser.add_argument("--scratch", default=None, help="directory for the Zarr stores")
    args = parser.parse_args()
    limit = parse_bytes(args.memory_limit)
    todo = []
    if not args.only_3d:
        todo.append(((args.size,) * 2, (args.chunk,) * 2, kernel(5, 2), (args.tile,) * 2, 512))
    if not args.only_2d:
        todo.append((args.volume, args.chunk3d, kernel(args.kernel3d, 3), args.tile3d, 64))
    scratch = Path(tempfile.mkdtemp(prefix="convolab-dask-", dir=args.scratch))
    results = []
    try:
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, memory_limit=limit,
                          processes=True, dashboard_address=":0") as cluster, \
                Client(cluster) as client:
            for shape, chunk, k, tile, spot in todo:
                results.append(run(client, scratch, shape, chunk, k, tile, spot))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for (shape, chunk, k, _, _), r in zip(todo, results):
        report(r, shape, chunk, k, args.workers, limit)
        print()


if __name__ == "__main__":
    main()
