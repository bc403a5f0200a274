"""``plan``: which algorithm ``conv`` would run, why, and what it would cost — without running it.

>>> import numpy as np
>>> p = plan((16, 28, 28, 256), (1, 1, 256, 64), algorithm="pointwise")
>>> p.algorithm, p.direct_flops
('pointwise', 411041792)
>>> print(p)  # doctest: +ELLIPSIS
conv x (16, 28, 28, 256) * w (1, 1, 256, 64) -> y (16, 28, 28, 64), float32: pointwise ...
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from convolab.algorithms import ConvProblem
from convolab.ops.arguments import resolve
from convolab.ops.layout_routes import layout_route
from convolab.ops.lowering import engine_problem, gradient_problem
from convolab.select import (
    Estimate,
    check_name,
    choose,
    choose_input_gradient,
    estimate,
    estimates,
)


@dataclass(frozen=True)
class Plan:
    """The algorithm chosen for one conv, why, and its estimated cost.

    ``flops`` is the arithmetic the chosen algorithm does (``direct_flops`` is the textbook
    count, 2 per multiply-add); ``workspace`` is its peak scratch in bytes; ``alternatives``
    are the other algorithms that could run the problem, cheapest first; ``input_gradient``
    is how ``conv_backward`` would compute ``grad_x``
    (:func:`convolab.select.choose_input_gradient`). ``engine`` is the rank-2 problem that
    computes ``problem`` (itself for images; ``ops/lowering.py`` for the other ranks).
    ``layout`` says how the caller's layout meets the kernels' channels-last one
    (``ops.layout_routes.layout_route``: as it is, read as it lies, transposed inside the work, or
    transposed before and after).
    """

    problem: ConvProblem
    algorithm: str
    reason: str
    seconds: float
    flops: int
    direct_flops: int
    workspace: int
    alternatives: tuple[Estimate, ...]
    input_gradient: str
    engine: ConvProblem
    layout: str

    def __str__(self) -> str:
        p, e = self.problem, self.engine
        lines = [
            f"conv x {p.x_shape} * w {p.w_shape} -> y {p.y_shape}, {p.dtype}: "
            f"{self.algorithm} (est. {self.seconds * 1e3:.3g} ms, "
            f"{self.flops / 1e9:.3g} GFLOP of {self.direct_flops / 1e9:.3g} direct, "
            f"workspace {self.workspace / 2**20:.3g} MiB)",
        ]
        if e is not p:
            lines.append(f"  rank {p.rank} as rank 2: x {e.x_shape} * w {e.w_shape} -> "
                         f"y {e.y_shape}")
        lines += [
            f"  why: {self.reason}",
            f"  layout: {self.layout}",
            f"  grad_x in conv_backward: {self.input_gradient}",
        ]
        lines += [f"  {e.algorithm}: est. {e.seconds * 1e3:.3g} ms; {e.cost.summary}"
                  for e in self.alternatives]
        return "\n".join(lines)


def _stand_in(value: object, name: str) -> np.ndarray:
    """A zero-byte view with the shape and dtype to validate: of a shape tuple (float32), of an
    array-like with ``shape`` and a NumPy ``dtype`` (a Dask array: nothing is computed), or of
    ``np.asarray(value)``."""
    if isinstance(value, tuple) and all(
        isinstance(d, numbers.Integral) and not isinstance(d, bool) for d in value
    ):
        shape, dtype = value, np.dtype(np.float32)
    else:
        try:
            shape, dtype = tuple(value.shape), np.dtype(value.dtype)  # type: ignore[attr-defined]
        except (AttributeError, TypeError):
            a = np.asarray(value)
            shape, dtype = a.shape, a.dtype
    if dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected a numeric array or a shape tuple, got dtype {dtype}")
    return np.lib.stride_tricks.as_strided(np.zeros(1, dtype), shape, (0,) * len(shape))


def problem_of(x: object, w: object, **options: object) -> ConvProblem:
    """The resolved problem of a ``conv`` call; ``x`` and ``w`` may be arrays or shapes."""
    return resolve(_stand_in(x, "x"), _stand_in(w, "w"), **options).problem


def plan(x: object, w: object, *, stride: object = 1, padding: object = "valid",
         dilation: object = 1, groups: object = 1, data_format: str = "channels_last",
         kernel_format: str | None = None, padding_mode: str = "zeros",
         algorithm: str = "auto") -> Plan:
    """Which algorithm ``conv`` runs for these arguments, why, and at what estimated cost.

    Parameters
    ----------
    x, w : arrays as for :func:`convolab.conv` (any rank; NumPy or Dask: only shape and dtype
        are read), or their shapes as tuples (float32 assumed)
    stride, padding, dilation, groups, data_format, kernel_format, padding_mode, algorithm :
        as for :func:`convolab.conv`; an unknown or unsuitable ``algorithm`` raises ValueError

    Returns
    -------
    Plan
        ``.algorithm``, ``.reason``, ``.seconds`` (model estimate), ``.flops``,
        ``.workspace`` (bytes) and ``.alternatives``; ``print()`` it for a summary. For an
        empty batch (N = 0) nothing runs: zero cost, no alternatives, and the reason says so.
    """
    check_name(algorithm)
    r = resolve(_stand_in(x, "x"), _stand_in(w, "w"), stride=stride, padding=padding,
                dilation=dilation, groups=groups, data_format=data_format,
                kernel_format=kernel_format, padding_mode=padding_mode)
    p = r.problem
    e = engine_problem(p)
    name = choose(e, algorithm)
    layout = layout_route(r.data_format, p, e, name)
    if p.empty:  # conv and conv_backward return zeros; no estimate to divide by
        what = "empty batch (N = 0)" if p.x_shape[0] == 0 else "an input without pixels"
        return Plan(p, name, f"{what}: conv returns the {p.y_shape} output of zeros (plus "
                    "bias) without computing anything", 0.0, 0, 0, 0, (),
                    f"none ({what})", e, layout)
    chosen = estimate(name, e)
    others = tuple(est for est in estimates(e) if est.algorithm != name)
    if algorithm != "auto":
        reason = f"forced by algorithm={algorithm!r}; {chosen.cost.summary}"
    elif others:
        nxt = others[0]
        reason = (f"cheapest by the cost model: {chosen.cost.summary}; next best "
                  f"{nxt.algorithm} at {nxt.seconds / chosen.seconds:.2g}x the estimate")
    else:
        reason = f"the only algorithm that supports this conv: {chosen.cost.summary}"
    return Plan(p, name, reason, chosen.seconds, chosen.cost.flops, p.flops,
                chosen.cost.workspace, others,
                choose_input_gradient(gradient_problem(p), algorithm), e, layout)
