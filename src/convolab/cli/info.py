"""``convolab info``: which engine runs here: compiled kernels, instruction set, threads."""

from __future__ import annotations

import argparse
import os
import platform

import numpy as np

from convolab import _native
from convolab.algorithms import scheduler
from convolab.config import get_workspace_limit

HELP = "which kernels and instruction set run on this machine, and with how many threads"
EPILOG = """environment:
  CONVOLAB_ISA=avx2|baseline   cap the instruction set of the compiled kernels
  CONVOLAB_NATIVE=0            run on the NumPy algorithms only"""


def register(subparsers: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser("info", help=HELP, description=HELP.capitalize() + ".",
                              parents=[parent], epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(run=run)


def describe() -> list[str]:
    """The lines ``convolab info`` prints."""
    from convolab import __version__

    lines = [f"convolab {__version__} (Python {platform.python_version()}, NumPy "
             f"{np.__version__}, {platform.machine()})"]
    if not _native.available():
        lines.append(f"compiled core: not running ({_native.reason}); NumPy algorithms only")
    else:
        core = _native.core
        lines.append(f"compiled core: {_native.isa()} kernels (this CPU runs "
                     f"{', '.join(_native.supported_isas())})")
        for itemsize, name in ((4, "float32"), (8, "float64")):
            lanes = core.lanes(itemsize)
            tiles = ", ".join(f"{pix}x{nv * lanes}" for nv, pix in sorted(core.tiles(itemsize)
                                                                            .items()))
            dot_pix, dot_outs = core.dot_tile(itemsize)
            lines.append(f"  {name}: direct tiles {tiles} (pixels x output channels), "
                         f"{dot_pix}x{dot_outs} with the reduction in lanes (few outputs); "
                         f"depthwise {lanes} channels a vector; Winograd F(4x4, 3x3) on the "
                         f"direct tiles")
    caps = [f"{v}={os.environ[v]}" for v in ("CONVOLAB_ISA", "CONVOLAB_NATIVE") if v in os.environ]
    if caps:
        lines.append(f"  set: {' '.join(caps)}")
    lines.append(f"threads: {scheduler.workers()} worker(s); {_blas()}")
    lines.append(f"workspace limit: {get_workspace_limit() / 2**20:g} MiB")
    return lines


def _blas() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "BLAS: unknown (threadpoolctl is not installed)"
    for lib in threadpool_info():
        if lib.get("user_api") == "blas":
            return (f"BLAS: {lib.get('internal_api')} {lib.get('version')}, "
                    f"{lib.get('architecture')} kernels, {lib.get('num_threads')} thread(s)")
    return "BLAS: none found"


def run(args: argparse.Namespace) -> int:
    print("\n".join(describe()))
    return 0
