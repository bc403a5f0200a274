"""Writing outputs safely: atomically, never over an existing file unless asked, never over
an input.

>>> import tempfile, pathlib
>>> out = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
>>> with atomic_write(out) as tmp:
...     _ = tmp.write_text("hello")
>>> out.read_text()
'hello'
>>> with atomic_write(out) as tmp:
...     pass
Traceback (most recent call last):
...
FileExistsError: ...a.txt already exists (use --force to overwrite it)
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path


def check_output(path: str | os.PathLike, *, force: bool = False,
                 inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """``path`` as a Path, after refusing an input file and (without ``force``) an existing one.

    Raises
    ------
    ValueError : ``path`` is one of ``inputs`` (outputs never replace inputs, even with force)
    FileExistsError : ``path`` exists and ``force`` is false
    """
    out = Path(path)
    for src in inputs:
        if out.resolve() == Path(src).resolve():
            raise ValueError(f"output: {out} is also an input; choose another output path")
    if out.exists() and not force:
        raise FileExistsError(f"{out} already exists (use --force to overwrite it)")
    return out


@contextmanager
def atomic_write(path: str | os.PathLike, *, force: bool = False,
                 inputs: Iterable[str | os.PathLike] = ()) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it onto ``path`` in one step.

    The temporary file has the same suffix (writers choose the format by it) and lives in the
    same directory, so ``os.replace`` is atomic: readers see the old file or the new one, never
    half of one. On error the temporary file is removed and ``path`` is untouched.
    """
    out = check_output(path, force=force, inputs=inputs)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=out.suffix, dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if not force and out.exists():  # appeared while we were writing
            raise FileExistsError(f"{out} already exists (use --force to overwrite it)")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
