"""Validate a conv call's arguments once, at the public edge, and make them canonical.

Everything below ``ops`` sees NHWC inputs, HWIO kernels, one float dtype, explicit padding and
a canonical padding mode; this module is where user input becomes that (or a clear error).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from convolab.algorithms import ConvProblem, layout
from convolab.padding import check_padding_fits
from convolab.shapes import conv_geometry, normalize_padding_mode

LAST, FIRST = "channels_last", "channels_first"  # the canonical layout names
# layout name -> (canonical layout, the rank it names, or None for any rank)
_DATA_FORMATS: dict[str, tuple[str, int | None]] = {
    "CHANNELS_LAST": (LAST, None), "CHANNELS_FIRST": (FIRST, None),
    "NWC": (LAST, 1), "NHWC": (LAST, 2), "NDHWC": (LAST, 3),
    "NCW": (FIRST, 1), "NCHW": (FIRST, 2), "NCDHW": (FIRST, 3),
}
_KERNEL_FORMATS: dict[str, tuple[str, int | None]] = {
    "CHANNELS_LAST": (LAST, None), "CHANNELS_FIRST": (FIRST, None),
    "WIO": (LAST, 1), "HWIO": (LAST, 2), "DHWIO": (LAST, 3),
    "OIW": (FIRST, 1), "OIHW": (FIRST, 2), "OIDHW": (FIRST, 3),
}
_SPATIAL = {1: "W", 2: "HW", 3: "DHW"}
_FLOATS = (np.float16, np.float32, np.float64)
_FLOAT16, _FLOAT32 = np.dtype(np.float16), np.dtype(np.float32)


def is_dask_array(x: object) -> bool:
    """Whether ``x`` is a Dask collection (dispatched to ``convolab.chunked``, imported lazily)."""
    return type(x).__module__.startswith("dask.")


def as_numeric(value: object, name: str) -> np.ndarray:
    """``np.asarray(value)``, refusing complex, object, string and exotic float dtypes."""
    if is_dask_array(value):  # np.asarray would compute it, all in memory, silently
        raise TypeError(
            f"{name}: a Dask array is taken lazily as the input of conv, conv1d/2d/3d, corr, "
            f"convolve, corr2d and convolve2d only; pass a NumPy array here (e.g. "
            f"{name}.compute())"
        )
    try:
        a = np.asarray(value)
    except (ValueError, TypeError) as exc:  # ragged nested lists, ...
        raise TypeError(
            f"{name}: expected a numeric array, got {type(value).__name__}: {exc}"
        ) from None
    if a.dtype.kind in "biu" or a.dtype.type in _FLOATS:
        return a
    raise TypeError(
        f"{name}: expected a real float16/32/64, int or bool array, got dtype {a.dtype}"
    )


def as_2d(value: object, name: str) -> np.ndarray:
    """:func:`as_numeric`, required to be 2-D (an image or a kernel of the seed's primitives)."""
    a = as_numeric(value, name)
    if a.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array, got {a.ndim}-D with shape {a.shape}")
    return a


def result_dtype(*arrays: np.ndarray | None) -> np.dtype:
    """NumPy promotion over the float inputs; int and bool count as float64."""
    first = arrays[0].dtype if arrays and arrays[0] is not None else None
    # the usual call: one native float dtype throughout, which promotes to itself
    if first is not None and first.kind == "f" and first.isnative and all(
        a is None or a.dtype == first for a in arrays
    ):
        return first
    dts = [
        a.dtype if a.dtype.kind == "f" else np.dtype(np.float64)
        for a in arrays
        if a is not None
    ]
    return np.result_type(*dts)


def compute_dtype(out: np.dtype) -> np.dtype:
    """float16 is computed in float32 (BLAS has no half GEMM) and rounded back at the end."""
    return _FLOAT32 if out == _FLOAT16 else out


def layout_names(rank: int) -> tuple[str, str, str, str]:
    """``(channels-last x, channels-first x, channels-last w, channels-first w)`` names of a
    rank: ``("NHWC", "NCHW", "HWIO", "OIHW")`` for images; generic past rank 3."""
    sp = _SPATIAL.get(rank)
    if sp is None:
        return ("(N, *spatial, C)", "(N, C, *spatial)", "(*kernel, C/groups, O)",
                "(O, C/groups, *kernel)")
    return f"N{sp}C", f"NC{sp}", f"{sp}IO", f"OI{sp}"


def _layout(value: object, table: dict[str, tuple[str, int | None]], name: str, rank: int,
            default: str | None = None) -> str:
    key = value.upper() if isinstance(value, str) else None
    if value is None and default is not None:
        return default
    found = table.get(key) if key else None
    if found is None or found[1] not in (None, rank):
        names = layout_names(rank)
        last, first = (names[0], names[1]) if table is _DATA_FORMATS else (names[2], names[3])
        raise ValueError(
            f"{name}: expected {last!r} or 'channels_last', {first!r} or 'channels_first' "
            f"for a rank-{rank} conv, got {value!r}"
        )
    return found[0]


def normalize_data_format(data_format: object, rank: int = 2) -> str:
    """``"channels_last"`` or ``"channels_first"`` from any accepted name; an explicit name
    ("NHWC", "NCDHW", ...) must be of the conv's rank."""
    return _layout(data_format, _DATA_FORMATS, "data_format", rank)


def normalize_kernel_format(kernel_format: object, rank: int = 2,
                            data_format: str | None = None) -> str:
    """``"channels_last"`` (``(*kernel, C/groups, O)``, Keras's) or ``"channels_first"``
    (``(O, C/groups, *kernel)``, PyTorch's); None follows the canonical ``data_format``."""
    return _layout(kernel_format, _KERNEL_FORMATS, "kernel_format", rank, data_format)


def check_groups(groups: object) -> int:
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"groups: expected a positive int, received groups={groups!r}")
    return int(groups)


def _shape_text(rank: int, channels_last: bool, kernel: bool) -> str:
    """``"HWIO (kh, kw, C/groups, O)"``, ``"NCW (N, C, L)"``, ...: a layout's name and shape."""
    names = layout_names(rank)
    name = names[(2 if kernel else 0) + (0 if channels_last else 1)]
    axes = {1: "L", 2: "HW", 3: "DHW"}.get(rank)
    if axes is None:
        return name
    if kernel:
        sp = ", ".join(f"k{a.lower()}" for a in axes) if rank > 1 else "k"
        return f"{name} ({sp}, C/groups, O)" if channels_last else f"{name} (O, C/groups, {sp})"
    sp = ", ".join(axes)
    return f"{name} (N, {sp}, C)" if channels_last else f"{name} (N, C, {sp})"


def to_channels_last(x: np.ndarray, data_format: str, rank: int,
                     name: str = "x") -> tuple[np.ndarray, bool]:
    """``x`` as a channels-last batch ``(N, *spatial, C)`` (a view), and whether it was one
    unbatched example (one dimension fewer)."""
    if x.ndim not in (rank + 1, rank + 2):
        shape = _shape_text(rank, data_format == LAST, kernel=False)
        raise ValueError(
            f"{name}: expected a {rank + 2}-D {shape} array or a {rank + 1}-D unbatched one "
            f"for a rank-{rank} conv, got {x.ndim}-D with shape {x.shape}"
        )
    unbatched = x.ndim == rank + 1
    if unbatched:
        x = x[None]
    if data_format == FIRST:
        x = np.moveaxis(x, 1, -1)
    return x, unbatched


def from_channels_last(y: np.ndarray, data_format: str, unbatched: bool) -> np.ndarray:
    """Inverse of :func:`to_channels_last` for a result: the caller's layout, contiguous."""
    if data_format == FIRST:
        y = layout.channels_first(y)
    return np.ascontiguousarray(y[0] if unbatched else y)


def to_kernel_last(w: np.ndarray, kernel_format: str, rank: int, name: str = "w") -> np.ndarray:
    """``w`` as ``(*kernel, C/groups, O)`` (HWIO for images; a view)."""
    if w.ndim != rank + 2:
        shape = _shape_text(rank, kernel_format == LAST, kernel=True)
        raise ValueError(
            f"{name}: expected a {rank + 2}-D {shape} kernel for a rank-{rank} conv, "
            f"got {w.ndim}-D with shape {w.shape}"
        )
    if kernel_format == FIRST:  # (O, I, *k) -> (*k, I, O)
        return w.transpose(*range(2, rank + 2), 1, 0)
    return w


def from_kernel_last(w: np.ndarray, kernel_format: str) -> np.ndarray:
    """Inverse of :func:`to_kernel_last`: a ``(*kernel, I, O)`` kernel in the caller's format."""
    if kernel_format == FIRST:
        r = w.ndim - 2
        return w.transpose(r + 1, r, *range(r))
    return w


@dataclass(frozen=True)
class Prepared:
    """A conv call made canonical: channels-last ``x`` and ``w``, resolved problem, output
    dtype, and the caller's layout.

    From :func:`resolve` the arrays are views in the caller's dtype; from :func:`prepare` they
    are C-contiguous copies (only where needed) in the compute dtype, ready for an algorithm.
    """

    x: np.ndarray  # (N, *spatial, C): (N, H, W, C) for images
    w: np.ndarray  # (*kernel, C/groups, O): (kh, kw, C/groups, O) for images
    bias: np.ndarray | None  # (O,)
    problem: ConvProblem
    out_dtype: np.dtype
    data_format: str  # the caller's layout: "channels_last" or "channels_first"
    unbatched: bool
    kernel_format: str = LAST  # the caller's kernel layout, likewise


def check_channels(c: int, w_shape: tuple[int, ...], groups: int, bias: np.ndarray | None,
                   x_name: str = "x", w_name: str = "w") -> None:
    """Channel counts of input, kernel ``(*kernel, C/groups, O)``, groups and bias must agree."""
    cg, o = w_shape[-2:]
    if min(w_shape) < 1:
        raise ValueError(f"{w_name}: every kernel dimension must be >= 1, got (*kernel, "
                         f"C/groups, O) = {w_shape}")
    if c % groups:
        raise ValueError(f"groups: must divide the input channels C={c}, got groups={groups}")
    if o % groups:
        raise ValueError(f"groups: must divide the output channels O={o}, got groups={groups}")
    if c != cg * groups:
        raise ValueError(
            f"{x_name}: has C={c} channels but {w_name} expects C/groups={cg} x groups={groups} "
            f"= {cg * groups}"
        )
    if bias is not None and bias.shape != (o,):
        raise ValueError(f"bias: expected shape ({o},) (one per output channel), got {bias.shape}")


def check_padding_value(value: object, padding_mode: object) -> float:
    """``padding_value`` as a float; a constant other than 0 only with a constant border."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)) \
            or isinstance(value, complex):
        raise TypeError(f"padding_value: expected a real number, got {value!r}")
    value = float(value)
    if value and normalize_padding_mode(padding_mode) != "zeros":
        raise ValueError(
            f"padding_value: a constant border needs padding_mode='constant' (or 'zeros'), "
            f"got padding_value={value!r} with padding_mode={padding_mode!r}"
        )
    return value


def constant_border(prep: Prepared, value: float) -> Prepared:
    """A ready call whose border is the constant ``value``: its input padded by that value
    (a copy, in the compute dtype), its problem the same conv with no padding left."""
    p = prep.problem
    x = np.pad(prep.x, ((0, 0), *p.geom.pads, (0, 0)), constant_values=value)
    g = p.geom
    geom = conv_geometry(x.shape[1:-1], g.kernel_shape, stride=g.stride, padding=0,
                         dilation=g.dilation)
    problem = ConvProblem(x.shape, p.w_shape, geom, p.groups, "zeros", p.dtype)
    return Prepared(x, prep.w, prep.bias, problem, prep.out_dtype, prep.data_format,
                    prep.unbatched, prep.kernel_format)


def kernel_rank(w: np.ndarray, name: str = "w") -> int:
    """The number of spatial axes of a conv whose kernel is ``w``: ``w.ndim - 2``."""
    if w.ndim < 3:
        raise ValueError(
            f"{name}: expected a kernel with at least one spatial axis, (*kernel, C/groups, O) "
            f"or (O, C/groups, *kernel), got {w.ndim}-D with shape {w.shape}"
        )
    return w.ndim - 2


def resolve(
    x: object,
    w: object,
    bias: object = None,
    *,
    rank: int | None = None,
    stride: object = 1,
    padding: object = "valid",
    dilation: object = 1,
    groups: object = 1,
    data_format: object = "channels_last",
    kernel_format: object = None,
    padding_mode: object = "zeros",
) -> Prepared:
    """Validate a conv call's shapes and options; arrays come back as canonical views.

    ``rank`` is the number of spatial axes the caller's function takes (``conv2d``: 2), or
    None to take it from ``w`` (``conv``). ``kernel_format=None`` follows ``data_format``.
    Nothing is copied, so ``x`` and ``w`` may be zero-byte stand-ins with the right shape and
    dtype (``cl.plan`` validates shapes this way).
    """
    mode = normalize_padding_mode(padding_mode)
    g = check_groups(groups)
    xa, wa = as_numeric(x, "x"), as_numeric(w, "w")
    ba = None if bias is None else as_numeric(bias, "bias")
    r = kernel_rank(wa) if rank is None else rank
    fmt = normalize_data_format(data_format, r)
    kfmt = normalize_kernel_format(kernel_format, r, fmt)
    xl, unbatched = to_channels_last(xa, fmt, r)
    wl = to_kernel_last(wa, kfmt, r)
    if ba is not None and ba.ndim != 1:
        raise ValueError(f"bias: expected a 1-D array of length O, got shape {ba.shape}")
    check_channels(xl.shape[-1], wl.shape, g, ba)
    geom = conv_geometry(xl.shape[1:-1], wl.shape[:r], stride=stride, padding=padding,
                         dilation=dilation)
    check_padding_fits(geom.in_shape, geom.pads, mode)
    out = result_dtype(xa, wa, ba)
    problem = ConvProblem(xl.shape, wl.shape, geom, g, mode, compute_dtype(out))
    return Prepared(xl, wl, ba, problem, out, fmt, unbatched, kfmt)


def prepare(x: object, w: object, bias: object = None, **options: object) -> Prepared:
    """Validate a ``conv2d`` call (options as :func:`resolve`) and make its arrays ready for an
    algorithm: C-contiguous, in the compute dtype."""
    return ready(resolve(x, w, bias, **options))


def ready(r: Prepared) -> Prepared:
    """:func:`resolve`'s views made ready for an algorithm: C-contiguous, in the compute dtype
    (channels-first converted to channels-last here, once)."""
    dt = r.problem.dtype
    # ascontiguousarray and astype(copy=False) return the array itself when it is already
    # right; the bias is only read (added to the output), so it needs no copy of its own
    return Prepared(
        layout.contiguous_channels_last(r.x, dt),
        np.ascontiguousarray(r.w, dtype=dt),
        None if r.bias is None else r.bias.astype(dt, copy=False),
        r.problem, r.out_dtype, r.data_format, r.unbatched, r.kernel_format,
    )
