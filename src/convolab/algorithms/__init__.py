"""Fast conv algorithms, one file each, all computing the same function as ``reference``.

Each algorithm module has ``NAME`` and ``forward(x, w, problem) -> y`` (see ``problem.py`` for
what it may assume). ``REGISTRY`` maps names to modules; ``select`` chooses among them.
"""

from __future__ import annotations

from types import ModuleType

from convolab.algorithms import depthwise, fft, im2col, implicit, pointwise, winograd
from convolab.algorithms.problem import ConvProblem

REGISTRY: dict[str, ModuleType] = {
    m.NAME: m for m in (im2col, implicit, pointwise, winograd, depthwise, fft)
}

__all__ = ["REGISTRY", "ConvProblem"]
