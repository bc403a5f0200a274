"""``conv_transpose``: the adjoint of ``conv`` with respect to its input (PyTorch's op), any rank.

A transposed convolution is not a new algorithm: it *is* the input gradient of a ``conv``.
If ``conv`` maps a ``z`` of ``C_out`` channels to a ``y`` of ``C_in`` channels with kernel
``w``, then ``conv_transpose(x, w)`` is ``dL/dz`` for ``dL/dy = x``, so that
``<conv(z, w), x> == <z, conv_transpose(x, w)>``. Each input pixel stamps the kernel, scaled
by its value, onto the output at stride ``s``; the overlapping stamps add up.

Output size per axis, for input size ``n`` (PyTorch's formula)::

    out = (n - 1)*s - top - bottom + d*(k - 1) + output_padding + 1

With ``padding="same"``/``"valid"`` the size follows Keras's ``Conv{1,2,3}DTranspose``: ``n*s`` for
"same", ``n*s + max(d*(k-1) + 1 - s, 0)`` for "valid" (plus ``output_padding`` if given), and
the padding is that of the forward conv of that size (TensorFlow's split).
"""

from __future__ import annotations

import numpy as np

from convolab.algorithms import ConvProblem
from convolab.algorithms.finite import all_finite
from convolab.ops.arguments import (
    FIRST,
    as_numeric,
    check_groups,
    compute_dtype,
    from_channels_last,
    kernel_rank,
    layout_names,
    normalize_data_format,
    normalize_kernel_format,
    result_dtype,
    to_channels_last,
    to_kernel_last,
)
from convolab.ops.lowering import input_gradient
from convolab.shapes import (
    Pads,
    Sizes,
    axis_names,
    conv_geometry,
    normalize_tuple,
    resolve_padding,
)

_KERAS_PADDINGS = ("same", "valid")
# The kernel is the forward conv's, so its formats are conv's. PyTorch names
# ConvTranspose2d's weight (C_in, C_out / groups, kh, kw) by the transposed op's own channels,
# in then out: "IOHW" (and "IOW", "IODHW"). It is the same array as the forward conv's "OIHW",
# and is read as one.
_TRANSPOSE_NAMES = {"IOW": "OIW", "IOHW": "OIHW", "IODHW": "OIDHW"}


def _kernel_format(kernel_format: object, rank: int, data_format: str) -> str:
    key = kernel_format.upper() if isinstance(kernel_format, str) else kernel_format
    try:
        return normalize_kernel_format(_TRANSPOSE_NAMES.get(key, key), rank, data_format)
    except ValueError:
        last, first = layout_names(rank)[2:]
        io = "IO" + first[2:]
        raise ValueError(
            f"kernel_format: expected {last!r}, {first!r} or {io!r} (PyTorch's name for its "
            f"ConvTranspose weight, the same array as {first!r}), got {kernel_format!r}"
        ) from None


def _output_size(
    in_shape: Sizes, kernel_shape: Sizes, stride: Sizes, dilation: Sizes, padding: object,
    output_padding: Sizes | None,
) -> tuple[Sizes, Pads]:
    """``(out_shape, pads)``: the transposed output size and the forward conv's padding."""
    span = [d * (k - 1) + 1 for d, k in zip(dilation, kernel_shape)]
    if isinstance(padding, str):
        key = padding.lower()
        if key not in _KERAS_PADDINGS:
            raise ValueError(
                "padding: conv_transpose takes 'same', 'valid', an int, one int per axis or "
                f"one (before, after) pair per axis; got {padding!r}"
            )
        if output_padding is None:  # Keras's deconv_output_length
            out = [
                n * s if key == "same" else n * s + max(sp - s, 0)
                for n, s, sp in zip(in_shape, stride, span)
            ]
        else:
            out = [
                (n - 1) * s + sp - (2 * (sp // 2) if key == "same" else 0) + op
                for n, s, sp, op in zip(in_shape, stride, span, output_padding)
            ]
        pads = resolve_padding(key, tuple(out), kernel_shape, stride, dilation)
    else:
        pads = resolve_padding(padding, in_shape, kernel_shape, stride, dilation)
        op = output_padding or (0,) * len(in_shape)
        out = [
            (n - 1) * s - before - after + sp + o
            for n, s, (before, after), sp, o in zip(in_shape, stride, pads, span, op)
        ]
    if min(out) < 1:
        raise ValueError(
            f"padding: removes the whole output; the transposed output would be {tuple(out)} "
            f"for input {in_shape}, padding {padding!r}"
        )
    return tuple(out), pads


def conv_transpose(
    x: object,
    w: object,
    bias: object = None,
    *,
    stride: object = 1,
    padding: object = 0,
    output_padding: object = 0,
    dilation: object = 1,
    groups: object = 1,
    data_format: str = "channels_last",
    kernel_format: str | None = None,
) -> np.ndarray:
    """Transposed convolution of any rank (PyTorch's ``conv_transpose{1,2,3}d``), the adjoint
    of :func:`convolab.conv`.

    Parameters
    ----------
    x : array, shape (N, *spatial, C_in) for "channels_last" or (N, C_in, *spatial) for
        "channels_first"; one dimension fewer is one example
    w : array, the kernel of the conv being transposed: (*kernel, C_out // groups, C_in)
        (channels last, TensorFlow's ``conv{1,2,3}d_transpose`` filter) or
        (C_in, C_out // groups, *kernel) (channels first, PyTorch's ``ConvTranspose{1,2,3}d``
        weight, also accepted as "IOW"/"IOHW"/"IODHW"); ``kernel_format=None`` follows
        ``data_format``
    bias : array, shape (C_out,), or None
    stride, dilation : int or one per spatial axis
    padding : int, one int per axis or one (before, after) pair per axis removed from the full
        output, or "same"/"valid" with Keras ``Conv{1,2,3}DTranspose`` meaning
    output_padding : int or one per axis, extra pixels at the end of each axis; each must be
        less than the stride or the dilation of its axis (PyTorch's rule)
    groups : int dividing C_in and C_out

    Returns
    -------
    ndarray, shape (N, *out, C_out) or (N, C_out, *out), dtype by promotion
    """
    return _transpose(None, x, w, bias, stride=stride, padding=padding,
                      output_padding=output_padding, dilation=dilation, groups=groups,
                      data_format=data_format, kernel_format=kernel_format)


def conv_transpose1d(x: object, w: object, bias: object = None, *, stride: object = 1,
                     padding: object = 0, output_padding: object = 0, dilation: object = 1,
                     groups: object = 1, data_format: str = "NWC",
                     kernel_format: str = "WIO") -> np.ndarray:
    """:func:`conv_transpose` of signals: ``x`` (N, L, C_in) "NWC" or (N, C_in, L) "NCW";
    ``w`` (k, C_out // groups, C_in) "WIO" or (C_in, C_out // groups, k) "OIW"/"IOW"."""
    return _transpose(1, x, w, bias, stride=stride, padding=padding,
                      output_padding=output_padding, dilation=dilation, groups=groups,
                      data_format=data_format, kernel_format=kernel_format)


def conv_transpose3d(x: object, w: object, bias: object = None, *, stride: object = 1,
                     padding: object = 0, output_padding: object = 0, dilation: object = 1,
                     groups: object = 1, data_format: str = "NDHWC",
                     kernel_format: str = "DHWIO") -> np.ndarray:
    """:func:`conv_transpose` of volumes: ``x`` (N, D, H, W, C_in) "NDHWC" or (N, C_in, D, H,
    W) "NCDHW"; ``w`` (kd, kh, kw, C_out // groups, C_in) "DHWIO" or (C_in, C_out // groups,
    kd, kh, kw) "OIDHW"/"IODHW"."""
    return _transpose(3, x, w, bias, stride=stride, padding=padding,
                      output_padding=output_padding, dilation=dilation, groups=groups,
                      data_format=data_format, kernel_format=kernel_format)


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
    return _transpose(2, x, w, bias, stride=stride, padding=padding,
                      output_padding=output_padding, dilation=dilation, groups=groups,
                      data_format=data_format, kernel_format=kernel_format)


def _transpose(rank: int | None, x: object, w: object, bias: object, *, stride: object,
               padding: object, output_padding: object, dilation: object, groups: object,
               data_format: object, kernel_format: object) -> np.ndarray:
    """The one body of :func:`conv_transpose` and its named forms."""
    g = check_groups(groups)
    xa, wa = as_numeric(x, "x"), as_numeric(w, "w")
    ba = None if bias is None else as_numeric(bias, "bias")
    r = kernel_rank(wa) if rank is None else rank
    fmt = normalize_data_format(data_format, r)
    kfmt = _kernel_format(kernel_format, r, fmt)
    xl, unbatched = to_channels_last(xa, fmt, r)
    wl = to_kernel_last(wa, kfmt, r)  # (*kernel, C_out/groups, C_in)
    n, spatial, c_in = xl.shape[0], xl.shape[1:-1], xl.shape[-1]
    kernel, cog, w_in = wl.shape[:r], wl.shape[-2], wl.shape[-1]
    if min(wl.shape) < 1:
        raise ValueError(f"w: every kernel dimension must be >= 1, got (*kernel, C_out/groups, "
                         f"C_in) = {wl.shape}")
    if c_in != w_in:
        raise ValueError(
            f"x: has C_in={c_in} channels but w expects C_in={w_in} "
            f"({'first axis of the channels-first' if kfmt == FIRST else 'last axis of the'} w)"
        )
    if c_in % g:
        raise ValueError(f"groups: must divide the input channels C_in={c_in}, got groups={g}")
    c_out = cog * g
    if ba is not None and ba.shape != (c_out,):
        raise ValueError(f"bias: expected shape ({c_out},) (C_out), got {ba.shape}")
    if min(spatial) < 1:
        raise ValueError(f"x: every spatial size must be >= 1, got {spatial}")
    s = normalize_tuple(stride, "stride", r)
    d = normalize_tuple(dilation, "dilation", r)
    op = normalize_tuple(output_padding, "output_padding", r, minimum=0)
    for o, si, di, name in zip(op, s, d, axis_names(r)):
        if o >= max(si, di):
            raise ValueError(
                f"output_padding: must be smaller than the stride or the dilation of each axis, "
                f"got {o} for the {name} (stride {si}, dilation {di})"
            )
    keras_default = isinstance(padding, str) and not any(op)
    out_shape, pads = _output_size(spatial, kernel, s, d, padding,
                                   None if keras_default else op)
    # the forward conv whose input gradient we compute: z (N, *out, C_out) -> (N, *., C_in)
    geom = conv_geometry(out_shape, kernel, stride=s, padding=pads, dilation=d)
    if any(a < b for a, b in zip(geom.out_shape, spatial)):
        raise ValueError(
            f"output_padding: with padding {padding!r} and output_padding {op}, the transposed "
            f"output {out_shape} does not map back onto the input {spatial}"
        )
    out = result_dtype(xa, wa, ba)
    dt = compute_dtype(out)
    p = ConvProblem((n, *out_shape, c_out), wl.shape, geom, g, "zeros", dt)
    wc = np.ascontiguousarray(wl, dtype=dt)
    if geom.out_shape != spatial and not all_finite(wc):
        # an Inf or NaN weight must not meet the zero windows below (0 * inf = NaN)
        y = _without_extra_windows(xl, wc, p, spatial)
    else:
        # The forward conv may have windows past the input's last pixels (room made by
        # output_padding when it exceeds the stride): they get zero gradient.
        gy = np.zeros(p.y_shape, dt)
        gy[(slice(None), *(slice(0, m) for m in spatial))] = xl
        y = input_gradient(gy, wc, p)
    if ba is not None:
        y += ba.astype(dt)
    return from_channels_last(y, fmt, unbatched).astype(out, copy=False)


def _without_extra_windows(xl: np.ndarray, w: np.ndarray, p: ConvProblem,
                           spatial: Sizes) -> np.ndarray:
    """The transposed conv of ``xl`` (N, *spatial, C_in) where ``p``'s forward conv has windows
    past ``spatial`` (output_padding beyond the stride): computed on the part of the output
    that the real windows cover, zeros elsewhere, so no weight multiplies those windows' zeros
    (the definition forms no such products: with an Inf weight they would be NaN).
    """
    out = np.zeros((p.x_shape[0], *p.x_shape[1:-1], p.w_shape[-2] * p.groups), p.dtype)
    sizes, pads = [], []
    for n_win, (before, _), s, d, k, size in zip(spatial, p.geom.pads, p.geom.stride,
                                                 p.geom.dilation, p.geom.kernel_shape,
                                                 p.x_shape[1:-1]):
        extent = (n_win - 1) * s + (k - 1) * d + 1  # padded pixels the real windows read
        length = min(size, extent - before)
        if length < 1:  # the real windows read only padding: nothing reaches the output
            return out
        sizes.append(length)
        pads.append((before, extent - before - length))
    geom = conv_geometry(tuple(sizes), p.geom.kernel_shape, stride=p.geom.stride,
                         padding=tuple(pads), dilation=p.geom.dilation)
    q = ConvProblem((p.x_shape[0], *sizes, p.x_shape[-1]), p.w_shape, geom, p.groups, "zeros",
                    p.dtype)
    out[(slice(None), *(slice(0, m) for m in sizes))] = input_gradient(
        np.ascontiguousarray(xl, p.dtype), w, q)
    return out
