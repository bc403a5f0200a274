"""Few output channels by the compiled core: pixels in SIMD lanes, the image streamed once.

``corr2d``, ``convolve2d``, the CLI's ``filter`` (per colour channel) and the Dask path run
``(N, H, W, 1) * (kh, kw, 1, 1)`` convs; LeNet's first layer is ``(N, 28, 28, 1) * (5, 5, 1,
6)``, and the input gradients of LeNet's layers are ``6 -> 1`` and ``16 -> 6`` convs. The
kernel (``_native/stencil_kernel.h``) copies each input row once into a ring of padded rows
(one plane per input channel) and sums whole vectors of them per tap and channel, one load
serving every output channel (up to ``MAX_OUTPUTS``), so it reads the image once and writes
the output once: memory-bound for small one-channel kernels, as OpenCV's ``filter2D`` is, and
with several input channels every lane an output pixel, where direct's tiles would hold few
output channels in many lanes. Any padding mode, vertical stride and dilation; horizontal
stride 1 (the vectors run along the row). Multiplies exactly the definition's products.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from convolab import _native
from convolab.algorithms import direct, direct_depthwise, native, scheduler
from convolab.algorithms.cost import Cost
from convolab.algorithms.problem import ConvProblem

NAME = "direct_stencil"
MAX_OUTPUTS = 8  # output channels the kernel holds in registers
MAX_INPUTS = 64  # input channels: the ring holds span + stride padded rows of each, in L2
REQUIRES = (f"the compiled core, horizontal stride 1, and groups 1 with at most {MAX_INPUTS} "
            f"input and {MAX_OUTPUTS} output channels, or a depthwise conv of at most "
            f"{MAX_OUTPUTS} channels")
MIN_ROWS = 16  # output rows a task, at least
# forward also takes a volume (rank 3) as it lies: each output plane's depth taps join the
# channels of the ring, read through a plane map (``_native/direct.h``), so a 3-D filter sums
# all kd * kh * kw taps in registers with no unfolded copy and no filtered planes to add
VOLUMES = True


def _per_plane(p: ConvProblem) -> bool:
    """A depthwise conv of a few channels (an RGB image filtered channel by channel), run as
    one-channel filters, plane by plane: 4096x4096x3, 5x5, 0.6 s against 2.6 for the depthwise
    kernel, whose vectors of channels are mostly empty (3 of 16 lanes)."""
    c = p.x_shape[-1]
    return 1 < c <= MAX_OUTPUTS and p.groups == c == p.w_shape[-1]


def _few_channels(p: ConvProblem) -> bool:
    """One kernel for all channels (groups 1), few of them: what the kernel computes as it
    lies."""
    return p.groups == 1 and p.x_shape[-1] <= MAX_INPUTS and p.w_shape[-1] <= MAX_OUTPUTS


def supports(p: ConvProblem) -> bool:
    fits = _few_channels(p) or _per_plane(p)
    return native.available() and fits and p.geom.stride[1] == 1


def _plane(p: ConvProblem) -> ConvProblem:
    """One channel's problem of a per-plane depthwise conv (of an image or a volume)."""
    return dataclasses.replace(p, x_shape=(*p.x_shape[:-1], 1), w_shape=(*p.w_shape[:-2], 1, 1),
                               groups=1)


def cost(p: ConvProblem) -> Cost:
    if _per_plane(p):  # each plane's filter, and a strided copy of each plane in and out
        one, c = cost(_plane(p)), p.x_shape[3]
        item = p.dtype.itemsize
        copies = 2 * (p.x_shape[0] * p.x_shape[1] * p.x_shape[2] + p.y_shape[0] * p.y_shape[1]
                      * p.y_shape[2]) * item
        return dataclasses.replace(
            one, flops=p.flops, bytes_moved=c * one.bytes_moved + 2 * copies,
            calls=c * (one.calls + 2), kernel_flops=c * one.kernel_flops,
            summary=f"direct_stencil: {c} planes, each by the compiled one-channel filter "
                    f"({native.kernel_name('stencil', p)})")
    kh, kw, c, o = p.w_shape
    n, ho, wo, _ = p.y_shape
    item = p.dtype.itemsize
    pixels = n * ho * wo
    # per tap, channel and vector: an unaligned load and an FMA per output channel, plus
    # broadcasts; the loads straddle cache lines and bound it: measured ~3 FMA-times a tap for
    # one output (1024x1024 31x31: 18 ms on 2 cores, where FFT takes 15); interleaving several
    # output channels on the way out costs a scalar store each, and deinterleaving several
    # input channels into the ring a scalar move per value and kernel row
    fmas = (pixels * kh * kw * c * (2 + o) + (pixels * o * 16 if o > 1 else 0)
            + (pixels * kh * c * 16 if c > 1 else 0))
    return Cost(
        flops=p.flops, gemm_flops=0, gemm_mkn=(1, 1, 1),
        # the image read once (and copied into the ring, in cache), the output written once
        bytes_moved=(2 * n * p.x_shape[1] * p.x_shape[2] * c + pixels * o) * item,
        workspace=((kh - 1) * p.geom.dilation[0] + 1 + p.geom.stride[0])
        * (p.geom.padded_shape[1] + 64) * c * item
        * min(scheduler.workers(), max(1, n * ho // MIN_ROWS)),
        calls=6, kernel_flops=2 * fmas,
        summary=f"direct_stencil: compiled {native.kernel_name('stencil', p)}, pixels in SIMD "
                "lanes, each input row read once",
    )


def forward(x: np.ndarray, w: np.ndarray, p: ConvProblem,
            bias: np.ndarray | None = None) -> np.ndarray:
    """``(N, H, W, C) * (kh, kw, C, O) -> (N, Ho, Wo, O)`` (or depthwise ``(N, H, W, C) *
    (kh, kw, 1, C)``, plane by plane), bias added, in ``p.dtype``; or a volume ``(N, D, H, W,
    C) * (kd, kh, kw, C, O) -> (N, Do, Ho, Wo, O)``."""
    if _per_plane(p):
        y = np.empty(p.y_shape, p.dtype)
        plane = _plane(p)
        for c in range(p.x_shape[-1]):
            b = None if bias is None else bias[c : c + 1]
            y[..., c] = forward(np.ascontiguousarray(x[..., c : c + 1]),
                                np.ascontiguousarray(w[..., c : c + 1]), plane, b)[..., 0]
        return y
    y = np.empty(p.y_shape, p.dtype)
    rows, cols = native.maps(p)
    geometry = native.geometry(p)
    plane_map = native.plane_map(p)
    # (kd, kh, kw, C, O) -> (kh, kw, kd * C, O): the ring's planes, depth tap by depth tap
    k = np.ascontiguousarray(np.moveaxis(w, 0, -3) if p.rank == 3 else w, p.dtype)
    flat = p.x_shape[-1] == p.w_shape[-1] == 1 and reads_flat(p)  # an image's planes, flat
    kernel = _native.core.plane_stencil if flat else _native.core.stencil
    native.region(lambda q0, q1, chunk, workers: kernel(
        x, k, bias, y, rows, cols, geometry, 0, q0, q1, plane_map, chunk, workers),
        _row_ranges(p))
    return y


def _row_ranges(p: ConvProblem) -> list[tuple[int, int]]:
    """Ranges of whole output rows of the flat (N, Ho, Wo) grid (a volume's N * Do output
    planes), at least ``MIN_ROWS`` rows a task (one task for small work)."""
    n, ho, wo = math.prod(p.y_shape[:-3]), *p.y_shape[-3:-1]
    tasks = n * ho // MIN_ROWS if n * ho * wo * math.prod(p.w_shape) >= native.SERIAL_MACS else 1
    tasks = max(1, min(tasks, scheduler.workers() * native.TASKS_PER_WORKER))
    per = -(-n * ho // tasks)
    return [(r * wo, min(n * ho, r + per) * wo) for r in range(0, n * ho, per)]


def backward_weight(gy: np.ndarray, x: np.ndarray, p: ConvProblem) -> np.ndarray:
    """``grad_w`` (kh, kw, 1, O) by the compiled one-channel weight gradient
    (``stencil_wgrad``: an output row of ``gy`` and each input row expanded to its
    interleaving make every tap one run of vector FMAs); a per-plane conv by the depthwise
    kernel's. LeNet's first layer (256x28x28, 5x5, 6 outputs): ~1 ms on 2 cores, where
    toeplitz's banded GEMMs took 3.5 and direct's weight-gradient kernel 9. Several input
    channels, or a volume: direct's weight-gradient kernel."""
    if _per_plane(p):
        return direct_depthwise.backward_weight(gy, x, p)
    if p.x_shape[-1] > 1 or p.rank == 3:
        return direct.backward_weight(gy, x, p)
    kh, kw, _, o = p.w_shape
    rows, cols = native.maps(p)
    geometry = native.geometry(p)
    gy = np.ascontiguousarray(gy, p.dtype)
    gw = native.summed(
        lambda out, q0, q1: _native.core.stencil_wgrad(x, out, None, gy, rows, cols, geometry,
                                                       0, q0, q1),
        _row_ranges(p), (kh, kw, o), p.dtype)
    return gw.reshape(p.w_shape)


def reads_channels_first(p: ConvProblem) -> bool:
    """Whether :func:`channels_first` runs ``p`` on the NCHW array as it lies: a depthwise conv
    without channel multiplier, or one input channel with up to ``MAX_OUTPUTS`` outputs; at
    horizontal stride 1, on the compiled core."""
    c, o = p.x_shape[3], p.w_shape[3]
    fits = (p.groups == c == o and c > 1) or (c == 1 and o <= MAX_OUTPUTS)
    return native.available() and fits and p.geom.stride[1] == 1


def channels_first(x: np.ndarray, w: np.ndarray, p: ConvProblem,
                   bias: np.ndarray | None = None) -> np.ndarray:
    """An NCHW conv that :func:`reads_channels_first`, with neither the input nor the output
    transposed (for a memory-bound layer the two transposes tripled the time).

    ``x`` (N, C, H, W) C-contiguous in ``p.dtype``, ``w`` HWIO (kh, kw, 1, O); ``p`` the NHWC
    problem. Returns (N, O, Ho, Wo). A depthwise conv is N*C one-channel images, image
    ``n*C + c`` filtered by channel ``c``'s kernel; one input channel (N, 1, H, W) lies as
    (N, H, W, 1) does, and the kernel writes each output channel's plane.
    """
    n, h, wd, c = p.x_shape
    kh, kw, _, o = p.w_shape
    ho, wo = p.geom.out_shape
    b = None if bias is None else np.ascontiguousarray(bias, p.dtype)
    if c == o == 1 and reads_flat(p):  # (N, 1, H, W) lies as (N, H, W, 1) does
        return forward(x.reshape(p.x_shape), w, p, b).reshape(n, o, ho, wo)
    if c == 1:
        y = np.empty((n, o, ho, wo), p.dtype)
        rows, cols = native.maps(p)
        geometry = native.geometry(p)
        k = np.ascontiguousarray(w.reshape(kh, kw, o), p.dtype)
        native.region(lambda q0, q1, chunk, workers: _native.core.stencil_planar(
            x, k, b, y, rows, cols, geometry, 0, q0, q1, None, chunk, workers), _row_ranges(p))
        return y
    plane = dataclasses.replace(p, x_shape=(n * c, h, wd, 1), w_shape=(kh, kw, 1, 1),
                                groups=1)
    bank = np.ascontiguousarray(w.reshape(kh, kw, c).transpose(2, 0, 1), p.dtype)  # (C, kh, kw)
    y = np.empty((n * c, ho, wo, 1), p.dtype)
    rows, cols = native.maps(plane)
    geometry = native.geometry(plane)
    kernel = _native.core.plane_stencil if reads_flat(plane) else _native.core.stencil
    native.region(lambda q0, q1, chunk, workers: kernel(
        x, bank, b, y, rows, cols, geometry, c, q0, q1, None, chunk, workers),
        _row_ranges(plane))
    return y.reshape(n, c, ho, wo)


def reads_flat(p: ConvProblem) -> bool:
    """Whether the planes of image problem ``p`` (one channel and one output, or a depthwise
    conv's channels) are read flat, as one long row each (``_native/plane_kernel.h``): at
    stride 1, with zero padding that keeps the input's shape."""
    return (p.rank == 2 and p.geom.stride == (1, 1) and p.padding_mode == "zeros"
            and p.geom.out_shape == p.x_shape[1:3])
