"""Which algorithm runs a conv: one dispatch point for ``algorithm="auto"`` and forced names.

``"auto"`` prices every algorithm that supports the problem with a small cost model and takes the
cheapest. Each algorithm's work is counted (:class:`convolab.algorithms.cost.Cost`: by its own
``cost``, or, for im2col, by ``cost.im2col_cost``); this module turns counts into seconds with a
few machine constants::

    seconds = gemm_flops / (GEMM_PEAK * efficiency(m, k, n))   BLAS, derated for thin matrices
            + bytes_moved / COPY_BANDWIDTH                     copies and element-wise passes
            + calls * CALL_OVERHEAD                            Python per NumPy call

The constants describe two cores of a current x86 server (AVX-512 OpenBLAS); they only have to
rank algorithms correctly, not predict times exactly. Each algorithm's ``cost`` says which of its
counts were calibrated on which measurement; ``benchmarks/run.py`` shows what "auto" picked
next to every peer, and ``algorithm=`` forces any choice. The input gradient of
``conv2d_backward`` is chosen here too (:func:`choose_input_gradient`).
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass

from convolab import _native
from convolab.algorithms import (
    INPUT_GRADIENT,
    REGISTRY,
    ConvProblem,
    adjoint,
    direct,
    direct_depthwise,
    direct_stencil,
    implicit,
    phased,
    scheduler,
    small,
    stencil,
    toeplitz,
    winograd_1d,
    winograd_f4,
)
from convolab.algorithms.cost import Cost, im2col_cost
from convolab.config import get_workspace_limit

GEMM_PEAK = 300e9  # flop/s of a large float32 GEMM on 2 cores
COPY_BANDWIDTH = 20e9  # bytes/s of NumPy copies and element-wise loops, cache-blocked
CALL_OVERHEAD = 3e-6  # seconds of Python and NumPy dispatch per call
# float32 flop/s of the compiled kernels' FMA units on 2 cores, like GEMM_PEAK, per instruction
# set (2 FMA ports x lanes x 2 flops x ~2.7 GHz x 2 cores; the baseline's SSE has 4 lanes and
# no FMA); float64 runs at half
KERNEL_PEAK = {"avx512": 340e9, "avx2": 170e9, "baseline": 40e9, "none": 1.0}
# col2im writes the K-wide columns and adds them back tap by tap (read-modify-write), where
# im2col's forward fills them once and reads them: on 2 cores it took 1.8-2.2x the forward's time
# on the same problem, so it is priced at twice the cost model's im2col estimate.
COL2IM_VS_IM2COL = 2.0
ADJOINT = "adjoint:"  # grad_x as the conv of grad_y, run by the algorithm named after this
# the algorithms whose conv of grad_y beats phased when "auto" picks them for it (measured)
ADJOINT_OVER_PHASED = (implicit.NAME, stencil.NAME, direct.NAME, direct_depthwise.NAME,
                       direct_stencil.NAME, small.NAME, winograd_f4.NAME, winograd_1d.NAME)
# ... and past stride 1, by the stride's phases written into grad_x (``adjoint._by_phases``)
PHASES_OVER_PHASED = (direct.NAME,)


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
    return im2col_cost(p, module.BLOCK_BYTES)


def supports(name: str, p: ConvProblem) -> bool:
    """Whether algorithm ``name`` can run ``p`` (an algorithm without ``supports`` runs all)."""
    check = getattr(REGISTRY[name], "supports", None)
    return check is None or bool(check(p))


def estimate(name: str, p: ConvProblem) -> Estimate:
    """Price algorithm ``name`` on ``p`` (which it must support)."""
    c = _cost(name, p)
    blas = c.gemm_flops / (GEMM_PEAK * gemm_efficiency(*c.gemm_mkn)) if c.gemm_flops else 0.0
    if p.dtype.itemsize == 8:
        blas *= 2  # dgemm: half the lanes of sgemm
    seconds = (
        blas
        + c.kernel_flops / kernel_peak(p)
        + c.bytes_moved / COPY_BANDWIDTH
        + c.calls * CALL_OVERHEAD
    )
    return Estimate(name, c, seconds)


def kernel_peak(p: ConvProblem) -> float:
    """flop/s of the compiled kernels on ``p``'s dtype (2 cores, as ``GEMM_PEAK``)."""
    peak = KERNEL_PEAK[_native.isa()]
    return peak / 2 if p.dtype.itemsize == 8 else peak


def estimates(p: ConvProblem) -> list[Estimate]:
    """Every algorithm that supports ``p``, cheapest first."""
    # costs depend on the workspace limit, the worker count (block sizes) and the kernels' ISA
    return list(_estimates(p, get_workspace_limit(), scheduler.workers(), _native.isa()))


@functools.lru_cache(maxsize=512)
def _estimates(p: ConvProblem, limit: int, workers: int, isa: str) -> tuple[Estimate, ...]:
    # a layer runs the same shapes call after call: price them once (~60 us of Python)
    return tuple(sorted((estimate(n, p) for n in REGISTRY if supports(n, p)),
                        key=lambda e: e.seconds))


def check_name(algorithm: object, extra: tuple[str, ...] = ()) -> str:
    """``algorithm`` if it is "auto", a registered name or in ``extra``, else a ValueError
    listing the names."""
    if not isinstance(algorithm, str):
        raise TypeError(f"algorithm: expected a name (str), got {type(algorithm).__name__}")
    choices = ["auto", *REGISTRY, *extra]
    if algorithm in choices:
        return algorithm
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
        _cannot_run(name, REGISTRY[name], problem)
    return name


def _cannot_run(name: str, module: object, problem: ConvProblem) -> None:
    needs = getattr(module, "REQUIRES", "")
    raise ValueError(
        f"algorithm: {name!r} cannot run this conv (x {problem.x_shape}, w "
        f"{problem.w_shape}, stride {problem.geom.stride}, dilation {problem.geom.dilation}, "
        f"groups {problem.groups}, padding_mode {problem.padding_mode!r}); "
        f"it needs {needs}"
    )


def choose_input_gradient(problem: ConvProblem, algorithm: str = "auto") -> str:
    """How ``conv2d_backward`` computes ``grad_x`` of ``problem``, as a name ``ops.backward`` runs.

    - ``"phased"``: ``algorithms.phased`` (per-tap GEMMs over the stride phases);
    - ``"adjoint:<name>"``: the conv of ``grad_y`` with the flipped kernel
      (``algorithms.adjoint.gradient_problem``, the problem priced here; at stride > 1 without
      dilation, one conv per phase of the stride), run by ``<name>``;
    - a ``REGISTRY`` name: that algorithm's own ``backward_input``, im2col's col2im if it has none.

    ``"auto"``: toeplitz's own way when the forward runs toeplitz (LeNet's layers: 0.75 ms
    against phased's 1.2; 0.64 against 2.2 for the conv of ``grad_y`` by implicit GEMM); else at
    stride 1, the conv of ``grad_y`` by the algorithm the cost model prices lowest
    for it, when that is cheaper than col2im (``COL2IM_VS_IM2COL`` times im2col's forward) and
    either runs on implicit GEMM or stencil, or phased cannot run the problem; at a larger
    stride with zero padding, the same by the stride's phases when they run on ``direct``
    (each phase written into grad_x); else phased when it can; else the forward choice's own
    way. Phased has no cost model: the rule is what was
    measured on 2 cores (res3x3a: the conv by implicit GEMM and phased even at 18-19 ms; LeNet's
    one-channel input: phased 1.3 ms, the conv by im2col 5.6; res3x3s2: phased 11 ms, col2im 22;
    a one-channel 512x512 image, 5x5: the conv by stencil 1.5 ms, phased 10).
    A forced ``REGISTRY`` name runs the conv of ``grad_y`` at stride 1 if it supports that conv,
    else its own way; ``"phased"`` forces phased.

    >>> import numpy as np
    >>> from convolab.shapes import conv_geometry
    >>> def conv(stride):  # x (2, 9, 9, 8), w (3, 3, 8, 8), "same"
    ...     geom = conv_geometry((9, 9), (3, 3), stride=stride, padding="same")
    ...     return ConvProblem((2, 9, 9, 8), (3, 3, 8, 8), geom, 1, "zeros", np.dtype("f4"))
    >>> choose_input_gradient(conv(1), "im2col"), choose_input_gradient(conv(2), "im2col")
    ('adjoint:im2col', 'im2col')
    """
    if check_name(algorithm, tuple(INPUT_GRADIENT)) in INPUT_GRADIENT:
        if not INPUT_GRADIENT[algorithm].supports(problem):
            _cannot_run(algorithm, INPUT_GRADIENT[algorithm], problem)
        return algorithm
    name = choose(problem, algorithm)  # also checks a forced name against this conv
    if algorithm == "auto" and name == toeplitz.NAME:
        return name  # its own banded matrices, transposed
    use_phased = algorithm == "auto" and phased.supports(problem)
    # past stride 1 the conv of grad_y runs by the stride's phases: on the compiled direct
    # kernel, each phase written straight into grad_x (zero padding), it beats phased
    # (res3x3s2: 12.5-17 ms against 14.5-19 in alternating runs; before the phases were written
    # in place, 19 against 17); on implicit GEMM it does not (27), so that one only where
    # phased cannot run (groups, no OpenBLAS), in place of col2im
    by_phases = algorithm == "auto" and adjoint.phases(problem)
    stride1 = problem.geom.stride == (1, 1)
    over_phased = (ADJOINT_OVER_PHASED if stride1 else
                   PHASES_OVER_PHASED if adjoint.writes_directly(problem) else ())
    if stride1 or by_phases:
        conv = _gradient_conv(problem, algorithm)
        if conv is not None and not (use_phased and conv not in over_phased):
            return ADJOINT + conv
    return phased.NAME if use_phased else name


def _gradient_conv(p: ConvProblem, algorithm: str) -> str | None:
    """Algorithm to run the conv of ``grad_y`` with (stride 1; at a larger stride without
    dilation, the stride's phases, ``adjoint.phase_problems``), or None if col2im is cheaper.

    A forced ``algorithm`` runs it if it can; "auto" compares the cost model's best for that
    conv (summed over the phases) with col2im's price on ``p``.
    """
    convs = adjoint.gradient_problems(p)
    if algorithm != "auto":
        return algorithm if all(supports(algorithm, q) for q in convs) else None
    best = estimates(convs[0])[0].algorithm  # the first phase has the most taps
    if not all(supports(best, q) for q in convs):
        return None
    seconds = sum(estimate(best, q).seconds for q in convs)
    return best if seconds < COL2IM_VS_IM2COL * estimate("im2col", p).seconds else None
