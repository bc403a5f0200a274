"""The definition of 2-D convolution, as loops in float64: the oracle for every fast path.

Written for clarity, not speed. Layout is the canonical one: ``x`` is NHWC, ``w`` is HWIO.
The layer operation is cross-correlation (6.2.1): output pixel ``(i, j)`` in output channel
``o`` of group ``g`` is::

    y[n, i, j, o] = b[o]
        + sum_{a, c, ch} xp[n, i*sh + a*dh, j*sw + c*dw, g*Cg + ch] * w[a, c, ch, o]

where ``xp`` is ``x`` padded in ``padding_mode`` and ``Cg = C / groups``.
"""

from __future__ import annotations

import numpy as np

from convolab.padding import index_map, pad
from convolab.shapes import conv_geometry, normalize_padding_mode, normalize_pair, resolve_padding


def corr2d(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """The seed's ``corr2d`` (6.2.1): "valid" cross-correlation of 2-D ``x`` with 2-D ``k``.

    >>> corr2d(np.arange(9.0).reshape(3, 3), np.arange(4.0).reshape(2, 2))
    array([[19., 25.],
           [37., 43.]])
    """
    x, k = np.asarray(x, np.float64), np.asarray(k, np.float64)
    h, w = k.shape
    y = np.zeros((x.shape[0] - h + 1, x.shape[1] - w + 1))
    for i in range(y.shape[0]):
        for j in range(y.shape[1]):
            y[i, j] = np.sum(x[i : i + h, j : j + w] * k)
    return y


def conv2d(
    x: np.ndarray,
    w: np.ndarray,
    bias: np.ndarray | None = None,
    *,
    stride: object = 1,
    padding: object = "valid",
    dilation: object = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
) -> np.ndarray:
    """Cross-correlation layer by its definition, in float64.

    Parameters
    ----------
    x : ndarray, shape (N, H, W, C)
    w : ndarray, shape (kh, kw, C // groups, O)
    bias : ndarray, shape (O,), or None

    Returns
    -------
    ndarray, shape (N, Ho, Wo, O), float64
    """
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    n = x.shape[0]
    kh, kw, cg, o = w.shape
    og = o // groups
    geom = conv_geometry(x.shape[1:3], (kh, kw), stride=stride, padding=padding,
                         dilation=dilation)
    (sh, sw), (dh, dw) = geom.stride, geom.dilation
    xp = pad(x, geom.pads, normalize_padding_mode(padding_mode))
    ho, wo = geom.out_hw
    y = np.zeros((n, ho, wo, o))
    for i in range(ho):
        for j in range(wo):
            for g in range(groups):
                for oc in range(g * og, (g + 1) * og):
                    total = np.zeros(n)
                    for a in range(kh):
                        for b in range(kw):
                            pixel = xp[:, i * sh + a * dh, j * sw + b * dw, g * cg : (g + 1) * cg]
                            total += pixel @ w[a, b, :, oc]
                    y[:, i, j, oc] = total
    if bias is not None:
        y += np.asarray(bias, np.float64)
    return y


def conv2d_backward(
    grad_y: np.ndarray,
    x: np.ndarray,
    w: np.ndarray,
    *,
    stride: object = 1,
    padding: object = "valid",
    dilation: object = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`conv2d` by the chain rule, term by term, in float64.

    Every product ``xp[n, r, c, ch] * w[a, b, ch, o]`` in ``y[n, i, j, o]`` sends
    ``grad_y[n, i, j, o] * w[a, b, ch, o]`` to the padded pixel ``xp[n, r, c, ch]`` and
    ``grad_y[n, i, j, o] * xp[n, r, c, ch]`` to the weight; each padded pixel then passes its
    gradient to the input pixel it copies (none for a zero).

    Parameters
    ----------
    grad_y : ndarray, shape (N, Ho, Wo, O)
    x : ndarray, shape (N, H, W, C)
    w : ndarray, shape (kh, kw, C // groups, O)

    Returns
    -------
    grad_x (N, H, W, C), grad_w (kh, kw, C // groups, O), grad_b (O,), all float64
    """
    gy = np.asarray(grad_y, np.float64)
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    h, wd = x.shape[1:3]
    kh, kw, cg, o = w.shape
    og = o // groups
    geom = conv_geometry((h, wd), (kh, kw), stride=stride, padding=padding, dilation=dilation)
    (sh, sw), (dh, dw) = geom.stride, geom.dilation
    mode = normalize_padding_mode(padding_mode)
    xp = pad(x, geom.pads, mode)
    gxp = np.zeros(xp.shape)
    gw = np.zeros(w.shape)
    ho, wo = geom.out_hw
    for i in range(ho):
        for j in range(wo):
            for oc in range(o):
                g = oc // og
                chans = slice(g * cg, (g + 1) * cg)
                for a in range(kh):
                    for b in range(kw):
                        r, col = i * sh + a * dh, j * sw + b * dw
                        gxp[:, r, col, chans] += np.outer(gy[:, i, j, oc], w[a, b, :, oc])
                        gw[a, b, :, oc] += gy[:, i, j, oc] @ xp[:, r, col, chans]
    (t, bottom), (left, right) = geom.pads
    rows, cols = index_map(h, t, bottom, mode), index_map(wd, left, right, mode)
    gx = np.zeros(x.shape)
    for r, src_r in enumerate(rows):
        for col, src_c in enumerate(cols):
            if src_r >= 0 and src_c >= 0:
                gx[:, src_r, src_c] += gxp[:, r, col]
    return gx, gw, gy.sum(axis=(0, 1, 2))


def conv_transpose2d(
    x: np.ndarray,
    w: np.ndarray,
    bias: np.ndarray | None = None,
    *,
    stride: object = 1,
    padding: object = 0,
    output_padding: object = 0,
    dilation: object = 1,
    groups: int = 1,
) -> np.ndarray:
    """Transposed convolution by its definition (PyTorch's), in float64.

    Each input pixel ``x[n, i, j, ci]`` stamps the kernel, scaled by its value, onto the output
    at ``(i*sh + a*dh - top, j*sw + b*dw - left)``; stamps falling in the removed padding are
    dropped. Output size per axis: ``(H - 1)*s - top - bottom + d*(k - 1) + output_padding + 1``.

    Parameters
    ----------
    x : ndarray, shape (N, H, W, C_in)
    w : ndarray, shape (kh, kw, C_out // groups, C_in): the kernel of the conv being transposed
    padding : int, (ph, pw) or ((top, bottom), (left, right))

    Returns
    -------
    ndarray, shape (N, Ho, Wo, C_out), float64
    """
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    n, h, wd, c_in = x.shape
    kh, kw, cog, _ = w.shape
    cig = c_in // groups
    s, d = normalize_pair(stride, "stride"), normalize_pair(dilation, "dilation")
    op = normalize_pair(output_padding, "output_padding", minimum=0)
    (t, bottom), (left, right) = resolve_padding(padding, (h, wd), (kh, kw), s, d)
    ho = (h - 1) * s[0] - t - bottom + d[0] * (kh - 1) + op[0] + 1
    wo = (wd - 1) * s[1] - left - right + d[1] * (kw - 1) + op[1] + 1
    y = np.zeros((n, ho, wo, cog * groups))
    for i in range(h):
        for j in range(wd):
            for ci in range(c_in):
                g = ci // cig
                for a in range(kh):
                    for b in range(kw):
                        r, col = i * s[0] + a * d[0] - t, j * s[1] + b * d[1] - left
                        if 0 <= r < ho and 0 <= col < wo:
                            y[:, r, col, g * cog : (g + 1) * cog] += np.outer(
                                x[:, i, j, ci], w[a, b, :, ci]
                            )
    if bias is not None:
        y += np.asarray(bias, np.float64)
    return y
