"""``conv_transpose2d``: the adjoint of ``conv2d`` with respect to its input (PyTorch's op).

A transposed convolution is not a new algorithm: it *is* the input gradient of a ``conv2d``.
If ``conv2d`` maps a ``z`` of ``C_out`` channels to a ``y`` of ``C_in`` channels with kernel
``w``, then ``conv_transpose2d(x, w)`` is ``dL/dz`` for ``dL/dy = x``, so that
``<conv2d(z, w), x> == <z, conv_transpose2d(x, w)>``. Each input pixel stamps the kernel, scaled
by its value, onto the output at stride ``s``; the overlapping stamps add up.

Output size per axis, for input size ``n`` (PyTorch's formula)::

    out = (n - 1)*s - top - bottom + d*(k - 1) + output_padding + 1

With ``padding="same"``/``"valid"`` the size follows Keras's ``Conv2DTranspose``: ``n*s`` for
"same", ``n*s + max(d*(k-1) + 1 - s, 0)`` for "valid" (plus ``output_padding`` if given), and
the padding is that of the forward conv of that size (TensorFlow's split).
"""

from __future__ import annotations

import numpy as np

from convolab.algorithms import ConvProblem
from convolab.algorithms.finite import all_finite
from convolab.ops.arguments import (
    as_numeric,
    check_groups,
    compute_dtype,
    from_nhwc,
    normalize_data_format,
    normalize_kernel_format,
    result_dtype,
    to_hwio,
    to_nhwc,
)
from convolab.ops.backward import input_gradient
from convolab.shapes import Pads, Pair, conv_geometry, normalize_pair, resolve_padding

_KERAS_PADDINGS = ("same", "valid")
# The kernel is the forward conv's, so its formats are conv2d's. PyTorch names
# ConvTranspose2d's weight (C_in, C_out / groups, kh, kw) by the transposed op's own channels,
# in then out: "IOHW". It is the same array as the forward conv's "OIHW", and is read as one.
_TRANSPOSE_NAMES = {"IOHW": "OIHW"}


def _kernel_format(kernel_format: object) -> str:
    key = kernel_format.upper() if isinstance(kernel_format, str) else None
    if key in _TRANSPOSE_NAMES:
        return _TRANSPOSE_NAMES[key]
    if key not in ("HWIO", "OIHW"):
        raise ValueError(
            "kernel_format: expected 'HWIO', 'OIHW' or 'IOHW' (PyTorch's name for its "
            f"ConvTranspose2d weight, the same array as 'OIHW'), got {kernel_format!r}"
        )
    return normalize_kernel_format(key)


def _output_size(
    in_hw: Pair, kernel_hw: Pair, stride: Pair, dilation: Pair, padding: object,
    output_padding: Pair | None,
) -> tuple[Pair, Pads]:
    """``(out_hw, pads)``: the transposed output size and the forward conv's padding."""
    span = [d * (k - 1) + 1 for d, k in zip(dilation, kernel_hw)]
    if isinstance(padding, str):
        key = padding.lower()
        if key not in _KERAS_PADDINGS:
            raise ValueError(
                "padding: conv_transpose2d takes 'same', 'valid', an int, (ph, pw) or "
                f"((top, bottom), (left, right)); got {padding!r}"
            )
        if output_padding is None:  # Keras's deconv_output_length
            out = [
                n * s if key == "same" else n * s + max(sp - s, 0)
                for n, s, sp in zip(in_hw, stride, span)
            ]
        else:
            out = [
                (n - 1) * s + sp - (2 * (sp // 2) if key == "same" else 0) + op
                for n, s, sp, op in zip(in_hw, stride, span, output_padding)
            ]
        pads = resolve_padding(key, tuple(out), kernel_hw, stride, dilation)
    else:
        pads = resolve_padding(padding, in_hw, kernel_hw, stride, dilation)
        op = output_padding or (0, 0)
        out = [
            (n - 1) * s - before - after + sp + o
            for n, s, (before, after), sp, o in zip(in_hw, stride, pads, span, op)
        ]
    if min(out) < 1:
        raise ValueError(
            f"padding: removes the whole output; the transposed output would be {tuple(out)} "
            f"for input {in_hw}, padding {padding!r}"
        )
    return (out[0], out[1]), pads


def conv_transpose2d(
    x: object,
    w: object,
    bias: object = None,
    *,
    stride: object = 1,
    padding: object = 0,
    output_padding: object = 0,
    dilation: object = 1,
    groups: object = 1,
    data_format: str = "NHWC",
    kernel_format: str = "HWIO",
) -> np.ndarray:
    """Transposed 2-D convolution (PyTorch's ``conv_transpose2d``), the adjoint of ``conv2d``.

    Parameters
    ----------
    x : array, shape (N, H, W, C_in) for "NHWC" or (N, C_in, H, W) for "NCHW"; 3-D is one example
    w : array, the kernel of the conv being transposed: (kh, kw, C_out // groups, C_in) for
        "HWIO" (TensorFlow's ``conv2d_transpose`` filter) or (C_in, C_out // groups, kh, kw)
        for "OIHW" (PyTorch's ``ConvTranspose2d.weight``). "IOHW" is accepted as PyTorch's
        name for that same weight (in and out channels of the transposed op): the same
        array, read exactly as "OIHW".
    bias : array, shape (C_out,), or None
    stride, dilation : int or (vertical, horizontal)
    padding : int, (ph, pw), ((top, bottom), (left, right)) removed from the full output, or
        "same"/"valid" with Keras ``Conv2DTranspose`` meaning
    output_padding : int or pair, extra rows/columns at the bottom/right; each must be less than
        the stride or the dilation of its axis (PyTorch's rule)
    groups : int dividing C_in and C_out

    Returns
    -------
    ndarray, shape (N, Ho, Wo, C_out) or (N, C_out, Ho, Wo), dtype by promotion

    Examples
    --------
    Stride 2 spreads the input out; the kernel stamps overlap where it is wider than the stride:

    >>> x = np.array([[1.0, 10.0]])[None, :, :, None]          # (1, 1, 2, 1)
    >>> w = np.array([[1.0, 2.0, 3.0]])[:, :, None, None]       # (1, 3, 1, 1)
    >>> conv_transpose2d(x, w, stride=2)[0, :, :, 0]
    array([[ 1.,  2., 13., 20., 30.]])
    >>> conv_transpose2d(x, w, stride=2, padding="same").shape   # Keras: (1*2, 2*2)
    (1, 2, 4, 1)
    """
    fmt = normalize_data_format(data_format)
    kfmt = _kernel_format(kernel_format)
    g = check_groups(groups)
    xa, wa = as_numeric(x, "x"), as_numeric(w, "w")
    ba = None if bias is None else as_numeric(bias, "bias")
    x4, unbatched = to_nhwc(xa, fmt)
    w4 = to_hwio(wa, kfmt)  # (kh, kw, C_out/groups, C_in)
    n, h, wd, c_in = x4.shape
    kh, kw, cog, w_in = w4.shape
    if min(w4.shape) < 1:
        raise ValueError(f"w: every kernel dimension must be >= 1, got HWIO {w4.shape}")
    if c_in != w_in:
        raise ValueError(
            f"x: has C_in={c_in} channels but w expects C_in={w_in} "
            f"({'last axis of HWIO' if kfmt == 'HWIO' else 'first axis of OIHW/IOHW'} w)"
        )
    if c_in % g:
        raise ValueError(f"groups: must divide the input channels C_in={c_in}, got groups={g}")
    c_out = cog * g
    if ba is not None and ba.shape != (c_out,):
        raise ValueError(f"bias: expected shape ({c_out},) (C_out), got {ba.shape}")
    if min(h, wd) < 1:
        raise ValueError(f"x: height and width must be >= 1, got {(h, wd)}")
    s, d = normalize_pair(stride, "stride"), normalize_pair(dilation, "dilation")
    op = normalize_pair(output_padding, "output_padding", minimum=0)
    for o, si, di, name in zip(op, s, d, ("height", "width")):
        if o >= max(si, di):
            raise ValueError(
                f"output_padding: must be smaller than the stride or the dilation of each axis, "
                f"got {o} for the {name} (stride {si}, dilation {di})"
            )
    keras_default = isinstance(padding, str) and op == (0, 0)
    out_hw, pads = _output_size((h, wd), (kh, kw), s, d, padding, None if keras_default else op)
    # the forward conv whose input gradient we compute: z (N, Ho, Wo, C_out) -> (N, h', w', C_in)
    geom = conv_geometry(out_hw, (kh, kw), stride=s, padding=pads, dilation=d)
    if geom.out_shape[0] < h or geom.out_shape[1] < wd:
        raise ValueError(
            f"output_padding: with padding {padding!r} and output_padding {op}, the transposed "
            f"output {out_hw} does not map back onto the input {(h, wd)}"
        )
    out = result_dtype(xa, wa, ba)
    dt = compute_dtype(out)
    p = ConvProblem((n, *out_hw, c_out), w4.shape, geom, g, "zeros", dt)
    wc = np.ascontiguousarray(w4, dtype=dt)
    if geom.out_shape != (h, wd) and not all_finite(wc):
        # an Inf or NaN weight must not meet the zero windows below (0 * inf = NaN)
        y = _without_extra_windows(x4, wc, p, (h, wd))
    else:
        # The forward conv may have windows past the input's last row/column (room made by
        # output_padding when it exceeds the stride): they get zero gradient.
        gy = np.zeros(p.y_shape, dt)
        gy[:, :h, :wd] = x4
        y = input_gradient(gy, wc, p)
    if ba is not None:
        y += ba.astype(dt)
    return from_nhwc(y, fmt, unbatched).astype(out, copy=False)


def _without_extra_windows(x4: np.ndarray, w: np.ndarray, p: ConvProblem,
                           hw: tuple[int, int]) -> np.ndarray:
    """The transposed conv of ``x4`` (N, h, w, C_in) where ``p``'s forward conv has windows
    past ``hw`` (output_padding beyond the stride): computed on the part of the output that
    the real windows cover, zeros elsewhere, so no weight multiplies those windows' zeros
    (the definition forms no such products: with an Inf weight they would be NaN).
    """
    out = np.zeros((p.x_shape[0], *p.x_shape[1:3], p.w_shape[2] * p.groups), p.dtype)
    sizes, pads = [], []
    for n_win, (before, _), s, d, k, size in zip(hw, p.geom.pads, p.geom.stride,
                                                 p.geom.dilation, p.geom.kernel_shape,
                                                 p.x_shape[1:3]):
        extent = (n_win - 1) * s + (k - 1) * d + 1  # padded rows the real windows read
        rows = min(size, extent - before)
        if rows < 1:  # the real windows read only padding: nothing reaches the output
            return out
        sizes.append(rows)
        pads.append((before, extent - before - rows))
    geom = conv_geometry(tuple(sizes), p.geom.kernel_shape, stride=p.geom.stride,
                         padding=tuple(pads), dilation=p.geom.dilation)
    q = ConvProblem((p.x_shape[0], *sizes, p.x_shape[3]), p.w_shape, geom, p.groups, "zeros",
                    p.dtype)
    out[:, : sizes[0], : sizes[1]] = input_gradient(np.ascontiguousarray(x4, p.dtype), w, q)
    return out
