"""From fully-connected layers to convolutions (6.1), checked with numbers.

The chapter starts from a fully-connected layer on a 2-D image ``X`` (H x W) with a 2-D hidden
representation ``H`` (Ho x Wo) and a 4th-order weight tensor ``W``::

    H[i, j] = U[i, j] + sum_{k, l} W[i, j, k, l] X[k, l]                      (fully connected)
            = U[i, j] + sum_{a, b} V[i, j, a, b] X[i + a, j + b]            (re-indexed, k = i+a)

*Translation invariance* makes ``V`` and ``U`` independent of ``(i, j)``; *locality* keeps only
small ``a, b``; what is left is the convolutional layer, ``H = u + corr2d(X, V)``. This module
builds each of these objects so the derivation can be checked numerically:

- :func:`dense_weights` / :func:`dense_matrix`: the ``W`` (and its ``(Ho*Wo, H*W)`` matrix form)
  of the fully-connected layer that computes exactly a given convolution;
- :func:`fully_connected`, :func:`locally_connected`: the two general layers;
- :func:`reindex`: ``V[i, j, a, b] = W[i, j, i + a, j + b]``;
- :func:`parameter_counts`: how many numbers each layer needs, and :func:`parameter_table`, the
  same counts in words (weights and biases apart), as the tour and the README show them;
- :func:`translation_equivariance_error`: does shifting the input shift the output?
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from convolab.ops.arguments import as_2d, as_numeric
from convolab.padding import check_padding_fits, index_map
from convolab.shapes import conv_geometry, normalize_padding_mode, normalize_pair


def _as_2d(value: object, name: str) -> np.ndarray:
    return as_2d(value, name).astype(np.float64)


def dense_weights(
    kernel: object,
    input_hw: tuple[int, int],
    *,
    stride: object = 1,
    padding: object = "valid",
    dilation: object = 1,
    padding_mode: str = "zeros",
) -> np.ndarray:
    """The fully-connected ``W`` whose layer equals ``corr2d`` with ``kernel`` (6.1.2).

    Every output pixel ``(i, j)`` reads the padded input at ``(i*sh + a*dh, j*sw + b*dw)``; the
    padding's index maps say which input pixel (if any) that is, so ``W[i, j, k, l]`` is the sum
    of the kernel taps that land on input pixel ``(k, l)``.

    Parameters
    ----------
    kernel : array, shape (kh, kw)
    input_hw : (H, W)

    Returns
    -------
    ndarray, shape (Ho, Wo, H, W), float64

    >>> W = dense_weights([[1.0, -1.0]], (2, 3))
    >>> W.shape, W[0, 1].tolist()
    ((2, 2, 2, 3), [[0.0, 1.0, -1.0], [0.0, 0.0, 0.0]])
    """
    k = _as_2d(kernel, "kernel")
    g = conv_geometry(input_hw, k.shape, stride=stride, padding=padding, dilation=dilation)
    mode = normalize_padding_mode(padding_mode)
    check_padding_fits(g.in_shape, g.pads, mode)
    (ho, wo), (kh, kw) = g.out_shape, g.kernel_shape
    rows = index_map(g.in_shape[0], *g.pads[0], mode)  # padded row -> input row (-1: zero)
    cols = index_map(g.in_shape[1], *g.pads[1], mode)
    # (Ho, kh) and (Wo, kw): the input row / column under tap (a, b) of output (i, j).
    r = rows[np.arange(ho)[:, None] * g.stride[0] + np.arange(kh)[None, :] * g.dilation[0]]
    c = cols[np.arange(wo)[:, None] * g.stride[1] + np.arange(kw)[None, :] * g.dilation[1]]
    # Broadcast to (Ho, Wo, kh, kw) index arrays; taps reading a padding zero add nothing.
    i, j, ri, ci = np.broadcast_arrays(
        np.arange(ho)[:, None, None, None], np.arange(wo)[None, :, None, None],
        r[:, None, :, None], c[None, :, None, :],
    )
    taps = np.broadcast_to(k, i.shape)
    keep = (ri >= 0) & (ci >= 0)
    w = np.zeros((ho, wo, *g.in_shape))
    # add.at, not assignment: reflect/wrap padding can send two taps to the same pixel.
    np.add.at(w, (i[keep], j[keep], ri[keep], ci[keep]), taps[keep])
    return w


def dense_matrix(kernel: object, input_hw: tuple[int, int], **conv_args: object) -> np.ndarray:
    """``dense_weights`` as a ``(Ho*Wo, H*W)`` matrix: ``H.ravel() == M @ X.ravel()``.

    The conv is a sparse, banded (doubly block-Toeplitz) matrix with the kernel on each row.

    >>> dense_matrix([[1.0, -1.0]], (1, 3))
    array([[ 1., -1.,  0.],
           [ 0.,  1., -1.]])
    """
    w = dense_weights(kernel, input_hw, **conv_args)  # type: ignore[arg-type]
    ho, wo, h, wi = w.shape
    return w.reshape(ho * wo, h * wi)


def fully_connected(x: object, w: object, u: object = 0.0) -> np.ndarray:
    """``H[i, j] = U[i, j] + sum_{k, l} W[i, j, k, l] X[k, l]``.

    ``x`` : (H, W); ``w`` : (Ho, Wo, H, W); ``u`` : scalar or (Ho, Wo) -> (Ho, Wo).
    """
    xa = _as_2d(x, "x")
    wa = as_numeric(w, "w").astype(np.float64)
    if wa.ndim != 4 or wa.shape[2:] != xa.shape:
        expected = f"(Ho, Wo, {xa.shape[0]}, {xa.shape[1]})"
        raise ValueError(f"w: expected shape {expected}, got {wa.shape}")
    return np.tensordot(wa, xa, axes=([2, 3], [0, 1])) + np.asarray(u, np.float64)


def locally_connected(x: object, v: object, u: object = 0.0) -> np.ndarray:
    """``H[i, j] = U[i, j] + sum_{a, b} V[i, j, a, b] X[i + a, j + b]`` ("valid", stride 1).

    Local like a conv, but every output position has its own kernel: no weight sharing.

    ``x`` : (H, W); ``v`` : (Ho, Wo, kh, kw) with ``Ho = H - kh + 1``, ``Wo = W - kw + 1``;
    ``u`` : scalar or (Ho, Wo) -> (Ho, Wo).

    >>> x = np.arange(9.0).reshape(3, 3)
    >>> v = np.broadcast_to([[0.0, 1.0], [2.0, 3.0]], (2, 2, 2, 2))  # the same kernel everywhere
    >>> locally_connected(x, v)  # ... is corr2d (6.2.1)
    array([[19., 25.],
           [37., 43.]])
    """
    xa = _as_2d(x, "x")
    va = as_numeric(v, "v").astype(np.float64)
    if va.ndim != 4:
        raise ValueError(f"v: expected a 4-D (Ho, Wo, kh, kw) array, got shape {va.shape}")
    ho, wo, kh, kw = va.shape
    expected = (xa.shape[0] - kh + 1, xa.shape[1] - kw + 1)
    if (ho, wo) != expected:
        raise ValueError(
            f"v: a {kh}x{kw} kernel on a {xa.shape[0]}x{xa.shape[1]} input needs (Ho, Wo) = "
            f"{expected}, got {(ho, wo)}"
        )
    windows = np.lib.stride_tricks.sliding_window_view(xa, (kh, kw))  # (Ho, Wo, kh, kw)
    return np.einsum("ijab,ijab->ij", va, windows) + np.asarray(u, np.float64)


def reindex(w: object, kernel_hw: tuple[int, int]) -> np.ndarray:
    """The book's re-indexing ``V[i, j, a, b] = W[i, j, i + a, j + b]`` (6.1.2), "valid".

    ``w`` : (Ho, Wo, H, W) -> ``V`` : (Ho, Wo, kh, kw). For a ``W`` that came from a conv,
    every ``V[i, j]`` is the kernel (translation invariance) and ``W`` is zero outside
    those windows (locality).

    >>> W = dense_weights([[1.0, -1.0]], (2, 3))
    >>> reindex(W, (1, 2))[:, :, 0].tolist()
    [[[1.0, -1.0], [1.0, -1.0]], [[1.0, -1.0], [1.0, -1.0]]]
    """
    wa = as_numeric(w, "w").astype(np.float64)
    if wa.ndim != 4:
        raise ValueError(f"w: expected a 4-D (Ho, Wo, H, W) weight tensor, got shape {wa.shape}")
    ho, wo, h, w_ = wa.shape
    kh, kw = normalize_pair(kernel_hw, "kernel_hw")
    if ho + kh - 1 > h or wo + kw - 1 > w_:
        raise ValueError(
            f"kernel_hw: a {kh}x{kw} window at every one of the {ho}x{wo} outputs must fit the "
            f"{h}x{w_} input (\"valid\": Ho + kh - 1 <= H), got kernel_hw={kernel_hw!r}"
        )
    i, j, a, b = np.ix_(np.arange(ho), np.arange(wo), np.arange(kh), np.arange(kw))
    return wa[i, j, i + a, j + b]


class ParameterCounts(NamedTuple):
    """Numbers of parameters (weights + biases) of three layers with the same input/output."""

    fully_connected: int
    locally_connected: int
    convolutional: int


def parameter_counts(
    input_hw: tuple[int, int],
    kernel_size: object,
    *,
    in_channels: int = 1,
    out_channels: int = 1,
    stride: object = 1,
    padding: object = "same",
    dilation: object = 1,
    bias: bool = True,
) -> ParameterCounts:
    """Parameters of a fully-connected, a locally-connected and a conv layer, same shapes.

    With input H x W x C and output Ho x Wo x O (the conv's): fully connected has
    ``H*W*C * Ho*Wo*O`` weights (+ ``Ho*Wo*O`` biases ``U``), locally connected
    ``Ho*Wo * kh*kw*C*O`` (+ ``Ho*Wo*O``), the conv ``kh*kw*C*O`` (+ ``O``). ``padding`` is
    "same" unless given: in 6.1 the hidden representation ``H[i, j]`` has the image's size.

    A 1-megapixel image with a same-size hidden layer (6.1.2): 10^12 weights, and 10^6 biases
    (one per hidden unit) unless ``bias=False``:

    >>> parameter_counts((1000, 1000), 3, bias=False)
    ParameterCounts(fully_connected=1000000000000, locally_connected=9000000, convolutional=9)
    >>> parameter_counts((1000, 1000), 3).fully_connected
    1000001000000
    """
    for name, v in (("in_channels", in_channels), ("out_channels", out_channels)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name}: expected a positive int, got {name}={v!r}")
    k = normalize_pair(kernel_size, "kernel_size")
    g = conv_geometry(input_hw, k, stride=stride, padding=padding, dilation=dilation)
    h, w = g.in_shape
    ho, wo = g.out_shape
    c, o = int(in_channels), int(out_channels)
    per_window = k[0] * k[1] * c * o
    return ParameterCounts(
        fully_connected=h * w * c * ho * wo * o + (ho * wo * o if bias else 0),
        locally_connected=ho * wo * per_window + (ho * wo * o if bias else 0),
        convolutional=per_window + (o if bias else 0),
    )


def parameter_table(
    input_hw: tuple[int, int],
    kernel_size: object,
    *,
    in_channels: int = 1,
    out_channels: int = 1,
    stride: object = 1,
    padding: object = "same",
    dilation: object = 1,
    bias: bool = True,
) -> str:
    """:func:`parameter_counts` in words, each total split into weights and biases.

    Same arguments and defaults as :func:`parameter_counts`; the tour prints this.

    >>> print(parameter_table((1000, 1000), 3))
    1000x1000x1 image -> 1000x1000x1 hidden map, 3x3 kernel, padding 'same':
    fully connected:   1,000,001,000,000 = 1,000,000,000,000 weights + 1,000,000 biases
    locally connected:        10,000,000 =         9,000,000 weights + 1,000,000 biases
    convolution:                      10 =                 9 weights +         1 bias
    """
    options = dict(in_channels=in_channels, out_channels=out_channels, stride=stride,
                   padding=padding, dilation=dilation)
    total = parameter_counts(input_hw, kernel_size, bias=bias, **options)  # type: ignore[arg-type]
    weights = parameter_counts(input_hw, kernel_size, bias=False, **options)  # type: ignore[arg-type]
    k = normalize_pair(kernel_size, "kernel_size")
    g = conv_geometry(input_hw, k, stride=stride, padding=padding, dilation=dilation)
    lines = [f"{'x'.join(map(str, g.in_shape))}x{in_channels} image -> "
             f"{'x'.join(map(str, g.out_shape))}x{out_channels} hidden map, {k[0]}x{k[1]} kernel, "
             f"padding {padding!r}:"]
    width = len(f"{total.fully_connected:,d}")
    names = ("fully connected:", "locally connected:", "convolution:")
    biases = [t - w for t, w in zip(total, weights)]
    bias_width = max(len(f"{b:,d}") for b in biases)
    for name, t, w, b in zip(names, total, weights, biases):
        line = f"{name:<18} {t:>{width},d}"
        if bias:
            line += (f" = {w:>{width},d} weights + {b:>{bias_width},d} "
                     f"{'bias' if b == 1 else 'biases'}")
        lines.append(line)
    return "\n".join(lines)


def translation_equivariance_error(
    f: Callable[[np.ndarray], np.ndarray], x: object, shift: tuple[int, int]
) -> float:
    """``max |f(shift(x)) - shift(f(x))|`` for a circular shift by ``(dy, dx)`` pixels.

    Zero for a conv with circular "same" padding (shifting the input shifts the output), and
    in general not for a locally-connected layer (each place has its own weights). ``f`` must
    map an (H, W) array to an (H, W) array.

    >>> from convolab.ops import corr2d
    >>> conv = lambda x: corr2d(x, [[1.0, -1.0]], padding=((0, 0), (0, 1)))
    >>> x = np.random.default_rng(0).random((6, 8))
    >>> translation_equivariance_error(conv, x, (2, 3)) > 0  # zero padding breaks it at the edge
    True
    """
    xa = _as_2d(x, "x")
    fx = np.asarray(f(xa))
    if fx.shape != xa.shape:
        raise ValueError(f"f: must keep the input shape {xa.shape}, returned {fx.shape}")
    shifted = np.asarray(f(np.roll(xa, shift, axis=(0, 1))))
    return float(np.abs(shifted - np.roll(fx, shift, axis=(0, 1))).max())
