"""How a conv call's layout is handled (``layout_route``): the caller's channels-first arrays
given to the channels-last kernels. Of the routes that never make a channels-last copy of the
whole batch, ``PLANES`` is ``direct_stencil.channels_first``, ``MATRIX`` is
``channels_first_pointwise.forward`` and ``FUSED`` is :func:`fused`; :func:`run_channels_first`
runs any of them. Each takes the caller's arrays as they are (``x`` channels-first and
C-contiguous in the compute dtype, ``w`` channels-last, a view is enough), so the repeat-call
path (``ops/small_call.py``) runs them directly, as the first call did.
"""

from __future__ import annotations

import numpy as np

from convolab.algorithms import (
    REGISTRY,
    ConvProblem,
    channels_first,
    channels_first_pointwise,
    direct,
    direct_depthwise,
    direct_stencil,
    pointwise,
)
from convolab.ops.arguments import LAST

NATIVE = "channels last: the kernels' own layout"
PLANES = ("channels first, read as it lies: N*C one-channel images (depthwise), or one input "
          "channel's outputs written plane by plane")
FUSED = ("channels first, transposed inside the work: a few whole images at a time into NHWC "
         "scratch in L2, and the result out of it (algorithms/channels_first.py)")
MATRIX = ("channels first, read as it lies: a 1x1 layer is a matrix product per image, "
          "y[n] = w @ x[n] (algorithms/channels_first_pointwise.py)")
SEPARATE = "channels first, transposed before the conv and after it, the whole batch at once"
# the routes that run on the caller's channels-first arrays (run_channels_first)
READ_AS_IS = (PLANES, MATRIX, FUSED)


def layout_route(data_format: str, p: ConvProblem, engine: ConvProblem, name: str) -> str:
    """Which of ``NATIVE``, ``PLANES``, ``MATRIX``, ``FUSED`` or ``SEPARATE`` a call of
    problem ``p`` (computed as ``engine`` by algorithm ``name``) in ``data_format`` takes;
    ``cl.plan`` says it too."""
    if data_format == LAST:
        return NATIVE
    if name in (direct.NAME, pointwise.NAME) and channels_first_pointwise.reads(p):
        return MATRIX
    if name == direct_depthwise.NAME and _fuses_small_images(p, engine):
        return FUSED
    if (p.rank == 2 and not p.empty and name in (direct_depthwise.NAME, direct_stencil.NAME)
            and direct_stencil.reads_channels_first(p)):
        return PLANES
    # a volume's engine problem is an unfolded image problem: not the caller's layout
    if p.rank <= 2 and channels_first.eligible(REGISTRY[name], engine):
        return FUSED
    return SEPARATE


# A depthwise image (input and output) up to this size is faster transposed in L2 (FUSED) than
# read as N*C planes by the row ring (PLANES), whose per-row work is large beside a small
# plane's arithmetic; past it the scratch leaves L2. Alternating runs, 16 images, 2 threads:
# 128 channels of 36x36 1.8 ms fused against 2.9 planes, 44x44 3.1 against 3.6, 56x56 5.7
# against 4.2; 512 of 14x14 1.3 against 4.4. Planes read flat (a "same" conv at stride 1)
# have no per-row work and take PLANES at any size: 128 of 36x36 1.43 against 1.65 fused,
# 256 of 28x28 1.77 against 1.92, 512 of 14x14 and 1024 of 7x7 the same.
FUSED_DEPTHWISE_BYTES = 2 << 20


def _fuses_small_images(p: ConvProblem, engine: ConvProblem) -> bool:
    """Whether a channels-first depthwise ``p`` takes ``FUSED`` rather than ``PLANES``."""
    return (p.rank == 2 and not direct_stencil.reads_flat(p)
            and channels_first.eligible(REGISTRY[direct_depthwise.NAME], engine)
            and channels_first.image_bytes(engine) <= FUSED_DEPTHWISE_BYTES)


def fused(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, p: ConvProblem,
          engine: ConvProblem, name: str) -> np.ndarray | None:
    """A ``FUSED`` call of problem ``p``: ``y`` (N, O, *out) of ``x`` (N, C, *spatial) and
    channels-last ``w`` (*k, C/G, O) by algorithm ``name`` on ``engine`` (``p`` as an image
    problem), the layout changes fused into groups of images
    (``algorithms/channels_first.py``); None when its kernel reported a non-finite output
    (the caller then runs the general path)."""
    dt = engine.dtype
    wl = np.ascontiguousarray(w, dt).reshape(engine.w_shape)
    b = None if bias is None else bias.astype(dt, copy=False)
    y = channels_first.forward(REGISTRY[name].bind(wl, engine, b), x, engine)
    return None if y is None else y.reshape(x.shape[0], engine.y_shape[-1], *p.y_shape[1:-1])


def run_channels_first(route: str, x: np.ndarray, w: np.ndarray, bias: np.ndarray | None,
                       p: ConvProblem, engine: ConvProblem, name: str) -> np.ndarray | None:
    """``y`` (N, O, *out) of a call taking ``route`` (one of ``READ_AS_IS``): ``x`` (N, C,
    *spatial) C-contiguous in the compute dtype, channels-last ``w``; None when a ``FUSED``
    kernel reported a non-finite output (the caller then runs the general path)."""
    if route == PLANES:
        return direct_stencil.channels_first(x, w, p, bias)
    if route == MATRIX:
        return channels_first_pointwise.forward(x, w, p, bias)
    return fused(x, w, bias, p, engine, name)
