"""``conv2d``: the convolutional layer's operation (6.1.5, 6.2.2, 6.3) on NumPy arrays."""

from __future__ import annotations

import numpy as np

from convolab.algorithms import REGISTRY, direct_depthwise, direct_stencil
from convolab.ops import small_call
from convolab.ops.arguments import Prepared, from_nhwc, is_dask_array, ready, resolve
from convolab.select import choose


def conv2d(
    x: object,
    w: object,
    bias: object = None,
    *,
    stride: object = 1,
    padding: object = "valid",
    dilation: object = 1,
    groups: object = 1,
    data_format: str = "NHWC",
    kernel_format: str = "HWIO",
    padding_mode: str = "zeros",
    algorithm: str = "auto",
) -> np.ndarray:
    """2-D cross-correlation of a batch with a bank of kernels, plus bias (a conv layer).

    As in Keras/TensorFlow and PyTorch, this is cross-correlation (no kernel flip)::

        y[n, i, j, o] = bias[o] + sum_{a, b, c} xp[n, i*sh + a*dh, j*sw + b*dw, c] * w[a, b, c, o]

    over the ``C / groups`` input channels of ``o``'s group, ``xp`` being ``x`` padded.

    Parameters
    ----------
    x : array, shape (N, H, W, C) for "NHWC" or (N, C, H, W) for "NCHW"; 3-D is one example
    w : array, shape (kh, kw, C // groups, O) for "HWIO" or (O, C // groups, kh, kw) for "OIHW"
    bias : array, shape (O,), or None
    stride, dilation : int or (vertical, horizontal)
    padding : "valid", "same" (TensorFlow's split), "same_lower", "full", int, (ph, pw) or
        ((top, bottom), (left, right))
    groups : int, dividing C and O; ``groups == C`` is depthwise
    padding_mode : "zeros", "reflect", "replicate", "circular", "symmetric" (or aliases)
    algorithm : "auto" or the name of an algorithm in ``convolab.algorithms.REGISTRY``

    Returns
    -------
    ndarray, shape (N, Ho, Wo, O) or (N, O, Ho, Wo) (3-D for 3-D ``x``), dtype by promotion

    Examples
    --------
    >>> x = np.arange(9.0).reshape(1, 3, 3, 1)
    >>> w = np.arange(4.0).reshape(2, 2, 1, 1)
    >>> conv2d(x, w, padding=1, stride=(3, 2))[0, :, :, 0]
    array([[0., 8.],
           [6., 8.]])
    """
    if is_dask_array(x):
        from convolab.chunked import conv2d as chunked_conv2d

        return chunked_conv2d(
            x, w, bias, stride=stride, padding=padding, dilation=dilation, groups=groups,
            data_format=data_format, kernel_format=kernel_format, padding_mode=padding_mode,
            algorithm=algorithm,
        )
    # a tiny conv called again with the same shapes and options: straight to its kernel
    key = small_call.key(x, w, bias, (stride, padding, dilation, groups, data_format,
                                      kernel_format, padding_mode, algorithm))
    y = small_call.run(key, x, w, bias)
    if y is not None:
        return y
    r = resolve(
        x, w, bias, stride=stride, padding=padding, dilation=dilation, groups=groups,
        data_format=data_format, kernel_format=kernel_format, padding_mode=padding_mode,
    )
    name = choose(r.problem, algorithm)
    y = _channels_first_depthwise(r, name)
    if y is not None:
        return y
    prep = ready(r)
    p = prep.problem
    if p.x_shape[0] == 0:
        y = np.zeros(p.y_shape, p.dtype)
    else:
        # each algorithm adds the bias to a block of output while it is in cache
        y = REGISTRY[name].forward(prep.x, prep.w, p, prep.bias)
    small_call.remember(key, p, name, x, w, bias, (prep.x, prep.w, prep.bias),
                        layout_ok=prep.data_format == "NHWC" and not prep.unbatched)
    return from_nhwc(y, prep.data_format, prep.unbatched).astype(prep.out_dtype, copy=False)


def _channels_first_depthwise(r: Prepared, name: str) -> np.ndarray | None:
    """An NCHW depthwise conv that "auto" gives a compiled depthwise or stencil kernel, run on
    the NCHW array as it lies (``direct_stencil.channels_first_depthwise``); None otherwise."""
    p = r.problem
    if r.data_format != "NCHW" or name not in (direct_depthwise.NAME, direct_stencil.NAME):
        return None
    x = r.x.transpose(0, 3, 1, 2)  # the caller's (N, C, H, W)
    if not (direct_stencil.planes_supported(p) and x.flags.c_contiguous and x.dtype == p.dtype
            and p.x_shape[0] > 0):
        return None
    y = direct_stencil.channels_first_depthwise(x, r.w, p, r.bias)
    return (y[0] if r.unbatched else y).astype(r.out_dtype, copy=False)
