"""``conv2d_backward``: gradients of ``conv2d`` with respect to its input, kernel and bias.

For ``y = conv2d(x, w) + b`` and an upstream gradient ``grad_y = dL/dy`` (same shape as ``y``):

- ``grad_x = dL/dx`` is the adjoint of the conv applied to ``grad_y`` (``conv_transpose2d``):
  each output pixel's gradient flows back, through the kernel, to the pixels its window read,
  and the gradient of a reflected/replicated/wrapped border folds back onto the pixels it
  copied. It is itself a conv, of ``grad_y`` with the flipped kernel (input and output channels
  swapped, ``algorithms/adjoint.py``); or one GEMM per kernel tap scatters ``grad_y`` through
  BLAS (``algorithms/phased.py``); or an algorithm's own ``backward_input`` runs (im2col's is
  col2im, the adjoint of its unfold). ``select.choose_input_gradient`` picks the way.
- ``grad_w = dL/dw`` correlates the padded input with ``grad_y``: the chosen algorithm's own
  ``backward_weight`` (depthwise: one einsum per tap; pointwise: one GEMM), else im2col's
  columns, transposed, times ``grad_y``, one GEMM per block.
- ``grad_b = dL/db`` sums ``grad_y`` over the batch and every output pixel.

Workspace is bounded as in the forward pass (``convolab.config``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from convolab.algorithms import INPUT_GRADIENT, REGISTRY, ConvProblem, adjoint, im2col
from convolab.algorithms.finite import all_finite
from convolab.ops.arguments import (
    Prepared,
    as_numeric,
    compute_dtype,
    from_nhwc,
    normalize_kernel_format,
    prepare,
    result_dtype,
    to_nhwc,
)
from convolab.select import ADJOINT, choose, choose_input_gradient


def caller_shape(nhwc: tuple[int, ...], data_format: str, unbatched: bool) -> tuple[int, ...]:
    """An NHWC shape as the caller sees it: NCHW if asked, without N if unbatched."""
    n, h, w, c = nhwc
    shape = (n, c, h, w) if data_format == "NCHW" else (n, h, w, c)
    return shape[1:] if unbatched else shape


def check_grad_y(grad_y: object, prep: Prepared, name: str = "grad_y") -> np.ndarray:
    """``grad_y`` as NHWC, after checking it has exactly the forward output's shape."""
    gy = as_numeric(grad_y, name)
    want = caller_shape(prep.problem.y_shape, prep.data_format, prep.unbatched)
    if gy.shape != want:
        raise ValueError(
            f"{name}: must have the shape of conv2d's output, {want} here, got {gy.shape}"
        )
    return to_nhwc(gy, prep.data_format, name)[0]


def input_gradient(
    gy: np.ndarray, w: np.ndarray, p: ConvProblem, algorithm: str = "auto"
) -> np.ndarray:
    """``grad_x`` (NHWC) from NHWC ``gy`` and HWIO ``w``, canonical arrays of ``p.dtype``.

    Run the way :func:`convolab.select.choose_input_gradient` names: phased, the conv of
    ``gy`` by an algorithm (``algorithms/adjoint.py``), or an algorithm's own
    ``backward_input`` (im2col's col2im if it has none).
    """
    if p.x_shape[0] == 0:  # empty batch: nothing flows back
        return np.zeros(p.x_shape, p.dtype)
    name = choose_input_gradient(p, algorithm)
    gy = np.ascontiguousarray(gy, dtype=p.dtype)
    if name.startswith(ADJOINT) and not all_finite(w):
        # the conv of grad_y multiplies its zero border (and the stride's zeros) by w, where
        # the definition never does: 0 * inf would spread (``algorithms/finite.py``)
        return im2col.backward_input(gy, w, p)
    if name.startswith(ADJOINT):
        forward = REGISTRY[name.removeprefix(ADJOINT)].forward
        return adjoint.input_gradient(gy, adjoint.transposed_kernel(w, p.groups), p, p.groups,
                                      forward)
    module = INPUT_GRADIENT.get(name) or REGISTRY[name]
    return getattr(module, "backward_input", im2col.backward_input)(gy, w, p)


def weight_gradient(
    gy: np.ndarray, x: np.ndarray, p: ConvProblem, algorithm: str = "auto"
) -> np.ndarray:
    """``grad_w`` (HWIO) from NHWC ``gy`` and ``x``, canonical arrays of ``p.dtype``."""
    if p.x_shape[0] == 0:
        return np.zeros(p.w_shape, p.dtype)
    # an algorithm of grad_x only (phased) leaves grad_w to "auto"
    module = REGISTRY[choose(p, "auto" if algorithm in INPUT_GRADIENT else algorithm)]
    gy = np.ascontiguousarray(gy, dtype=p.dtype)
    return getattr(module, "backward_weight", im2col.backward_weight)(gy, x, p)


def bias_gradient(gy: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``grad_b`` (O,): NHWC ``gy`` (N, Ho, Wo, O) summed over images and pixels, in ``dtype``.

    Summed as ``(N*Ho, Wo*O)`` rows first, then the ``Wo`` pixels of the resulting row: the
    first sum's inner loop runs over whole rows (LeNet: 0.055 ms, against 0.15 for einsum over
    ``(N*Ho*Wo, O)`` and 0.6 for NumPy's reduction over the leading axes; the same as einsum
    from 64 channels up), and is more accurate than einsum's running sum. Not a product with
    ones: that BLAS call leaves OpenBLAS's threads spinning, and they slowed the next
    gradient's workers by half.
    """
    n, ho, wo, o = gy.shape
    rows = np.asarray(gy, dtype).reshape(n * ho, wo * o)
    return rows.sum(axis=0).reshape(wo, o).sum(axis=0)


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
    algorithm: str = "auto",
    bias: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Gradients of ``conv2d(x, w, b, ...)`` given ``grad_y = dL/dy``.

    Takes the keywords of :func:`convolab.conv2d`, with the same meanings; ``bias`` says whether
    the forward call had a bias (its value does not enter the gradients). ``algorithm`` may also
    be ``"phased"``: ``grad_x`` by ``algorithms.phased``, the rest as for "auto".
    ``convolab.plan(...).input_gradient`` says how "auto" (or a forced name) computes ``grad_x``.

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
    if not isinstance(bias, (bool, np.bool_)):
        raise TypeError(
            "bias: expected True or False (whether the forward call had a bias), "
            f"got {type(bias).__name__}"
        )
    prep = prepare(
        x, w, None, stride=stride, padding=padding, dilation=dilation, groups=groups,
        data_format=data_format, kernel_format=kernel_format, padding_mode=padding_mode,
    )
    gy4 = check_grad_y(grad_y, prep)
    out = np.result_type(prep.out_dtype, result_dtype(gy4))
    p = dataclasses.replace(prep.problem, dtype=compute_dtype(out))
    xc, wc = (np.asarray(a, p.dtype) for a in (prep.x, prep.w))
    gx = input_gradient(gy4, wc, p, algorithm)
    gw = weight_gradient(gy4, xc, p, algorithm)
    gb = bias_gradient(gy4, p.dtype).astype(out) if bias else None
    if normalize_kernel_format(kernel_format) == "OIHW":
        gw = gw.transpose(3, 2, 0, 1)
    return (
        from_nhwc(gx, prep.data_format, prep.unbatched).astype(out, copy=False),
        np.ascontiguousarray(gw, dtype=out),
        gb,
    )
