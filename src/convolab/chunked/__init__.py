"""convolab on Dask arrays: the same calls, lazy, chunk by chunk, on one machine or a cluster.

``convolab.conv2d``, ``corr2d`` and ``convolve2d`` dispatch here when given a
``dask.array.Array``; the functions here add a ``chunks=`` argument. Needs the ``dask`` extra
(``pip install convolab[dask]``); the core never imports this package.
"""

from convolab.chunked.chunking import DEFAULT_TARGET_BYTES, output_chunks
from convolab.chunked.conv import conv2d, convolve2d, corr2d
from convolab.chunked.store import filter_store

__all__ = ["DEFAULT_TARGET_BYTES", "conv2d", "convolve2d", "corr2d", "filter_store",
           "output_chunks"]
