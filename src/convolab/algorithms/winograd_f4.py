"""Winograd F(4x4, 3x3) by the compiled core: 3x3 stride-1 layers with 4x fewer multiplications.

A 4x4 block of outputs ("tile") is ``A^T [sum_c U_c . V_c] A`` with ``V = B^T d B`` the
transform of its 6x6 input patch and ``U = G g G^T`` the kernel's (Lavin & Gray, 2016;
``_native/winograd_kernel.h`` gives the matrices and the blocking). The 36 positions of a
transformed tile are 36 matrix products over channels, run on direct's register tiles, with
the transforms in C beside them on blocks that stay in L2. ``U`` is made once per call, in
float64, and rounded once.

Accuracy: F(4x4, 3x3)'s transforms have larger coefficients than F(2x2, 3x3)'s (the NumPy
``winograd``), so its rounding grows more; the points 0, 1, -1, 1/2, -2 (not the usual 2 for
1/2) keep float32's error, relative to the largest output on random normal data, at 2.3e-6 for
64 channels and 8.5e-6 for 1024 (2.5e-5 with the usual points). The tests hold it below
``ERROR_BOUND_F32``.

Inf and NaN: a transform mixes a tile, so they would reach outputs that never read them (and a
large finite input can overflow). The kernel reports whether every output it wrote is finite;
if one is not, the call is computed by ``direct``, which multiplies exactly the definition's
products (``finite``).
"""

from __future__ import annotations

import math

import numpy as np

from convolab import _native
from convolab.algorithms import direct, native, scheduler
from convolab.algorithms.cost import Cost
from convolab.algorithms.finite import all_finite
from convolab.algorithms.problem import ConvProblem
from convolab.config import get_workspace_limit

NAME = "winograd_f4"
REQUIRES = "the compiled core, a 3x3 kernel (of each depth tap), stride 1, dilation 1, groups=1"
# forward takes a volume (rank 3) as it lies: its depth taps join the channels of one 2-D
# Winograd's products, read through a plane map as direct reads them (winograd_kernel.h)
VOLUMES = True
ERROR_BOUND_F32 = 1e-5  # max |y - y_exact| / max |y_exact|, float32 (tested)
# a task's tiles are whole multiples of this: whole 6- and 12-tile register tiles (AVX2's 8 leave
# a remainder, run one tile at a time)
TILES_PER_CHUNK = 12

# FMA issue slots a tile's transform takes per channel vector, each way: ~240 vector operations
# (36 loads, 12 six-point transforms, 36 stores in; 36 loads, 10 transforms, 16 stores out),
# measured at ~450 cycles (res3x3a on one core: 4.5 of 11.3 ms; the loads of x and the stores
# of y wait on memory), priced at that
TRANSFORM_SLOTS = 900
BLOCK_BYTES = 1 << 20  # V and M of a block (CL_WINO_BLOCK_BYTES in winograd_kernel.h)
# Tiles from which the weight gradient runs on Winograd rather than direct: each worker's
# 36 x C x O sums are zeroed, added and mapped whatever the batch (64 -> 64 channels, 2 workers,
# measured: 32 tiles 0.54 ms against direct's 0.32, 128 tiles 0.84 against 1.0, 3136 tiles
# 9.6 against 22)
WGRAD_MIN_TILES = 128


def supports(p: ConvProblem) -> bool:
    """An image's 3x3 stride-1 conv, or a volume's whose every depth tap is one (any depth
    stride, dilation and padding)."""
    return (native.available() and p.rank in (2, 3) and p.w_shape[-4:-2] == (3, 3)
            and p.geom.stride[-2:] == (1, 1) and p.geom.dilation[-2:] == (1, 1)
            and p.groups == 1)


def tiles(p: ConvProblem) -> int:
    """Tiles of the call: one per 4x4 block of outputs (the last row and column may stick
    out), over the batch (and a volume's output planes)."""
    return p.x_shape[0] * image_tiles(p)


def image_tiles(p: ConvProblem) -> int:
    """Tiles of one image (of every output plane of a volume)."""
    ho, wo = p.geom.out_shape[-2:]
    return math.prod(p.y_shape[1:-3]) * -(-ho // 4) * -(-wo // 4)


def cost(p: ConvProblem) -> Cost:
    c, o = p.w_shape[-2:]
    t = tiles(p)
    nv, pix = direct.tile(p, dot=False)
    lanes = _native.core.lanes(p.dtype.itemsize)
    kp = -(-o // (nv * lanes)) * nv * lanes
    excess = max(1.0, (nv + pix) / (pix * nv))
    products = 2 * 36 * t * c * kp * excess
    vectors = t * (-(-c // lanes) + -(-o // lanes))  # a tile's channel vectors in and out
    transforms = 2 * lanes * TRANSFORM_SLOTS * vectors
    # the kernel's transform, written once a call (256 -> 256 channels: 9 MiB, as much time as
    # the products of a 2x14x14 batch); the blocks then read it from L2 or L3, behind the
    # products
    u_bytes = 36 * c * kp * p.dtype.itemsize
    return Cost(
        flops=2 * 36 * t * c * o, gemm_flops=0, gemm_mkn=(1, 1, 1), bytes_moved=u_bytes,
        workspace=scheduler.workers() * BLOCK_BYTES + u_bytes, calls=10,
        kernel_flops=int(products + transforms),
        summary=f"winograd_f4: compiled F(4x4,3x3) {native.kernel_name('winograd', p)}, "
                f"36 products ({t} tiles x {c}) @ ({c} x {o}) on {pix}x{nv * lanes} register "
                f"tiles, 4x fewer multiplications than direct",
    )


def packed_channels(p: ConvProblem) -> int:
    """The products' reduction length: the input channels, of every depth tap of a volume."""
    return math.prod(p.w_shape[:-4]) * p.w_shape[-2]


def pack(w: np.ndarray, bias: np.ndarray | None, p: ConvProblem, block: int
         ) -> tuple[np.ndarray, np.ndarray | None]:
    """HWIO ``w`` (3, 3, C, O) as its transform ``U = G w G^T`` packed ``(nob, 36, C, block)``
    and ``bias`` as ``(nob * block,)``, zero-filled past O (``block``: a register tile's
    output channels). The transform runs in the compiled core, in float64, on the workers.
    A volume's ``(kd, 3, 3, C, O)`` is packed as ``(3, 3, kd * C, O)``: its depth taps'
    channels in turn, as the kernel's input transform lays them out."""
    c, o = packed_channels(p), p.w_shape[-1]
    nob = -(-o // block)
    packed = native.aligned_empty((nob, 36, c, block), p.dtype)
    if o % block:
        packed[-1].fill(0)
    w = np.ascontiguousarray(w, p.dtype)
    native.run(lambda o0, o1: _native.core.winograd_pack(w, packed, block, o0, o1),
               native.ranges(o, 36 * 9 * c, block))
    if bias is None:
        return packed, None
    b = native.aligned_zeros((nob * block,), p.dtype)
    b[:o] = bias
    return packed, b


def bind(w: np.ndarray, p: ConvProblem, bias: np.ndarray | None = None) -> native.Bound:
    """The kernel of ``p`` with ``w``'s transform (and ``bias``) packed: items are tiles; a
    run reports False when an output it wrote is not finite (see the module's docstring)."""
    nv, _ = direct.tile(p, dot=False)
    packed, b = pack(w, bias, p, nv * _native.core.lanes(p.dtype.itemsize))
    rows, cols = native.maps(p)
    plane_map = native.plane_map(p)

    def run(x: np.ndarray, y: np.ndarray, n: int, t0: int, t1: int, chunk: int = 0,
            workers: int = 1, planar: bool = False) -> bool:
        return _native.core.winograd(x, packed, b, y, rows, cols, native.geometry(p, n), nv,
                                     t0, t1, plane_map, chunk, workers, planar)

    # a tile's products: kd * C by O
    return native.Bound(run, image_tiles(p), 36 * packed_channels(p) * p.w_shape[-1])


def forward(x: np.ndarray, w: np.ndarray, p: ConvProblem,
            bias: np.ndarray | None = None) -> np.ndarray:
    """``(N, H, W, C) * (3, 3, C, O) -> (N, Ho, Wo, O)``, bias added, in ``p.dtype``; or a
    volume ``(N, D, H, W, C) * (kd, 3, 3, C, O) -> (N, Do, Ho, Wo, O)``."""
    kernel = bind(w, p, bias)
    y = np.empty(p.y_shape, p.dtype)
    n = p.x_shape[0]
    finite = native.region(
        lambda t0, t1, chunk, workers: kernel.run(x, y, n, t0, t1, chunk, workers),
        native.ranges(tiles(p), kernel.macs, TILES_PER_CHUNK))
    if finite:
        return y
    return direct.forward(x, w, p, bias)  # an Inf, a NaN or an overflow: see the docstring


def backward_weight(gy: np.ndarray, x: np.ndarray, p: ConvProblem) -> np.ndarray:
    """``grad_w`` (3, 3, C, O) HWIO from NHWC ``gy`` (N, Ho, Wo, O) and ``x`` (N, H, W, C); a
    volume's is (kd, 3, 3, C, O). By Winograd F(3x3, 4x4) over grad_y's 4x4 tiles: each worker adds
    its tiles' 36 products into its own sums ``M''`` (36, kd*C, O); their total's map to the
    3x3 taps, ``G^T M'' G``, runs in float64.

    Direct's compiled weight gradient runs instead on few tiles (``WGRAD_MIN_TILES``), when
    the workers' sums would pass the workspace limit, and when the result is not finite (an
    Inf or NaN spread by a transform, or an overflow): it sums exactly the definition's
    products."""
    cn, o = packed_channels(p), p.w_shape[-1]
    nv, _ = direct.tile(p, dot=False)
    block = nv * _native.core.lanes(p.dtype.itemsize)
    kp = -(-o // block) * block
    sums_bytes = scheduler.workers() * 36 * cn * kp * p.dtype.itemsize
    if tiles(p) < WGRAD_MIN_TILES or sums_bytes > get_workspace_limit():
        return direct.backward_weight(gy, x, p)
    rows, cols = native.maps(p)
    geometry = native.geometry(p)
    plane_map = native.plane_map(p)
    gy = np.ascontiguousarray(gy, p.dtype)
    m = native.summed(
        lambda out, t0, t1: _native.core.winograd_wgrad(x, out, None, gy, rows, cols, geometry,
                                                        nv, t0, t1, plane_map),
        native.ranges(tiles(p), 36 * cn * o, TILES_PER_CHUNK), (36, cn, kp), p.dtype)
    gw = np.empty(p.w_shape, p.dtype)
    native.run(lambda o0, o1: _native.core.winograd_unpack(gw, m, kp, o0, o1),
               native.ranges(o, 36 * 9 * cn, block))
    return gw if all_finite(gw) else direct.backward_weight(gy, x, p)
