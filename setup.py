"""Build of convolab's compiled core, ``convolab._native._core`` (the rest is pyproject.toml).

One build holds every instruction set's kernels (``src/convolab/_native/isa_*.c`` each set
their own target by pragma; ``isa.c`` picks one at import), so nothing is compiled for the
build machine alone. The extension is optional: where it cannot be built, the install still
succeeds and convolab runs on its NumPy algorithms, saying why once at import.

``CONVOLAB_SANITIZE=1`` builds it with AddressSanitizer and UndefinedBehaviorSanitizer (CI).
"""

import os
from pathlib import Path

from setuptools import Extension, setup

NATIVE = Path("src/convolab/_native")
SOURCES = sorted(str(p) for p in NATIVE.glob("*.c"))
DEPENDS = sorted(str(p) for p in NATIVE.glob("*.h"))

compile_args = ["-O3", "-std=gnu11", "-pthread", "-Wall", "-Wextra", "-Wno-psabi",
                "-Wno-unknown-pragmas"]
link_args: list[str] = ["-pthread"]
if os.environ.get("CONVOLAB_SANITIZE") == "1":
    flags = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all",
             "-fno-omit-frame-pointer", "-g"]
    # -O1: the instrumented, fully unrolled kernels take minutes to build at -O3
    compile_args += [*flags, "-O1"]
    link_args += flags

setup(
    ext_modules=[
        Extension(
            "convolab._native._core",
            sources=SOURCES,
            depends=DEPENDS,
            extra_compile_args=compile_args,
            extra_link_args=link_args,
            optional=os.environ.get("CONVOLAB_NATIVE_REQUIRED") != "1",
        )
    ]
)
