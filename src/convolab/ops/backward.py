"""``conv2d_backward``: gradients of ``conv2d`` with respect to its input, kernel and bias.

For ``y = conv2d(x, w) + b`` and an upstream gradient ``grad_y = dL/dy`` (same shape as ``y``):

- ``grad_x = dL/dx`` is the adjoint of the conv applied to ``grad_y`` (``conv_transpose2d``):
  each output pixel's gradient flows back, through the kernel, to the pixels its window read,
  and the gradient of a reflected/replicated/wrapped border folds back onto the pixels it
  copied. With stride 1 this is itself a conv, of ``grad_y`` with the flipped kernel (input and
  output channels swapped), run by implicit GEMM when it can (``algorithms/adjoint.py``);
  otherwise, and with larger strides, one GEMM per kernel tap scatters ``grad_y`` through BLAS
  (``algorithms/phased.py``), or col2im, the adjoint of im2col's unfold, runs
  (``algorithms/im2col.py``, or the chosen algorithm's own ``backward_input``).
- ``grad_w = dL/dw`` correlates the padded input with ``grad_y``: im2col's columns, transposed,
  times ``grad_y``, one GEMM per block.
- ``grad_b = dL/db`` sums ``grad_y`` over the batch and every output pixel.

Workspace is bounded as in the forward pass (``convolab.config``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from convolab.algorithms import REGISTRY, ConvProblem, adjoint, im2col, implicit, phased
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
from convolab.select import choose, estimate, estimates, supports
from convolab.shapes import conv_geometry


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


# col2im writes the K-wide columns and adds them back tap by tap (read-modify-write), where
# im2col's forward fills them once and reads them: on 2 cores it took 1.8-2.2x the forward's time
# on the same problem, so it is priced at twice the cost model's im2col estimate.
COL2IM_VS_IM2COL = 2.0


def _transposed_problem(p: ConvProblem, w: np.ndarray) -> tuple[ConvProblem, np.ndarray]:
    """Stride 1: the conv that maps ``gy`` (N, Ho, Wo, O) to the padded input's gradient.

    ``gxp[r, c] = sum_{a, b} gy[r - a*dh, c - b*dw] @ w[a, b]^T``: ``gy`` zero-padded by
    ``span - 1`` ("full") correlated with the flipped, transposed kernel; returns its problem
    and kernel ``(kh, kw, Og, C)``.
    """
    w2 = np.ascontiguousarray(adjoint.transposed_kernel(w, p.groups))
    geom = conv_geometry(p.y_shape[1:3], p.geom.kernel_hw, padding="full",
                         dilation=p.geom.dilation)
    return ConvProblem(p.y_shape, w2.shape, geom, p.groups, "zeros", p.dtype), w2


def _as_conv_with(p2: ConvProblem, p: ConvProblem, algorithm: str) -> str | None:
    """Algorithm to run the transposed conv ``p2`` with, or None if col2im is the better way.

    A forced ``algorithm`` runs it if it can; "auto" compares the cost model's best for ``p2``
    with col2im's price on ``p``.
    """
    if algorithm != "auto":
        return algorithm if supports(algorithm, p2) else None
    best = estimates(p2)[0]
    col2im_seconds = COL2IM_VS_IM2COL * estimate("im2col", p).seconds
    return best.algorithm if best.seconds < col2im_seconds else None


def input_gradient(
    gy: np.ndarray, w: np.ndarray, p: ConvProblem, algorithm: str = "auto"
) -> np.ndarray:
    """``grad_x`` (NHWC) from NHWC ``gy`` and HWIO ``w``, canonical arrays of ``p.dtype``.

    With stride 1 the input gradient is itself a conv (:func:`_transposed_problem`), which runs
    as one (``algorithms/adjoint.py``) when the cost model finds that cheaper than col2im.
    Otherwise (and always with larger strides, where that conv would multiply mostly zeros)
    "auto" runs ``algorithms/phased.py`` (per-tap GEMMs, stride phases) when it supports the
    problem, and a forced algorithm its own ``backward_input``, or im2col's col2im if it has
    none. Measured on 2 cores: the conv on implicit GEMM and phased are even at stride 1
    (res3x3a 18-19 ms); phased beats the conv by im2col (LeNet's one-channel input, 1.3 ms
    against 5.6) and col2im at stride 2 (res3x3s2 11 ms against 22).
    """
    if p.x_shape[0] == 0:  # empty batch: nothing flows back
        return np.zeros(p.x_shape, p.dtype)
    name = choose(p, algorithm)  # also checks a forced name against this conv
    gy = np.ascontiguousarray(gy, dtype=p.dtype)
    if p.geom.stride == (1, 1):
        p2, w2 = _transposed_problem(p, w)
        name2 = _as_conv_with(p2, p, algorithm)
        if name2 is not None and not (algorithm == "auto" and name2 != implicit.NAME
                                      and phased.supports(p)):
            return adjoint.input_gradient(gy, w2, p, p.groups, REGISTRY[name2].forward)
    if algorithm == "auto" and phased.supports(p):
        return phased.backward_input(gy, w, p)
    return getattr(REGISTRY[name], "backward_input", im2col.backward_input)(gy, w, p)


def weight_gradient(
    gy: np.ndarray, x: np.ndarray, p: ConvProblem, algorithm: str = "auto"
) -> np.ndarray:
    """``grad_w`` (HWIO) from NHWC ``gy`` and ``x``, canonical arrays of ``p.dtype``."""
    if p.x_shape[0] == 0:
        return np.zeros(p.w_shape, p.dtype)
    module = REGISTRY[choose(p, algorithm)]
    gy = np.ascontiguousarray(gy, dtype=p.dtype)
    return getattr(module, "backward_weight", im2col.backward_weight)(gy, x, p)


def bias_gradient(gy: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``grad_b`` (O,): NHWC ``gy`` summed over images and pixels, in ``dtype``.

    ``einsum`` sums the ``(N*Ho*Wo, O)`` rows 2-4x faster than NumPy's reduction over the
    leading axes (LeNet: 0.14 ms against 0.6). Not a product with ones: that BLAS call leaves
    OpenBLAS's threads spinning, and they slowed the next gradient's workers by half.
    """
    rows = np.asarray(gy, dtype).reshape(-1, gy.shape[-1])
    return np.einsum("pc->c", rows)


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
    the forward call had a bias (its value does not enter the gradients).

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
