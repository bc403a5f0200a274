"""Direct convolution by the compiled core: register-blocked tiles, no im2col buffer.

A tile of ``pix`` output pixels x ``nv`` SIMD vectors of output channels stays in registers
while the kernel sums over every tap and input channel (``_native/direct_kernel.h`` gives the
blocking and why). Any stride, dilation, groups and padding mode: padding is read through the
index maps, so nothing is copied but the kernel, repacked once per call into
``(G, nob, kh, kw, C/G, nv * lanes)`` blocks, zero-filled past each group's channels. It
multiplies exactly the definition's products (a padded tap reads real zeros), so Inf and NaN
land where the definition puts them, with no check.
"""

from __future__ import annotations

import math

import numpy as np

from convolab import _native
from convolab.algorithms import native
from convolab.algorithms.cost import Cost
from convolab.algorithms.problem import ConvProblem

NAME = "direct"
REQUIRES = "the compiled core (convolab._native), built and not turned off"
# forward and backward_weight also take a volume (rank 3) as it lies: the kernel's indirection
# reads its depth taps through a plane map (``_native/direct.h``), so no unfolded copy is made
VOLUMES = True


def supports(p: ConvProblem) -> bool:
    return native.available()


def tile(p: ConvProblem) -> tuple[int, int]:
    """``(nv, pix)``: the tile shape with the fewest estimated cycles for this problem.

    Per input channel and tap a tile issues ``pix * nv`` FMAs and ``nv + pix`` loads; two of
    each retire a cycle, so it takes ``max(pix * nv, nv + pix) / 2`` cycles. Lanes past a
    group's channels are computed and discarded, so a wide tile on few channels wastes them.
    """
    lanes = _native.core.lanes(p.dtype.itemsize)
    og = p.w_shape[-1] // p.groups
    best = None
    for nv, pix in sorted(_native.core.tiles(p.dtype.itemsize).items()):
        nob = -(-og // (nv * lanes))
        cycles = nob * max(pix * nv, nv + pix) / pix  # per pixel, input channel and tap
        if best is None or cycles <= best[0]:  # a tie: the wider tile, fewer broadcasts
            best = (cycles, nv, pix)
    return best[1], best[2]


def cost(p: ConvProblem) -> Cost:
    kh, kw, cg, o = p.w_shape
    n, ho, wo, _ = p.y_shape
    nv, pix = tile(p)
    lanes = _native.core.lanes(p.dtype.itemsize)
    nob = -(-(o // p.groups) // (nv * lanes))
    pixels = n * ho * wo
    # every lane of every tile is computed: 2 flops per lane-FMA, plus the load-bound excess
    fmas = p.groups * nob * nv * lanes * pixels * kh * kw * cg
    excess = max(1.0, (nv + pix) / (pix * nv))
    # per tile and tap, pix pointer look-ups (~3 cycles each, ~ 3 * 2 * lanes flops' worth)
    setup = p.groups * nob * pixels * kh * kw * 6 * lanes
    return Cost(
        flops=p.flops, gemm_flops=0, gemm_mkn=(1, 1, 1),
        bytes_moved=0, workspace=p.groups * nob * nv * lanes * kh * kw * cg * p.dtype.itemsize,
        calls=8, kernel_flops=int(2 * fmas * excess + setup),
        summary=f"direct: compiled {native.kernel_name('direct', p, f'{pix}x{nv}')}, "
                f"{pix} pixels x {nv * lanes} channels a tile in registers",
    )


def pack(w: np.ndarray, bias: np.ndarray | None, p: ConvProblem, block: int
         ) -> tuple[np.ndarray, np.ndarray | None]:
    """HWIO ``w`` as ``(G, nob, kh, kw, Cg, block)`` and ``bias`` as ``(G, nob, block)``,
    each group's output channels zero-filled to a whole number ``nob`` of blocks (a volume's
    DHWIO kernel as ``(G, nob, kd * kh, kw, Cg, block)``: its depth taps' rows in turn)."""
    kh, kw, cg, o = p.w_shape[-4:]
    kh *= math.prod(p.w_shape[:-4])
    w = w.reshape(kh, kw, cg, o)
    g = p.groups
    og = o // g
    nob = -(-og // block)
    packed = native.aligned_zeros((g, nob, kh, kw, cg, block), p.dtype)
    # (kh, kw, Cg, O) -> (G, nob, kh, kw, Cg, block), by output channel blocks
    wg = w.reshape(kh, kw, cg, g, og).transpose(3, 0, 1, 2, 4)  # (G, kh, kw, Cg, og)
    for k in range(nob):
        part = wg[..., k * block:(k + 1) * block]
        packed[:, k, ..., :part.shape[-1]] = part
    if bias is None:
        return packed, None
    b = native.aligned_zeros((g, nob * block), p.dtype)
    b[:, :og] = bias.reshape(g, og)
    return packed, b


def forward(x: np.ndarray, w: np.ndarray, p: ConvProblem,
            bias: np.ndarray | None = None) -> np.ndarray:
    """``(N, H, W, C) * (kh, kw, C/G, O) -> (N, Ho, Wo, O)``, bias added, in ``p.dtype``; or a
    volume ``(N, D, H, W, C) * (kd, kh, kw, C/G, O) -> (N, Do, Ho, Wo, O)``."""
    nv, _ = tile(p)
    packed, b = pack(w, bias, p, nv * _native.core.lanes(p.dtype.itemsize))
    y = np.empty(p.y_shape, p.dtype)
    rows, cols = native.maps(p)
    geometry = native.geometry(p)
    volume = native.volume_args(p)
    ranges = native.pixel_ranges(p, math.prod(p.w_shape))
    native.run(lambda q0, q1: _native.core.direct(x, packed, b, y, rows, cols, geometry, nv,
                                                  q0, q1, *volume), ranges)
    return y


def backward_weight(gy: np.ndarray, x: np.ndarray, p: ConvProblem) -> np.ndarray:
    """``grad_w`` (kh, kw, C/G, O) HWIO from NHWC ``gy`` (N, Ho, Wo, O) and ``x``, by the
    compiled weight-gradient kernel: each worker sums its pixel ranges into its own packed
    gradient, and the partial gradients are added here. A volume's is (kd, kh, kw, C/G, O)."""
    kh, kw, cg, o = p.w_shape[-4:]
    kh *= math.prod(p.w_shape[:-4])  # a volume's depth taps' rows in turn
    g = p.groups
    og = o // g
    nv, _ = tile(p)
    block = nv * _native.core.lanes(p.dtype.itemsize)
    nob = -(-og // block)
    rows, cols = native.maps(p)
    geometry = native.geometry(p)
    volume = native.volume_args(p)
    gy = np.ascontiguousarray(gy, p.dtype)
    gw = native.summed(
        lambda out, q0, q1: _native.core.wgrad(x, out, None, gy, rows, cols, geometry, nv,
                                               q0, q1, *volume),
        native.pixel_ranges(p, kh * kw * cg * o), (g, nob, kh * kw, cg, block), p.dtype)
    # (G, nob, kh*kw, Cg, block) -> (kh, kw, Cg, G, nob*block) -> the first og of each group
    gw = gw.reshape(g, nob, kh, kw, cg, block).transpose(2, 3, 4, 0, 1, 5)
    return np.ascontiguousarray(gw.reshape(kh, kw, cg, g, nob * block)[..., :og]
                                .reshape(p.w_shape))
