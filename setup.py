"""Build of convolab's compiled core, ``convolab._native._core`` (the rest is pyproject.toml).

One build holds every instruction set's kernels (``src/convolab/_native/isa_*.c`` each set
their own target by pragma; ``isa.c`` picks one at import), so nothing is compiled for the
build machine alone. The extension is optional: where it cannot be built, the install still
succeeds and convolab runs on its NumPy algorithms, saying why once at import.

``CONVOLAB_SANITIZE=1`` builds it with AddressSanitizer and UndefinedBehaviorSanitizer (CI).
"""

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

NATIVE = Path("src/convolab/_native")
# The instruction sets' files first: each includes every kernel's template and takes the longest
# to compile, so that the parallel build below leaves no core with a big one at the end.
SOURCES = [str(p) for p in sorted(NATIVE.glob("*.c"),
                                  key=lambda p: (not p.name.startswith("isa_"), p.name))]
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


class ParallelBuildExt(build_ext):
    """``build_ext`` that compiles one extension's sources side by side, one per core.

    setuptools' own ``--parallel`` builds extensions side by side, and convolab has one; its
    instruction sets' files take most of a minute of gcc each (several under the sanitizers).
    """

    def build_extension(self, ext: Extension) -> None:
        compile_one = self.compiler.compile

        def compile_side_by_side(sources: list[str], *args, **kwargs) -> list[str]:
            with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
                objects = pool.map(lambda source: compile_one([source], *args, **kwargs), sources)
                return [obj for objs in objects for obj in objs]

        self.compiler.compile = compile_side_by_side
        try:
            super().build_extension(ext)
        finally:
            self.compiler.compile = compile_one


setup(
    cmdclass={"build_ext": ParallelBuildExt},
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
