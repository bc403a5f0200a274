"""The repeat-call path: a ``conv`` called again with the same shapes and options.

A layer or a loop calls the same conv over and over; validating, resolving and choosing an
algorithm cost ~40 us of Python a call (~60 us with the planning a tiny call does), as much as
the arithmetic of a small layer (LeNet's second, batch 1) and ten times a tiny one's. The first
call takes the full path; when it ran on the caller's own arrays (no conversion,
channels-last, batched; any rank: a signal or a volume is lowered to an image on each call as
on the full path, ``ops/lowering.py``), its resolved problem and chosen algorithm are
remembered under the call's shapes, dtypes, options, and what the choice depended on (threads,
instruction set, workspace limit). A later call with the same key is valid for the same
reasons, so it only runs the algorithm: for the ``small`` kernel, only allocates the output
and calls the kernel (the tiny call's choice depends on nothing else, so it does not even ask
for those: ~3 us); for an algorithm with a ``prepared(p)`` (``direct``), the kernel it
prepared for the problem (packs the weights and runs the region).
A channels-first call is remembered too when it took a route that reads the caller's array as
it lies (``ops/layout_routes.py``: ``READ_AS_IS``); a later call runs that route.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from convolab import _native
from convolab.algorithms import REGISTRY, native, scheduler, small
from convolab.algorithms.problem import ConvProblem
from convolab.config import get_workspace_limit
from convolab.ops import lowering
from convolab.ops.arguments import Prepared, to_kernel_last
from convolab.ops.layout_routes import NATIVE, run_channels_first

_MAX_ENTRIES = 256
_remembered: dict[tuple, _Call] = {}


@dataclass(frozen=True)
class _Call:
    problem: ConvProblem
    algorithm: str
    small: tuple | None  # the small kernel's (geometry, row map, column map, pixels)
    context: tuple  # what the choice depended on (:func:`_context`) when it was made
    route: str = NATIVE  # the layout route (``layout_routes``); channels first:
    engine: ConvProblem | None = None  # the problem the algorithm computes (``FUSED``)
    kernel_format: str = ""  # the caller's kernel layout
    out_dtype: np.dtype | None = None  # the result's dtype
    signal: bool = False  # a rank-1 call, run as its one-row image (``problem`` is that)
    # the algorithm's forward with what depends on the problem alone found once (its
    # ``prepared(p)``: direct's), or None: the full path's layers down to the kernel
    run: Callable[[np.ndarray, np.ndarray, np.ndarray | None], np.ndarray] | None = None


def _context() -> tuple:
    """What else "auto" chose by: the thread count, the instruction set, the workspace
    limit."""
    return scheduler.workers(), _native.isa(), get_workspace_limit()


def key(x: object, w: object, bias: object, options: tuple) -> tuple | None:
    """What identifies a call for this path, or None if it cannot take it (not plain arrays,
    unhashable options)."""
    if type(x) is not np.ndarray or type(w) is not np.ndarray:
        return None
    if bias is not None and type(bias) is not np.ndarray:
        return None
    b = None if bias is None else (bias.shape, bias.dtype, bias.flags.c_contiguous)
    k = (x.shape, x.dtype, x.flags.c_contiguous, w.shape, w.dtype, w.flags.c_contiguous, b,
         *options)
    try:
        hash(k)
    except TypeError:  # a list for a stride, say: the full path takes it
        return None
    return k


def run(k: tuple | None, x: np.ndarray, w: np.ndarray, bias: np.ndarray | None
        ) -> np.ndarray | None:
    """The result of a remembered call, or None."""
    call = _remembered.get(k) if k is not None else None
    if call is None:
        return None
    if call.signal:  # (N, L, C) as (N, 1, L, C), by views, as ``lowering`` runs it
        y = _run_remembered(call, x[:, None], w[None], bias)
        return None if y is None else y[:, 0]
    return _run_remembered(call, x, w, bias)


def _run_remembered(call: _Call, x: np.ndarray, w: np.ndarray, bias: np.ndarray | None
                    ) -> np.ndarray | None:
    p = call.problem
    if call.small is None:
        if _context() != call.context:  # chosen under other threads, say: choose again
            return None
        if call.route == NATIVE:
            if call.run is not None and _native.core is not None:
                return call.run(x, w, bias)
            return lowering.forward(x, w, bias, p, call.algorithm)
        wl = to_kernel_last(w, call.kernel_format, p.rank)
        y = run_channels_first(call.route, x, wl, bias, p, call.engine, call.algorithm)
        return None if y is None else y.astype(call.out_dtype, copy=False)
    if _native.core is None:  # the core turned off since (a test's numpy engine, say)
        return None
    geometry, rows, cols, pixels = call.small
    y = np.empty(p.y_shape, p.dtype)
    _native.core.small(x, w, bias, y, rows, cols, geometry, 0, 0, pixels)
    return y


def remember(k: tuple | None, p: ConvProblem, name: str, x: object, w: object, bias: object,
             prepared: tuple, *, layout_ok: bool) -> None:
    """Remember a call of any rank that ran on the caller's own arrays (no copy, no cast) in
    channels-last layout, batched."""
    if k is None or not layout_ok:
        return
    if any(a is not b for a, b in zip((x, w, bias), prepared)):
        return  # converted on the way in: a later call would need the same conversion
    if len(_remembered) >= _MAX_ENTRIES:
        _remembered.clear()
    signal = p.rank == 1
    if signal:
        p = lowering.lifted(p)
    fast = None
    if name == small.NAME and p.rank == 2:  # volumes: lowered to images on each call
        rows, cols = native.maps(p)
        n, ho, wo, _ = p.y_shape
        fast = (native.geometry(p), rows, cols, n * ho * wo)
    prepare = getattr(REGISTRY.get(name), "prepared", None)  # an algorithm's, if it has one
    run = prepare(p) if prepare is not None and p.rank == 2 else None
    _remembered[k] = _Call(p, name, fast, _context(), signal=signal, run=run)


def remember_channels_first(k: tuple | None, r: Prepared, engine_problem: ConvProblem,
                            name: str, route: str, x: object, x_first: np.ndarray) -> None:
    """Remember a channels-first call that took ``route`` (one of ``READ_AS_IS``) on the
    caller's own ``x`` (batched, C-contiguous in the compute dtype: ``x_first`` is ``x``)."""
    if k is None or r.unbatched or not isinstance(x, np.ndarray):
        return
    if not (x.flags.c_contiguous and x.dtype == x_first.dtype and x.shape == x_first.shape):
        return  # converted on the way in: a later call would need the same conversion
    if len(_remembered) >= _MAX_ENTRIES:
        _remembered.clear()
    _remembered[k] = _Call(r.problem, name, None, _context(), route, engine_problem,
                           r.kernel_format, r.out_dtype)
