"""Fast conv algorithms, one file each, all computing the same function as ``reference``.

Each algorithm module has ``NAME`` and ``forward(x, w, problem, bias=None) -> y`` (see
``problem.py`` for what it may assume; the algorithm adds the bias, block by block).
``REGISTRY`` maps names to modules; ``select`` chooses among them. ``INPUT_GRADIENT`` holds the
modules that compute only ``grad_x`` (``backward_input``), which
``select.choose_input_gradient`` weighs beside the conv algorithms' own ways.
"""

from __future__ import annotations

from types import ModuleType

from convolab.algorithms import (
    depthwise,
    direct,
    direct_depthwise,
    direct_stencil,
    fft,
    im2col,
    implicit,
    phased,
    pointwise,
    separable,
    small,
    stencil,
    toeplitz,
    winograd,
    winograd_1d,
    winograd_f4,
)
from convolab.algorithms.problem import ConvProblem

REGISTRY: dict[str, ModuleType] = {
    m.NAME: m for m in (im2col, implicit, pointwise, winograd, depthwise, fft, toeplitz, stencil,
                        direct, direct_depthwise, direct_stencil, small, separable,
                        winograd_f4, winograd_1d)
}
INPUT_GRADIENT: dict[str, ModuleType] = {phased.NAME: phased}
# the algorithms that run the compiled core's kernels (they support nothing without it)
COMPILED = frozenset(m.NAME for m in (direct, direct_depthwise, direct_stencil, small,
                                      winograd_f4, winograd_1d))

__all__ = ["COMPILED", "INPUT_GRADIENT", "REGISTRY", "ConvProblem"]
