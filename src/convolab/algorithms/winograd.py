"""Winograd F(2x2, 3x3): 3x3 stride-1 convolution with 2.25x fewer multiplications.

Lavin & Gray (2016). A 2x2 block of outputs reads a 4x4 tile ``d`` of the padded input; with

    B^T = [[1, 0, -1, 0],    G = [[1,    0,   0],    A^T = [[1, 1,  1,  0],
           [0, 1,  1, 0],         [1/2,  1/2, 1/2],         [0, 1, -1, -1]]
           [0, -1, 1, 0],         [1/2, -1/2, 1/2],
           [0, 1,  0, -1]]        [0,    0,   1]]

the 2x2 outputs are ``A^T [ sum_c (G g_c G^T) * (B^T d_c B) ] A``: each of the 16 positions
``(u, v)`` of the transformed tile is one matrix product over channels::

    V (16, T, C) @ U (16, C, O) -> M (16, T, O)      T tiles, 16*T*C*O multiply-adds

against ``36*T*C*O`` for the direct method. B and A hold only 0 and +-1, so the input and output
transforms are additions of strided views of the gathered band (no multiplications; the
overlapping 4x4 tiles are never copied out one by one).

Work goes in blocks of tile rows (whole images when they are small) on one worker per core.
On one core this beats im2col (res3x3a: 37 ms against 43); on two, the transforms' memory
traffic is shared and scales 1.3-1.7x, and the cost model prefers implicit GEMM there.

Accuracy: the transforms add up to 4 inputs (``B``) and 9 products (``A``), and ``G`` halves,
so rounding grows by a small constant over the direct sum. On random float32 data the error
relative to the largest output measured 3.6e-7 (64 channels) and 4.3e-7 (128), against 5.8e-7
and 4.6e-7 for im2col; the tests hold it below ``ERROR_BOUND_F32``.
"""

from __future__ import annotations

import numpy as np

from convolab.algorithms import adjoint, im2col, scheduler
from convolab.algorithms.bias import write_block
from convolab.algorithms.cost import Cost
from convolab.algorithms.finite import all_finite
from convolab.algorithms.problem import ConvProblem
from convolab.padding import gather

NAME = "winograd"
REQUIRES = "a 3x3 kernel, stride 1, dilation 1 and groups=1"
ERROR_BOUND_F32 = 1e-5  # max |y - y_exact| / max |y_exact|, float32 (tested)
BLOCK_BYTES = 8 << 20  # bytes of V and M per block (measured: 4-16 MiB best on 2 workers)


def supports(p: ConvProblem) -> bool:
    return (p.w_shape[:2] == (3, 3) and p.geom.stride == (1, 1) and p.geom.dilation == (1, 1)
            and p.groups == 1)


def _tile_grid(p: ConvProblem) -> tuple[int, int]:
    """Tiles per image, ``(th, tw)``: one per 2x2 block of outputs (the last may stick out)."""
    ho, wo = p.geom.out_shape
    return -(-ho // 2), -(-wo // 2)


def _block_bytes_per_tile(p: ConvProblem) -> int:
    c, o = p.x_shape[3], p.w_shape[3]
    # V (16 C) and M (16 O) per tile, the row-transformed band (~ 8 C) and the output (4 O)
    return (24 * c + 20 * o) * p.dtype.itemsize


def blocks(p: ConvProblem) -> list[scheduler.Block]:
    """``(n0, n1, t0, t1)``: images ``n0:n1``, tile rows ``t0:t1`` of each, per block."""
    th, tw = _tile_grid(p)
    row_bytes = tw * _block_bytes_per_tile(p)  # one row of tiles
    return scheduler.row_blocks(p.x_shape[0], th, row_bytes, BLOCK_BYTES)


def cost(p: ConvProblem) -> Cost:
    n, c, o = p.x_shape[0], p.x_shape[3], p.w_shape[3]
    th, tw = _tile_grid(p)
    t = n * th * tw
    n_blocks = max(1, len(blocks(p)))  # (an empty batch has none)
    item = p.dtype.itemsize
    gemm = 2 * 16 * t * c * o
    # values written by the element-wise passes: input rows ~8 C per tile, columns 16 C;
    # output rows 16 O, columns 8 O, scatter 4 O; each costs about its own bytes of
    # COPY_BANDWIDTH on one core (~15 ms of transforms for res3x3a), 1.6x that on two, which
    # share the memory traffic (measured: Winograd 1.3-1.7x faster on 2 workers, im2col 1.7-1.9x)
    shared = 1.0 if scheduler.workers() == 1 else 1.6
    passes = int(shared * item * t * (8 * c + 16 * c + 16 * o + 8 * o + 4 * o))
    return Cost(
        # the 16 GEMMs of a block are smaller than im2col's one: measured 113-133 GFLOP/s on
        # one core against 124-165 for im2col's on the same layers, so priced 1.2x
        flops=gemm + t * (48 * c + 24 * o), gemm_flops=gemm * 6 // 5,
        gemm_mkn=(t // n_blocks, c, o), bytes_moved=passes,
        # per tile and busy worker: V and the row stage (24 C), the gathered band, copied
        # twice by the gather (8 C), M (16 O), the output stages (12 O)
        workspace=min(n_blocks, scheduler.workers()) * t // n_blocks * (32 * c + 28 * o) * item,
        calls=n_blocks * 20,
        summary=f"winograd F(2x2,3x3): {n_blocks} block(s), 16 GEMMs ({t // n_blocks} x {c}) "
                f"@ ({c} x {o}) each, 2.25x fewer multiplications than direct",
    )


def kernel_transform(w: np.ndarray) -> np.ndarray:
    """``U = G g G^T`` for every (c, o): HWIO ``(3, 3, C, O)`` -> ``(16, C, O)``."""
    g = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], w.dtype)
    # (4, 3) . (3, 3, C, O) . (3, 4) -> (4, 4, C, O)
    u = np.einsum("ua,abco,vb->uvco", g, w, g, optimize=True)
    return np.ascontiguousarray(u.reshape(16, *w.shape[2:]))


def deinterleave(index: np.ndarray) -> np.ndarray:
    """Even positions first, then odd: ``[0, 2, 4, ..., 1, 3, 5, ...]`` of ``index``.

    Tile ``t`` reads positions ``2t .. 2t+3``: even ``t``, odd ``t``, even ``t+1``, odd ``t+1``.
    Gathered in this order, each of the four is a contiguous run (long inner loops for NumPy).
    """
    return np.concatenate([index[0::2], index[1::2]])


def _input_transform(band: np.ndarray, v: np.ndarray, rows: np.ndarray) -> None:
    """``V = B^T d B`` for every tile of ``band``, into ``v`` (4, 4, b, tr, tw, C).

    ``band`` (b, 2*tr + 2, 2*tw + 2, C) holds the tiles' padded rows and columns
    deinterleaved (see :func:`deinterleave`), so every ``d_i`` below is a slice; ``rows``
    (4, b, tr, 2*tw + 2, C) is scratch for the row stage.
    """
    tr, tw = v.shape[3:5]
    d = [band[:, :tr], band[:, tr + 1 : 2 * tr + 1], band[:, 1 : tr + 1], band[:, tr + 2 :]]
    # rows: (4, b, tr, 2*tw + 2, C), B^T d
    np.subtract(d[0], d[2], out=rows[0])
    np.add(d[1], d[2], out=rows[1])
    np.subtract(d[2], d[1], out=rows[2])
    np.subtract(d[1], d[3], out=rows[3])
    e = [rows[:, :, :, :tw], rows[:, :, :, tw + 1 : 2 * tw + 1], rows[:, :, :, 1 : tw + 1],
         rows[:, :, :, tw + 2 :]]  # 4 x (4, b, tr, tw, C)
    np.subtract(e[0], e[2], out=v[:, 0])
    np.add(e[1], e[2], out=v[:, 1])
    np.subtract(e[2], e[1], out=v[:, 2])
    np.subtract(e[1], e[3], out=v[:, 3])


def _output_transform(m: np.ndarray, rows: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``Y = A^T M A``: ``m`` (4, 4, b, tr, tw, O) -> (b, tr, 2, tw, 2, O), the 2x2 blocks.

    ``rows`` (2, 4, b, tr, tw, O) and ``out`` (2, 2, b, tr, tw, O) are scratch; the result is
    a view of ``out``. Rows first: ``y0 = m0 + m1 + m2``, ``y1 = m1 - m2 - m3``.
    """
    np.add(m[0], m[1], out=rows[0])
    rows[0] += m[2]
    np.subtract(m[1], m[2], out=rows[1])
    rows[1] -= m[3]
    np.add(rows[:, 0], rows[:, 1], out=out[:, 0])  # then columns, the same way
    out[:, 0] += rows[:, 2]
    np.subtract(rows[:, 1], rows[:, 2], out=out[:, 1])
    out[:, 1] -= rows[:, 3]
    return out.transpose(2, 3, 0, 4, 1, 5)


def forward(x: np.ndarray, w: np.ndarray, p: ConvProblem,
            bias: np.ndarray | None = None) -> np.ndarray:
    """Cross-correlate NHWC ``x`` with a 3x3 HWIO ``w``, plus ``bias`` (O,) if given:
    ``(N, H, W, C) -> (N, Ho, Wo, O)``."""
    c, o = p.x_shape[3], p.w_shape[3]
    ho, wo = p.geom.out_shape
    th, tw = _tile_grid(p)
    u = kernel_transform(w)  # (16, C, O)
    # padded rows/columns the tiles read; a tile sticking out past an odd edge reads zeros
    rows = np.full(2 * th + 2, -1)
    cols = np.full(2 * tw + 2, -1)
    rows[: ho + 2], cols[: wo + 2] = p.row_map(), p.col_map()
    cols = deinterleave(cols)
    y = np.empty(p.y_shape, p.dtype)

    n_workers = scheduler.workers()
    scratch = scheduler.Scratch(n_workers)

    def work(block: tuple[int, int, int, int], i: int) -> None:
        n0, n1, t0, t1 = block
        b, tr = n1 - n0, t1 - t0
        t = b * tr * tw
        band = gather(x[n0:n1], (deinterleave(rows[2 * t0 : 2 * t1 + 2]), cols), (1, 2))
        v = scratch.get(i, "v", (4, 4, b, tr, tw, c), p.dtype)
        _input_transform(band, v, scratch.get(i, "rows", (4, b, tr, 2 * tw + 2, c), p.dtype))
        m = scratch.get(i, "m", (16, t, o), p.dtype)
        np.matmul(v.reshape(16, t, c), u, out=m)  # (16, T, C) @ (16, C, O)
        blk = _output_transform(m.reshape(4, 4, b, tr, tw, o),
                                scratch.get(i, "mrows", (2, 4, b, tr, tw, o), p.dtype),
                                scratch.get(i, "y", (2, 2, b, tr, tw, o), p.dtype))
        r1 = min(2 * t1, ho)
        dest = y[n0:n1, 2 * t0 : r1]  # (b, r1 - 2*t0, Wo, O)
        if dest.shape[1] == 2 * tr and wo == 2 * tw:
            write_block(dest.reshape(b, tr, 2, tw, 2, o), blk, bias)
        else:  # an odd edge: drop the outputs the last tiles computed past it
            write_block(dest, blk.reshape(b, 2 * tr, 2 * tw, o)[:, : r1 - 2 * t0, :wo], bias)

    scheduler.run(blocks(p), work, n_workers)
    # a transform mixes a tile: an Inf or NaN would reach outputs that never read it
    return y if all_finite(y) else im2col.forward(x, w, p, bias)


def backward_input(gy: np.ndarray, w: np.ndarray, p: ConvProblem) -> np.ndarray:
    """``dL/dx`` (N, H, W, C) from ``gy`` (N, Ho, Wo, O): a Winograd conv of ``gy`` ("full",
    kernel flipped and transposed to ``(3, 3, O, C)``), see ``adjoint``."""
    if not all_finite(w):  # the conv of grad_y multiplies its zero border by w: see ``finite``
        return im2col.backward_input(gy, w, p)
    return adjoint.input_gradient(gy, adjoint.transposed_kernel(w, 1), p, 1, forward)
