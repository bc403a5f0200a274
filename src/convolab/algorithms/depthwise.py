"""Depthwise convolution (``groups == C``) by shift-and-add, in cache-sized tiles of rows.

Each output channel reads one input channel, so there is no channel sum for a GEMM to chew on:
im2col would multiply ``(P, kh*kw) @ (kh*kw, 1)`` matrices, the worst shape BLAS has. Instead,
NHWC keeps the channels contiguous, and every kernel tap is one vectorised multiply-add of a
shifted view of the input band with that tap's per-channel weights::

    y[n, i, j, c] = sum_{a, b} xp[n, i*sh + a*dh, j*sw + b*dw, c] * w[a, b, 0, c]
    y (b, r, Wo, C) = sum_{a, b} band[:, a*dh :: sh, b*dw :: sw, :] (b, r, Wo, C) * w[a, b, 0, :]

All taps are one strided view (``unfold.windows``) of the band, summed by a single
``einsum`` (one fused multiply-add sweep per tap, 1.75x faster than a multiply and an add per
tap). A block is a band of output rows of ``BLOCK_BYTES`` (output and band): 2 MiB measured
1.5x faster than 512 KiB blocks that fit L2 (MobileNet's dw3x3 forward 12 ms against 18: the
per-block work of gathering the band and setting up einsum weighs more than L2). With fewer
than ``FEW_CHANNELS`` channels einsum's inner loop (over channels) is too short, and a
multiply and an add per tap over whole rows of ``Wo*C`` values run faster. With a channel
multiplier ``m = O // C`` (output ``c*m + k`` reads input channel ``c``), each ``k`` is one
such sweep.

This runs at NumPy's element-wise speed, ~3-5 G multiply-adds/s per core: on MobileNet's
dw3x3 layer ~10x behind PyTorch's JIT-compiled kernel, and 40x ahead of im2col here.
"""

from __future__ import annotations

import numpy as np

from convolab.algorithms import adjoint, im2col, scheduler, unfold
from convolab.algorithms.bias import add_bias
from convolab.algorithms.cost import Cost
from convolab.algorithms.finite import all_finite
from convolab.algorithms.im2col import padded_band
from convolab.algorithms.problem import ConvProblem

NAME = "depthwise"
REQUIRES = "groups equal to the input channels (depthwise), any multiplier"
FEW_CHANNELS = 16  # below this, a multiply and an add per tap over whole rows beat einsum
BLOCK_BYTES = 2 << 20  # bytes of output and band per block (measured: 1-4 MiB best)


def supports(p: ConvProblem) -> bool:
    return p.groups == p.x_shape[3]


def _row_bytes(p: ConvProblem) -> int:
    # output rows, and the band rows they read (~ sh of them)
    wo, o = p.geom.out_shape[1], p.w_shape[3]
    return (wo * o + p.geom.stride[0] * p.geom.padded_shape[1] * p.x_shape[3]) \
        * p.dtype.itemsize


def _blocks(p: ConvProblem) -> list[scheduler.Block]:
    return scheduler.row_blocks(p.x_shape[0], p.geom.out_shape[0], _row_bytes(p), BLOCK_BYTES)


def cost(p: ConvProblem) -> Cost:
    kh, kw, _, o = p.w_shape
    n, ho, wo, _ = p.y_shape
    todo = _blocks(p)
    n_blocks = len(todo)
    out = n * ho * wo * o
    few = p.x_shape[3] < FEW_CHANNELS
    # per busy worker: the padded band of its block, and (few channels) a product buffer
    n0, n1, r0, r1 = todo[0] if todo else (0, 0, 0, 1)  # an empty batch has no blocks
    band_rows = (r1 - r0 - 1) * p.geom.stride[0] + p.geom.span_shape[0]
    block = (n1 - n0) * (band_rows * p.geom.padded_shape[1] * p.x_shape[3]
                         + (r1 - r0) * wo * o * few) * p.dtype.itemsize
    return Cost(
        flops=2 * out * kh * kw, gemm_flops=0, gemm_mkn=(1, 1, 1),
        # per tap: one multiply-add sweep (einsum), or a multiply and an add (few channels);
        # in cache, measured ~1.5 and ~2 bytes of COPY_BANDWIDTH per value and tap
        bytes_moved=(4 if few else 3) * out * kh * kw * p.dtype.itemsize // 2,
        workspace=min(n_blocks, scheduler.workers()) * block,
        # per block and multiplier slot: one einsum, or (few channels) a multiply and an add
        # per tap, with a tile and a moveaxis
        calls=n_blocks * (5 + o // p.x_shape[3] * (2 * kh * kw + 2 if few else 1)),
        summary=f"depthwise: shift-and-add, {kh * kw} taps over {n_blocks} cache-sized "
                "block(s) of rows",
    )


def forward(x: np.ndarray, w: np.ndarray, p: ConvProblem,
            bias: np.ndarray | None = None) -> np.ndarray:
    """Depthwise-correlate NHWC ``x`` (N, H, W, C) with HWIO ``w`` (kh, kw, 1, C*m), plus
    ``bias`` (C*m,) if given."""
    c, (kh, kw, _, o) = p.x_shape[3], p.w_shape
    mult, wo = o // c, p.geom.out_shape[1]
    y = np.empty(p.y_shape, p.dtype)
    n_workers = scheduler.workers()
    scratch = scheduler.Scratch(n_workers)

    def work(block: tuple[int, int, int, int], i: int) -> None:
        n0, n1, r0, r1 = block
        # (C, b, r, Wo, kh, kw, 1): every tap's shifted view of the band, without a copy
        taps = unfold.windows(padded_band(x, p, n0, n1, r0, r1), p, r1 - r0)[..., 0]
        for k in range(mult):
            out = y[n0:n1, r0:r1, :, k::mult]  # (b, r, Wo, C)
            if c >= FEW_CHANNELS:
                # one fused sweep: sum over taps of view * weights, written straight into y
                np.einsum("cnhwab,abc->nhwc", taps, w[:, :, 0, k::mult], out=out)
                add_bias(out, None if bias is None else bias[k::mult])
                continue
            # few channels: einsum's inner loop would be C long; rows of Wo*C are longer.
            # The weights are tiled along Wo, (kh, kw, Wo, C): a broadcast (C,) vector would
            # cut NumPy's inner loop back to C values.
            rows = np.tile(w[:, :, 0, k::mult][:, :, None, :], (1, 1, wo, 1))
            prod = scratch.get(i, "prod", out.shape, p.dtype)
            by_tap = np.moveaxis(taps, 0, 3)  # (b, r, Wo, C, kh, kw)
            for a in range(kh):
                for t in range(kw):
                    tap = by_tap[..., a, t]  # (b, r, Wo, C)
                    if a == t == 0:
                        np.multiply(tap, rows[a, t], out=out)
                    else:
                        np.multiply(tap, rows[a, t], out=prod)
                        out += prod
            add_bias(out, None if bias is None else bias[k::mult])

    scheduler.run(_blocks(p), work, n_workers)
    return y


def backward_input(gy: np.ndarray, w: np.ndarray, p: ConvProblem) -> np.ndarray:
    """``dL/dx`` (N, H, W, C) from ``gy`` (N, Ho, Wo, C*m): depthwise convs of ``gy`` with the
    flipped kernel, one per multiplier slot ``k`` (output ``c*m + k`` came from input ``c``)."""
    if not all_finite(w):  # the conv of grad_y multiplies its zeros by w: see ``finite``
        return im2col.backward_input(gy, w, p)
    c, mult = p.x_shape[3], p.w_shape[3] // p.x_shape[3]
    flipped = w[::-1, ::-1]
    return sum(
        adjoint.input_gradient(np.ascontiguousarray(gy[..., k::mult]), flipped[..., k::mult],
                               p, c, forward)
        for k in range(mult)
    )


def backward_weight(gy: np.ndarray, x: np.ndarray, p: ConvProblem) -> np.ndarray:
    """``dL/dw`` (kh, kw, 1, C*m): for each tap, the sum over pixels of ``gy * tap``, per channel.

    ``gw[a, b, 0, c*m + k]`` is the sum over ``n, i, j`` of ``gy[n, i, j, c*m + k]`` times
    ``xp[n, i*sh + a*dh, j*sw + b*dw, c]``: one einsum per block over the same tap views as
    ``forward``, summed over blocks.
    """
    mult = p.w_shape[3] // p.x_shape[3]
    n_workers = scheduler.workers()
    partial = np.zeros((n_workers, *p.w_shape), p.dtype)  # one accumulator per worker

    def work(block: tuple[int, int, int, int], i: int) -> None:
        n0, n1, r0, r1 = block
        taps = unfold.windows(padded_band(x, p, n0, n1, r0, r1), p, r1 - r0)[..., 0]
        for k in range(mult):
            # (C, b, r, Wo, kh, kw) x (b, r, Wo, C) -> (kh, kw, C)
            partial[i, :, :, 0, k::mult] += np.einsum("cnhwab,nhwc->abc", taps,
                                                       gy[n0:n1, r0:r1, :, k::mult])

    scheduler.run(_blocks(p), work, n_workers)
    return partial.sum(axis=0)
