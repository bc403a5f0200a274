"""The seed's single-channel primitives (6.1.3, 6.2.1): ``corr2d`` and ``convolve2d``, and
``corr`` and ``convolve``, the same for arrays of any rank."""

from __future__ import annotations

import numpy as np

from convolab.ops import backends
from convolab.ops.arguments import as_2d, as_numeric, check_padding_value
from convolab.ops.conv import DASK_CONSTANT, conv


def _lazy(op: str, X: object, K: object, options: dict) -> object:
    """``op`` of a Dask array, by its backend (``convolab.chunked``)."""
    value = check_padding_value(options.pop("padding_value"), options["padding_mode"])
    if value:
        raise TypeError(DASK_CONSTANT)
    return backends.call(backends.backend_for(X), op, X, K, **options)


def corr(
    X: object, K: object, *, padding: object = "valid", stride: object = 1,
    dilation: object = 1, padding_mode: str = "zeros", padding_value: float = 0.0,
) -> np.ndarray:
    """Cross-correlation of an array ``X`` with a kernel ``K`` of the same rank (any rank >= 1).

    "valid" gives ``X.shape[i] - K.shape[i] + 1`` per axis; ``padding``, ``stride``,
    ``dilation``, ``padding_mode`` and ``padding_value`` mean what they mean for
    :func:`convolab.conv`.

    >>> corr([1, 2, 4, 7], [1, -1])
    array([-1., -2., -3.])
    >>> corr(np.ones((4, 4, 4)), np.ones((3, 3, 3)), padding="same")[0, 0]
    array([ 8., 12., 12.,  8.])
    """
    options = dict(padding=padding, stride=stride, dilation=dilation, padding_mode=padding_mode,
                   padding_value=padding_value)
    if backends.backend_for(X) is not None:
        return _lazy("corr", X, K, options)
    x, k = as_numeric(X, "X"), as_numeric(K, "K")
    if k.ndim < 1 or x.ndim != k.ndim:
        raise ValueError(
            f"K: expected a kernel of the rank of X ({x.ndim}-D, shape {x.shape}), got "
            f"{k.ndim}-D with shape {k.shape}"
        )
    # X -> (1, *X, 1): one example, one channel; K -> (*K, 1, 1)
    return conv(x[None, ..., None], k[..., None, None], **options)[0, ..., 0]


def convolve(
    X: object, K: object, *, padding: object = "valid", stride: object = 1,
    dilation: object = 1, padding_mode: str = "zeros", padding_value: float = 0.0,
) -> np.ndarray:
    """True convolution of any rank: :func:`corr` with the kernel flipped on every axis.

    >>> convolve([1, 2, 4, 7], [1, -1])
    array([1., 2., 3.])
    """
    options = dict(padding=padding, stride=stride, dilation=dilation, padding_mode=padding_mode,
                   padding_value=padding_value)
    if backends.backend_for(X) is not None:
        return _lazy("convolve", X, K, options)
    k = as_numeric(K, "K")
    return corr(X, k[(slice(None, None, -1),) * k.ndim], **options)


def corr2d(
    X: object, K: object, *, padding: object = "valid", stride: object = 1,  # the seed's names
    dilation: object = 1, padding_mode: str = "zeros", padding_value: float = 0.0,
) -> np.ndarray:
    """2-D cross-correlation of an image ``X`` with a 2-D kernel ``K`` (the seed's ``corr2d``).

    ``X`` : (h, w), or a colour image (h, w, C) filtered channel by channel; ``K`` : (kh, kw).
    "valid" gives ``(h - kh + 1, w - kw + 1)`` (and ``C`` channels for a colour image).
    ``padding``, ``stride``, ``dilation``, ``padding_mode`` and ``padding_value`` (the constant
    of a "constant" border) mean what they mean for :func:`convolab.conv2d`.

    >>> corr2d([[0, 1, 2], [3, 4, 5], [6, 7, 8]], [[0, 1], [2, 3]])
    array([[19., 25.],
           [37., 43.]])
    >>> corr2d(np.ones((4, 4, 3)), [[1, 1]], padding="same", padding_mode="reflect").shape
    (4, 4, 3)
    """
    options = dict(padding=padding, stride=stride, dilation=dilation, padding_mode=padding_mode,
                   padding_value=padding_value)
    if backends.backend_for(X) is not None:
        return _lazy("corr2d", X, K, options)
    k = as_2d(K, "K")
    x = as_numeric(X, "X")
    if x.ndim == 3:  # (h, w, C): one image, C channels, each filtered by k (a depthwise conv)
        c = x.shape[2]
        w = np.broadcast_to(k[:, :, None, None], (*k.shape, 1, c))
        return conv(x[None], w, groups=c, **options)[0]
    x = as_2d(x, "X (an image (h, w) or a colour image (h, w, C))")
    return corr(x, k, **options)


def convolve2d(
    X: object, K: object, *, padding: object = "valid", stride: object = 1,
    dilation: object = 1, padding_mode: str = "zeros", padding_value: float = 0.0,
) -> np.ndarray:
    """True 2-D convolution (6.1.3): ``(f*g)(i, j) = sum_a sum_b f(a, b) g(i-a, j-b)``.

    Equals ``corr2d(X, K[::-1, ::-1])``: convolution is cross-correlation with a flipped kernel.
    Takes what :func:`corr2d` takes (colour images too).

    >>> convolve2d([[0, 1, 2], [3, 4, 5], [6, 7, 8]], [[0, 1], [2, 3]])
    array([[ 5., 11.],
           [23., 29.]])
    """
    options = dict(padding=padding, stride=stride, dilation=dilation, padding_mode=padding_mode,
                   padding_value=padding_value)
    if backends.backend_for(X) is not None:
        return _lazy("convolve2d", X, K, options)
    return corr2d(X, as_2d(K, "K")[::-1, ::-1], **options)
