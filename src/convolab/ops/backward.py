"""``conv_backward``: gradients of ``conv`` with respect to its input, kernel and bias, any rank.

For ``y = conv(x, w) + b`` and an upstream gradient ``grad_y = dL/dy`` (same shape as ``y``):
``grad_x`` is the adjoint of the conv applied to ``grad_y`` (``conv_transpose``), ``grad_w``
correlates the padded input with ``grad_y``, and ``grad_b`` sums ``grad_y`` over the batch and
every output pixel. ``ops/lowering.py`` brings every rank to the rank-2 engine, and
``ops/engine.py`` says how each gradient is computed there.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from convolab.algorithms import channels_first_pointwise, direct, pointwise
from convolab.ops import lowering
from convolab.ops.arguments import (
    FIRST,
    Prepared,
    as_numeric,
    check_padding_value,
    compute_dtype,
    constant_border,
    from_channels_last,
    from_kernel_last,
    ready,
    resolve,
    result_dtype,
    to_channels_last,
)


def caller_shape(shape: tuple[int, ...], data_format: str, unbatched: bool) -> tuple[int, ...]:
    """A channels-last shape ``(N, *spatial, C)`` as the caller sees it: channels first if
    asked, without N if unbatched."""
    if data_format == FIRST:
        shape = (shape[0], shape[-1], *shape[1:-1])
    return shape[1:] if unbatched else shape


def check_grad_y(grad_y: object, prep: Prepared, name: str = "grad_y") -> np.ndarray:
    """``grad_y`` as channels-last, after checking it has exactly the forward output's shape."""
    gy = as_numeric(grad_y, name)
    want = caller_shape(prep.problem.y_shape, prep.data_format, prep.unbatched)
    if gy.shape != want:
        raise ValueError(
            f"{name}: must have the shape of the forward conv's output, {want} here, "
            f"got {gy.shape}"
        )
    return to_channels_last(gy, prep.data_format, prep.problem.rank, name)[0]


def conv_backward(
    grad_y: object,
    x: object,
    w: object,
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
    bias: bool = True,
    input_gradient: bool = True,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """Gradients of ``conv(x, w, b, ...)`` (any rank) given ``grad_y = dL/dy``.

    Takes the keywords of :func:`convolab.conv`, with the same meanings; ``bias`` says whether
    the forward call had a bias (its value does not enter the gradients). ``algorithm`` may also
    be ``"phased"``: ``grad_x`` by ``algorithms.phased``, the rest as for "auto".

    Returns ``(grad_x, grad_w, grad_b)`` in the shapes and layouts of ``x``, ``w`` and ``(O,)``
    (``grad_b`` is None when ``bias`` is False; ``grad_x`` is None, and not computed, when
    ``input_gradient`` is False: a network's first layer, whose input has no gradient to take).

    >>> gx, gw, gb = conv_backward(np.ones((1, 2, 1)), np.array([[[1.0], [2.0], [3.0]]]),
    ...                            np.array([[[1.0]], [[-1.0]]]))
    >>> gx[0, :, 0], gw[:, 0, 0], gb
    (array([ 1.,  0., -1.]), array([3., 5.]), array([2.]))
    """
    return _backward(None, grad_y, x, w, stride=stride, padding=padding, dilation=dilation,
                     groups=groups, data_format=data_format, kernel_format=kernel_format,
                     padding_mode=padding_mode, padding_value=padding_value,
                     algorithm=algorithm, bias=bias, input_gradient=input_gradient)


def conv1d_backward(grad_y: object, x: object, w: object, *, stride: object = 1,
                    padding: object = "valid", dilation: object = 1, groups: object = 1,
                    data_format: str = "NWC", kernel_format: str = "WIO",
                    padding_mode: str = "zeros", padding_value: float = 0.0,
                    algorithm: str = "auto", bias: bool = True,
                    input_gradient: bool = True
                    ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """:func:`conv_backward` of :func:`convolab.conv1d` (its shapes and defaults)."""
    return _backward(1, grad_y, x, w, stride=stride, padding=padding, dilation=dilation,
                     groups=groups, data_format=data_format, kernel_format=kernel_format,
                     padding_mode=padding_mode, padding_value=padding_value,
                     algorithm=algorithm, bias=bias, input_gradient=input_gradient)


def conv3d_backward(grad_y: object, x: object, w: object, *, stride: object = 1,
                    padding: object = "valid", dilation: object = 1, groups: object = 1,
                    data_format: str = "NDHWC", kernel_format: str = "DHWIO",
                    padding_mode: str = "zeros", padding_value: float = 0.0,
                    algorithm: str = "auto", bias: bool = True,
                    input_gradient: bool = True
                    ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """:func:`conv_backward` of :func:`convolab.conv3d` (its shapes and defaults)."""
    return _backward(3, grad_y, x, w, stride=stride, padding=padding, dilation=dilation,
                     groups=groups, data_format=data_format, kernel_format=kernel_format,
                     padding_mode=padding_mode, padding_value=padding_value,
                     algorithm=algorithm, bias=bias, input_gradient=input_gradient)


def conv2d_backward(
    grad_y: object,
    x: object,
    w: object,
    *,
    stride: object = 1,
    padding: object = "valid",
    dilation: object = 1,
    groups: object = 1,
    data_format: str = "NHWC",
    kernel_format: str = "HWIO",
    padding_mode: str = "zeros",
    padding_value: float = 0.0,
    algorithm: str = "auto",
    bias: bool = True,
    input_gradient: bool = True,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """Gradients of ``conv2d(x, w, b, ...)`` given ``grad_y = dL/dy``.

    Takes the keywords of :func:`convolab.conv2d`, with the same meanings; ``bias`` says whether
    the forward call had a bias (its value does not enter the gradients). ``algorithm`` may also
    be ``"phased"``: ``grad_x`` by ``algorithms.phased``, the rest as for "auto".
    ``convolab.plan(...).input_gradient`` says how "auto" (or a forced name) computes ``grad_x``;
    ``input_gradient=False`` skips it (``grad_x`` is None).

    Parameters
    ----------
    grad_y : array, the shape of ``conv2d(x, w, ...)``: (N, Ho, Wo, O) or (N, O, Ho, Wo)
    x : array, shape (N, H, W, C) or (N, C, H, W); 3-D is one example
    w : array, shape (kh, kw, C // groups, O) or (O, C // groups, kh, kw)

    Returns
    -------
    grad_x : ndarray, the shape and layout of ``x``
    grad_w : ndarray, the shape and layout of ``w``
    grad_b : ndarray, shape (O,), or None when ``bias`` is False

    Examples
    --------
    The gradient of ``sum(y)`` for a 1x2 kernel on a 1x3 row: each weight sees the pixels it
    multiplies, each pixel the weights that touch it.

    >>> x = np.array([[1.0, 2.0, 3.0]])[None, :, :, None]
    >>> w = np.array([[1.0, -1.0]])[:, :, None, None]
    >>> gx, gw, gb = conv2d_backward(np.ones((1, 1, 2, 1)), x, w)
    >>> gx[0, :, :, 0], gw[:, :, 0, 0], gb
    (array([[ 1.,  0., -1.]]), array([[3., 5.]]), array([2.]))
    """
    return _backward(2, grad_y, x, w, stride=stride, padding=padding, dilation=dilation,
                     groups=groups, data_format=data_format, kernel_format=kernel_format,
                     padding_mode=padding_mode, padding_value=padding_value,
                     algorithm=algorithm, bias=bias, input_gradient=input_gradient)


def _backward(rank: int | None, grad_y: object, x: object, w: object, *, algorithm: str,
              bias: bool, input_gradient: bool, padding_value: object, **options: object
              ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """The one body of :func:`conv_backward` and its named forms."""
    for name, flag, meaning in (("bias", bias, "whether the forward call had a bias"),
                                ("input_gradient", input_gradient, "whether to compute grad_x")):
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"{name}: expected True or False ({meaning}), "
                            f"got {type(flag).__name__}")
    value = check_padding_value(padding_value, options["padding_mode"])
    r = resolve(x, w, None, rank=rank, **options)
    gy = check_grad_y(grad_y, r)
    if (not value and r.data_format == FIRST and algorithm in ("auto", direct.NAME, pointwise.NAME)
            and channels_first_pointwise.reads(r.problem)):  # a 1x1 layer: no transposes
        return _channels_first_1x1(gy, r, bias=bias, input_gradient=input_gradient)
    prep = ready(r)
    border = prep.problem.geom.pads
    if value:  # the constant border is part of the input the weights see, not of x
        prep = constant_border(prep, value)
    out = np.result_type(prep.out_dtype, result_dtype(gy))
    p = dataclasses.replace(prep.problem, dtype=compute_dtype(out))
    xc, wc = (np.asarray(a, p.dtype) for a in (prep.x, prep.w))
    gy = np.ascontiguousarray(gy, p.dtype)
    gx = lowering.input_gradient(gy, wc, p, algorithm) if input_gradient else None
    if value and gx is not None:  # the border's gradient belongs to no pixel of x
        inner = (slice(b, n - a) for n, (b, a) in zip(p.x_shape[1:-1], border))
        gx = gx[(slice(None), *inner, slice(None))]
    gw, gb = lowering.weight_gradient(gy, xc, p, algorithm, bias=bias)
    gb = None if gb is None else gb.astype(out)
    return (
        None if gx is None else
        from_channels_last(gx, prep.data_format, prep.unbatched).astype(out, copy=False),
        np.ascontiguousarray(from_kernel_last(gw, prep.kernel_format), dtype=out),
        gb,
    )


def _channels_first_1x1(gy: np.ndarray, r: Prepared, *, bias: bool, input_gradient: bool
                        ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """:func:`_backward` of a channels-first 1x1 layer that ``channels_first_pointwise`` reads
    as it lies: ``gy`` and ``r`` channels-last views of the caller's arrays."""
    out = np.result_type(r.out_dtype, result_dtype(gy))
    p = dataclasses.replace(r.problem, dtype=compute_dtype(out))
    gx, gw, gb = channels_first_pointwise.backward(
        np.ascontiguousarray(np.moveaxis(gy, -1, 1), p.dtype),
        np.ascontiguousarray(np.moveaxis(r.x, -1, 1), p.dtype), r.w, p, bias=bias,
        input_gradient=input_gradient)
    return (
        None if gx is None else (gx[0] if r.unbatched else gx).astype(out, copy=False),
        np.ascontiguousarray(from_kernel_last(gw, r.kernel_format), dtype=out),
        None if gb is None else gb.astype(out),
    )
