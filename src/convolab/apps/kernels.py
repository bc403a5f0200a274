"""Named 2-D kernels for filtering, and parsing a kernel written as text.

Every kernel is a float64 ``(kh, kw)`` array meant for *cross-correlation* (what ``corr2d`` and
``conv2d`` compute, 6.2.1): ``sobel_x`` is positive where intensity grows to the right.

>>> get_kernel("vertical_edge")  # the book's K = [[1, -1]] (6.2.3)
array([[ 1., -1.]])
>>> get_kernel("box", size=2)
array([[0.25, 0.25],
       [0.25, 0.25]])
"""

from __future__ import annotations

import ast
import difflib
import inspect
import math
import warnings
from collections.abc import Callable

import numpy as np


def _check_size(size: object) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size: expected a positive int, got size={size!r}")
    return int(size)


def identity(size: int = 3) -> np.ndarray:
    """``size x size`` (odd) with a single 1 in the centre: filtering leaves the image as is."""
    size = _check_size(size)
    if size % 2 == 0:
        raise ValueError(f"size: the identity kernel needs an odd size, got size={size}")
    k = np.zeros((size, size))
    k[size // 2, size // 2] = 1.0
    return k


def box(size: int = 3) -> np.ndarray:
    """``size x size`` mean filter (sums to 1)."""
    size = _check_size(size)
    return np.full((size, size), 1.0 / size**2)


def gaussian_size(sigma: float) -> int:
    """The size of a Gaussian of ``sigma`` when none is given: ``2*ceil(3*sigma) + 1``.

    The kernel then reaches ``3 sigma`` from its centre (as OpenCV's ``GaussianBlur`` does for
    8-bit images), where the curve has fallen to 1% of its peak.

    >>> gaussian_size(1.0), gaussian_size(5), gaussian_size(0.5)
    (7, 31, 5)
    """
    return 2 * math.ceil(3.0 * float(sigma)) + 1


def gaussian(size: int | None = None, sigma: float = 1.0) -> np.ndarray:
    """``size x size`` sampled Gaussian ``exp(-(y^2 + x^2) / (2 sigma^2))``, normalised to sum 1.

    Without ``size``, the size follows from ``sigma``: :func:`gaussian_size`, ``2*ceil(3 sigma)
    + 1`` (7 for the default ``sigma=1``). ``get_kernel`` warns when a given ``size`` cuts the
    curve before ``2 sigma`` (``size < 2*ceil(2 sigma) + 1``).
    """
    if not isinstance(sigma, (int, float, np.integer, np.floating)) or isinstance(sigma, bool) \
            or not sigma > 0 or not math.isfinite(sigma):
        raise ValueError(f"sigma: expected a positive number, got sigma={sigma!r}")
    size = gaussian_size(sigma) if size is None else _check_size(size)
    r = np.arange(size) - (size - 1) / 2  # (size,) offsets from the centre
    g = np.exp(-(r**2) / (2.0 * float(sigma) ** 2))
    k = np.outer(g, g)  # separable: (size, 1) x (1, size)
    return k / k.sum()


def _warn_if_cut(size: int, sigma: float) -> None:
    """Warn when a Gaussian's ``size`` is too small for its ``sigma`` (cut before 2 sigma)."""
    smallest = 2 * math.ceil(2.0 * float(sigma)) + 1
    if size < smallest:
        reach = (size - 1) / 2 / float(sigma)
        warnings.warn(
            f"gaussian: size={size} cuts a Gaussian of sigma={sigma:g} at {reach:.2g} sigma from "
            f"its centre; use size >= {smallest} (2 sigma), or leave size out for "
            f"{gaussian_size(sigma)} (3 sigma)", UserWarning, stacklevel=3)


def sharpen() -> np.ndarray:
    """3x3: the image plus its negated Laplacian (sums to 1)."""
    return np.array([[0.0, -1.0, 0.0], [-1.0, 5.0, -1.0], [0.0, -1.0, 0.0]])


def laplacian() -> np.ndarray:
    """3x3, 4-neighbour discrete Laplacian (sums to 0)."""
    return np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def _gradient_x(smooth: list[float]) -> np.ndarray:
    # (3, 1) smoothing across rows times (1, 3) central difference along columns.
    return np.outer(smooth, [-1.0, 0.0, 1.0])


def sobel_x() -> np.ndarray:
    """3x3 Sobel, d/dx (responds to vertical edges)."""
    return _gradient_x([1.0, 2.0, 1.0])


def sobel_y() -> np.ndarray:
    """3x3 Sobel, d/dy (responds to horizontal edges)."""
    return sobel_x().T.copy()


def prewitt_x() -> np.ndarray:
    """3x3 Prewitt, d/dx."""
    return _gradient_x([1.0, 1.0, 1.0])


def prewitt_y() -> np.ndarray:
    """3x3 Prewitt, d/dy."""
    return prewitt_x().T.copy()


def scharr_x() -> np.ndarray:
    """3x3 Scharr, d/dx (better rotational symmetry than Sobel)."""
    return _gradient_x([3.0, 10.0, 3.0])


def scharr_y() -> np.ndarray:
    """3x3 Scharr, d/dy."""
    return scharr_x().T.copy()


def vertical_edge() -> np.ndarray:
    """The book's ``K = [[1, -1]]`` (6.2.3): 1 at a white-to-black step, -1 at black-to-white."""
    return np.array([[1.0, -1.0]])


def horizontal_edge() -> np.ndarray:
    """The book's kernel transposed, ``[[1], [-1]]``: finds horizontal edges."""
    return vertical_edge().T.copy()


def emboss() -> np.ndarray:
    """3x3 emboss (relief lit from the top left; sums to 1)."""
    return np.array([[-2.0, -1.0, 0.0], [-1.0, 1.0, 1.0], [0.0, 1.0, 2.0]])


KERNELS: dict[str, Callable[..., np.ndarray]] = {
    f.__name__: f
    for f in (
        identity, box, gaussian, sharpen, laplacian, sobel_x, sobel_y, prewitt_x, prewitt_y,
        scharr_x, scharr_y, vertical_edge, horizontal_edge, emboss,
    )
}


def kernel_parameters(name: str) -> list[str]:
    """Names of the keyword parameters the kernel ``name`` takes (e.g. gaussian: size, sigma)."""
    return list(inspect.signature(KERNELS[name]).parameters)


def get_kernel(name: str, **params: object) -> np.ndarray:
    """The named kernel as a float64 ``(kh, kw)`` array.

    Parameters
    ----------
    name : one of ``KERNELS`` (case-insensitive; "-" may stand for "_")
    **params : the kernel's parameters, e.g. ``size`` and ``sigma`` for "gaussian" (without
        ``size``, a Gaussian's size follows from ``sigma``: ``2*ceil(3 sigma) + 1``; a given
        size smaller than ``2*ceil(2 sigma) + 1`` is warned about)

    >>> get_kernel("gaussian", size=5, sigma=1.0).sum().round(12)
    np.float64(1.0)
    >>> get_kernel("gaussian", sigma=2.0).shape
    (13, 13)
    >>> get_kernel("sobelx")
    Traceback (most recent call last):
    ...
    ValueError: kernel: unknown name 'sobelx' (did you mean 'sobel_x'?); choose from ...
    """
    key = name.lower().replace("-", "_") if isinstance(name, str) else name
    if key not in KERNELS:
        close = difflib.get_close_matches(str(key), list(KERNELS), n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(
            f"kernel: unknown name {name!r}{hint}; choose from {', '.join(KERNELS)}"
        )
    allowed = kernel_parameters(key)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        takes = f"takes {', '.join(allowed)}" if allowed else "takes no parameters"
        raise ValueError(f"kernel: {key!r} {takes}; got {', '.join(unknown)}")
    k = KERNELS[key](**params)
    if key == "gaussian" and params.get("size") is not None:
        _warn_if_cut(k.shape[0], params.get("sigma", 1.0))  # type: ignore[arg-type]
    return k


def parse_kernel(text: str) -> np.ndarray:
    """A kernel written as a nested list of numbers, e.g. ``"[[1, -1]]"``, as float64 2-D.

    >>> parse_kernel("[[1, -1]]")
    array([[ 1., -1.]])
    >>> parse_kernel("[[1, 2], [3]]")
    Traceback (most recent call last):
    ...
    ValueError: kernel: expected a 2-D list of numbers like "[[1, -1]]", got '[[1, 2], [3]]'
    """
    message = f'kernel: expected a 2-D list of numbers like "[[1, -1]]", got {text!r}'
    try:
        value = ast.literal_eval(text.strip())
        k = np.array(value, dtype=np.float64)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise ValueError(message) from None
    if k.ndim != 2 or k.size == 0 or not np.isfinite(k).all():
        raise ValueError(message)
    return k
