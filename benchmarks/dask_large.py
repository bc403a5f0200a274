"""The large Dask run: a 32768x32768 float32 image (4 GiB) filtered 5x5 on a small LocalCluster.

What it does, in order:

1. starts a ``LocalCluster`` of ``--workers`` worker processes (1 thread each) with a memory
   limit of ``--memory-limit`` each;
2. setup (not in the throughput): writes a deterministic random image, generated lazily by
   ``dask.array.random`` chunk by chunk, to ``src.zarr`` in a scratch directory;
3. the measured run: ``convolab.chunked.filter_store(src.zarr, dst.zarr, 5x5, padding="same")``
   on the cluster, sampling every worker's RSS every 0.25 s; then the same conv through
   ``convolab.corr2d`` on the Dask array, reduced to a sum instead of written (the conv's rate
   without the Zarr write);
4. spot-checks tiles of ``dst.zarr`` (corners, the centre, across chunk boundaries) against the
   in-memory ``convolab.corr2d`` of the same input window;
5. times the in-memory call on one ``--tile``-sized tile (1 BLAS thread, as each worker has,
   and all threads) for the throughput comparison;
6. prints a Markdown summary and deletes the scratch directory.

Run it alone (it loads every core)::

    python benchmarks/dask_large.py                      # the 4 GiB run
    python benchmarks/dask_large.py --size 4096 --chunk 1024 --memory-limit 1GiB   # a dry run
"""

from __future__ import annotations

import argparse
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

HALF = 2  # a 5x5 kernel's "same" halo on each side


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


def in_memory_tile(src: zarr.Array, k: np.ndarray, r0: int, r1: int, c0: int, c1: int
                   ) -> np.ndarray:
    """In-memory "same" corr2d of the whole image, restricted to output rows/cols r0:r1, c0:c1.

    Reads the tile plus its halo; where the halo falls off the image, zero padding replaces it
    (exactly what "same" with zeros does there).
    """
    h, w = src.shape
    lo_r, hi_r = max(r0 - HALF, 0), min(r1 + HALF, h)
    lo_c, hi_c = max(c0 - HALF, 0), min(c1 + HALF, w)
    window = src[lo_r:hi_r, lo_c:hi_c]
    pads = ((HALF - (r0 - lo_r), HALF - (hi_r - r1)), (HALF - (c0 - lo_c), HALF - (hi_c - c1)))
    return cl.corr2d(window, k, padding=pads)


def spot_tiles(size: int, chunk: int, t: int) -> list[tuple[int, int, int, int]]:
    """Corners, the centre, and a tile straddling a chunk corner: (r0, r1, c0, c1)."""
    mid, edge = size // 2, min(chunk, size - t // 2)
    starts = [(0, 0), (0, size - t), (size - t, 0), (size - t, size - t), (mid, mid),
              (edge - t // 2, edge - t // 2)]
    return [(r, r + t, c, c + t) for r, c in starts]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=32768)
    parser.add_argument("--chunk", type=int, default=2048, help="source (and output) chunk side")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="2GiB")
    parser.add_argument("--tile", type=int, default=4096, help="in-memory comparison tile side")
    parser.add_argument("--scratch", default=None, help="directory for the Zarr stores")
    args = parser.parse_args()
    limit = parse_bytes(args.memory_limit)
    scratch = Path(tempfile.mkdtemp(prefix="convolab-dask-", dir=args.scratch))
    k = (np.arange(25, dtype=np.float32).reshape(5, 5) - 12) / 100  # asymmetric: catches flips
    n = args.size
    try:
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, memory_limit=limit,
                          processes=True, dashboard_address=":0") as cluster, \
                Client(cluster) as client:
            t0 = time.perf_counter()
            x = da.random.default_rng(0).random((n, n), dtype=np.float32, chunks=args.chunk)
            da.to_zarr(x, str(scratch / "src.zarr"))
            setup = time.perf_counter() - t0
            workers = set(client.scheduler_info()["workers"])

            t0 = time.perf_counter()
            with PeakMemory(client) as memory:
                filter_store(scratch / "src.zarr", scratch / "dst.zarr", k, padding="same")
            seconds = time.perf_counter() - t0
            restarted = workers != set(client.scheduler_info()["workers"])

            # the same conv without the Zarr write (read, filter, reduce): the conv's own rate
            t0 = time.perf_counter()
            with PeakMemory(client) as memory_nowrite:
                lazy = cl.corr2d(da.from_zarr(str(scratch / "src.zarr")), k, padding="same")
                lazy.sum(dtype=np.float64).compute()
            seconds_nowrite = time.perf_counter() - t0

        src, dst = zarr.open_array(scratch / "src.zarr"), zarr.open_array(scratch / "dst.zarr")
        worst, identical = 0.0, True
        for r0, r1, c0, c1 in spot_tiles(n, args.chunk, min(512, n)):
            expected, got = in_memory_tile(src, k, r0, r1, c0, c1), dst[r0:r1, c0:c1]
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)  # float32 rounding
            worst = max(worst, float(np.max(np.abs(got - expected))))
            identical &= bool(np.array_equal(got, expected))

        t = min(args.tile, n)
        tile = src[:t, :t]
        rates = {}
        for threads in (1, None):
            with threadpool_limits(threads):
                cl.corr2d(tile, k, padding="same")  # warm up
                best = min(_timed(lambda: cl.corr2d(tile, k, padding="same")) for _ in range(3))
            rates[threads] = t * t / best
        disk = sum(f.stat().st_size for f in (scratch / "dst.zarr").rglob("*") if f.is_file())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    print(f"| image | {n}x{n} float32 ({format_bytes(4 * n * n)}), 5x5 kernel, \"same\", zeros |")
    print("|---|---|")
    print(f"| cluster | LocalCluster, {args.workers} worker processes x 1 thread, "
          f"memory limit {format_bytes(limit)} each |")
    print(f"| chunks | {args.chunk}x{args.chunk} source and output Zarr chunks |")
    print(f"| setup (write lazily generated source to Zarr) | {setup:.1f} s |")
    print(f"| filter_store, Zarr -> Zarr | {seconds:.1f} s, {n * n / seconds / 1e6:.1f} Mpixel/s |")
    print(f"| same conv, read + filter + sum, no write | {seconds_nowrite:.1f} s, "
          f"{n * n / seconds_nowrite / 1e6:.1f} Mpixel/s; peak RSS "
          f"{', '.join(format_bytes(v) for v in memory_nowrite.peak.values())} |")
    print(f"| peak worker RSS | {', '.join(format_bytes(v) for v in memory.peak.values())} "
          f"(limit {format_bytes(limit)}); workers restarted: {restarted} |")
    print(f"| output on disk | {format_bytes(disk)} |")
    print(f"| spot checks (6 tiles of 512x512) | max abs diff {worst:.3g}, "
          f"bit-identical: {identical} |")
    print(f"| in memory, one {t}x{t} tile | {rates[1] / 1e6:.1f} Mpixel/s (1 thread), "
          f"{rates[None] / 1e6:.1f} Mpixel/s (all threads) |")


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
