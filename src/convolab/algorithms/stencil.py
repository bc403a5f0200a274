"""One-channel image filtering as banded matrices times whole input rows, straight from the image.

A single-channel image ``(H, W)`` and a ``(kh, kw)`` kernel give im2col nothing to chew on
(``(H*W, kh*kw) @ (kh*kw, 1)``) and leave shift-and-add at NumPy's element-wise speed. Read the
other way round, a block of ``R`` output rows is a short sum of matrix products whose long side
is the image width::

    Y[i0 : i0+R, :] = sum_b  S_b (R, rows_in) @ X[rows of the block, b*dw : b*dw + Wo]

    S_b[i, i*sh + a*dh] = w[a, b]       rows_in = (R - 1)*sh + dh*(kh - 1) + 1

``S_b`` is banded (``kh`` entries a row); the right-hand side is a *view* of the image (rows of
``W`` pixels, a column offset), and the ``kw`` products accumulate in place in the output through
BLAS's ``beta = 1``. With zero padding nothing is copied: a block at the border multiplies only
the image rows and columns it overlaps (a slice of ``S_b``, a narrower strip of ``Y``), the
output starting at the bias (or zero). Other padding modes pay one padded copy of the image.
The band multiplies ``rows_in / kh`` times the direct arithmetic (6x for 3x3 and ``R = 16``);
BLAS still runs it faster than the alternatives run theirs (a 2048x2048 image, 3x3: 5.6-6.8 ms
against 10-11 for im2col on 2 cores). The weight gradient runs the same products backwards
(:func:`backward_weight`); at stride 1, ``select`` computes the input gradient as the stencil
of ``grad_y`` with the flipped kernel (``algorithms/adjoint.py``). An Inf or NaN falls back to
im2col (``algorithms/finite.py``).
"""

from __future__ import annotations

import numpy as np

from convolab.algorithms import im2col, scheduler
from convolab.algorithms.blas import NO_TRANS, ROW_MAJOR, TRANS, gemms
from convolab.algorithms.cost import Cost
from convolab.algorithms.finite import all_finite
from convolab.algorithms.problem import ConvProblem

NAME = "stencil"
REQUIRES = ("one input and one output channel, horizontal stride 1, and NumPy's BLAS to be an "
            "OpenBLAS whose cblas_sgemm/cblas_dgemm can be called")
ROWS = 16  # output rows a block (R): measured 12-24 best on a 2048x2048 image, 2 workers
# BLAS on the band's (16 x 18) @ (18 x 2048) products: measured ~75 GFLOP/s on 2 cores, about
# twice what select's efficiency curve expects of so short a matrix; priced accordingly
MEASURED_VS_MODEL = 0.5


def supports(p: ConvProblem) -> bool:
    return (p.x_shape[3] == 1 and p.w_shape[3] == 1 and p.groups == 1
            and p.geom.stride[1] == 1 and p.dtype in gemms())


def _rows_in(p: ConvProblem, r: int) -> int:
    return (r - 1) * p.geom.stride[0] + p.geom.span_shape[0]


def _blocks(p: ConvProblem) -> list[tuple[int, int, int]]:
    """``(n, i0, i1)``: output rows ``i0:i1`` of image ``n``, ``ROWS`` at a time."""
    ho = p.geom.out_shape[0]
    return [(n, i0, min(ho, i0 + ROWS)) for n in range(p.x_shape[0]) for i0 in range(0, ho, ROWS)]


def cost(p: ConvProblem) -> Cost:
    kw = p.w_shape[1]
    n, (ho, wo) = p.x_shape[0], p.geom.out_shape
    r = min(ROWS, ho)
    gemm = 2 * n * ho * wo * kw * _rows_in(p, r)
    padded = p.padding_mode != "zeros" and p.geom.pads != ((0, 0), (0, 0))
    todo = len(_blocks(p))
    image = n * p.geom.padded_shape[0] * p.geom.padded_shape[1] * p.dtype.itemsize
    return Cost(
        flops=gemm, gemm_flops=int(gemm * MEASURED_VS_MODEL), gemm_mkn=(r, _rows_in(p, r), wo),
        bytes_moved=n * ho * wo * p.dtype.itemsize + (2 * image if padded else 0),
        workspace=image if padded else 0,
        calls=todo * (kw + 2) + 10,
        summary=f"stencil: {todo} block(s) of {r} output rows, {kw} GEMMs ({r} x "
                f"{_rows_in(p, r)}) @ ({_rows_in(p, r)} x {wo}) each on views of the image "
                f"({gemm / max(p.flops, 1):.1f}x the direct arithmetic)",
    )


def band_matrices(w: np.ndarray, p: ConvProblem, r: int) -> np.ndarray:
    """``S`` (kw, r, rows_in): ``S[b, i, i*sh + a*dh] = w[a, b]`` from HWIO ``w`` (kh, kw, 1, 1)."""
    kh, kw = w.shape[:2]
    sh, dh = p.geom.stride[0], p.geom.dilation[0]
    s = np.zeros((kw, r, _rows_in(p, r)), w.dtype)
    i, a = np.arange(r)[:, None], np.arange(kh)[None, :]
    s[:, i, i * sh + a * dh] = w[:, :, 0, 0].T[:, None, :]  # (kw, 1, kh) over (kw, r, kh)
    return s


def forward(x: np.ndarray, w: np.ndarray, p: ConvProblem,
            bias: np.ndarray | None = None) -> np.ndarray:
    """Cross-correlate ``x`` (N, H, W, 1) with ``w`` (kh, kw, 1, 1), plus ``bias`` (1,) if
    given: ``(N, Ho, Wo, 1)``. Each block starts from the bias (or zero), in cache."""
    if not all_finite(w):  # a weight meeting only skipped padding would vanish: see ``finite``
        return im2col.forward(x, w, p, bias)
    img, top, left = _image(x, p)
    h, wd = img.shape[1:]
    sh = p.geom.stride[0]
    ho, wo = p.geom.out_shape
    r = min(ROWS, ho)
    s = band_matrices(w, p, r)
    start_value = 0.0 if bias is None else bias[0]
    y = np.empty(p.y_shape, p.dtype)
    # Raw addresses and strides in elements: a block makes kw BLAS calls, and building views
    # for them cost more than the products of a 3x3 filter (measured 2x slower).
    gemm, item, rows_in = gemms()[p.dtype], p.dtype.itemsize, _rows_in(p, r)
    s_at, img_at, y_at = s.ctypes.data, img.ctypes.data, y.ctypes.data
    taps = _taps(p, wd, left)

    def work(block: tuple[int, int, int], _: int) -> None:
        n, i0, i1 = block
        y[n, i0:i1].fill(start_value)  # the products add into it; borders may get none
        start = i0 * sh - top  # image row under S's first column
        lo, hi = max(0, start), min(h, start + _rows_in(p, i1 - i0))
        for b, j0, cols, c0 in taps if lo < hi else ():
            # Y[i0:i1, j0:j0+cols] += S_b[:, lo-start : hi-start] @ X[lo:hi, c0 : c0+cols]
            gemm(ROW_MAJOR, NO_TRANS, NO_TRANS, i1 - i0, cols, hi - lo, 1.0,
                 s_at + (b * r * rows_in + lo - start) * item, rows_in,
                 img_at + ((n * h + lo) * wd + c0) * item, wd, 1.0,
                 y_at + ((n * ho + i0) * wo + j0) * item, wo)

    scheduler.run(_blocks(p), work, scheduler.workers())
    # the band's zeros times an Inf or NaN would reach outputs that never read it
    return y if all_finite(y) else im2col.forward(x, w, p, bias)


def _image(x: np.ndarray, p: ConvProblem) -> tuple[np.ndarray, int, int]:
    """``(img, top, left)``: ``x`` (N, H, W, 1) as rows of pixels (N, H', W'), and the padding
    still to apply. Zero padding is applied by skipping; other modes pad one copy here."""
    (top, _), (left, _) = p.geom.pads
    if p.padding_mode != "zeros" and p.geom.pads != ((0, 0), (0, 0)):
        x = im2col.padded_band(x, p, 0, p.x_shape[0], 0, p.geom.out_shape[0])
        top = left = 0
    return np.ascontiguousarray(x[..., 0]), top, left  # a view: C = 1


def _taps(p: ConvProblem, width: int, left: int) -> list[tuple[int, int, int, int]]:
    """Per kernel column ``b`` whose products touch the image: ``(b, first output column,
    columns, image column of the first)``; output column ``j`` reads image column
    ``j + b*dw - left``, and columns reading only padding are skipped."""
    wo, taps = p.geom.out_shape[1], []
    for b in range(p.w_shape[1]):
        off = b * p.geom.dilation[1] - left
        j0, j1 = max(0, -off), min(wo, width - off)
        if j0 < j1:
            taps.append((b, j0, j1 - j0, j0 + off))
    return taps


# Blocks whose S-gradients one task sums in turn, before the tasks' sums are added in task
# order: the result does not depend on which worker ran what, and at most MAX_PARTIALS partial
# sums are kept (a batch of 60000 small images has 120000 blocks).
MAX_PARTIALS = 256


def backward_weight(gy: np.ndarray, x: np.ndarray, p: ConvProblem) -> np.ndarray:
    """``dL/dw`` (kh, kw, 1, 1) from ``gy`` (N, Ho, Wo, 1) and ``x`` (N, H, W, 1).

    The forward's products read backwards: per block, ``dL/dS_b = gy_block (R, Wo) @
    X[rows, b*dw : b*dw + Wo]^T`` (a long contraction over the image width, BLAS's own
    transpose of the image view, no copy), summed over blocks; ``dL/dw[a, b]`` collects
    ``dL/dS_b[i, i*sh + a*dh]`` over the block's rows ``i``.
    """
    img, top, left = _image(x, p)
    grad = np.ascontiguousarray(gy[..., 0])  # (N, Ho, Wo)
    h, wd = img.shape[1:]
    if not _finite_where_padding_is_skipped(grad, p, h, wd, top, left):
        return im2col.backward_weight(gy, x, p)
    sh, dh = p.geom.stride[0], p.geom.dilation[0]
    ho, wo = p.geom.out_shape
    kh, kw = p.w_shape[:2]
    r = min(ROWS, ho)
    rows_in = _rows_in(p, r)
    blocks = _blocks(p)
    per_task = -(-len(blocks) // MAX_PARTIALS)
    tasks = [blocks[k : k + per_task] for k in range(0, len(blocks), per_task)]
    # per task: dL/dS_b for every tap column b, summed over the task's blocks
    partial = np.zeros((len(tasks), kw, r, rows_in), p.dtype)
    gemm, item = gemms()[p.dtype], p.dtype.itemsize
    img_at, gy_at = img.ctypes.data, grad.ctypes.data
    taps = _taps(p, wd, left)

    def work(k: int, _: int) -> None:
        acc_at = partial[k].ctypes.data
        for n, i0, i1 in tasks[k]:
            start = i0 * sh - top
            lo, hi = max(0, start), min(h, start + _rows_in(p, i1 - i0))
            if lo >= hi:
                continue
            for b, j0, cols, c0 in taps:
                # dS_b[:i1-i0, lo-start : hi-start] += gy[i0:i1, j0:j0+cols] @ X[lo:hi, c0:...]^T
                gemm(ROW_MAJOR, NO_TRANS, TRANS, i1 - i0, hi - lo, cols, 1.0,
                     gy_at + ((n * ho + i0) * wo + j0) * item, wo,
                     img_at + ((n * h + lo) * wd + c0) * item, wd, 1.0,
                     acc_at + (b * r * rows_in + lo - start) * item, rows_in)

    scheduler.run(range(len(tasks)), work, scheduler.workers())
    ds = partial.sum(axis=0)  # (kw, r, rows_in), in task order
    i = np.arange(r)[:, None]
    a = np.arange(kh)[None, :]
    # dL/dw[a, b] = sum_i dS_b[i, i*sh + a*dh]: (kw, r, kh) summed over i -> (kw, kh)
    # only the band is read: products of pixels with grad_y values the definition never pairs
    # (an Inf or NaN among them included) stay off it
    return ds[:, i, i * sh + a * dh].sum(axis=1).T.reshape(kh, kw, 1, 1)


def _finite_where_padding_is_skipped(grad: np.ndarray, p: ConvProblem, h: int, wd: int,
                                     top: int, left: int) -> bool:
    """Whether every ``grad`` (N, Ho, Wo) value whose window reaches the skipped zero padding
    around the (h, wd) image is finite. The definition multiplies those values by the padding's
    zeros (``0 * inf`` is NaN in ``dL/dw``); the stencil skips those products."""
    (sh, sw), (span_h, span_w) = p.geom.stride, p.geom.span_shape
    ho, wo = p.geom.out_shape
    rows = np.arange(ho) * sh - top  # first image row of each output row's window
    cols = np.arange(wo) * sw - left
    border_rows = (rows < 0) | (rows + span_h > h)
    border_cols = (cols < 0) | (cols + span_w > wd)
    return all_finite(grad[:, border_rows], grad[:, :, border_cols])
