"""Settings: how much scratch memory an algorithm may use.

The limit is a context variable: ``workspace_limit`` in one thread (or asyncio task) does not
change it for another.

>>> with workspace_limit(1 << 20):
...     get_workspace_limit()
1048576
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_DEFAULT_WORKSPACE = 32 << 20  # bytes: big enough for BLAS-sized blocks, small next to inputs
_workspace: ContextVar[int] = ContextVar("convolab_workspace", default=_DEFAULT_WORKSPACE)


def get_workspace_limit() -> int:
    """Bytes of scratch (im2col columns, FFT buffers, ...) one conv call may allocate."""
    return _workspace.get()


def _checked(nbytes: object) -> int:
    if isinstance(nbytes, bool) or not isinstance(nbytes, int) or nbytes < (64 << 10):
        raise ValueError(f"workspace limit: expected an int >= 65536 bytes, got {nbytes!r}")
    return nbytes


def set_workspace_limit(nbytes: int) -> None:
    """Set the scratch budget, in bytes (at least 64 KiB), for this thread or task."""
    _workspace.set(_checked(nbytes))


@contextmanager
def workspace_limit(nbytes: int) -> Iterator[None]:
    """Temporarily set the scratch budget."""
    token = _workspace.set(_checked(nbytes))
    try:
        yield
    finally:
        _workspace.reset(token)
