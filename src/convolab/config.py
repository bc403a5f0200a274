"""Process-wide settings: how much scratch memory an algorithm may use.

>>> with workspace_limit(1 << 20):
...     get_workspace_limit()
1048576
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

_DEFAULT_WORKSPACE = 32 << 20  # bytes: big enough for BLAS-sized blocks, small next to inputs
_state = {"workspace": _DEFAULT_WORKSPACE}


def get_workspace_limit() -> int:
    """Bytes of scratch (im2col columns, FFT buffers, ...) one conv call may allocate."""
    return _state["workspace"]


def set_workspace_limit(nbytes: int) -> None:
    """Set the scratch budget, in bytes (at least 64 KiB)."""
    if isinstance(nbytes, bool) or not isinstance(nbytes, int) or nbytes < (64 << 10):
        raise ValueError(f"workspace limit: expected an int >= 65536 bytes, got {nbytes!r}")
    _state["workspace"] = nbytes


@contextmanager
def workspace_limit(nbytes: int) -> Iterator[None]:
    """Temporarily set the scratch budget."""
    old = get_workspace_limit()
    set_workspace_limit(nbytes)
    try:
        yield
    finally:
        _state["workspace"] = old
