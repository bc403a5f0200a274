"""The seed's single-channel primitives (6.1.3, 6.2.1): ``corr2d`` and ``convolve2d``."""

from __future__ import annotations

import numpy as np

from convolab.ops.arguments import as_2d, is_dask_array
from convolab.ops.conv2d import conv2d


def corr2d(
    X: object, K: object, *, padding: object = "valid", stride: object = 1  # the seed's names
) -> np.ndarray:
    """2-D cross-correlation of a 2-D ``X`` with a 2-D kernel ``K`` (the seed's ``corr2d``).

    ``X`` : (h, w), ``K`` : (kh, kw); "valid" gives ``(h - kh + 1, w - kw + 1)``.

    >>> corr2d([[0, 1, 2], [3, 4, 5], [6, 7, 8]], [[0, 1], [2, 3]])
    array([[19., 25.],
           [37., 43.]])
    """
    if is_dask_array(X):
        from convolab.chunked import corr2d as chunked_corr2d

        return chunked_corr2d(X, K, padding=padding, stride=stride)
    x, k = as_2d(X, "X"), as_2d(K, "K")
    # (h, w) -> (1, h, w, 1): one example, one channel; kernel (kh, kw) -> (kh, kw, 1, 1)
    y = conv2d(x[None, :, :, None], k[:, :, None, None], padding=padding, stride=stride)
    return y[0, :, :, 0]


def convolve2d(
    X: object, K: object, *, padding: object = "valid", stride: object = 1
) -> np.ndarray:
    """True 2-D convolution (6.1.3): ``(f*g)(i, j) = sum_a sum_b f(a, b) g(i-a, j-b)``.

    Equals ``corr2d(X, K[::-1, ::-1])``: convolution is cross-correlation with a flipped kernel.

    >>> convolve2d([[0, 1, 2], [3, 4, 5], [6, 7, 8]], [[0, 1], [2, 3]])
    array([[ 5., 11.],
           [23., 29.]])
    """
    if is_dask_array(X):
        from convolab.chunked import convolve2d as chunked_convolve2d

        return chunked_convolve2d(X, K, padding=padding, stride=stride)
    return corr2d(X, as_2d(K, "K")[::-1, ::-1], padding=padding, stride=stride)
