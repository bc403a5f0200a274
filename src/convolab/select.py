"""Which algorithm runs a conv: one dispatch point for ``algorithm="auto"`` and forced names.

``"auto"`` prices every algorithm that supports the problem with a small cost model and takes the
cheapest. Each algorithm counts its own work (:class:`convolab.algorithms.cost.Cost`); this module
turns counts into seconds with a few machine constants::

    seconds = gemm_flops / (GEMM_PEAK * efficiency(m, k, n))   BLAS, derated for thin matrices
            + bytes_moved / COPY_BANDWIDTH                     copies and element-wise passes
            + calls * CALL_OVERHEAD                            Python per NumPy call

The constants describe two cores of a current x86 server (AVX-512 OpenBLAS); they only have to
rank algorithms correctly, not predict times exactly. Each algorithm's ``cost`` says which of its
counts were calibrated on which measurement; ``benchmarks/run.py`` shows what "auto" picked
next to every peer, and ``algorithm=`` forces any choice.
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass

from convolab.algorithms import REGISTRY, ConvProblem, scheduler
from convolab.algorithms.cost import Cost, im2col_cost
from convolab.config import get_workspace_limit

GEMM_PEAK = 300e9  # flop/s of a large float32 GEMM on 2 cores
COPY_BANDWIDTH = 20e9  # bytes/s of NumPy copies and element-wise loops, cache-blocked
CALL_OVERHEAD = 3e-6  # seconds of Python and NumPy dispatch per call
_DEFAULT_BLOCK = 8 << 20  # bytes of columns per block, for modules without BLOCK_BYTES


def gemm_efficiency(m: int, k: int, n: int) -> float:
    """Fraction of ``GEMM_PEAK`` BLAS reaches on ``(m x k) @ (k x n)``: thin matrices starve it.

    >>> round(gemm_efficiency(12544, 576, 64), 2), round(gemm_efficiency(12544, 9, 1), 3)
    (0.92, 0.105)
    """
    return (n / (n + 4)) * (k / (k + 8)) * (m / (m + 64))


@dataclass(frozen=True)
class Estimate:
    """One algorithm's counted cost on a problem, and the seconds the model prices it at."""

    algorithm: str
    cost: Cost
    seconds: float


def _cost(name: str, p: ConvProblem) -> Cost:
    module = REGISTRY[name]
    cost = getattr(module, "cost", None)
    if cost is not None:
        return cost(p)
    # no cost of its own (im2col): priced as the lowering to a GEMM it is
    return im2col_cost(p, getattr(module, "BLOCK_BYTES", _DEFAULT_BLOCK))


def supports(name: str, p: ConvProblem) -> bool:
    """Whether algorithm ``name`` can run ``p`` (an algorithm without ``supports`` runs all)."""
    check = getattr(REGISTRY[name], "supports", None)
    return check is None or bool(check(p))


def estimate(name: str, p: ConvProblem) -> Estimate:
    """Price algorithm ``name`` on ``p`` (which it must support)."""
    c = _cost(name, p)
    blas = c.gemm_flops / (GEMM_PEAK * gemm_efficiency(*c.gemm_mkn)) if c.gemm_flops else 0.0
    seconds = (
        blas
        + c.bytes_moved / COPY_BANDWIDTH
        + c.calls * CALL_OVERHEAD
    )
    return Estimate(name, c, seconds)


def estimates(p: ConvProblem) -> list[Estimate]:
    """Every algorithm that supports ``p``, cheapest first."""
    # costs depend on the workspace limit and the worker count too (block sizes)
    return list(_estimates(p, get_workspace_limit(), scheduler.workers()))


@functools.lru_cache(maxsize=512)
def _estimates(p: ConvProblem, limit: int, workers: int) -> tuple[Estimate, ...]:
    # a layer runs the same shapes call after call: price them once (~60 us of Python)
    return tuple(sorted((estimate(n, p) for n in REGISTRY if supports(n, p)),
                        key=lambda e: e.seconds))


def check_name(algorithm: object) -> str:
    """``algorithm`` if it is "auto" or a registered name, else a ValueError listing the names."""
    if not isinstance(algorithm, str):
        raise TypeError(f"algorithm: expected a name (str), got {type(algorithm).__name__}")
    if algorithm == "auto" or algorithm in REGISTRY:
        return algorithm  # type: ignore[return-value]
    choices = ["auto", *REGISTRY]
    close = difflib.get_close_matches(str(algorithm), choices, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValueError(f"algorithm: expected one of {choices}, got {algorithm!r}{hint}")


def choose(problem: ConvProblem, algorithm: str = "auto") -> str:
    """Name of the algorithm that runs ``problem``.

    ``"auto"`` picks the cheapest by the cost model; any other value must be a registered name
    of an algorithm that supports the problem.
    """
    name = check_name(algorithm)
    if name == "auto":
        return estimates(problem)[0].algorithm
    if not supports(name, problem):
        needs = getattr(REGISTRY[name], "REQUIRES", "")
        raise ValueError(
            f"algorithm: {name!r} cannot run this conv (x {problem.x_shape}, w "
            f"{problem.w_shape}, stride {problem.geom.stride}, dilation {problem.geom.dilation}, "
            f"groups {problem.groups}, padding_mode {problem.padding_mode!r}); "
            f"it needs {needs}"
        )
    return name
