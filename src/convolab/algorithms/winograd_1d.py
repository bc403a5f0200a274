"""Winograd F(4, 3) along rows by the compiled core: kernels of one row (1-D signals) with about
half the multiplications of the direct method.

A kernel of ``kw`` taps at stride ``sw`` is, per output column, a stride-1 conv over positions
of ``sw * C`` values (its polyphase form); its ``ceil(kw / sw)`` taps, in ``G`` groups of
three with dilation ``G``, run as F(4, 3) (``_native/winograd_1d_kernel.h`` gives the algebra
and the blocking). Each input value is transformed once into six copies, and the four outputs
of a tile take ``6 G sw C`` multiply-adds per output channel against the direct method's
``4 kw C`` (an 80-tap stride-4 kernel on one channel, the M5 network's first layer: 168
against 320). A register tile holds all six products of a few tiles, so they are mapped to
outputs without leaving the registers.

Accuracy: the transforms are the 2-D Winograd's one-dimensional ones (the points 0, 1, -1, 1/2,
-2, every coefficient exact in binary), applied along one axis only, so float32's error is
smaller than ``winograd_f4``'s: ~7e-7 of the largest output on the M5 layer's random normal
data; the tests hold it below ``ERROR_BOUND_F32``.

Inf and NaN: as ``winograd_f4``, the kernel reports whether every output it wrote is finite;
if one is not, the call is computed by ``direct``, which multiplies exactly the definition's
products.
"""

from __future__ import annotations

import numpy as np

from convolab import _native
from convolab.algorithms import direct, native
from convolab.algorithms.cost import Cost
from convolab.algorithms.problem import ConvProblem

NAME = "winograd_1d"
REQUIRES = "the compiled core, a kernel of one row, dilation 1, groups=1"
# float32: max |y - y_exact| over the largest sum of the terms' magnitudes (tested; against
# the largest output, ~7e-7 on the M5 layer)
ERROR_BOUND_F32 = 1e-5

# FMA issue slots per vector of values, each way: in, six loads, the six-point transform (~14
# vector operations) and six stores per vector of a row's values; out, per tile and vector of
# output channels, the four-point map (~10), the bias and four stores
TRANSFORM_IN_SLOTS = 26
TRANSFORM_OUT_SLOTS = 20
# A register tile issues a load per multiply-add (6 NV weight vectors and 6 TP broadcasts for
# 6 TP NV of them), where direct's 12x2 tile issues 14 for 24: priced at 1.4 times the
# multiply-adds (measured on 2 Zen 4 cores, time against direct's, whose order it keeps:
# the M5 layer 0.63, text1d 0.66, a 2-tap 64-channel layer 1.00, a 4-tap stride-2 one 1.11)
PRODUCT_EXCESS = 1.4
# FMA issue slots of a pass over a row's stretch besides its products and transforms: finding
# or gathering the source, the allocation, the register tiles' calls (measured: ~700 cycles a
# row of LeNet-sized 1x5 layers, 28-pixel rows)
ROW_SLOTS = 700
# a task's blocks are whole multiples of this: whole register tiles of every instruction set
# (1, 2 or 4 tiles: winograd_1d_kernel.h)
BLOCKS_PER_CHUNK = 4


def supports(p: ConvProblem) -> bool:
    """An image's or signal's conv whose kernel has one row (any width and stride): a rank-1
    problem reaches the algorithms as an image of one row."""
    return (native.available() and p.rank == 2 and p.w_shape[0] == 1
            and p.geom.dilation[1] == 1 and p.groups == 1)


def groups(p: ConvProblem) -> int:
    """G: the kernel's polyphase taps (``ceil(kw / sw)``) in groups of three, rounded up."""
    taps = -(-p.w_shape[1] // p.geom.stride[1])
    return -(-taps // 3)


def blocks(p: ConvProblem) -> int:
    """The kernel's items: blocks of ``4 G`` output columns over every output row, image after
    image (the last block of a row may stick out past its end)."""
    return p.x_shape[0] * image_blocks(p)


def image_blocks(p: ConvProblem) -> int:
    """Blocks of one image: its output rows, each ``ceil(Wo / 4G)`` blocks."""
    return p.y_shape[1] * -(-p.y_shape[2] // (4 * groups(p)))


def register_tiles(p: ConvProblem) -> int:
    """Tiles a register tile holds (``_native/winograd_1d_kernel.h``'s TP): 6 TP NV
    accumulators in 24 of AVX-512's 32 registers, 12 of the 16 of AVX2 and SSE."""
    wide = _native.core.lanes(p.dtype.itemsize) * p.dtype.itemsize == 64
    return (4 if wide else 2) if vectors(p) == 1 else (2 if wide else 1)


def cost(p: ConvProblem) -> Cost:
    c, o = p.w_shape[-2:]
    g, sw = groups(p), p.geom.stride[1]
    rows = p.x_shape[0] * p.y_shape[1]
    tp = register_tiles(p)
    n_blocks = rows * -(-image_blocks(p) // p.y_shape[1] // tp) * tp  # whole register tiles
    tiles = n_blocks * g
    nv = vectors(p)
    lanes = _native.core.lanes(p.dtype.itemsize)
    kp = -(-o // (nv * lanes)) * nv * lanes
    reduction = g * sw * c
    products = 2 * 6 * tiles * reduction * kp * PRODUCT_EXCESS
    values = n_blocks * 4 * reduction  # a row's flat values, transformed once
    transforms = 2 * lanes * (TRANSFORM_IN_SLOTS * values / lanes
                              + TRANSFORM_OUT_SLOTS * tiles * kp / lanes + ROW_SLOTS * rows)
    return Cost(
        flops=p.flops, gemm_flops=0, gemm_mkn=(1, 1, 1), bytes_moved=0,
        workspace=6 * reduction * kp * p.dtype.itemsize, calls=8,
        kernel_flops=int(products + transforms),
        summary=f"winograd_1d: compiled F(4,3) along rows {native.kernel_name('winograd_1d', p)}, "
                f"6 products of {reduction} channels a tile of 4 outputs, {nv * lanes} output "
                f"channels a register tile",
    )


def vectors(p: ConvProblem) -> int:
    """Vectors of output channels a register tile holds: two, unless one holds them all."""
    return 1 if p.w_shape[-1] <= _native.core.lanes(p.dtype.itemsize) else 2


def pack(w: np.ndarray, bias: np.ndarray | None, p: ConvProblem, block: int
         ) -> tuple[np.ndarray, np.ndarray | None]:
    """HWIO ``w`` (1, kw, C, O) as its transform packed ``(nob, G * sw * C, 6, block)`` and
    ``bias`` as ``(nob * block,)``, zero-filled past O (``block``: a register tile's output
    channels). The transform runs in the compiled core, in float64."""
    kw, c, o = p.w_shape[1:]
    nob = -(-o // block)
    sw = p.geom.stride[1]
    packed = native.aligned_empty((nob, groups(p) * sw * c, 6, block), p.dtype)
    if o % block:
        packed[-1].fill(0)
    w = np.ascontiguousarray(w, p.dtype).reshape(kw, c, o)
    _native.core.winograd_1d_pack(w, packed, sw, block, 0, o)
    if bias is None:
        return packed, None
    b = native.aligned_zeros((nob * block,), p.dtype)
    b[:o] = bias
    return packed, b


def forward(x: np.ndarray, w: np.ndarray, p: ConvProblem,
            bias: np.ndarray | None = None) -> np.ndarray:
    """``(N, H, W, C) * (1, kw, C, O) -> (N, Ho, Wo, O)``, bias added, in ``p.dtype``."""
    nv = vectors(p)
    u, b = pack(w, bias, p, nv * _native.core.lanes(p.dtype.itemsize))
    rows, cols = native.maps(p)
    geometry = native.geometry(p)
    y = np.empty(p.y_shape, p.dtype)
    c, o = p.w_shape[2:]
    macs = 6 * groups(p) * groups(p) * p.geom.stride[1] * c * o  # a block's
    finite = native.region(
        lambda q0, q1, chunk, workers: _native.core.winograd_1d(
            x, u, b, y, rows, cols, geometry, nv, q0, q1, None, chunk, workers),
        native.ranges(blocks(p), macs, BLOCKS_PER_CHUNK))
    if finite:
        return y
    return direct.forward(x, w, p, bias)  # an Inf, a NaN or an overflow: see the docstring


# grad_w: direct's compiled weight gradient, which sums exactly the definition's products
backward_weight = direct.backward_weight
