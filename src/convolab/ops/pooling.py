"""``max_pool`` and ``avg_pool`` (D2L 6.5) for any rank, with Keras's and PyTorch's options,
and their gradients ``max_pool_backward`` and ``avg_pool_backward``.

A pooling window is a conv window without a kernel: per axis it has a size ``k``
(``pool_size``), a stride ``s`` (``strides``, by default ``pool_size``) and a dilation ``d``,
and it reads a padded input. One code path serves every rank and both frameworks:

- padding is resolved once into ``(before, after)`` pairs per axis (``shapes.resolve_padding``;
  "same" is TensorFlow's split, the extra pixel after);
- max pooling pads with ``-inf`` (padding never wins a window); average pooling pads with 0 and
  divides each window by a per-window count (below);
- ``ceil_mode`` (PyTorch's) rounds the output size up, then drops a last window that would
  start past the input and its left padding (PyTorch's rule); the windows it keeps may run past
  the padded input;
- every window must overlap the input: a window of padding alone has no maximum and no mean
  (PyTorch's ``padding <= pool_size // 2`` guarantees it without dilation; with dilation
  PyTorch returns ``-inf`` for such a window and we raise).

The divisor of an average window is, in this order of precedence: ``divisor_override``; with
``count_include_pad`` the number of window taps inside the padded input (taps past it, which
only ``ceil_mode`` creates, do not count: PyTorch's rule); without it the number of taps inside
the input (TensorFlow's "same": the mean of the real elements). ``count_include_pad=None``
means TensorFlow's rule for padding strings and PyTorch's default (True) for explicit padding.

Max pooling's gradient goes to one element per window: the first maximum in row-major window
order, or the last NaN if the window has any (PyTorch's scan: an element replaces the maximum
when it is greater or NaN; TensorFlow's CPU kernel also keeps the first maximum). Its
``return_indices`` are PyTorch's: the position of that element in its channel's flattened
spatial input.

Inside, ``x`` is canonical ``(B, *spatial, C)``: channels_last as it is, channels_first
``(N, C, *spatial)`` reshaped (free) to ``(N*C, *spatial, 1)``. With the compiled core, float32
and float64 pooling runs its kernel (``algorithms/native_pool.py``: channels in SIMD lanes,
each window scanned once, padding skipped through per-axis tap maps). The NumPy engine below is
the fallback: it loops over the ``prod(pool_size)`` taps of the window, each step one
vectorised operation on a strided view of the whole batch.

>>> x = np.array([[1.0, 5.0, 2.0, 0.0, 3.0]]).reshape(1, 5, 1)   # (N, L, C)
>>> max_pool(x, 2)[0, :, 0]
array([5., 2.])
>>> max_pool(x, 2, padding="same")[0, :, 0]        # a last window of one real element
array([5., 2., 3.])
>>> avg_pool(x, 2, padding="same")[0, :, 0]        # ... averaged over that element alone
array([3., 1., 3.])
>>> avg_pool(x, 2, padding=((0, 1),))[0, :, 0]     # explicit padding counts (PyTorch's)
array([3. , 1. , 1.5])
>>> max_pool_backward(np.ones((1, 2, 1)), x, 2)[0, :, 0]
array([0., 1., 1., 0., 0.])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from convolab.algorithms import native_pool
from convolab.ops.arguments import (
    FIRST,
    as_numeric,
    compute_dtype,
    layout_names,
    normalize_data_format,
    result_dtype,
)
from convolab.shapes import Pads, Sizes, axis_names, normalize_tuple, resolve_padding

# the explicit layout names that fix the rank (a pool_size int with "NHWC" is a 2-D pool)
_NAMED_RANKS = {"NWC": 1, "NCW": 1, "NHWC": 2, "NCHW": 2, "NDHWC": 3, "NCDHW": 3}


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


# -- shape arithmetic ------------------------------------------------------------------------


@dataclass(frozen=True)
class PoolGeometry:
    """A pooling's spatial arithmetic, resolved and checked; one entry per spatial axis.

    ``pads`` is the padding the caller asked for (``((top, bottom), (left, right))`` for an
    image). With ``ceil_mode`` the last window may read past it; ``reach`` is the padding the
    windows actually read.
    """

    in_shape: Sizes
    pool_size: Sizes
    strides: Sizes
    dilation: Sizes
    pads: Pads
    out_shape: Sizes

    @property
    def rank(self) -> int:
        return len(self.in_shape)

    @property
    def span(self) -> Sizes:
        """Extent of the dilated window, ``d*(k-1) + 1`` per axis."""
        return tuple(d * (k - 1) + 1 for k, d in zip(self.pool_size, self.dilation))

    @property
    def reach(self) -> Pads:
        """``(before, after)`` per axis that the windows read: ``after`` grows past ``pads``
        for ``ceil_mode``'s last window and shrinks where the last input pixels are in no
        window (never below 0)."""
        return tuple(
            (b, max((o - 1) * s + sp - n - b, 0))
            for n, (b, _), o, s, sp in zip(self.in_shape, self.pads, self.out_shape,
                                           self.strides, self.span)
        )

    def taps_inside(self, axis: int, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """Per output index along ``axis``: the first tap of its window at an input position
        in ``[lo, hi)``, and how many taps are there (0 if none)."""
        n_out, k = self.out_shape[axis], self.pool_size[axis]
        s, d, b = self.strides[axis], self.dilation[axis], self.pads[axis][0]
        start = np.arange(n_out) * s - b  # input position of each window's tap 0
        first = np.maximum(0, -((start - lo) // d))  # ceil((lo - start) / d), at least 0
        last = np.minimum(k - 1, (hi - 1 - start) // d)
        return first, np.maximum(last - first + 1, 0)


def pool_geometry(
    input_shape: Sequence[int],
    pool_size: object,
    strides: object = None,
    padding: object = "valid",
    *,
    dilation: object = 1,
    ceil_mode: bool = False,
) -> PoolGeometry:
    """Normalise and check a pooling's spatial arguments; the rank is ``len(input_shape)``.

    Per axis, with padded size ``n + before + after`` and window span ``d*(k-1) + 1``::

        out = floor_or_ceil((n + before + after - d*(k-1) - 1) / s) + 1

    and with ``ceil_mode`` one window fewer if the last one would start at or past
    ``n + before`` (PyTorch's rule).

    >>> pool_geometry((5,), 2, padding="same").out_shape      # Keras: ceil(5 / 2)
    (3,)
    >>> pool_geometry((5, 5), 2, ceil_mode=True).out_shape     # PyTorch's ceil_mode
    (3, 3)
    >>> pool_geometry((6,), 3, 2, padding=1, ceil_mode=True).reach  # the last window reads past
    ((1, 2),)
    """
    rank = len(input_shape)
    in_shape = tuple(int(n) for n in input_shape)
    k = normalize_tuple(pool_size, "pool_size", rank)
    s = k if strides is None else normalize_tuple(strides, "strides", rank)
    d = normalize_tuple(dilation, "dilation", rank)
    pads = resolve_padding(padding, in_shape, k, s, d)
    names = axis_names(rank)
    out = []
    for axis, (n, kk, ss, dd, (b, a)) in enumerate(zip(in_shape, k, s, d, pads)):
        span, padded = dd * (kk - 1) + 1, n + b + a
        slack = ss - 1 if ceil_mode else 0  # ceil_mode's windows may run past the padding
        if span > padded + slack:
            more = f" + strides - 1 = {padded + slack} with ceil_mode" if ceil_mode else ""
            raise ValueError(
                f"pool_size: the dilated window {names[axis]} {span} (= {dd}*({kk}-1)+1) is "
                f"larger than the padded input {names[axis]} {padded} (= {n} + padding "
                f"{(b, a)}){more}; it must be at most that"
            )
        o = (padded - span + slack) // ss + 1
        if ceil_mode and (o - 1) * ss >= n + b:  # PyTorch: the last window starts in the input
            o -= 1
        out.append(o)
    geom = PoolGeometry(in_shape, k, s, d, pads, tuple(out))
    for axis, (n, (b, a)) in enumerate(zip(in_shape, pads)):
        _, count = geom.taps_inside(axis, 0, n)
        if not count.all():
            i = int(np.argmin(count))
            raise ValueError(
                f"padding: the window of output {i} along the {names[axis]} covers only padding "
                f"(input {names[axis]} {n}, padding {(b, a)}, pool_size {k[axis]}, stride "
                f"{s[axis]}, dilation {d[axis]}); every window must overlap the input, as "
                f"padding <= pool_size // 2 ensures without dilation (PyTorch's rule); "
                f"got padding={padding!r}"
            )
    return geom


# -- validation at the edge --------------------------------------------------------------------


def _check_bool(value: object, name: str, *, none: bool = False) -> bool | None:
    if value is None and none:
        return None
    if not isinstance(value, (bool, np.bool_)):
        allowed = "True, False or None" if none else "True or False"
        raise TypeError(f"{name}: expected {allowed}, got {value!r}")
    return bool(value)


def _rank(x: np.ndarray, pool_size: object, data_format: object, rank: object) -> int:
    """The number of spatial axes: ``rank``, else ``len(pool_size)``, else the rank an explicit
    layout name says ("NHWC": 2), else ``x.ndim - 2`` (a batch)."""
    if rank is not None:
        if not _is_int(rank) or rank < 1:
            raise ValueError(f"rank: expected a positive int or None, got rank={rank!r}")
        return int(rank)
    if isinstance(pool_size, Sequence) and not isinstance(pool_size, str):
        if not pool_size:
            raise ValueError(f"pool_size: expected one size per spatial axis, got {pool_size!r}")
        return len(pool_size)
    if isinstance(data_format, str) and data_format.upper() in _NAMED_RANKS:
        return _NAMED_RANKS[data_format.upper()]
    if x.ndim < 3:
        raise ValueError(
            f"x: with an int pool_size the number of spatial axes is x.ndim - 2 (a batch "
            f"(N, *spatial, C) or (N, C, *spatial)), which needs x.ndim >= 3, got {x.ndim}-D "
            f"with shape {x.shape}; give pool_size one size per axis or rank= for one "
            "unbatched example"
        )
    return x.ndim - 2


def pool_data_format(data_format: object, rank: int) -> str:
    """``"channels_last"`` or ``"channels_first"`` from any accepted name (None: Keras's
    default, channels_last); an explicit name must be of the pool's rank."""
    if data_format is None:  # Keras's default: image_data_format(), i.e. channels_last
        return "channels_last"
    try:
        return normalize_data_format(data_format, rank)
    except ValueError as exc:
        raise ValueError(str(exc).replace(" conv,", " pool,")) from None


@dataclass(frozen=True)
class _Call:
    """A pooling call made canonical: ``x`` as ``(B, *spatial, C)`` in the compute dtype."""

    x: np.ndarray
    geom: PoolGeometry
    out_dtype: np.dtype
    data_format: str
    unbatched: bool
    batch: tuple[int, int]  # the caller's (N, C); channels_first folds them into B

    def canonical(self, a: np.ndarray) -> np.ndarray:
        """An array in the caller's layout (``x`` or ``grad_y``) as ``(B, *spatial, C)``."""
        return _canonical(a, self.data_format, self.unbatched)

    def caller(self, y: np.ndarray, dtype: np.dtype | None = None) -> np.ndarray:
        """Inverse of :meth:`canonical` for a result ``(B, *out, C)``, cast to ``dtype``
        (default: the output dtype)."""
        y = y.astype(self.out_dtype if dtype is None else dtype, copy=False)
        if self.data_format == FIRST:
            y = y.reshape(*self.batch, *y.shape[1:-1])
        return y[0] if self.unbatched else y

    def out_shape(self) -> tuple[int, ...]:
        """The output's shape as the caller sees it."""
        n, c = self.batch
        out = self.geom.out_shape
        shape = (n, c, *out) if self.data_format == FIRST else (n, *out, c)
        return shape[1:] if self.unbatched else shape


def _canonical(a: np.ndarray, data_format: str, unbatched: bool) -> np.ndarray:
    """``(N, *spatial, C)`` stays; channels_first ``(N, C, *spatial)`` becomes
    ``(N*C, *spatial, 1)``, every channel a one-channel example (free when contiguous:
    pooling never mixes channels); an unbatched example gets N = 1."""
    a = a[None] if unbatched else a
    if data_format == FIRST:
        a = a.reshape(-1, *a.shape[2:], 1)
    return a


def _resolve(x: object, pool_size: object, strides: object, padding: object,
             data_format: object, dilation: object, ceil_mode: object, rank: object,
             grad_y: object = None) -> tuple[_Call, np.ndarray | None]:
    """Validate a pooling call; ``grad_y`` (for a backward call) comes back canonical."""
    xa = as_numeric(x, "x")
    r = _rank(xa, pool_size, data_format, rank)
    fmt = pool_data_format(data_format, r)
    ceil = _check_bool(ceil_mode, "ceil_mode")
    if xa.ndim not in (r + 1, r + 2):
        last, first = layout_names(r)[:2]
        raise ValueError(
            f"x: expected a {r + 2}-D {last if fmt != FIRST else first} array or a "
            f"{r + 1}-D unbatched one for a rank-{r} pool, got {xa.ndim}-D with shape "
            f"{xa.shape}"
        )
    unbatched = xa.ndim == r + 1
    xb = xa[None] if unbatched else xa
    spatial = xb.shape[2:] if fmt == FIRST else xb.shape[1:-1]
    n, c = (xb.shape[0], xb.shape[1]) if fmt == FIRST else (xb.shape[0], xb.shape[-1])
    geom = pool_geometry(spatial, pool_size, strides, padding, dilation=dilation,
                         ceil_mode=ceil)
    gy = None if grad_y is None else as_numeric(grad_y, "grad_y")
    out = result_dtype(xa) if gy is None else result_dtype(xa, gy)
    xc = _canonical(xa, fmt, unbatched).astype(compute_dtype(out), copy=False)
    call = _Call(xc, geom, out, fmt, unbatched, (n, c))
    if gy is not None:
        want = call.out_shape()
        if gy.shape != want:
            raise ValueError(
                f"grad_y: must have the shape of the forward pool's output, {want} here, "
                f"got {gy.shape}"
            )
        gy = call.canonical(gy).astype(call.x.dtype, copy=False)
    return call, gy


# -- the engine: one strided view per window tap ---------------------------------------------


def _taps(geom: PoolGeometry):
    """Every tap of the window in row-major order (the order PyTorch scans a window)."""
    return enumerate(np.ndindex(*geom.pool_size))


def _window(a: np.ndarray, geom: PoolGeometry, tap: tuple[int, ...]) -> np.ndarray:
    """Tap ``tap`` of every window: ``(B, *reach-padded, C) -> (B, *out, C)``, a view."""
    return a[(slice(None), *(
        slice(j * d, j * d + (o - 1) * s + 1, s)
        for j, d, o, s in zip(tap, geom.dilation, geom.out_shape, geom.strides)
    ), slice(None))]


def _inner(geom: PoolGeometry) -> tuple[slice, ...]:
    """Where the input lies in the padded array."""
    return (slice(None), *(slice(b, b + n) for n, (b, _) in zip(geom.in_shape, geom.reach)),
            slice(None))


def _pad(x: np.ndarray, geom: PoolGeometry, fill: float) -> np.ndarray:
    """``x`` ``(B, *spatial, C)`` padded by ``geom.reach`` with ``fill``."""
    reach = geom.reach
    if all(b == 0 and a == 0 for b, a in reach):
        return x
    shape = (x.shape[0], *(n + b + a for n, (b, a) in zip(geom.in_shape, reach)), x.shape[-1])
    xp = np.full(shape, fill, dtype=x.dtype)
    xp[_inner(geom)] = x
    return xp


def _along(v: np.ndarray, axis: int, rank: int) -> np.ndarray:
    """A vector over the outputs of spatial ``axis`` shaped to broadcast against
    ``(B, *out, C)``."""
    return v.reshape(1, *(-1 if a == axis else 1 for a in range(rank)), 1)


def _grid(geom: PoolGeometry, values: Sequence[np.ndarray], op) -> np.ndarray:
    """Per-axis vectors over the output combined by ``op`` into a ``(1, *out, 1)`` array."""
    out = None
    for axis, v in enumerate(values):
        v = _along(v, axis, geom.rank)
        out = v if out is None else op(out, v)
    return out


def _max(call: _Call) -> np.ndarray:
    """Max pooling's values ``(B, *out, C)``; NaN wins a window, as in PyTorch."""
    xp = _pad(call.x, call.geom, -np.inf)
    y = None
    for _, j in _taps(call.geom):
        v = _window(xp, call.geom, j)
        if y is None:
            y = np.array(v)
        else:
            np.maximum(y, v, out=y)
    return y


def _argmax(call: _Call) -> tuple[np.ndarray, np.ndarray]:
    """Max pooling's values and, per output, the tap that holds them, by PyTorch's scan:
    a tap replaces the running maximum if it is greater or NaN; the scan starts from the
    window's first tap inside the input (so a window of -inf picks a real element)."""
    g = call.geom
    xp = _pad(call.x, g, -np.inf)
    shape = (call.x.shape[0], *g.out_shape, call.x.shape[-1])
    ntaps = math.prod(g.pool_size)
    tap = np.empty(shape, dtype=np.min_scalar_type(ntaps - 1))
    # the first tap inside the input: its per-axis index, raveled in row-major window order
    firsts = [g.taps_inside(axis, 0, n)[0] for axis, n in enumerate(g.in_shape)]
    weights = [math.prod(g.pool_size[axis + 1:]) for axis in range(g.rank)]
    tap[...] = _grid(g, [f * w for f, w in zip(firsts, weights)], np.add)
    best = np.full(shape, -np.inf, dtype=call.x.dtype)
    take = np.empty(shape, dtype=bool)
    nan = np.empty(shape, dtype=bool) if np.isnan(call.x).any() else None
    for t, j in _taps(g):
        v = _window(xp, g, j)
        np.greater(v, best, out=take)
        if nan is not None:
            take |= np.isnan(v, out=nan)
        np.copyto(best, v, where=take)
        np.copyto(tap, tap.dtype.type(t), where=take)
    return best, tap


def _indices(call: _Call, tap: np.ndarray) -> np.ndarray:
    """PyTorch's indices: each maximum's position in its channel's flattened spatial input."""
    g = call.geom
    index = np.zeros(tap.shape, dtype=np.int64)
    rest = tap.astype(np.int64)
    place = 1
    for axis in reversed(range(g.rank)):
        k, n = g.pool_size[axis], g.in_shape[axis]
        j = rest % k
        rest //= k
        start = _along(np.arange(g.out_shape[axis]) * g.strides[axis] - g.pads[axis][0], axis,
                       g.rank)
        index += (start + j * g.dilation[axis]) * place
        place *= n
    return index


def _divisor(g: PoolGeometry, count_include_pad: bool, divisor_override: int | None,
             dtype: np.dtype) -> np.ndarray:
    """What each average window divides by, ``(1, *out, 1)`` (or a scalar override)."""
    if divisor_override is not None:
        return np.asarray(divisor_override, dtype=dtype)
    counts = [
        g.taps_inside(axis, -b, n + a)[1] if count_include_pad else g.taps_inside(axis, 0, n)[1]
        for axis, (n, (b, a)) in enumerate(zip(g.in_shape, g.pads))
    ]
    return _grid(g, counts, np.multiply).astype(dtype)


def _sum(call: _Call) -> np.ndarray:
    """The sum of each window, ``(B, *out, C)``, its taps added in row-major order."""
    xp = _pad(call.x, call.geom, 0.0)
    y = None
    for _, j in _taps(call.geom):
        v = _window(xp, call.geom, j)
        if y is None:
            y = np.array(v)
        else:
            np.add(y, v, out=y)
    return y


def _scatter(call: _Call, g: np.ndarray, tap: np.ndarray | None) -> np.ndarray:
    """The adjoint of reading windows: add ``g`` ``(B, *out, C)`` back onto the input pixels
    each window tap read (only at the winning tap when ``tap`` is given), padding dropped."""
    geom = call.geom
    shape = (g.shape[0], *(n + b + a for n, (b, a) in zip(geom.in_shape, geom.reach)),
             g.shape[-1])
    gxp = np.zeros(shape, dtype=g.dtype)
    for t, j in _taps(geom):
        view = _window(gxp, geom, j)  # within one tap no two outputs share a pixel
        view += g if tap is None else np.where(tap == t, g, 0)
    return gxp[_inner(geom)]


def _max_backward(call: _Call, gy: np.ndarray) -> np.ndarray:
    """Max pooling's ``dL/dx``: each output's gradient to its window's winner.

    Without NaN in ``x``, PyTorch's scan picks the first tap inside the input (row-major) that
    equals the window's maximum; with NaN padding no padding tap equals anything, so one pass
    of comparisons finds it, each tap claiming the outputs no earlier tap claimed. With NaN in
    ``x``, the scan itself (:func:`_argmax`) picks the last NaN.
    """
    if np.isnan(call.x).any():
        return _scatter(call, gy, _argmax(call)[1])
    g = call.geom
    xp = _pad(call.x, g, np.nan)
    views = [_window(xp, g, j) for _, j in _taps(g)]
    y = np.array(views[0])
    for v in views[1:]:
        np.fmax(y, v, out=y)  # the maximum of the real taps: fmax skips the NaN padding
    gxp = np.zeros((gy.shape[0], *xp.shape[1:-1], gy.shape[-1]), dtype=gy.dtype)
    claimed = np.zeros(y.shape, dtype=bool)
    hit = np.empty(y.shape, dtype=bool)
    for (t, j), v in zip(_taps(g), views):
        np.equal(v, y, out=hit)
        if t:
            np.greater(hit, claimed, out=hit)  # hit and not claimed by an earlier tap
        if t < len(views) - 1:
            claimed |= hit
        view = _window(gxp, g, j)
        view += np.where(hit, gy, 0)
    return gxp[_inner(g)]


def _compiled(call: _Call) -> native_pool.Windows | None:
    """The windows for the compiled kernel (``algorithms/native_pool.py``), or None where the
    NumPy engine above runs (no compiled core, another dtype)."""
    g = call.geom
    if not native_pool.supports(call.x, g.rank, math.prod(g.pool_size)):
        return None
    return native_pool.Windows.of(g.in_shape, g.out_shape, g.pool_size, g.strides, g.dilation,
                                  tuple(b for b, _ in g.pads))


# -- the public functions ----------------------------------------------------------------------


def max_pool(
    x: object,
    pool_size: object,
    strides: object = None,
    padding: object = "valid",
    *,
    data_format: str = "channels_last",
    dilation: object = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
    rank: int | None = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Max pooling of any rank r >= 1: the maximum of each (dilated) window, per channel.

    Keras's ``MaxPooling{1,2,3}D``/``keras.ops.max_pool`` ("valid", "same": the padding never
    wins a window) and PyTorch's ``F.max_pool{1,2,3}d`` (explicit padding, ``dilation``,
    ``ceil_mode``, ``return_indices``) in one function.

    Parameters
    ----------
    x : array, shape (N, *spatial, C) for "channels_last" (or "NWC", "NHWC", "NDHWC") or
        (N, C, *spatial) for "channels_first" ("NCW", "NCHW", "NCDHW"); one dimension fewer is
        one unbatched example
    pool_size : int or r ints
    strides : int, r ints, or None for ``pool_size`` (both frameworks' default)
    padding : "valid", "same" (TensorFlow's: output ``ceil(n / s)``, the extra pixel after), an
        int, r ints (each side of that axis, PyTorch's) or r (before, after) pairs; padding is
        ``-inf``, and every window must overlap the input
    dilation : int or r ints (PyTorch's)
    ceil_mode : bool, PyTorch's: round the output size up (a last window may run past the
        padded input, but must start inside the input or its left padding)
    return_indices : bool, also return PyTorch's indices: where each maximum lies in its
        channel's flattened spatial input (``i * W + j`` for an image), int64
    rank : int or None: the number of spatial axes r; None takes ``len(pool_size)`` when it is
        a sequence, else the rank an explicit ``data_format`` name says ("NHWC": 2), else
        ``x.ndim - 2`` (a batch: an unbatched ``x`` with an int ``pool_size`` needs ``rank``)

    Returns
    -------
    ndarray, shape (N, *out, C) or (N, C, *out) (without N for unbatched ``x``), and the
    indices of the same shape if asked. NaN in a window gives NaN (PyTorch's).

    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)           # (N, C, H, W)
    >>> max_pool(x, 2, data_format="channels_first")[0, 0]
    array([[ 5.,  7.],
           [13., 15.]])
    >>> y, i = max_pool(x, 3, 2, padding=1, data_format="NCHW", return_indices=True)
    >>> i[0, 0]
    array([[ 5,  7],
           [13, 15]])
    """
    call, _ = _resolve(x, pool_size, strides, padding, data_format, dilation, ceil_mode, rank)
    want_index = _check_bool(return_indices, "return_indices")
    windows = _compiled(call)
    if windows is not None:
        y, index = native_pool.max_forward(call.x, windows, want_index)
    elif not want_index:
        return call.caller(_max(call))
    else:
        y, tap = _argmax(call)
        index = _indices(call, tap)
    if not want_index:
        return call.caller(y)
    return call.caller(y), call.caller(index, np.dtype(np.int64))


def _check_divisor(divisor_override: object) -> int | None:
    if divisor_override is None:
        return None
    if not _is_int(divisor_override) or divisor_override == 0:
        raise ValueError(
            f"divisor_override: expected a non-zero int or None, got {divisor_override!r}"
        )
    return int(divisor_override)


def _include_pad(count_include_pad: object, padding: object) -> bool:
    """None: TensorFlow's rule (real elements only) for padding strings, PyTorch's default
    (padding counts) for explicit padding."""
    include = _check_bool(count_include_pad, "count_include_pad", none=True)
    return (not isinstance(padding, str)) if include is None else include


def avg_pool(
    x: object,
    pool_size: object,
    strides: object = None,
    padding: object = "valid",
    *,
    data_format: str = "channels_last",
    dilation: object = 1,
    ceil_mode: bool = False,
    count_include_pad: bool | None = None,
    divisor_override: int | None = None,
    rank: int | None = None,
) -> np.ndarray:
    """Average pooling of any rank r >= 1: the mean of each window, per channel.

    Keras's ``AveragePooling{1,2,3}D``/``keras.ops.average_pool`` ("same" divides by the
    number of real elements in the window) and PyTorch's ``F.avg_pool{1,2,3}d`` (explicit
    padding counted in the divisor by default, ``ceil_mode``, ``count_include_pad``,
    ``divisor_override``) in one function. Arguments as :func:`max_pool`, and:

    Parameters
    ----------
    count_include_pad : bool or None
        Whether padding counts in the divisor (PyTorch's meaning: the taps of a window inside
        the padded input count, those past it by ``ceil_mode`` never do). None: False for a
        padding string (TensorFlow's "same"), True for explicit padding (PyTorch's default).
    divisor_override : non-zero int or None
        Divide every window's sum by this instead (PyTorch's).
    dilation : int or r ints
        Not in either framework's average pooling; the mean of the dilated taps.

    >>> x = np.arange(1.0, 6.0).reshape(1, 5, 1)            # (N, L, C)
    >>> avg_pool(x, 2, padding="same")[0, :, 0]           # Keras: [1.5, 3.5, 5 / 1]
    array([1.5, 3.5, 5. ])
    >>> avg_pool(x, 2, padding=1, ceil_mode=True)[0, :, 0]  # PyTorch: [1 / 2, 5 / 2, 9 / 2]
    array([0.5, 2.5, 4.5])
    """
    call, _ = _resolve(x, pool_size, strides, padding, data_format, dilation, ceil_mode, rank)
    div = _divisor(call.geom, _include_pad(count_include_pad, padding),
                   _check_divisor(divisor_override), call.x.dtype)
    windows = _compiled(call)
    if windows is not None:
        return call.caller(native_pool.avg_forward(call.x, windows, div))
    y = _sum(call)
    y /= div
    return call.caller(y)


def max_pool_backward(
    grad_y: object,
    x: object,
    pool_size: object,
    strides: object = None,
    padding: object = "valid",
    *,
    data_format: str = "channels_last",
    dilation: object = 1,
    ceil_mode: bool = False,
    rank: int | None = None,
) -> np.ndarray:
    """``dL/dx`` of ``max_pool(x, ...)`` given ``grad_y = dL/dy`` (the output's shape).

    Each output's gradient goes to the one input element that :func:`max_pool` reports as its
    maximum (the first maximum of the window in row-major order; the last NaN if any):
    PyTorch's rule, and TensorFlow's CPU kernel's. Where windows overlap, an element collects
    the gradients of every window it wins. Arguments as :func:`max_pool`.

    >>> x = np.array([[3.0, 3.0, 1.0, 2.0]]).reshape(1, 4, 1)   # a tie in the first window
    >>> max_pool_backward(np.array([10.0, 20.0]).reshape(1, 2, 1), x, 2)[0, :, 0]
    array([10.,  0.,  0., 20.])
    """
    call, gy = _resolve(x, pool_size, strides, padding, data_format, dilation, ceil_mode, rank,
                        grad_y)
    windows = _compiled(call)
    if windows is not None:
        return call.caller(native_pool.max_backward(call.x, gy, windows))
    return call.caller(_max_backward(call, gy))


def avg_pool_backward(
    grad_y: object,
    x: object,
    pool_size: object,
    strides: object = None,
    padding: object = "valid",
    *,
    data_format: str = "channels_last",
    dilation: object = 1,
    ceil_mode: bool = False,
    count_include_pad: bool | None = None,
    divisor_override: int | None = None,
    rank: int | None = None,
) -> np.ndarray:
    """``dL/dx`` of ``avg_pool(x, ...)`` given ``grad_y = dL/dy`` (the output's shape): each
    output's gradient divided by its window's divisor, added to every input element the
    window reads. Only ``x``'s shape and dtype matter. Arguments as :func:`avg_pool`.

    >>> avg_pool_backward(np.ones((1, 3, 1)), np.zeros((1, 5, 1)), 2, padding="same")[0, :, 0]
    array([0.5, 0.5, 0.5, 0.5, 1. ])
    """
    call, gy = _resolve(x, pool_size, strides, padding, data_format, dilation, ceil_mode, rank,
                        grad_y)
    div = _divisor(call.geom, _include_pad(count_include_pad, padding),
                   _check_divisor(divisor_override), call.x.dtype)
    windows = _compiled(call)
    if windows is not None:
        return call.caller(native_pool.avg_backward(gy, call.x.shape, windows, div))
    return call.caller(_scatter(call, gy / div, None))
