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

_DATA_FORMATS = {"NHWC": "NHWC", "CHANNELS_LAST": "NHWC", "NCHW": "NCHW", "CHANNELS_FIRST": "NCHW"}
_KERNEL_FORMATS = {"HWIO": "HWIO", "OIHW": "OIHW"}
_FLOATS = (np.float16, np.float32, np.float64)
_FLOAT16, _FLOAT32 = np.dtype(np.float16), np.dtype(np.float32)


def is_dask_array(x: object) -> bool:
    """Whether ``x`` is a Dask collection (dispatched to ``convolab.chunked``, imported lazily)."""
    return type(x).__module__.startswith("dask.")


def as_numeric(value: object, name: str) -> np.ndarray:
    """``np.asarray(value)``, refusing complex, object, string and exotic float dtypes."""
    if is_dask_array(value):  # np.asarray would compute it, all in memory, silently
        raise TypeError(
            f"{name}: a Dask array is taken lazily by conv2d, corr2d and convolve2d only; "
            f"pass a NumPy array here (e.g. {name}.compute())"
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


def normalize_data_format(data_format: object) -> str:
    key = data_format.upper() if isinstance(data_format, str) else None
    if key not in _DATA_FORMATS:
        raise ValueError(
            "data_format: expected 'NHWC' (channels_last) or 'NCHW' (channels_first), "
            f"got {data_format!r}"
        )
    return _DATA_FORMATS[key]


def normalize_kernel_format(kernel_format: object) -> str:
    key = kernel_format.upper() if isinstance(kernel_format, str) else None
    if key not in _KERNEL_FORMATS:
        raise ValueError(f"kernel_format: expected 'HWIO' or 'OIHW', got {kernel_format!r}")
    return _KERNEL_FORMATS[key]


def check_groups(groups: object) -> int:
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"groups: expected a positive int, received groups={groups!r}")
    return int(groups)


def to_nhwc(x: np.ndarray, data_format: str, name: str = "x") -> tuple[np.ndarray, bool]:
    """``x`` as a 4-D NHWC array (a view), and whether it was a 3-D unbatched example."""
    if x.ndim not in (3, 4):
        layout = "(N, H, W, C)" if data_format == "NHWC" else "(N, C, H, W)"
        raise ValueError(
            f"{name}: expected a 4-D {layout} array or a 3-D unbatched one, "
            f"got {x.ndim}-D with shape {x.shape}"
        )
    unbatched = x.ndim == 3
    if unbatched:
        x = x[None]
    if data_format == "NCHW":
        x = x.transpose(0, 2, 3, 1)
    return x, unbatched


def from_nhwc(y: np.ndarray, data_format: str, unbatched: bool) -> np.ndarray:
    """Inverse of :func:`to_nhwc` for a result: back to the caller's layout, contiguous."""
    if data_format == "NCHW":
        y = layout.nchw(y)
    return np.ascontiguousarray(y[0] if unbatched else y)


def to_hwio(w: np.ndarray, kernel_format: str, name: str = "w") -> np.ndarray:
    """``w`` as a 4-D HWIO array (a view)."""
    if w.ndim != 4:
        layout = "(kh, kw, C/groups, O)" if kernel_format == "HWIO" else "(O, C/groups, kh, kw)"
        raise ValueError(
            f"{name}: expected a 4-D {kernel_format} kernel {layout}, "
            f"got {w.ndim}-D with shape {w.shape}"
        )
    return w.transpose(2, 3, 1, 0) if kernel_format == "OIHW" else w


@dataclass(frozen=True)
class Prepared:
    """A conv call made canonical: NHWC ``x``, HWIO ``w``, resolved problem, output dtype.

    From :func:`resolve` the arrays are views in the caller's dtype; from :func:`prepare` they
    are C-contiguous copies (only where needed) in the compute dtype, ready for an algorithm.
    """

    x: np.ndarray  # (N, H, W, C)
    w: np.ndarray  # (kh, kw, C/groups, O)
    bias: np.ndarray | None  # (O,)
    problem: ConvProblem
    out_dtype: np.dtype
    data_format: str
    unbatched: bool


def check_channels(c: int, w_shape: tuple[int, ...], groups: int, bias: np.ndarray | None,
                   x_name: str = "x", w_name: str = "w") -> None:
    """Channel counts of input, kernel, groups and bias must agree."""
    kh, kw, cg, o = w_shape
    if min(kh, kw, cg, o) < 1:
        raise ValueError(f"{w_name}: every kernel dimension must be >= 1, got HWIO {w_shape}")
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


def resolve(
    x: object,
    w: object,
    bias: object = None,
    *,
    stride: object = 1,
    padding: object = "valid",
    dilation: object = 1,
    groups: object = 1,
    data_format: object = "NHWC",
    kernel_format: object = "HWIO",
    padding_mode: object = "zeros",
) -> Prepared:
    """Validate a ``conv2d`` call's shapes and options; arrays come back as canonical views.

    Nothing is copied, so ``x`` and ``w`` may be zero-byte stand-ins with the right shape and
    dtype (``cl.plan`` validates shapes this way).
    """
    fmt = normalize_data_format(data_format)
    kfmt = normalize_kernel_format(kernel_format)
    mode = normalize_padding_mode(padding_mode)
    g = check_groups(groups)
    xa, wa = as_numeric(x, "x"), as_numeric(w, "w")
    ba = None if bias is None else as_numeric(bias, "bias")
    x4, unbatched = to_nhwc(xa, fmt)
    w4 = to_hwio(wa, kfmt)
    if ba is not None and ba.ndim != 1:
        raise ValueError(f"bias: expected a 1-D array of length O, got shape {ba.shape}")
    check_channels(x4.shape[3], w4.shape, g, ba)
    if min(x4.shape[1:3]) < 1:
        raise ValueError(f"x: height and width must be >= 1, got {x4.shape[1:3]}")
    geom = conv_geometry(x4.shape[1:3], w4.shape[:2], stride=stride, padding=padding,
                         dilation=dilation)
    check_padding_fits(geom.in_shape, geom.pads, mode)
    out = result_dtype(xa, wa, ba)
    problem = ConvProblem(x4.shape, w4.shape, geom, g, mode, compute_dtype(out))
    return Prepared(x4, w4, ba, problem, out, fmt, unbatched)


def prepare(x: object, w: object, bias: object = None, **options: object) -> Prepared:
    """Validate a ``conv2d`` call (options as :func:`resolve`) and make its arrays ready for an
    algorithm: C-contiguous, in the compute dtype."""
    return ready(resolve(x, w, bias, **options))


def ready(r: Prepared) -> Prepared:
    """:func:`resolve`'s views made ready for an algorithm: C-contiguous, in the compute dtype
    (NCHW converted to NHWC here, once)."""
    dt = r.problem.dtype
    # ascontiguousarray and astype(copy=False) return the array itself when it is already
    # right; the bias is only read (added to the output), so it needs no copy of its own
    return Prepared(
        layout.contiguous_nhwc(r.x, dt),
        np.ascontiguousarray(r.w, dtype=dt),
        None if r.bias is None else r.bias.astype(dt, copy=False),
        r.problem, r.out_dtype, r.data_format, r.unbatched,
    )
