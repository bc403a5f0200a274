"""Row-Toeplitz GEMM for few channels: whole rows of pixels times a banded kernel matrix.

im2col multiplies ``(P, kh*kw*C) @ (kh*kw*C, O)``: with LeNet's one input channel and six
outputs that is ``(50176 x 25) @ (25 x 6)``, a shape BLAS runs at a tenth of its speed. Here a
GEMM row is a *row* of output pixels instead of one pixel. Along the width the kernel becomes a
banded (Toeplitz) matrix ``T``, one per block of ``cb`` output columns::

    T[(a, jj, c), (j, o)] = w[a, b, c, o]   where jj = j*sw + b*dw, else 0
    A[(n, i), (a, jj, c)] = xp[n, i*sh + a*dh, j0*sw + jj, c]     kh rows of cbin pixels
    y[n, i, j0 + j, o]    = (A @ T)[(n, i), (j, o)]               (rows, kh*cbin*C) @ (.., cb*O)

with ``cbin = (cb - 1)*sw + dw*(kw - 1) + 1`` input columns under a block of ``cb`` outputs.
The GEMM's inner and outer sizes grow with the block width (K = kh*cbin*C, N = cb*O) at the
price of multiplying the band's zeros: ``cbin / kw`` times the direct method's arithmetic.
Blocks of ``TARGET_COLUMNS`` GEMM columns balance the two (LeNet's first layer: 2 blocks of 14
outputs, 0.70 ms against im2col's 0.98 on 2 cores). ``A`` is a copy of ``kh`` rows of the band
per output row, ``kw / (cbin / cb)`` times smaller than im2col's columns.

The gradients come from the same matrices: ``dL/dT = A^T @ gy`` per column block, and
``dL/dw[a, b, c, o]`` sums ``dL/dT`` over the band's diagonal ``jj = j*sw + b*dw``; ``dL/dA =
gy @ T^T`` is added back onto the padded rows ``A`` copied. An Inf or NaN, multiplied by the
band's zeros, would reach outputs that never read it: such results are recomputed by im2col
(``algorithms/finite.py``).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from convolab.algorithms import im2col, scheduler
from convolab.algorithms.bias import add_bias
from convolab.algorithms.cost import Cost
from convolab.algorithms.finite import all_finite
from convolab.algorithms.problem import ConvProblem
from convolab.padding import pad_adjoint

NAME = "toeplitz"
REQUIRES = "groups=1"
TARGET_COLUMNS = 96  # GEMM columns (cb*O) a block aims at (measured: 84-168 best on LeNet)
BLOCK_BYTES = 4 << 20  # bytes of A and output per block of rows


def supports(p: ConvProblem) -> bool:
    return p.groups == 1


def column_blocks(p: ConvProblem) -> list[tuple[int, int]]:
    """``(j0, j1)`` output-column ranges of about ``TARGET_COLUMNS / O`` outputs, evened.

    >>> from convolab.shapes import conv_geometry
    >>> geom = conv_geometry((28, 28), (5, 5), padding="same")
    >>> column_blocks(ConvProblem((1, 28, 28, 1), (5, 5, 1, 6), geom, 1, "zeros", np.dtype("f4")))
    [(0, 14), (14, 28)]
    """
    wo, o = p.geom.out_shape[1], p.w_shape[3]
    n_blocks = max(1, min(wo, round(wo * o / TARGET_COLUMNS)))
    cb = -(-wo // n_blocks)
    return [(j0, min(wo, j0 + cb)) for j0 in range(0, wo, cb)]


def _in_columns(p: ConvProblem, cb: int) -> int:
    """Input columns ``cbin`` under ``cb`` consecutive outputs."""
    return (cb - 1) * p.geom.stride[1] + p.geom.span_shape[1]


def _row_bytes(p: ConvProblem) -> int:
    """Workspace per output row: A for the widest column block, and the GEMM's output."""
    j0, j1 = column_blocks(p)[0]
    kh, c, o = p.w_shape[0], p.x_shape[3], p.w_shape[3]
    return (kh * _in_columns(p, j1 - j0) * c + (j1 - j0) * o) * p.dtype.itemsize


def _blocks(p: ConvProblem) -> list[scheduler.Block]:
    return scheduler.row_blocks(p.x_shape[0], p.geom.out_shape[0], _row_bytes(p), BLOCK_BYTES)


def cost(p: ConvProblem) -> Cost:
    kh, _, c, o = p.w_shape
    n, ho = p.x_shape[0], p.geom.out_shape[0]
    cols = column_blocks(p)
    cb = cols[0][1] - cols[0][0]
    k = kh * _in_columns(p, cb) * c
    gemm = sum(2 * n * ho * kh * _in_columns(p, j1 - j0) * c * (j1 - j0) * o for j0, j1 in cols)
    todo = _blocks(p)
    rows = max(1, n * ho // max(1, len(todo)))
    item = p.dtype.itemsize
    return Cost(
        flops=gemm, gemm_flops=gemm, gemm_mkn=(rows, k, cb * o),
        # A is gathered once per column block; the output is written through a strided view
        bytes_moved=n * ho * item * sum(kh * _in_columns(p, j1 - j0) * c + (j1 - j0) * o
                                        for j0, j1 in cols),
        workspace=min(len(todo), scheduler.workers()) * rows * _row_bytes(p)
        + kh * _in_columns(p, cb) * c * cb * o * item,  # T
        calls=len(todo) * (3 + 3 * len(cols)) + 10,
        summary=f"toeplitz: {len(todo)} block(s) of rows x {len(cols)} of columns, GEMMs "
                f"({rows} x {k}) @ ({k} x {cb * o}) with the kernel as a banded matrix "
                f"({gemm / max(p.flops, 1):.1f}x the direct arithmetic)",
    )


def band_matrix(w: np.ndarray, p: ConvProblem, cb: int) -> np.ndarray:
    """``T`` (kh*cbin*C, cb*O) for ``cb`` outputs: ``w[a, b, c, o]`` at ``(a, j*sw + b*dw, c),
    (j, o)``, zero elsewhere. ``w`` is HWIO ``(kh, kw, C, O)``."""
    kh, kw, c, o = w.shape
    cbin = _in_columns(p, cb)
    t = np.zeros((cbin, cb, kh, c, o), w.dtype)  # (jj, j, a, c, o): diagonals indexed first
    j = np.arange(cb)[:, None]
    b = np.arange(kw)[None, :]
    t[j * p.geom.stride[1] + b * p.geom.dilation[1], j] = w.transpose(1, 0, 2, 3)[b]
    return np.ascontiguousarray(t.transpose(2, 0, 3, 1, 4)).reshape(kh * cbin * c, cb * o)


def _rows_matrix(band: np.ndarray, p: ConvProblem, r: int, j0: int, cb: int,
                 out: np.ndarray) -> np.ndarray:
    """``A`` (b*r, kh*cbin*C) for output columns ``j0 : j0 + cb``, copied into ``out``.

    ``band`` (b, rows_in, Wp, C) is the padded band of ``r`` output rows of ``b`` images.
    """
    (sh, sw), dh = p.geom.stride, p.geom.dilation[0]
    kh, c = p.w_shape[0], p.x_shape[3]
    cbin = _in_columns(p, cb)
    s0, s1, s2, s3 = band.strides
    view = as_strided(band[:, :, j0 * sw :], (band.shape[0], r, kh, cbin, c),
                      (s0, sh * s1, dh * s1, s2, s3), writeable=False)
    a = out.reshape(band.shape[0], r, kh, cbin, c)
    np.copyto(a, view)
    return a.reshape(band.shape[0] * r, kh * cbin * c)


def forward(x: np.ndarray, w: np.ndarray, p: ConvProblem,
            bias: np.ndarray | None = None) -> np.ndarray:
    """Cross-correlate NHWC ``x`` with HWIO ``w``, plus ``bias`` (O,) if given:
    ``(N, H, W, C) -> (N, Ho, Wo, O)``."""
    if not all_finite(x):
        # the band's zeros times an Inf or NaN would reach outputs that never read it (a
        # weight's Inf only meets the pixels the definition multiplies it by): see ``finite``
        return im2col.forward(x, w, p, bias)
    o = p.w_shape[3]
    cols = column_blocks(p)
    widths = sorted({j1 - j0 for j0, j1 in cols})
    mats = {cb: band_matrix(w, p, cb) for cb in widths}  # one T per block width (1 or 2)
    y = np.empty(p.y_shape, p.dtype)
    n_workers = scheduler.workers()
    scratch = scheduler.Scratch(n_workers)

    def work(block: tuple[int, int, int, int], i: int) -> None:
        n0, n1, r0, r1 = block
        b, r = n1 - n0, r1 - r0
        band = im2col.padded_band(x, p, n0, n1, r0, r1)
        for j0, j1 in cols:
            t = mats[j1 - j0]
            a = _rows_matrix(band, p, r, j0, j1 - j0,
                             scratch.get(i, "a", (b * r * t.shape[0],), p.dtype))
            # y[n0:n1, r0:r1] is contiguous (whole images, or rows of one image); its columns
            # j0:j1 are a (b*r, cb*O) matrix with rows Wo*O values apart, which BLAS writes
            out = y[n0:n1, r0:r1].reshape(b * r, -1)[:, j0 * o : j1 * o]
            np.matmul(a, t, out=out)
        # once per block of rows, over whole rows (per column block, the rows' short strided
        # runs made it 3x slower: LeNet's first layer 146 us against 52)
        add_bias(y[n0:n1, r0:r1], bias)

    scheduler.run(_blocks(p), work, n_workers)
    return y


def backward_input(gy: np.ndarray, w: np.ndarray, p: ConvProblem) -> np.ndarray:
    """``dL/dx`` (N, H, W, C) from ``gy`` (N, Ho, Wo, O): ``dL/dA = gy @ T^T`` per column
    block, each of its ``kh`` row slabs added back onto the padded rows ``A`` copied.

    Blocks of whole images write disjoint rows and run on every worker; blocks of rows of one
    image share their halo rows, so they run one after another.
    """
    n, h, wd, c = p.x_shape
    kh, o = p.w_shape[0], p.w_shape[3]
    (sh, sw), dh = p.geom.stride, p.geom.dilation[0]
    ho = p.geom.out_shape[0]
    cols = column_blocks(p)
    mats = {cb: band_matrix(w, p, cb).T for cb in {j1 - j0 for j0, j1 in cols}}
    gxp = np.zeros((n, *p.geom.padded_shape, c), p.dtype)  # the gradient of the padded input

    def work(block: tuple[int, int, int, int], _: int) -> None:
        n0, n1, r0, r1 = block
        b, r = n1 - n0, r1 - r0
        for j0, j1 in cols:
            t_t = mats[j1 - j0]  # (cb*O, kh*cbin*C)
            g = gy[n0:n1, r0:r1].reshape(b * r, -1)[:, j0 * o : j1 * o]  # (b*r, cb*O), a view
            da = (g @ t_t).reshape(b, r, kh, -1, c)  # (b, r, kh, cbin, C)
            c0 = j0 * sw
            for a in range(kh):
                top = r0 * sh + a * dh
                gxp[n0:n1, top : top + (r - 1) * sh + 1 : sh, c0 : c0 + da.shape[3]] += da[:, :, a]

    todo = _blocks(p)
    whole_images = all(r0 == 0 and r1 == ho for _, _, r0, r1 in todo)
    scheduler.run(todo, work, scheduler.workers() if whole_images else 1)
    if not all_finite(gxp):  # the band's zeros times an Inf or NaN: see ``finite``
        return im2col.backward_input(gy, w, p)
    return pad_adjoint(gxp, p.geom.pads, p.padding_mode, (h, wd))


def backward_weight(gy: np.ndarray, x: np.ndarray, p: ConvProblem) -> np.ndarray:
    """``dL/dw`` (kh, kw, C, O) from ``gy`` (N, Ho, Wo, O): ``A^T @ gy`` per column block,
    summed along the band's diagonals; blocks are summed in block order (deterministic)."""
    kh, kw, c, o = p.w_shape
    (sw, dw) = p.geom.stride[1], p.geom.dilation[1]
    todo, cols = _blocks(p), column_blocks(p)
    partial = np.zeros((len(todo), kh, kw, c, o), p.dtype)
    scratch = scheduler.Scratch(scheduler.workers())

    def work(k: int, i: int) -> None:
        n0, n1, r0, r1 = todo[k]
        b, r = n1 - n0, r1 - r0
        band = im2col.padded_band(x, p, n0, n1, r0, r1)
        for j0, j1 in cols:
            cb = j1 - j0
            cbin = _in_columns(p, cb)
            a = _rows_matrix(band, p, r, j0, cb, scratch.get(i, "a", (b * r * kh * cbin * c,),
                                                             p.dtype))
            g = np.ascontiguousarray(gy[n0:n1, r0:r1, j0:j1]).reshape(b * r, cb * o)
            gt = (a.T @ g).reshape(kh, cbin, c, cb, o)  # dL/dT, (a, jj, c, j, o)
            j = np.arange(cb)[:, None]
            tap = np.arange(kw)[None, :]
            # gt[a, j*sw + b*dw, c, j, o] summed over j: (cb, kw, kh, c, o) -> (kh, kw, c, o)
            partial[k] += gt[:, j * sw + tap * dw, :, j, :].sum(axis=0).transpose(1, 0, 2, 3)

    scheduler.run(range(len(todo)), work, scheduler.workers())
    return partial.sum(axis=0)
