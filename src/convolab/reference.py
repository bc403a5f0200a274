"""The definition of convolution of any rank, as loops in float64: the oracle for every fast path.

Written for clarity, not speed. Layout is the canonical one, channels last: ``x`` is
``(N, *spatial, C)`` (NHWC for images), ``w`` is ``(*kernel, C / groups, O)`` (HWIO). The rank
``r`` is ``w.ndim - 2``. The layer operation is cross-correlation (6.2.1): output pixel ``i``
(a tuple of ``r`` indices) in output channel ``o`` of group ``g`` is::

    y[n, i, o] = b[o] + sum_{a, ch} xp[n, i*s + a*d, g*Cg + ch] * w[a, ch, o]

over the kernel taps ``a`` (tuples too), where ``xp`` is ``x`` padded in ``padding_mode`` and
``Cg = C / groups``. For images, ``y[n, i, j, o]`` sums ``xp[n, i*sh + a*dh, j*sw + b*dw, ...]``.
"""

from __future__ import annotations

import numpy as np

from convolab.padding import index_map, pad
from convolab.shapes import conv_geometry, normalize_padding_mode, normalize_tuple, resolve_padding


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


def _window(out: tuple[int, ...], tap: tuple[int, ...], stride: tuple[int, ...],
            dilation: tuple[int, ...]) -> tuple[int, ...]:
    """Padded-input position that output ``out`` reads at kernel tap ``tap``."""
    return tuple(i * s + a * d for i, a, s, d in zip(out, tap, stride, dilation))


def conv(
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
    """Cross-correlation layer of any rank by its definition, in float64.

    Parameters
    ----------
    x : ndarray, shape (N, *spatial, C)
    w : ndarray, shape (*kernel, C // groups, O)
    bias : ndarray, shape (O,), or None

    Returns
    -------
    ndarray, shape (N, *out, O), float64
    """
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    r = w.ndim - 2
    n = x.shape[0]
    cg, o = w.shape[-2:]
    og = o // groups
    geom = conv_geometry(x.shape[1:-1], w.shape[:r], stride=stride, padding=padding,
                         dilation=dilation)
    xp = pad(x, geom.pads, normalize_padding_mode(padding_mode))
    y = np.zeros((n, *geom.out_shape, o))
    for out in np.ndindex(*geom.out_shape):
        for g in range(groups):
            for oc in range(g * og, (g + 1) * og):
                total = np.zeros(n)
                for tap in np.ndindex(*w.shape[:r]):
                    at = _window(out, tap, geom.stride, geom.dilation)
                    pixel = xp[(slice(None), *at, slice(g * cg, (g + 1) * cg))]
                    total += pixel @ w[(*tap, slice(None), oc)]
                y[(slice(None), *out, oc)] = total
    if bias is not None:
        y += np.asarray(bias, np.float64)
    return y


def conv_backward(
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
    """Gradients of :func:`conv` by the chain rule, term by term, in float64.

    Every product ``xp[n, p, ch] * w[a, ch, o]`` in ``y[n, i, o]`` sends
    ``grad_y[n, i, o] * w[a, ch, o]`` to the padded pixel ``xp[n, p, ch]`` and
    ``grad_y[n, i, o] * xp[n, p, ch]`` to the weight; each padded pixel then passes its
    gradient to the input pixel it copies (none for a zero).

    Parameters
    ----------
    grad_y : ndarray, shape (N, *out, O)
    x : ndarray, shape (N, *spatial, C)
    w : ndarray, shape (*kernel, C // groups, O)

    Returns
    -------
    grad_x (N, *spatial, C), grad_w (*kernel, C // groups, O), grad_b (O,), all float64
    """
    gy = np.asarray(grad_y, np.float64)
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    r = w.ndim - 2
    cg, o = w.shape[-2:]
    og = o // groups
    geom = conv_geometry(x.shape[1:-1], w.shape[:r], stride=stride, padding=padding,
                         dilation=dilation)
    mode = normalize_padding_mode(padding_mode)
    xp = pad(x, geom.pads, mode)
    gxp = np.zeros(xp.shape)
    gw = np.zeros(w.shape)
    for out in np.ndindex(*geom.out_shape):
        for oc in range(o):
            chans = slice((oc // og) * cg, (oc // og + 1) * cg)
            g_out = gy[(slice(None), *out, oc)]
            for tap in np.ndindex(*w.shape[:r]):
                at = (slice(None), *_window(out, tap, geom.stride, geom.dilation), chans)
                gxp[at] += np.outer(g_out, w[(*tap, slice(None), oc)])
                gw[(*tap, slice(None), oc)] += g_out @ xp[at]
    maps = [index_map(size, b, a, mode) for size, (b, a) in zip(x.shape[1:-1], geom.pads)]
    gx = np.zeros(x.shape)
    for padded in np.ndindex(*xp.shape[1:-1]):
        src = tuple(int(m[i]) for m, i in zip(maps, padded))
        if min(src) >= 0:
            gx[(slice(None), *src)] += gxp[(slice(None), *padded)]
    return gx, gw, gy.sum(axis=tuple(range(gy.ndim - 1)))


def conv_transpose(
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
    """Transposed convolution of any rank by its definition (PyTorch's), in float64.

    Each input pixel ``x[n, i, ci]`` stamps the kernel, scaled by its value, onto the output
    at ``i*s + a*d - before``; stamps falling in the removed padding are dropped. Output size
    per axis: ``(n - 1)*s - before - after + d*(k - 1) + output_padding + 1``.

    Parameters
    ----------
    x : ndarray, shape (N, *spatial, C_in)
    w : ndarray, shape (*kernel, C_out // groups, C_in): the kernel of the conv being transposed
    padding : int, one int per axis or one (before, after) pair per axis

    Returns
    -------
    ndarray, shape (N, *out, C_out), float64
    """
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    r = w.ndim - 2
    spatial, c_in = x.shape[1:-1], x.shape[-1]
    kernel, cog = w.shape[:r], w.shape[-2]
    cig = c_in // groups
    s = normalize_tuple(stride, "stride", r)
    d = normalize_tuple(dilation, "dilation", r)
    op = normalize_tuple(output_padding, "output_padding", r, minimum=0)
    pads = resolve_padding(padding, spatial, kernel, s, d)
    out_shape = tuple((n - 1) * si - b - a + di * (k - 1) + o + 1
                      for n, si, (b, a), di, k, o in zip(spatial, s, pads, d, kernel, op))
    y = np.zeros((x.shape[0], *out_shape, cog * groups))
    for i in np.ndindex(*spatial):
        for ci in range(c_in):
            g = ci // cig
            for tap in np.ndindex(*kernel):
                at = tuple(p - b for p, (b, _) in zip(_window(i, tap, s, d), pads))
                if all(0 <= q < m for q, m in zip(at, out_shape)):
                    y[(slice(None), *at, slice(g * cog, (g + 1) * cog))] += np.outer(
                        x[(slice(None), *i, ci)], w[(*tap, slice(None), ci)]
                    )
    if bias is not None:
        y += np.asarray(bias, np.float64)
    return y


# the image forms: the same functions, whose rank is that of the kernel
conv2d = conv
conv2d_backward = conv_backward
conv_transpose2d = conv_transpose


def pool_taps(in_shape: tuple[int, ...], out_shape: tuple[int, ...],
              pool_size: tuple[int, ...], strides: tuple[int, ...], dilation: tuple[int, ...],
              before: tuple[int, ...]) -> dict[tuple[int, ...], list[tuple[int, ...]]]:
    """Per output position (a tuple), the input positions its pooling window reads inside the
    input, in row-major window order (tap ``a`` of output ``i`` is ``i*s + a*d - before``)."""
    taps: dict[tuple[int, ...], list[tuple[int, ...]]] = {}
    for i in np.ndindex(*out_shape):
        window = (tuple(ii * s + aa * d - b for ii, aa, s, d, b in
                        zip(i, a, strides, dilation, before)) for a in np.ndindex(*pool_size))
        taps[i] = [p for p in window if all(0 <= q < n for q, n in zip(p, in_shape))]
    return taps


def max_pool(x: np.ndarray, taps: dict[tuple[int, ...], list[tuple[int, ...]]]
             ) -> tuple[np.ndarray, np.ndarray]:
    """Max pooling of ``x`` ``(N, *spatial, C)`` over the windows of :func:`pool_taps`, by
    PyTorch's scan: a tap replaces the running maximum (from -inf) when greater or NaN, the
    first tap inside the input standing for a window of -inf. Returns the maxima and each
    one's flat position in its channel's spatial input (PyTorch's indices)."""
    out_shape = tuple(max(i[a] for i in taps) + 1 for a in range(x.ndim - 2))
    y = np.empty((x.shape[0], *out_shape, x.shape[-1]), np.float64)
    index = np.empty(y.shape, np.int64)
    for n in range(x.shape[0]):
        for i, window in taps.items():
            for c in range(x.shape[-1]):
                best, where = -np.inf, window[0]
                for p in window:
                    v = float(x[(n, *p, c)])
                    if v > best or v != v:
                        best, where = v, p
                y[(n, *i, c)] = best
                index[(n, *i, c)] = np.ravel_multi_index(where, x.shape[1:-1])
    return y, index


def window_sums(x: np.ndarray, taps: dict[tuple[int, ...], list[tuple[int, ...]]]
                ) -> np.ndarray:
    """The sum of each window of :func:`pool_taps` over ``x`` ``(N, *spatial, C)``."""
    out_shape = tuple(max(i[a] for i in taps) + 1 for a in range(x.ndim - 2))
    y = np.zeros((x.shape[0], *out_shape, x.shape[-1]), np.float64)
    for i, window in taps.items():
        for p in window:
            y[(slice(None), *i, slice(None))] += x[(slice(None), *p, slice(None))]
    return y
