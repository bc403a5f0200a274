"""The compiled core: loading it, choosing its instruction set, and saying what runs.

``convolab._native._core`` is built from the C files beside this one by the package's own
build (``setup.py``). At import it holds each kernel for AVX-512, AVX2+FMA and a portable
baseline and runs the best one the CPU has; ``CONVOLAB_ISA=avx2`` (or ``baseline``) caps that,
and ``CONVOLAB_NATIVE=0`` turns the compiled core off so that every conv runs on the NumPy
algorithms. If the extension is missing or fails to load, convolab still works, on NumPy, and
says why once (a ``RuntimeWarning``).

``core`` is the extension module, or None; ``reason`` says why it is None.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from types import ModuleType

ISAS = ("baseline", "avx2", "avx512")  # in order of capability

core: ModuleType | None = None
reason = ""


def _load() -> tuple[ModuleType | None, str]:
    if os.environ.get("CONVOLAB_NATIVE", "1") == "0":
        return None, "turned off by CONVOLAB_NATIVE=0"
    try:
        from convolab._native import _core
    except ImportError as e:  # not built (no compiler at install), or built for another Python
        warnings.warn(
            f"convolab: the compiled core is not available ({e}); running on the NumPy "
            "algorithms, which are slower. Reinstall with a C compiler and the Python headers "
            "to build it.",
            RuntimeWarning,
            stacklevel=3,
        )
        return None, f"not loaded: {e}"
    cap = os.environ.get("CONVOLAB_ISA")
    if cap:
        if cap not in ISAS:
            raise ValueError(f"CONVOLAB_ISA: expected one of {list(ISAS)}, got {cap!r}")
        allowed = [s for s in _core.supported() if ISAS.index(s) <= ISAS.index(cap)]
        _core.use(allowed[-1])
    return _core, ""


core, reason = _load()


def available() -> bool:
    """Whether the compiled kernels run (built, loaded, not turned off)."""
    return core is not None


def isa() -> str:
    """The instruction set whose kernels run ("avx512", "avx2", "baseline"), or "none"."""
    return core.isa() if core is not None else "none"


def supported_isas() -> list[str]:
    """Every instruction set this CPU can run, weakest first (empty without the core)."""
    return list(core.supported()) if core is not None else []


@contextlib.contextmanager
def using(name: str) -> Iterator[None]:
    """Run the kernels of instruction set ``name`` inside the block (the tests run each set).

    Not thread-safe: it switches the one process-wide dispatch table.
    """
    if core is None:
        raise RuntimeError(f"the compiled core is not available ({reason})")
    before = core.isa()
    core.use(name)
    try:
        yield
    finally:
        core.use(before)
