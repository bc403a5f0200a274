"""Every rank on the rank-2 engine: a conv of rank 1 or 3+ as a conv of rank 2, and back.

One code path computes every rank (``ops/engine.py``, the algorithms and the compiled kernels
all work on images); this module maps the other ranks onto it, exactly:

- **rank 1** (signals, ``(N, L, C)``): an image of one row, ``(N, 1, L, C)``, with a kernel of
  one row; every array maps by a view, nothing is copied.
- **rank r >= 3** (volumes ``(N, D, H, W, C)``, ...): the first spatial axis is unfolded into
  the channels. Output plane ``od`` reads input planes ``od*sd + a*dd`` (padded) for the ``kd``
  depth taps ``a``; stacking those ``kd`` planes as channels gives a rank ``r - 1`` problem of
  ``N * Do`` examples with ``kd * C / groups`` channels a group, whose kernel is ``w`` with its
  depth taps moved next to its input channels. The sum over depth taps becomes part of the sum
  over channels, so the rank-2 kernel keeps a tile's accumulators in registers over all
  ``kd * kh * kw * C`` terms. A plane that depth padding adds is gathered through the padding's
  index map (any mode), and a zero plane is a real zero. ``grad_x`` folds the unfolded
  gradient back through the same map (the gather's adjoint), ``grad_w`` moves the depth taps
  back, ``grad_y`` and the output map by reshapes.

The unfolded input is ``kd * Do / D`` times the input's size (3x for a "same" 3x3x3 conv).
A volume (rank 3) whose rank-2 problem gets an algorithm that reads volumes as they lie
(``VOLUMES``: the compiled direct, Winograd and stencil kernels, which take the depth taps
through a plane map) runs on the volume itself: the same arithmetic, no unfolded copy. A 3-D
filter (one channel in, few out: a Gaussian on a CT scan) is such a problem for the stencil
kernel: its ``kd`` depth taps are ``kd`` channels of the rank-2 problem, each output row summing
all ``kd * kh * kw`` taps of the planes it reads in registers.
"""

from __future__ import annotations

import numpy as np

from convolab.algorithms import REGISTRY, ConvProblem
from convolab.ops import engine
from convolab.padding import index_map
from convolab.shapes import ConvGeometry


def _geometry(g: ConvGeometry, axes: slice, *, prefix: tuple = ()) -> ConvGeometry:
    """``g`` restricted to spatial ``axes``, after ``prefix`` (one unit axis for rank 1)."""
    return ConvGeometry(
        prefix + g.in_shape[axes], prefix + g.kernel_shape[axes], prefix + g.stride[axes],
        prefix + g.dilation[axes], (((0, 0),) if prefix else ()) + g.pads[axes],
    )


def lifted(p: ConvProblem) -> ConvProblem:
    """A rank-1 problem as an image of one row: ``(N, L, C) -> (N, 1, L, C)``."""
    n, length, c = p.x_shape
    return ConvProblem((n, 1, length, c), (1, *p.w_shape), _geometry(p.geom, slice(0, 1),
                       prefix=(1,)), p.groups, p.padding_mode, p.dtype)


def unfolded(p: ConvProblem) -> ConvProblem:
    """A rank-r problem (r >= 3) as rank r - 1: depth taps stacked into the channels."""
    n, c = p.x_shape[0], p.x_shape[-1]
    kd, cg, o = p.w_shape[0], p.w_shape[-2], p.w_shape[-1]
    do = p.geom.out_shape[0]
    return ConvProblem((n * do, *p.x_shape[2:-1], c * kd), (*p.w_shape[1:-2], kd * cg, o),
                       _geometry(p.geom, slice(1, None)), p.groups, p.padding_mode, p.dtype)


def depth_sources(p: ConvProblem) -> np.ndarray:
    """``(Do, kd)``: the input plane output plane ``od`` reads at depth tap ``a``, or -1 for a
    zero plane (the padding's index map at ``od*sd + a*dd``)."""
    (before, after), d = p.geom.pads[0], p.x_shape[1]
    planes = index_map(d, before, after, p.padding_mode)
    od = np.arange(p.geom.out_shape[0])[:, None]
    a = np.arange(p.w_shape[0])[None, :]
    return planes[od * p.geom.stride[0] + a * p.geom.dilation[0]]


def unfold_input(x: np.ndarray, p: ConvProblem) -> np.ndarray:
    """``x`` (N, D, *rest, C) as ``(N * Do, *rest, G * kd * Cg)``: for each output plane, the
    ``kd`` input planes it reads, each group's channels ordered (tap, channel)."""
    n, c = x.shape[0], x.shape[-1]
    g, kd = p.groups, p.w_shape[0]
    src = depth_sources(p)
    do = src.shape[0]
    rest = x.shape[2:-1]
    out = np.zeros((n, do, *rest, g, kd, c // g), x.dtype)
    for a in range(kd):
        valid = src[:, a] >= 0
        tap = out[..., a, :]  # (N, Do, *rest, G, Cg), a view
        tap[:, valid] = x[:, src[valid, a]].reshape(n, int(valid.sum()), *rest, g, c // g)
    return out.reshape(n * do, *rest, c * kd)


def fold_input_gradient(gxu: np.ndarray, p: ConvProblem) -> np.ndarray:
    """Adjoint of :func:`unfold_input`: ``(N * Do, *rest, G * kd * Cg)`` onto ``(N, D, *rest,
    C)``, each unfolded plane added to the input plane it copied."""
    n, c = p.x_shape[0], p.x_shape[-1]
    g, kd = p.groups, p.w_shape[0]
    src = depth_sources(p)
    rest = p.x_shape[2:-1]
    parts = gxu.reshape(n, src.shape[0], *rest, g, kd, c // g)
    gx = np.zeros(p.x_shape, gxu.dtype)
    planes = gx.reshape(n, p.x_shape[1], *rest, g, c // g)
    for od, a in zip(*np.nonzero(src >= 0)):  # a plane may feed several taps: add each
        planes[:, src[od, a]] += parts[:, od, ..., a, :]
    return gx


def unfold_kernel(w: np.ndarray) -> np.ndarray:
    """``(kd, *k, Cg, O)`` as ``(*k, kd * Cg, O)``: depth taps beside the input channels."""
    kd, cg, o = w.shape[0], w.shape[-2], w.shape[-1]
    return np.ascontiguousarray(np.moveaxis(w, 0, -3)).reshape(*w.shape[1:-2], kd * cg, o)


def fold_kernel(wu: np.ndarray, p: ConvProblem) -> np.ndarray:
    """Inverse of :func:`unfold_kernel`, for ``grad_w``."""
    kd, cg, o = p.w_shape[0], p.w_shape[-2], p.w_shape[-1]
    return np.ascontiguousarray(np.moveaxis(wu.reshape(*wu.shape[:-2], kd, cg, o), -3, 0))


def _reads_volumes(name: str, p: ConvProblem) -> bool:
    """Whether algorithm ``name`` computes the volume ``p`` as it lies (rank 3 only)."""
    return p.rank == 3 and getattr(REGISTRY.get(name), "VOLUMES", False)


def gradient_problem(p: ConvProblem) -> ConvProblem:
    """The rank-2 problem whose gradients compute ``p``'s (lifted or unfolded: the depth taps
    stay in the channels, so ``grad_w`` is the unfolded kernel's)."""
    while p.rank != 2:
        p = lifted(p) if p.rank == 1 else unfolded(p)
    return p


def engine_problem(p: ConvProblem) -> ConvProblem:
    """The rank-2 problem that computes ``p``'s forward conv."""
    while p.rank != 2:
        p = lifted(p) if p.rank == 1 else unfolded(p)
    return p


def forward(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, p: ConvProblem,
            name: str) -> np.ndarray:
    """``y`` (N, *out, O) of canonical ``x`` (N, *spatial, C) and ``w`` (*kernel, Cg, O), by
    the algorithm ``name`` that ``select.choose`` gave :func:`engine_problem` of ``p``."""
    if p.rank == 2:
        return engine.forward(x, w, bias, p, name)
    if p.rank == 1:
        return forward(x[:, None], w[None], bias, lifted(p), name)[:, 0]
    if _reads_volumes(name, p):
        return engine.forward(x, w, bias, p, name)
    q = unfolded(p)
    return forward(unfold_input(x, p), unfold_kernel(w), bias, q, name).reshape(p.y_shape)


def input_gradient(gy: np.ndarray, w: np.ndarray, p: ConvProblem,
                   algorithm: str = "auto") -> np.ndarray:
    """``grad_x`` (N, *spatial, C) from ``gy`` (N, *out, O) and ``w`` (*kernel, Cg, O)."""
    if p.rank == 2:
        return engine.input_gradient(gy, w, p, algorithm)
    if p.rank == 1:
        return input_gradient(gy[:, None], w[None], lifted(p), algorithm)[:, 0]
    q = unfolded(p)
    gxu = input_gradient(gy.reshape(q.y_shape), unfold_kernel(w), q, algorithm)
    return fold_input_gradient(gxu, p)


def weight_gradient(gy: np.ndarray, x: np.ndarray, p: ConvProblem, algorithm: str = "auto",
                    *, bias: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """``grad_w`` (*kernel, Cg, O) from ``gy`` (N, *out, O) and ``x`` (N, *spatial, C), and
    with ``bias`` ``grad_b`` (O,) (else None; the sums of ``gy``, which the lowered problems'
    ``gy`` holds too)."""
    if p.rank == 2:
        return engine.weight_gradient(gy, x, p, algorithm, bias=bias)
    if p.rank == 1:
        gw, gb = weight_gradient(gy[:, None], x[:, None], lifted(p), algorithm, bias=bias)
        return gw[0], gb
    if _reads_volumes(engine.weight_gradient_algorithm(gradient_problem(p), algorithm), p):
        return engine.weight_gradient(gy, x, p, algorithm, gradient_problem(p), bias=bias)
    q = unfolded(p)
    gwu, gb = weight_gradient(gy.reshape(q.y_shape), unfold_input(x, p), q, algorithm,
                              bias=bias)
    return fold_kernel(gwu, p), gb
