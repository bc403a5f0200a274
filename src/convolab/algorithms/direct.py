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

import functools
import math
from collections.abc import Callable

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


def merged_rows(p: ConvProblem) -> bool:
    """Whether the kernel walks a kernel row as one tap of kw * C values
    (``cl_merged_rows`` in ``_native/direct.h``, which the packing follows)."""
    kw, c = p.w_shape[-3], p.x_shape[-1]
    return p.groups == 1 and p.geom.dilation[-1] == 1 and kw > 1 and kw * c <= 256


def _dot_reduction(p: ConvProblem) -> tuple[int, int]:
    """``(taps, cn)`` of the dot kernel: the taps it walks and the reduction values of each
    (it merges a kernel row only when a tap's channels fill less than one vector:
    ``cl_dot_merged_rows`` in ``_native/direct.h``)."""
    kw, cg = p.w_shape[-3], p.w_shape[-2]
    rows = math.prod(p.w_shape[:-3])  # kd * kh
    merged = merged_rows(p) and cg < _native.core.lanes(p.dtype.itemsize)
    return (rows, kw * cg) if merged else (rows * kw, cg)


def tile(p: ConvProblem, dot: bool = True) -> tuple[int, int]:
    """``(nv, pix)``: the tile shape with the fewest estimated cycles for this problem; nv = 0
    is a "dot" tile (``_native/dot_kernel.h``: the reduction in lanes, for few output
    channels), which only the forward kernel has (``dot=False`` leaves it out).

    Per input channel and tap a tile issues ``pix * nv`` FMAs and ``nv + pix`` loads; two of
    each retire a cycle, so it takes ``max(pix * nv, nv + pix) / 2`` cycles. Lanes past a
    group's channels are computed and discarded, so a wide tile on few channels wastes them.
    A dot tile of ``pix`` pixels x ``outs`` channels spends ``max(pix * outs, pix + outs) / 2``
    cycles per vector of the reduction, whose last vector of each tap may be partly empty.
    """
    return _tile(p, dot, _native.isa())


@functools.lru_cache(maxsize=1024)
def _tile(p: ConvProblem, dot: bool, isa: str) -> tuple[int, int]:
    """:func:`tile` for the instruction set running (its tiles and lanes), computed once per
    problem: a layer called over and over asks on every call."""
    lanes = _native.core.lanes(p.dtype.itemsize)
    og = p.w_shape[-1] // p.groups
    best = None
    for nv, pix in sorted(_native.core.tiles(p.dtype.itemsize).items()):
        nob = -(-og // (nv * lanes))
        cycles = nob * max(pix * nv, nv + pix) / pix  # per pixel, input channel and tap
        if best is None or cycles <= best[0]:  # a tie: the wider tile, fewer broadcasts
            best = (cycles, nv, pix)
    if dot:
        pix, outs = _native.core.dot_tile(p.dtype.itemsize)
        _, cn = _dot_reduction(p)
        nob = -(-og // outs)
        cycles = nob * -(-cn // lanes) * max(pix * outs, pix + outs) / pix / cn
        if cycles < best[0]:
            best = (cycles, 0, pix)
    return best[1], best[2]


def _tile_name(p: ConvProblem, nv: int, pix: int) -> str:
    if nv:
        return native.kernel_name("direct", p, f"{pix}x{nv}")
    return native.kernel_name("dot", p, f"{pix}x{_native.core.dot_tile(p.dtype.itemsize)[1]}")


def cost(p: ConvProblem) -> Cost:
    kh, kw, cg, o = p.w_shape[-4:]
    kh *= math.prod(p.w_shape[:-4])
    n_pixels = math.prod(p.y_shape[:-1])
    nv, pix = tile(p)
    lanes = _native.core.lanes(p.dtype.itemsize)
    if nv:
        nob = -(-(o // p.groups) // (nv * lanes))
        # every lane of every tile is computed: 2 flops per lane-FMA, plus the load-bound
        # excess
        fmas = p.groups * nob * nv * lanes * n_pixels * kh * kw * cg
        excess = max(1.0, (nv + pix) / (pix * nv))
        width = nv * lanes
        summary = f"{pix} pixels x {width} channels a tile in registers"
    else:
        outs = _native.core.dot_tile(p.dtype.itemsize)[1]
        taps, cn = _dot_reduction(p)
        nob = -(-(o // p.groups) // outs)
        fmas = p.groups * nob * outs * n_pixels * taps * -(-cn // lanes) * lanes
        excess = max(1.0, (pix + outs) / (pix * outs))
        summary = f"{pix} pixels x {outs} channels a tile, the reduction in SIMD lanes"
    # per tile and tap, pix pointer look-ups (~3 cycles each, ~ 3 * 2 * lanes flops' worth)
    setup = p.groups * nob * n_pixels * kh * kw * 6 * lanes
    return Cost(
        flops=p.flops, gemm_flops=0, gemm_mkn=(1, 1, 1),
        bytes_moved=0, workspace=p.groups * nob * lanes * kh * kw * cg * p.dtype.itemsize,
        calls=8, kernel_flops=int(2 * fmas * excess + setup),
        summary=f"direct: compiled {_tile_name(p, nv, pix)}, {summary}",
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
    if g == 1 and og == block:  # one block, filled: HWIO is the packing (~7 -> 1 us a call)
        return (np.ascontiguousarray(w, p.dtype).reshape(1, 1, kh, kw, cg, block),
                None if bias is None else np.ascontiguousarray(bias, p.dtype).reshape(1, block))
    packed = native.aligned_zeros((g, nob, kh, kw, cg, block), p.dtype)
    # (kh, kw, Cg, O) -> (G, nob, kh, kw, Cg, block), by output channel blocks
    wg = w.reshape(kh, kw, cg, g, og).transpose(3, 0, 1, 2, 4)  # (G, kh, kw, Cg, og)
    for k in range(nob):
        part = wg[..., k * block:(k + 1) * block]
        packed[:, k, ..., :part.shape[-1]] = part
    if bias is None:
        return packed, None
    b = np.zeros((g, nob * block), p.dtype)  # read once a tile: its alignment does not matter
    b[:, :og] = bias.reshape(g, og)
    return packed, b


def pack_dot(w: np.ndarray, p: ConvProblem) -> np.ndarray:
    """HWIO ``w`` for dot tiles: ``(G, nob, taps, outs, cnp)``, per tap and output channel its
    ``cn`` reduction values (a merged kernel row's ``kw * Cg``, else ``Cg``) zero-filled to
    ``cnp``, a whole number of vectors, and past each group's last output channel."""
    lanes = _native.core.lanes(p.dtype.itemsize)
    outs = _native.core.dot_tile(p.dtype.itemsize)[1]
    taps, cn = _dot_reduction(p)
    g, og = p.groups, p.w_shape[-1] // p.groups
    nob = -(-og // outs)
    # (..., kw, Cg, O) -> (G, taps, cn, og): a tap's values in HWIO order, as the input's
    red = w.reshape(-1, p.w_shape[-3], p.w_shape[-2], g, og).transpose(3, 0, 1, 2, 4)
    red = red.reshape(g, taps, cn, og)
    packed = native.aligned_zeros((g, nob, taps, outs, -(-cn // lanes) * lanes), p.dtype)
    for k in range(nob):
        part = red[..., k * outs:(k + 1) * outs]  # (G, taps, cn, <= outs)
        packed[:, k, :, :part.shape[-1], :cn] = part.transpose(0, 1, 3, 2)
    return packed


def binder(p: ConvProblem) -> Callable[[np.ndarray, np.ndarray | None], native.Bound]:
    """:func:`bind` for ``p`` with what depends on ``p`` alone found once (the tile, the index
    maps, the geometry of ``p``'s batch): ``bind_weights(w, bias)`` only packs them."""
    nv, _ = tile(p)
    rows, cols = native.maps(p)
    plane_map = native.plane_map(p)
    batch, geometry = p.x_shape[0], native.geometry(p)

    def bind_weights(w: np.ndarray, bias: np.ndarray | None = None) -> native.Bound:
        if nv:
            packed, b = pack(w, bias, p, nv * _native.core.lanes(p.dtype.itemsize))
        else:
            packed = pack_dot(w, p)
            b = None if bias is None else np.ascontiguousarray(bias, p.dtype)

        def run(x: np.ndarray, y: np.ndarray, n: int, q0: int, q1: int, chunk: int = 0,
                workers: int = 1, planar: bool = False,
                placement: tuple[int, int, int, int] | None = None) -> bool:
            images = geometry if n == batch else native.geometry(p, n)
            _native.core.direct(x, packed, b, y, rows, cols, images, nv, q0, q1, plane_map,
                                chunk, workers, planar, placement)
            return True

        return native.Bound(run, math.prod(p.y_shape[1:-1]), math.prod(p.w_shape))

    return bind_weights


def bind(w: np.ndarray, p: ConvProblem, bias: np.ndarray | None = None) -> native.Bound:
    """The kernel of ``p`` with HWIO ``w`` (and ``bias``) packed: items are output pixels."""
    return binder(p)(w, bias)


def prepared(p: ConvProblem) -> Callable[[np.ndarray, np.ndarray, np.ndarray | None],
                                         np.ndarray] | None:
    """:func:`forward` for ``p`` with what depends on ``p`` alone found once (:func:`binder`,
    and the tasks): ``run(x, w, bias)`` then only packs the weights, allocates ``y`` and runs
    the kernel. A remembered call takes it (``ops/small_call.py``): right after a big layer's
    kernel, the CPU's caches hold none of the Python's state, and its ~10 calls down to the
    kernel cost a 7x7 stem's ~0.1 ms. None for dot tiles (a 1x1 layer's, a few output
    channels': their layers' Python is a smaller share) and for a problem with no pixel to
    read."""
    if not tile(p)[0] or p.empty:
        return None
    bind_weights = binder(p)
    tasks = native.pixel_ranges(p, math.prod(p.w_shape))

    def run(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
        y = np.empty(p.y_shape, p.dtype)
        _run(bind_weights(w, bias), x, y, p, tasks=tasks)
        return y

    return run


def forward(x: np.ndarray, w: np.ndarray, p: ConvProblem,
            bias: np.ndarray | None = None) -> np.ndarray:
    """``(N, H, W, C) * (kh, kw, C/G, O) -> (N, Ho, Wo, O)``, bias added, in ``p.dtype``; or a
    volume ``(N, D, H, W, C) * (kd, kh, kw, C/G, O) -> (N, Do, Ho, Wo, O)``."""
    y = np.empty(p.y_shape, p.dtype)
    _run(bind(w, p, bias), x, y, p)
    return y


def _run(kernel: native.Bound, x: np.ndarray, y: np.ndarray, p: ConvProblem,
         placement: tuple[int, int, int, int] | None = None,
         tasks: native.Ranges | None = None) -> None:
    """``kernel`` over every output pixel of ``p`` on the native pool, into ``y`` (at
    ``placement``, if given). The tasks (``p``'s pixel ranges unless given) only decide how
    many threads: the pool's threads claim guided shares of the pixels
    (``_native/region.h``)."""
    n = p.x_shape[0]
    native.region(lambda q0, q1, chunk, workers: kernel.run(x, y, n, q0, q1, chunk, workers,
                                                            placement=placement),
                  native.pixel_ranges(p, kernel.macs) if tasks is None else tasks)


def forward_into(x: np.ndarray, w: np.ndarray, p: ConvProblem, base: np.ndarray,
                 out: np.ndarray) -> None:
    """:func:`forward` (no bias) written into ``out`` (N, Ho, Wo, O), a view of the
    C-contiguous ``base`` with contiguous channels (every sh-th row and sw-th column of
    ``grad_x``, a stride's phase of an input gradient): the tiles store each pixel where
    ``out`` has it, so no output is made and copied. Dot tiles store only a whole ``y``:
    theirs is copied."""
    if not tile(p)[0]:
        out[...] = forward(x, w, p)
        return
    _run(bind(w, p), x, base, p, native.placement(base, out))


def backward_weight(gy: np.ndarray, x: np.ndarray, p: ConvProblem) -> np.ndarray:
    """``grad_w`` (kh, kw, C/G, O) HWIO from NHWC ``gy`` (N, Ho, Wo, O) and ``x``, by the
    compiled weight-gradient kernel: each worker sums its pixel ranges into its own packed
    gradient, and the partial gradients are added here. A volume's is (kd, kh, kw, C/G, O)."""
    kh, kw, cg, o = p.w_shape[-4:]
    kh *= math.prod(p.w_shape[:-4])  # a volume's depth taps' rows in turn
    g = p.groups
    og = o // g
    nv, _ = tile(p, dot=False)  # the weight gradient's kernel has no dot tiles
    block = nv * _native.core.lanes(p.dtype.itemsize)
    nob = -(-og // block)
    rows, cols = native.maps(p)
    geometry = native.geometry(p)
    plane_map = native.plane_map(p)
    gy = np.ascontiguousarray(gy, p.dtype)
    gw = native.summed(
        lambda out, q0, q1: _native.core.wgrad(x, out, None, gy, rows, cols, geometry, nv,
                                               q0, q1, plane_map),
        native.pixel_ranges(p, kh * kw * cg * o), (g, nob, kh * kw, cg, block), p.dtype)
    # (G, nob, kh*kw, Cg, block) -> (kh, kw, Cg, G, nob*block) -> the first og of each group
    gw = gw.reshape(g, nob, kh, kw, cg, block).transpose(2, 3, 4, 0, 1, 5)
    return np.ascontiguousarray(gw.reshape(kh, kw, cg, g, nob * block)[..., :og]
                                .reshape(p.w_shape))
