"""Blocked im2col + GEMM, NHWC: the general-purpose algorithm (every option, every shape).

The output is computed a block of output rows at a time. For each block we gather the padded
band of input rows it reads (padding applied through index maps, so the padded input is never
materialised), unfold the band into a column matrix whose rows are receptive fields, and
multiply by the kernel reshaped to a matrix::

    band  (b, rows_in, Wp, C)         rows_in = (r - 1)*sh + dh*(kh - 1) + 1
    cols  (G, b, r, Wo, kh, kw, Cg)   one receptive field per output pixel, per group
    cols  (G, P, kh*kw*Cg) @ w (G, kh*kw*Cg, Og) -> (G, P, Og)   P = b*r*Wo pixels

Blocks (``worker_blocks``) hold at most a worker's share of the workspace limit and
``BLOCK_BYTES`` of ``cols``; a block is several whole images when images are small (fewer,
larger GEMMs) or some rows of one image when they are large.
"""

from __future__ import annotations

import threading

import numpy as np

from convolab.algorithms import scheduler, unfold
from convolab.algorithms.bias import add_bias
from convolab.algorithms.problem import ConvProblem
from convolab.padding import gather, pad_adjoint

NAME = "im2col"
BLOCK_BYTES = 8 << 20  # bytes of columns per block (measured: 4-16 MiB best on 2 workers)


def padded_band(x: np.ndarray, p: ConvProblem, n0: int, n1: int, r0: int, r1: int) -> np.ndarray:
    """Padded input rows read by output rows ``r0:r1`` of images ``n0:n1``.

    Returns shape ``(n1 - n0, (r1 - r0 - 1)*sh + dh*(kh - 1) + 1, Wp, C)``; may be a view.
    Zero padding is one copy into a zeroed band (a gather by the index maps takes two copies,
    one per axis: measured 16% of depthwise's time on MobileNet's dw3x3).
    """
    sh, dh, kh = p.geom.stride[0], p.geom.dilation[0], p.geom.kernel_shape[0]
    rows = p.row_map()[r0 * sh : (r1 - 1) * sh + dh * (kh - 1) + 1]
    cols = p.col_map()
    if p.padding_mode != "zeros" or min(rows.min(), cols.min()) >= 0:
        return gather(x[n0:n1], (rows, cols), (1, 2))
    band = np.zeros((n1 - n0, len(rows), len(cols), x.shape[3]), x.dtype)
    # zero padding: the in-range indices are one run along each axis
    r, c = np.flatnonzero(rows >= 0), np.flatnonzero(cols >= 0)
    if len(r) and len(c):
        band[:, r[0] : r[-1] + 1, c[0] : c[-1] + 1] = \
            x[n0:n1, rows[r[0]] : rows[r[-1]] + 1, cols[c[0]] : cols[c[-1]] + 1]
    return band


def weight_matrix(w: np.ndarray, groups: int) -> np.ndarray:
    """HWIO ``(kh, kw, Cg, O)`` -> per-group matrices ``(G, kh*kw*Cg, O // G)``."""
    kh, kw, cg, o = w.shape
    return np.ascontiguousarray(
        w.reshape(kh * kw * cg, groups, o // groups).transpose(1, 0, 2)
    )


def forward(x: np.ndarray, w: np.ndarray, p: ConvProblem,
            bias: np.ndarray | None = None) -> np.ndarray:
    """Cross-correlate NHWC ``x`` with HWIO ``w``, plus ``bias`` (O,) if given:
    ``(N, H, W, C) -> (N, Ho, Wo, O)``."""
    n = p.x_shape[0]
    kh, kw, cg, o = p.w_shape
    ho, wo = p.geom.out_shape
    g = p.groups
    wmat = weight_matrix(w, g)
    y = np.empty((n, ho, wo, o), p.dtype)
    todo, n_workers = worker_blocks(p)
    scratch = scheduler.Scratch(n_workers)

    def work(block: tuple[int, int, int, int], i: int) -> None:
        n0, n1, r0, r1 = block
        b, r = n1 - n0, r1 - r0
        size = g * b * r * wo * kh * kw * cg
        space = scratch.get(i, "cols", (size,), p.dtype)
        # (G, b, r, Wo, kh, kw, Cg): every receptive field, a view (``unfold``)
        fields = unfold.windows(padded_band(x, p, n0, n1, r0, r1), p, r)
        if cg == 1:
            # one channel per group: stored tap-major, (G, kh, kw, 1, b, r, Wo), the copy runs
            # along rows of Wo pixels instead of kw values (5x faster); the GEMM reads the
            # (K, P) matrices transposed, as BLAS allows, so cols is (G, P, K) all the same
            cols = space.reshape(g, kh, kw, cg, b, r, wo)
            np.copyto(cols, fields.transpose(0, 4, 5, 6, 1, 2, 3))
            cols = cols.reshape(g, kh * kw * cg, b * r * wo).transpose(0, 2, 1)
        else:
            # one copy of every receptive field (2-7x faster than tap by tap)
            cols = space.reshape(g, b, r, wo, kh, kw, cg)
            np.copyto(cols, fields)
            cols = cols.reshape(g, b * r * wo, kh * kw * cg)
        # y[n0:n1, r0:r1] is contiguous (whole images, or rows of one image): a view
        out = y[n0:n1, r0:r1].reshape(b * r * wo, g, o // g)
        if g == 1:
            np.matmul(cols[0], wmat[0], out=out[:, 0])
        else:
            out[...] = np.matmul(cols, wmat).transpose(1, 0, 2)
        add_bias(y[n0:n1, r0:r1], bias)  # while the block is in cache

    scheduler.run(todo, work, n_workers)
    return y


# Backward. With ``cols`` and ``wmat`` as in ``forward`` (per group, P pixels, K = kh*kw*Cg),
# the forward pass is ``y = cols @ wmat``, so for a loss with gradient ``gy = dL/dy``:
#
#     dL/dwmat = cols^T @ gy          (G, K, P) @ (G, P, Og) -> (G, K, Og), summed over blocks
#     dL/dcols = gy @ wmat^T          (G, P, Og) @ (G, Og, K) -> (G, P, K)
#
# and ``cols`` is a gather from the padded input, so dL/dx is its adjoint: each column entry adds
# back onto the padded pixel it was read from (col2im), and the padded pixels fold back onto the
# input pixels they copy (``padding.pad_adjoint``: a reflected border adds to the pixel it
# mirrors, a zero border is dropped).
#
# Blocks run on the ``scheduler``'s workers, as in ``forward``; each worker allocates its
# workspace once and reuses it. Results are combined in block order, never in the order the
# workers finish, so gradients are the same from run to run.

def worker_blocks(p: ConvProblem) -> tuple[list[scheduler.Block], int]:
    """The blocks of ``forward`` and the backward functions, and the number of workers.

    Blocks run on one worker per core (``scheduler``), each with its own workspace, so a
    block gets the limit's share of one worker, at most BLOCK_BYTES, and small problems still
    split into one block per worker; rows are evened out, so no block is a small remainder
    (LeNet's weight gradient ran as 63 images and 1, the 63 on one core).
    """
    n, (ho, wo) = p.x_shape[0], p.geom.out_shape
    kh, kw, _, _ = p.w_shape
    row_bytes = wo * kh * kw * p.x_shape[3] * p.dtype.itemsize  # one output row of cols
    return scheduler.row_blocks(n, ho, row_bytes, BLOCK_BYTES), scheduler.workers()


def _gy_block(gy: np.ndarray, p: ConvProblem, n0: int, n1: int, r0: int, r1: int) -> np.ndarray:
    """Output gradient of one block as per-group matrices ``(G, b*r*Wo, Og)`` (a view)."""
    g, o = p.groups, p.w_shape[3]
    return gy[n0:n1, r0:r1].reshape(-1, g, o // g).transpose(1, 0, 2)


def columns(x: np.ndarray, p: ConvProblem, block: scheduler.Block,
            space: np.ndarray) -> np.ndarray:
    """The im2col matrices of one block, ``(G, b*r*Wo, kh*kw*Cg)``, copied into ``space``.

    One channel per group is stored tap-major, ``(G, kh, kw, 1, b, r, Wo)``, so the copy runs
    along rows of Wo pixels instead of kw values (5x faster, as in ``forward``); the result is
    then a transposed view, which BLAS reads as well.
    """
    n0, n1, r0, r1 = block
    b, r = n1 - n0, r1 - r0
    kh, kw, cg, _ = p.w_shape
    g, wo = p.groups, p.geom.out_shape[1]
    size = g * b * r * wo * kh * kw * cg
    # (G, b, r, Wo, kh, kw, Cg): every receptive field, a view (``unfold``)
    fields = unfold.windows(padded_band(x, p, n0, n1, r0, r1), p, r)
    if cg == 1:
        cols = space[:size].reshape(g, kh, kw, cg, b, r, wo)
        np.copyto(cols, fields.transpose(0, 4, 5, 6, 1, 2, 3))
        return cols.reshape(g, kh * kw * cg, b * r * wo).transpose(0, 2, 1)
    cols = space[:size].reshape(g, b, r, wo, kh, kw, cg)
    np.copyto(cols, fields)
    return cols.reshape(g, b * r * wo, kh * kw * cg)


def _col2im(dcols: np.ndarray, p: ConvProblem, band: np.ndarray) -> None:
    """Add ``dcols`` (G, b, r, Wo, kh, kw, Cg) onto the padded ``band`` (b, rows_in, Wp, C).

    The adjoint of the unfold (``unfold.windows``): each column entry goes back to the pixel it
    was read from.
    """
    (sh, sw), (dh, dw) = p.geom.stride, p.geom.dilation
    g, b, r, wo, kh, kw, cg = dcols.shape
    for a in range(kh):
        for c in range(kw):
            # (b, r, Wo, C) pixels under tap (a, c), split as (b, r, Wo, G, Cg): a view
            tap = band[:, a * dh : a * dh + (r - 1) * sh + 1 : sh,
                       c * dw : c * dw + (wo - 1) * sw + 1 : sw].reshape(b, r, wo, g, cg)
            # (G, b, r, Wo, Cg) -> (b, r, Wo, G, Cg)
            tap += np.moveaxis(dcols[:, :, :, :, a, c, :], 0, 3)


def backward_input(gy: np.ndarray, w: np.ndarray, p: ConvProblem) -> np.ndarray:
    """Gradient of the loss with respect to ``x``: ``(N, Ho, Wo, O) -> (N, H, W, C)``.

    ``gy`` is NHWC ``dL/dy``, ``w`` HWIO; the result is in ``p.dtype``. Blocks compute their
    columns' gradient and scatter it into their own band (the padded rows they read) in
    parallel; bands of consecutive row blocks of an image overlap by ``span - stride`` rows, so
    the bands are added into the padded gradient one at a time, in block order (workers take
    blocks in order, so a block waits at most for the ones still running before it).
    """
    n, h, wd, c = p.x_shape
    kh, kw, cg, _ = p.w_shape
    wo = p.geom.out_shape[1]
    sh, span, g = p.geom.stride[0], p.geom.span_shape[0], p.groups
    wp = p.geom.padded_shape[1]
    # (G, Og, K): the transposed kernel matrix of each group
    wmat_t = np.ascontiguousarray(weight_matrix(w, g).transpose(0, 2, 1))
    # gradient on the padded input; rows/columns no window reads stay zero
    gxp = np.zeros((n, *p.geom.padded_shape, c), p.dtype)
    todo, n_workers = worker_blocks(p)
    scratch = scheduler.Scratch(n_workers)
    turn = threading.Condition()
    state = {"merged": 0, "failed": False}  # blocks added into gxp so far; a block raised

    def work(k: int, i: int) -> None:
        n0, n1, r0, r1 = todo[k]
        b, r = n1 - n0, r1 - r0
        rows = (r - 1) * sh + span  # padded rows this block reads
        try:
            # (G, P, Og) @ (G, Og, K) -> (G, P, K)
            dcols = scratch.get(i, "dcols", (g, b * r * wo, kh * kw * cg), p.dtype)
            np.matmul(_gy_block(gy, p, n0, n1, r0, r1), wmat_t, out=dcols)
            band = scratch.get(i, "band", (b, rows, wp, c), p.dtype)
            band[...] = 0
            _col2im(dcols.reshape(g, b, r, wo, kh, kw, cg), p, band)
        except BaseException:
            with turn:  # release the blocks waiting for this one; run() re-raises the error
                state["failed"] = True
                turn.notify_all()
            raise
        with turn:
            turn.wait_for(lambda: state["merged"] == k or state["failed"])
            if not state["failed"]:
                gxp[n0:n1, r0 * sh : r0 * sh + rows] += band
                state["merged"] += 1
            turn.notify_all()

    scheduler.run(range(len(todo)), work, n_workers)
    return pad_adjoint(gxp, p.geom.pads, p.padding_mode, (h, wd))


def backward_weight(gy: np.ndarray, x: np.ndarray, p: ConvProblem) -> np.ndarray:
    """Gradient of the loss with respect to ``w``: ``(N, Ho, Wo, O) -> (kh, kw, C/G, O)``.

    ``gy`` is NHWC ``dL/dy``, ``x`` NHWC; the result is HWIO in ``p.dtype``.
    """
    kh, kw, cg, o = p.w_shape
    wo = p.geom.out_shape[1]
    g = p.groups
    todo, n_workers = worker_blocks(p)
    scratch = scheduler.Scratch(n_workers)
    parts: list[np.ndarray | None] = [None] * len(todo)  # (G, K, Og) per block

    def work(k: int, i: int) -> None:
        n0, n1, r0, r1 = todo[k]
        space = scratch.get(i, "cols", (g * (n1 - n0) * (r1 - r0) * wo * kh * kw * cg,), p.dtype)
        cols = columns(x, p, todo[k], space)  # (G, P, K)
        # (G, K, P) @ (G, P, Og) -> (G, K, Og)
        parts[k] = np.matmul(cols.transpose(0, 2, 1), _gy_block(gy, p, n0, n1, r0, r1))

    scheduler.run(range(len(todo)), work, n_workers)
    gw = parts[0]
    for part in parts[1:]:
        gw += part
    # inverse of ``weight_matrix``: (G, K, Og) -> (K, G, Og) -> (kh, kw, Cg, O)
    return np.ascontiguousarray(gw.transpose(1, 0, 2).reshape(kh, kw, cg, o))
