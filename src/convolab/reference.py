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

from convolab.padding import pad
from convolab.shapes import conv_geometry, normalize_padding_mode


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
