"""``conv``: the convolutional layer's operation (6.1.5, 6.2.2, 6.3) for any rank, on NumPy
arrays; ``conv1d``, ``conv2d`` and ``conv3d`` are ``conv`` with the rank and layout names fixed."""

from __future__ import annotations

import numpy as np

from convolab.ops import backends, lowering, small_call
from convolab.ops.arguments import (
    LAST,
    Prepared,
    check_padding_value,
    constant_border,
    from_channels_last,
    ready,
    resolve,
)
from convolab.ops.layout_routes import READ_AS_IS, layout_route, run_channels_first
from convolab.select import choose

DASK_CONSTANT = ("padding_value: a constant other than 0 is not taken on Dask arrays yet; pad "
                 "the array (dask.array.pad) and use padding='valid'")


def conv(
    x: object,
    w: object,
    bias: object = None,
    *,
    stride: object = 1,
    padding: object = "valid",
    dilation: object = 1,
    groups: object = 1,
    data_format: str = "channels_last",
    kernel_format: str | None = None,
    padding_mode: str = "zeros",
    padding_value: float = 0.0,
    algorithm: str = "auto",
) -> np.ndarray:
    """Cross-correlation of a batch with a bank of kernels, plus bias, of any rank r >= 1.

    As in Keras/TensorFlow and PyTorch, this is cross-correlation (no kernel flip)::

        y[n, i, o] = bias[o] + sum_{a, c} xp[n, i*s + a*d, c] * w[a, c, o]

    over the output position ``i`` and kernel tap ``a`` (r indices each) and the ``C / groups``
    input channels ``c`` of ``o``'s group, ``xp`` being ``x`` padded. The rank is
    ``w.ndim - 2``: 1 for signals, 2 for images, 3 for volumes and video.

    Parameters
    ----------
    x : array, shape (N, *spatial, C) for "channels_last" (or "NWC", "NHWC", "NDHWC") or
        (N, C, *spatial) for "channels_first" ("NCW", "NCHW", "NCDHW"); one dimension fewer is
        one unbatched example
    w : array, shape (*kernel, C // groups, O) (Keras: "WIO", "HWIO", "DHWIO") or
        (O, C // groups, *kernel) (PyTorch: "OIW", "OIHW", "OIDHW"); ``kernel_format=None``
        follows ``data_format``
    bias : array, shape (O,), or None
    stride, dilation : int or one per spatial axis
    padding : "valid", "same" (TensorFlow's split), "same_lower", "full", an int, one int per
        axis or one (before, after) pair per axis
    groups : int, dividing C and O; ``groups == C`` is depthwise
    padding_mode : "zeros", "reflect", "replicate", "circular", "symmetric" (or aliases)
    padding_value : the constant of a "zeros"/"constant" border (PyTorch's ``F.pad`` value,
        SciPy's ``cval``, OpenCV's ``borderValue``); 0 unless given
    algorithm : "auto" or the name of an algorithm in ``convolab.algorithms.REGISTRY`` (it
        computes the rank-2 problem every rank is lowered to, ``ops/lowering.py``)

    Returns
    -------
    ndarray, shape (N, *out, O) or (N, O, *out) (without N for unbatched ``x``), dtype by
    promotion

    Examples
    --------
    A 1-D signal (N=1, L=5, C=1) with the difference kernel [1, -1]:

    >>> x = np.array([1.0, 2.0, 4.0, 7.0, 11.0]).reshape(1, 5, 1)
    >>> conv(x, np.array([1.0, -1.0]).reshape(2, 1, 1))[0, :, 0]
    array([-1., -2., -3., -4.])
    """
    return _conv("conv", None, x, w, bias, stride=stride, padding=padding, dilation=dilation,
                 groups=groups, data_format=data_format, kernel_format=kernel_format,
                 padding_mode=padding_mode, padding_value=padding_value,
                 algorithm=algorithm)


def conv1d(x: object, w: object, bias: object = None, *, stride: object = 1,
           padding: object = "valid", dilation: object = 1, groups: object = 1,
           data_format: str = "NWC", kernel_format: str = "WIO", padding_mode: str = "zeros",
           padding_value: float = 0.0, algorithm: str = "auto") -> np.ndarray:
    """:func:`conv` of signals: ``x`` (N, L, C) "NWC" or (N, C, L) "NCW", ``w`` (k, C // groups,
    O) "WIO" or (O, C // groups, k) "OIW"; a 2-D ``x`` is one example.

    >>> conv1d(np.ones((1, 6, 1)), np.ones((3, 1, 1)), padding="same")[0, :, 0]
    array([2., 3., 3., 3., 3., 2.])
    """
    return _conv("conv1d", 1, x, w, bias, stride=stride, padding=padding, dilation=dilation,
                 groups=groups, data_format=data_format, kernel_format=kernel_format,
                 padding_mode=padding_mode, padding_value=padding_value,
                 algorithm=algorithm)


def conv2d(x: object, w: object, bias: object = None, *, stride: object = 1,
           padding: object = "valid", dilation: object = 1, groups: object = 1,
           data_format: str = "NHWC", kernel_format: str = "HWIO", padding_mode: str = "zeros",
           padding_value: float = 0.0, algorithm: str = "auto") -> np.ndarray:
    """2-D cross-correlation of a batch with a bank of kernels, plus bias (a conv layer):
    :func:`conv` of images.

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
    padding_value : the constant of a "zeros"/"constant" border; 0 unless given
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
    return _conv("conv2d", 2, x, w, bias, stride=stride, padding=padding, dilation=dilation,
                 groups=groups, data_format=data_format, kernel_format=kernel_format,
                 padding_mode=padding_mode, padding_value=padding_value,
                 algorithm=algorithm)


def conv3d(x: object, w: object, bias: object = None, *, stride: object = 1,
           padding: object = "valid", dilation: object = 1, groups: object = 1,
           data_format: str = "NDHWC", kernel_format: str = "DHWIO",
           padding_mode: str = "zeros", padding_value: float = 0.0,
           algorithm: str = "auto") -> np.ndarray:
    """:func:`conv` of volumes and video: ``x`` (N, D, H, W, C) "NDHWC" or (N, C, D, H, W)
    "NCDHW", ``w`` (kd, kh, kw, C // groups, O) "DHWIO" or (O, C // groups, kd, kh, kw)
    "OIDHW"; a 4-D ``x`` is one example.

    >>> conv3d(np.ones((1, 4, 4, 4, 1)), np.ones((3, 3, 3, 1, 1))).shape
    (1, 2, 2, 2, 1)
    """
    return _conv("conv3d", 3, x, w, bias, stride=stride, padding=padding, dilation=dilation,
                 groups=groups, data_format=data_format, kernel_format=kernel_format,
                 padding_mode=padding_mode, padding_value=padding_value,
                 algorithm=algorithm)


def _conv(op: str, rank: int | None, x: object, w: object, bias: object, *, stride: object,
          padding: object, dilation: object, groups: object, data_format: str,
          kernel_format: str | None, padding_mode: str, padding_value: object,
          algorithm: str) -> np.ndarray:
    """The one body of :func:`conv` and its named forms (``op``, of rank ``rank``)."""
    options = dict(stride=stride, padding=padding, dilation=dilation, groups=groups,
                   data_format=data_format, kernel_format=kernel_format,
                   padding_mode=padding_mode)
    # a conv called again with the same shapes and options: straight to its algorithm (only a
    # NumPy call that ran validated on the general path below is remembered)
    key = small_call.key(x, w, bias, (op, *options.values(), padding_value, algorithm))
    y = small_call.run(key, x, w, bias)
    if y is not None:
        return y
    value = check_padding_value(padding_value, padding_mode)
    implementation = backends.backend_for(x)
    if implementation is not None:  # a Dask array: lazy, block by block (convolab.chunked)
        if value:
            raise TypeError(DASK_CONSTANT)
        return backends.call(implementation, op, x, w, bias, algorithm=algorithm, **options)
    if value:  # the general path pads a copy with the constant, then runs a "valid" conv
        return _with_border(resolve(x, w, bias, rank=rank, **options), value, algorithm)
    r = resolve(x, w, bias, rank=rank, **options)
    p = r.problem
    engine = lowering.engine_problem(p)
    name = choose(engine, algorithm)
    route = layout_route(r.data_format, p, engine, name)
    if route in READ_AS_IS:
        x_first = np.ascontiguousarray(np.moveaxis(r.x, -1, 1), p.dtype)  # the caller's x
        y = run_channels_first(route, x_first, r.w, r.bias, p, engine, name)
        if y is not None:
            small_call.remember_channels_first(key, r, engine, name, route, x, x_first)
            return (y[0] if r.unbatched else y).astype(r.out_dtype, copy=False)
    prep = ready(r)
    # each algorithm adds the bias to a block of output while it is in cache
    y = lowering.forward(prep.x, prep.w, prep.bias, p, name)
    small_call.remember(key, p, name, x, w, bias, (prep.x, prep.w, prep.bias),
                        layout_ok=prep.data_format == LAST and not prep.unbatched)
    return from_channels_last(y, prep.data_format, prep.unbatched).astype(prep.out_dtype,
                                                                          copy=False)


def _with_border(r: Prepared, value: float, algorithm: str) -> np.ndarray:
    """The conv of ``r`` with a border of the constant ``value``: of the bordered copy."""
    prep = constant_border(ready(r), value)
    p = prep.problem
    y = lowering.forward(prep.x, prep.w, prep.bias, p,
                         choose(lowering.engine_problem(p), algorithm))
    return from_channels_last(y, prep.data_format, prep.unbatched).astype(prep.out_dtype,
                                                                          copy=False)
