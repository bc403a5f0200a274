"""FFT convolution for large kernels, tiled (overlap-save) so large images stay in bounded memory.

Cross-correlation is a product in the frequency domain: for an input band ``xb`` and kernel
``w`` zero-padded to one FFT size ``(Lh, Lw)`` at least the band's size,

    irfft2(rfft2(xb) * conj(rfft2(w)))[i, j] = sum_{a, b} xb[i + a, j + b] * w[a, b]

for every ``(i, j)`` whose window lies inside the band: the circular wrap never reaches them.
The output is computed in tiles of ``th x tw`` stride-1 ("dense") pixels; each tile reads the
padded input band it needs (padding through the index maps, as im2col does), so neither the
padded image nor its full transform is ever materialised. Channels mix in the frequency domain::

    Xf (b, Lh, Lw//2+1, C) , Wf (Lh, Lw//2+1, C, O)  ->  Yf (b, Lh, Lw//2+1, O)

Dilation is a kernel with zeros inserted; a stride keeps every ``s``-th dense pixel (wasteful,
which the cost model knows). Work per output pixel is ``O(log L)`` instead of ``kh*kw``: this
pays for kernels of roughly 9x9 and up. ``scipy.fft`` is used when installed (2.4x faster than
``numpy.fft`` for a 1080x1080 float32 transform here, and multithreaded), ``numpy.fft`` if not.
Inputs holding NaN or Inf go to im2col, which propagates them as IEEE arithmetic says.
"""

from __future__ import annotations

import functools
import math
from types import ModuleType

import numpy as np

from convolab.algorithms import im2col, scheduler
from convolab.algorithms.bias import add_bias, write_block
from convolab.algorithms.cost import Cost
from convolab.algorithms.finite import all_finite
from convolab.algorithms.problem import ConvProblem
from convolab.config import get_workspace_limit
from convolab.padding import gather


@functools.cache
def _backend() -> tuple[ModuleType, bool]:
    """``(fft module, takes workers=)``: scipy.fft if installed, imported on first use (it
    costs ~150 ms, more than the rest of ``import convolab``); numpy.fft computes the same,
    more slowly."""
    try:
        import scipy.fft

        return scipy.fft, True
    except ImportError:
        return np.fft, False

NAME = "fft"
REQUIRES = "groups=1"


def supports(p: ConvProblem) -> bool:
    return p.groups == 1


def fast_len(n: int) -> int:
    """Smallest ``m >= n`` whose prime factors are 2, 3 and 5 (FFTs of it are fast).

    >>> fast_len(1054), fast_len(31)
    (1080, 32)
    """
    m = n
    while True:
        r = m
        for f in (2, 3, 5):
            while r % f == 0:
                r //= f
        if r == 1:
            return m
        m += 1


def _tile_axis(dense: int, span: int, stride: int, bytes_per_len: int, budget: int
               ) -> tuple[int, int]:
    """``(tile, L)`` along one axis: dense outputs per tile (a multiple of ``stride``), FFT size.

    The largest FFT size, up to the whole axis, whose buffers (``bytes_per_len * L``) fit
    ``budget``: fewer, larger tiles re-read less overlap and make fewer calls (one 1080x1080
    transform beats 49 of 192x192 by 2.5x here). Tiles halve until they fit, but the FFT
    stays at least ``2*span`` long so the overlap is at most half of it.
    """
    tile = dense
    length = fast_len(tile + span - 1)
    while bytes_per_len * length > budget and tile > span + 8:
        tile = max(span + 8, tile // 2)
        length = fast_len(tile + span - 1)
    tile = min(dense, length - span + 1) // stride * stride or stride
    return tile, length


def tiles(p: ConvProblem) -> tuple[int, int, int, int]:
    """``(th, tw, Lh, Lw)``: dense output tile and FFT size, buffers within the workspace."""
    c, o = p.x_shape[3], p.w_shape[3]
    span_h, span_w = p.geom.span_shape
    dense_h, dense_w = (pd - s + 1 for pd, s in zip(p.geom.padded_shape, p.geom.span_shape))
    sh, sw = p.geom.stride
    budget = get_workspace_limit()
    # complex transforms of C input channels, O outputs and the C*O kernel, per (Lh x Lw/2)
    per_px = 8 * (c + o + c * o) // 2 + 2 * p.dtype.itemsize * c
    tw, lw = _tile_axis(dense_w, span_w, sw, per_px * min(dense_h + span_h, 2048), budget)
    th, lh = _tile_axis(dense_h, span_h, sh, per_px * lw, budget)
    return th, tw, lh, lw


def cost(p: ConvProblem) -> Cost:
    n, c, o = p.x_shape[0], p.x_shape[3], p.w_shape[3]
    th, tw, lh, lw = tiles(p)
    dense_h, dense_w = ((q - 1) * s + 1 for q, s in zip(p.geom.out_shape, p.geom.stride))
    n_tiles = n * -(-dense_h // th) * -(-dense_w // tw)
    size = lh * lw
    fft_flops = int(2.5 * size * math.log2(size))  # a real 2-D FFT of lh x lw
    flops = n_tiles * ((c + o) * fft_flops + 4 * size * c * o) + c * o * fft_flops
    # complex (Lh, Lw//2+1) planes alive at once: the input's C, the product's and the real
    # output's O each, the kernel's C*O (measured 3.9 planes for C = O = 1)
    buffers = 8 * (lh * (lw // 2 + 1)) * (c + 2 * o + c * o)
    return Cost(
        flops=flops, gemm_flops=0, gemm_mkn=(1, 1, 1),
        # pocketfft runs at about a FLOP per byte of NumPy's element-wise speed (measured)
        bytes_moved=flops,
        workspace=buffers,
        calls=12 + 8 * n_tiles,  # the kernel's transform, then per tile: gather, FFTs, product
        summary=f"fft: {n_tiles} tile(s) of {th}x{tw} outputs, {lh}x{lw} transforms"
                + ("" if _backend()[1] else " (numpy.fft)"),
    )


def _options() -> dict:
    return {"workers": scheduler.workers()} if _backend()[1] else {}


def _band(x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``x`` gathered through index maps (``-1`` = zero), cut to their bounding box first.

    ``gather`` copies whole rows before it picks columns; a tall, narrow tile would
    copy most of the image. Cutting ``x`` to the pixels the maps touch keeps the copy tile-sized.
    """
    box = []
    for idx in (rows, cols):
        valid = idx[idx >= 0]
        lo = int(valid.min()) if valid.size else 0
        box.append((lo, int(valid.max()) + 1 if valid.size else 1))
    (r0, r1), (c0, c1) = box
    return gather(x[:, r0:r1, c0:c1], (np.where(rows >= 0, rows - r0, -1),
                                       np.where(cols >= 0, cols - c0, -1)), (1, 2))


def forward(x: np.ndarray, w: np.ndarray, p: ConvProblem,
            bias: np.ndarray | None = None) -> np.ndarray:
    """Cross-correlate NHWC ``x`` with HWIO ``w`` by FFT, plus ``bias`` (O,) if given:
    ``(N, H, W, C) -> (N, Ho, Wo, O)``."""
    if not all_finite(x, w):
        # a transform mixes every pixel of a tile into every output: one NaN or Inf would
        # poison the whole tile, where the definition poisons only the windows that read it
        return im2col.forward(x, w, p, bias)
    sh, sw = p.geom.stride
    span_h, span_w = p.geom.span_shape
    ho, wo = p.geom.out_shape
    th, tw, lh, lw = tiles(p)
    opts = _options()
    whole = p.padding_mode == "zeros" and th > (ho - 1) * sh and tw > (wo - 1) * sw
    # One tile and zero padding: transform x itself, no padded copy. Shifting the kernel
    # circularly by (-top, -left) lines the output up with x; the rows and columns the
    # padding adds fall into the FFT's own zeros (Lh >= H + top + bottom), wrapping round.
    (top, _), (left, _) = p.geom.pads if whole else ((0, 0), (0, 0))
    wf = _kernel_transform(w, p, lh, lw, top, left, opts)
    if whole:
        y = _correlate(x, wf, lh, lw, opts)[:, : (ho - 1) * sh + 1 : sh, : (wo - 1) * sw + 1 : sw]
        add_bias(y, bias)
        return y
    rows, cols = p.row_map(), p.col_map()
    y = np.empty(p.y_shape, p.dtype)
    for i0 in range(0, (ho - 1) * sh + 1, th):
        i1 = min(i0 + th, (ho - 1) * sh + 1)
        for j0 in range(0, (wo - 1) * sw + 1, tw):
            j1 = min(j0 + tw, (wo - 1) * sw + 1)
            # (N, i1 - i0 + span_h - 1, j1 - j0 + span_w - 1, C): the padded band of this tile
            band = _band(x, rows[i0 : i1 + span_h - 1], cols[j0 : j1 + span_w - 1])
            dense = _correlate(band, wf, lh, lw, opts)  # (N, Lh, Lw, O)
            write_block(y[:, i0 // sh : -(-i1 // sh), j0 // sw : -(-j1 // sw)],
                        dense[:, : i1 - i0 : sh, : j1 - j0 : sw], bias)
    return y


def _kernel_transform(w: np.ndarray, p: ConvProblem, lh: int, lw: int, top: int, left: int,
                      opts: dict) -> np.ndarray:
    """``conj(rfft2(wd))`` (Lh, Lw//2+1, C, O) of the dilated kernel ``wd`` zero-padded to the
    FFT size, shifted circularly by ``(-top, -left)``: conjugated, so that the product with an
    input's transform correlates instead of convolving. Only the kernel's kh rows are nonzero,
    so their row transforms are taken alone and the column transform runs on the result
    (a full 2-D transform of the padded kernel was a fifth of a 1024x1024 31x31 filter)."""
    fft, scipy = _backend()
    kh, kw, c, o = p.w_shape
    dh, dw = p.geom.dilation
    rows = np.zeros((kh, lw, c, o), p.dtype)
    rows[:, (np.arange(kw) * dw - left) % lw] = w
    wf = np.zeros((lh, (lw // 2 + 1) * c * o), np.result_type(p.dtype, np.complex64))
    wf[(np.arange(kh) * dh - top) % lh] = fft.rfft(rows, axis=1, **opts).reshape(kh, -1)
    # as a matrix: the column transforms run across contiguous rows (with the unit axes of one
    # channel in and out left on, they took 7 ms of a 1080x1080 transform's 8)
    wf = fft.fft(wf, axis=0, **opts, **({"overwrite_x": True} if scipy else {}))
    return np.conjugate(wf, out=wf).reshape(lh, lw // 2 + 1, c, o)


def _correlate(band: np.ndarray, wf: np.ndarray, lh: int, lw: int, opts: dict) -> np.ndarray:
    """Circular correlation of ``band`` (N, h, w, C), zero-padded to (Lh, Lw), with the kernel
    whose conjugated transform is ``wf`` (Lh, Lw//2+1, C, O): (N, Lh, Lw, O)."""
    fft = _backend()[0]
    if band.shape[3] == wf.shape[3] == 1:
        # one channel in and out: planes with rows contiguous, and the product in place
        # (the trailing unit axis cost the transforms a third more)
        xf = fft.rfft2(band[..., 0], s=(lh, lw), axes=(1, 2), **opts)  # (N, Lh, Lw//2+1)
        xf *= wf[:, :, 0, 0]
        return fft.irfft2(xf, s=(lh, lw), axes=(1, 2), **opts)[..., None]
    xf = fft.rfft2(band, s=(lh, lw), axes=(1, 2), **opts)  # (N, Lh, Lw//2+1, C)
    # (N, Lh, Lw//2+1, O): sum over C of Xf * conj(Wf), per frequency
    yf = np.einsum("nhwc,hwco->nhwo", xf, wf) if band.shape[3] > 1 else xf * wf[:, :, 0, :]
    return fft.irfft2(yf, s=(lh, lw), axes=(1, 2), **opts)
