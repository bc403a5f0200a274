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
import stat
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's umask, read without changing it where the system allows.

    Linux shows it in ``/proc/self/status`` (since 4.7). Elsewhere the only way is to set it and
    set it back; a lock keeps two of our own calls from interleaving (other threads creating
    files in that instant would still see umask 0, hence /proc first).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def _new_file_mode(out: Path) -> int:
    """The permissions ``open(out, "w")`` would leave: an existing file keeps its own, a new one
    gets ``0o666 & ~umask``."""
    try:
        return stat.S_IMODE(out.stat().st_mode)
    except FileNotFoundError:
        return 0o666 & ~current_umask()


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

    ``path`` ends up with the permissions a plain ``open(path, "w")`` gives: those of the file
    it replaces, or ``0o666 & ~umask`` for a new file (``mkstemp`` makes its file 0600, private;
    that mode must not reach the output). Every file convolab writes goes through here.

    An OSError on the temporary file (the directory is not writable, the disk is full) is
    raised under ``path``, the name the caller gave, not the temporary file's.
    """
    out = check_output(path, force=force, inputs=inputs)
    out.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{out.stem}."
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=prefix, suffix=out.suffix, dir=out.parent)
    except OSError as exc:
        _raise_as_output(exc, out, prefix)
        raise
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if not force and out.exists():  # appeared while we were writing
            raise FileExistsError(f"{out} already exists (use --force to overwrite it)")
        os.chmod(tmp, _new_file_mode(out))  # after the writer: it may have recreated tmp
        os.replace(tmp, out)
    except OSError as exc:
        _raise_as_output(exc, out, prefix)
        raise
    finally:
        tmp.unlink(missing_ok=True)


def _raise_as_output(exc: OSError, out: Path, prefix: str) -> None:
    """Raise ``exc`` again under ``out``, the name the user gave, if it is about the hidden
    temporary file (in ``out``'s directory, its name starting with ``prefix``): the user never
    asked for ``.out.k2j4x.png`` and should not have to guess what it is.

    Any other error (a writer failing on some other file, or on ``out`` itself) is left alone:
    return, and the caller re-raises it as it was.
    """
    if exc.filename is None:
        return
    hidden = Path(os.path.abspath(os.fsdecode(exc.filename)))  # mkstemp's names are absolute
    where = Path(os.path.abspath(out))
    if hidden == where or hidden.parent != where.parent or not hidden.name.startswith(prefix):
        return
    raise type(exc)(exc.errno, f"cannot be written ({exc.strerror})", str(out)) from None
