"""What every subcommand shares: one-line argument errors, option parsers, progress bars."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable

from convolab.shapes import PADDING_STRINGS


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit status 2), no usage dump."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def warn(message: str) -> None:
    """One line on stderr for something the user should know but that is not an error (a
    conversion that loses information, a run that did not converge)."""
    print(f"convolab: warning: {' '.join(message.split())}", file=sys.stderr)


def _ints(text: str, option: str, allowed: str) -> list[int]:
    parts = re.split(r"[x,]", text.strip().lower())
    if not all(p.strip().lstrip("-").isdigit() for p in parts):
        raise ValueError(f"{option}: expected {allowed}, got {text!r}")
    return [int(p) for p in parts]


def parse_pair(text: str, option: str) -> int | tuple[int, int]:
    """``"3"`` -> 3, ``"5x3"`` or ``"5,3"`` -> (5, 3) (the library validates the values).

    >>> parse_pair("5x3", "--kernel"), parse_pair("2", "--stride")
    ((5, 3), 2)
    """
    values = _ints(text, option, "N or HxW (e.g. 3 or 5x3)")
    if len(values) == 1:
        return values[0]
    if len(values) == 2:
        return values[0], values[1]
    raise ValueError(f"{option}: expected N or HxW (e.g. 3 or 5x3), got {text!r}")


def parse_padding(text: str) -> object:
    """``--padding``: a name, ``p``, ``ph,pw`` or ``top,bottom,left,right``.

    >>> parse_padding("same"), parse_padding("2,1"), parse_padding("0,1,2,3")
    ('same', (2, 1), ((0, 1), (2, 3)))
    """
    if text.strip().lower() in PADDING_STRINGS:
        return text.strip().lower()
    allowed = f"one of {', '.join(PADDING_STRINGS)}, P, PH,PW or TOP,BOTTOM,LEFT,RIGHT"
    if not re.fullmatch(r"[\d,\s-]+", text):
        raise ValueError(f"--padding: expected {allowed}, got {text!r}")
    values = _ints(text, "--padding", allowed)
    if len(values) == 1:
        return values[0]
    if len(values) == 2:
        return values[0], values[1]
    if len(values) == 4:
        return (values[0], values[1]), (values[2], values[3])
    raise ValueError(f"--padding: expected {allowed}, got {text!r}")


def add_conv_options(parser: argparse.ArgumentParser, *, padding: str | None,
                     padding_default: str | None = None) -> None:
    """--padding, --stride, --dilation with the library's meanings.

    ``padding=None`` leaves ``--padding`` unset unless given (the command then decides, and
    ``padding_default`` says in the help what it does).
    """
    parser.add_argument("--padding", type=str, default=padding,
                        help="valid, same, same_lower, full, P, PH,PW or TOP,BOTTOM,LEFT,RIGHT "
                             f"(default: {padding_default or padding})")
    parser.add_argument("--stride", type=str, default="1", help="N or VxH (default: 1)")
    parser.add_argument("--dilation", type=str, default="1", help="N or VxH (default: 1)")


def conv_options(args: argparse.Namespace) -> dict[str, object]:
    """The parsed --padding/--stride/--dilation as keyword arguments for the library (padding
    None when ``--padding`` is unset and has no default)."""
    return {
        "padding": None if args.padding is None else parse_padding(args.padding),
        "stride": parse_pair(args.stride, "--stride"),
        "dilation": parse_pair(args.dilation, "--dilation"),
    }


def progress(items: Iterable, *, quiet: bool, desc: str, total: int | None = None) -> Iterable:
    """``items`` with a tqdm bar on stderr, shown only on a terminal and without --quiet."""
    from tqdm import tqdm

    return tqdm(items, desc=desc, total=total, file=sys.stderr, leave=False,
                disable=quiet or not sys.stderr.isatty())

