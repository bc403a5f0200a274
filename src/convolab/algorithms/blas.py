"""``C = A @ B + beta * C`` through ``ctypes`` in NumPy's own OpenBLAS (``cblas_?gemm``).

NumPy's ``matmul`` always overwrites its output; the per-tap algorithms (``implicit``'s forward,
``phased``'s input gradient) sum one GEMM per kernel tap into the same matrix, which is BLAS's
own ``beta = 1``. ``ctypes`` releases the GIL, so the scheduler's workers multiply at the same
time. When ``threadpoolctl`` or NumPy's OpenBLAS (or its ``cblas_?gemm``) cannot be found,
:func:`gemms` is empty and the algorithms using it report themselves unsupported.
"""

from __future__ import annotations

import ctypes

import numpy as np

# Each tap's GEMM is (M x C) @ (C x O): with fewer channels in or out, OpenBLAS crawls
# (measured: C = 1 10x slower than im2col on img3x3, O = 1 5x slower on LeNet's input gradient).
MIN_CHANNELS = 4
ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112  # CBLAS enums
_found: dict = {}


def gemms() -> dict:
    """``{dtype: cblas_?gemm}`` of NumPy's OpenBLAS (float32, float64), or ``{}``."""
    if "loaded" in _found:
        return _found["loaded"]
    found: dict = {}
    try:
        from threadpoolctl import threadpool_info

        paths = [i["filepath"] for i in threadpool_info()
                 if i["user_api"] == "blas" and i["internal_api"] == "openblas"
                 and "numpy" in i["filepath"]]
        lib = ctypes.CDLL(paths[0]) if paths else None
    except (ImportError, OSError):
        lib = None
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
