"""convolab on Dask arrays: the same calls, lazy, chunk by chunk, on one machine or a cluster.

``convolab.conv2d``, ``corr2d`` and ``convolve2d`` dispatch here when given a
``dask.array.Array``; the functions here add a ``chunks=`` argument, and :func:`filter_store`
filters a Zarr image larger than memory into a new Zarr store. Needs the ``dask`` extra
(``pip install convolab[dask]``); the core never imports this package.

With a ``dask.distributed`` ``Client`` active (``Client(LocalCluster(...))`` on this machine, or
``Client("tcp://scheduler:8786")``), the same calls run on its workers.

Cost: one task per output block. A block of ``r x c`` output pixels reads an input window of
``((r-1)*sh + dh*(kh-1) + 1) x ((c-1)*sw + dw*(kw-1) + 1)`` pixels (all ``C`` channels): its
own ``r*sh x c*sw`` pixels plus a halo of ``span - stride`` rows and columns, fetched from the
neighbouring chunks as strips. A 2048x2048 float32 chunk filtered 5x5 reads
``(2052**2 - 2048**2) * 4`` bytes = 64 KiB of halo (0.4%).
"""

from convolab.chunked.chunking import DEFAULT_TARGET_BYTES, output_chunks
from convolab.chunked.lazy import conv2d, convolve2d, corr2d
from convolab.chunked.store import filter_store

__all__ = ["DEFAULT_TARGET_BYTES", "conv2d", "convolve2d", "corr2d", "filter_store",
           "output_chunks"]
