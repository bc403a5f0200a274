"""convolab on Dask arrays: the same calls, lazy, chunk by chunk, on one machine or a cluster.

``convolab.conv`` (any rank), ``conv1d``, ``conv2d``, ``conv3d``, ``corr``, ``convolve``,
``corr2d`` and ``convolve2d`` dispatch here when given a ``dask.array.Array`` (the registry in
``convolab.ops.backends``); the functions here take the same arguments plus ``chunks=``, and
:func:`filter_store` filters a Zarr image or volume larger than memory into a new Zarr store
(resumable after an interruption; :func:`store_status` says whether a store is finished).
Signals, images and volumes go through one code path: every spatial axis is chunked, haloed and
reassembled alike. Needs the ``dask`` extra (``pip install convolab[dask]``); the core never
imports this package.

With a ``dask.distributed`` ``Client`` active (``Client(LocalCluster(...))`` on this machine, or
``Client("tcp://scheduler:8786")``), the same calls run on its workers.

Cost: one task per output block. Along each spatial axis, a block of ``b`` outputs reads
``(b-1)*s + d*(k-1) + 1`` input positions (all ``C`` channels): its own ``b*s`` plus a halo of
``span - stride``, fetched from the neighbouring chunks as slabs. A 2048x2048 float32 chunk
filtered 5x5 reads ``(2052**2 - 2048**2) * 4`` bytes = 64 KiB of halo (0.4%); a 256**3 chunk
of a volume filtered 5x5x5 reads ``(260**3 - 256**3) * 4`` bytes = 3.1 MiB (4.7%).
"""

from convolab.chunked.chunking import DEFAULT_TARGET_BYTES, output_chunks
from convolab.chunked.lazy import (
    conv,
    conv1d,
    conv2d,
    conv3d,
    convolve,
    convolve2d,
    corr,
    corr2d,
)
from convolab.chunked.store import StoreStatus, filter_store, store_status

__all__ = [
    "DEFAULT_TARGET_BYTES",
    "StoreStatus",
    "conv",
    "conv1d",
    "conv2d",
    "conv3d",
    "convolve",
    "convolve2d",
    "corr",
    "corr2d",
    "filter_store",
    "output_chunks",
    "store_status",
]
