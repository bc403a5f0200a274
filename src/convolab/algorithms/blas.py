"""``C = A @ B + beta * C`` through ``ctypes`` in NumPy's own OpenBLAS (``cblas_?gemm``).

NumPy's ``matmul`` always overwrites its output; the per-tap algorithms (``implicit``'s forward,
``phased``'s input gradient) sum one GEMM per kernel tap into the same matrix, which is BLAS's
own ``beta = 1``. ``ctypes`` releases the GIL, so the scheduler's workers multiply at the same
time. When ``threadpoolctl`` or NumPy's OpenBLAS (or its ``cblas_?gemm``) cannot be found,
:func:`gemms` is empty and the algorithms using it report themselves unsupported.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
from collections.abc import Iterator

import numpy as np

# Each tap's GEMM is (M x C) @ (C x O): with fewer channels in or out, OpenBLAS crawls
# (measured: C = 1 10x slower than im2col on img3x3, O = 1 5x slower on LeNet's input gradient).
MIN_CHANNELS = 4
ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112  # CBLAS enums
_found: dict = {}


def _library() -> ctypes.CDLL | None:
    """NumPy's own OpenBLAS, or None."""
    if "library" not in _found:
        try:
            from threadpoolctl import threadpool_info

            paths = [i["filepath"] for i in threadpool_info()
                     if i["user_api"] == "blas" and i["internal_api"] == "openblas"
                     and "numpy" in i["filepath"]]
            _found["library"] = ctypes.CDLL(paths[0]) if paths else None
        except (ImportError, OSError):
            _found["library"] = None
    return _found["library"]


def gemms() -> dict:
    """``{dtype: cblas_?gemm}`` of NumPy's OpenBLAS (float32, float64), or ``{}``."""
    if "loaded" in _found:
        return _found["loaded"]
    found: dict = {}
    lib = _library()
    # (symbol pattern, integer width): scipy-openblas wheels (64- or 32-bit ints), plain OpenBLAS
    for pattern, index in (("scipy_cblas_{}gemm64_", ctypes.c_int64),
                           ("cblas_{}gemm64_", ctypes.c_int64),
                           ("scipy_cblas_{}gemm", ctypes.c_int32),
                           ("cblas_{}gemm", ctypes.c_int32)):
        if lib is None or found:
            break
        for dtype, char, scalar in ((np.float32, "s", ctypes.c_float),
                                    (np.float64, "d", ctypes.c_double)):
            fn = getattr(lib, pattern.format(char), None)
            if fn is None:
                continue
            fn.restype = None
            fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, index, index, index,
                           scalar, ctypes.c_void_p, index, ctypes.c_void_p, index, scalar,
                           ctypes.c_void_p, index]
            found[np.dtype(dtype)] = fn
    _found["loaded"] = found
    return found


def gemm(a: np.ndarray, off: int, m: int, b: np.ndarray, c: np.ndarray, beta: float) -> None:
    """``c[:m] = a[off : off + m] @ b + beta * c[:m]`` for C-contiguous 2-D float arrays.

    ``a`` (rows, k), ``b`` (k, n), ``c`` (at least m, n), all of one dtype in :func:`gemms`.
    ``c`` may be a view starting anywhere in a contiguous array (``phased`` writes at offsets).

    >>> a, b = np.arange(6.0).reshape(3, 2), np.eye(2)
    >>> c = np.ones((2, 2))
    >>> if gemms():  # without NumPy's OpenBLAS there is nothing to call
    ...     gemm(a, 1, 2, b, c, 1.0)
    ...     print(c.tolist())
    ... else:
    ...     print([[3.0, 4.0], [5.0, 6.0]])
    [[3.0, 4.0], [5.0, 6.0]]
    """
    k, n = b.shape
    item = a.itemsize
    gemms()[a.dtype](ROW_MAJOR, NO_TRANS, NO_TRANS, m, n, k, 1.0,
                     a.ctypes.data + off * k * item, k, b.ctypes.data, n, beta, c.ctypes.data, n)


def _thread_calls() -> tuple | None:
    """NumPy's OpenBLAS's ``(get_num_threads, set_num_threads)``, or None."""
    if "threads" not in _found:
        lib, calls = _library(), None
        for prefix, suffix in (("scipy_openblas", "64_"), ("scipy_openblas", ""),
                               ("openblas", "")):
            get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None) if lib else None
            put = getattr(lib, f"{prefix}_set_num_threads{suffix}", None) if lib else None
            if get is not None and put is not None:
                get.restype, get.argtypes = ctypes.c_int, []
                put.restype, put.argtypes = None, [ctypes.c_int]
                calls = (get, put)
                break
        _found["threads"] = calls
    return _found["threads"]


_one = {"depth": 0, "before": 0}
_one_lock = threading.Lock()


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """NumPy's OpenBLAS at one thread inside the block, by its own calls (~1 us; threadpoolctl
    takes ~50-150 us, more than a small product). Nested and concurrent blocks restore the
    count when the last one leaves. Without NumPy's OpenBLAS, nothing is changed."""
    calls = _thread_calls()
    if calls is None:
        yield
        return
    get, put = calls
    with _one_lock:
        if _one["depth"] == 0:
            _one["before"] = get()
            put(1)
        _one["depth"] += 1
    try:
        yield
    finally:
        with _one_lock:
            _one["depth"] -= 1
            if _one["depth"] == 0:
                put(_one["before"])
