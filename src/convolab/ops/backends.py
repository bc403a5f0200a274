"""Other array types' implementations of the public ops, found by the array's library.

``ops`` never imports them (they sit above it: ``convolab.chunked`` runs ``ops`` on each block).
The package registers each by name (``convolab/__init__.py``: Dask arrays go to
``convolab.chunked``), and the first call with such an array imports it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

_BACKENDS: dict[str, str] = {}  # an array type's top-level module -> the implementing module


def register(array_library: str, implementation: str) -> None:
    """Arrays whose type comes from ``array_library`` ("dask") are computed by the module named
    ``implementation``, which defines the public ops it supports under their public names."""
    _BACKENDS[array_library] = implementation


def backend_for(x: object) -> ModuleType | None:
    """The implementing module for ``x``'s array type, or None for NumPy and array-likes."""
    path = _BACKENDS.get(type(x).__module__.partition(".")[0])
    return None if path is None else importlib.import_module(path)


def call(implementation: ModuleType, op: str, *args: object, **kwargs: object) -> object:
    """``implementation.<op>(*args, **kwargs)``, or a TypeError naming what it supports."""
    fn = getattr(implementation, op, None)
    if fn is None:
        supported = ", ".join(getattr(implementation, "__all__", ()))
        raise TypeError(f"x: {op} does not take a {type(args[0]).__module__} array yet "
                        f"({implementation.__name__} has {supported}); pass a NumPy array")
    return fn(*args, **kwargs)
