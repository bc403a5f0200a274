"""The ``convolab`` command: argument parsing and the one error path.

Every subcommand module has ``register(subparsers, parent)`` and ``run(args) -> int``. A
ValueError, TypeError or OSError anywhere becomes one line, ``convolab: error: ...``, on stderr
and exit status 2: a user never sees a traceback for bad input. A warning (a Gaussian too small
for its sigma, a template that scores 0 everywhere, a picture output that loses values) is one
line, ``convolab: warning: ...``, on stderr, and the command goes on.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

from convolab.cli import filter as filter_cmd
from convolab.cli import info, learn, match, shape, tour, train
from convolab.cli.common import ArgumentParser, warn

COMMANDS = (tour, filter_cmd, shape, learn, train, match, info)


def build_parser() -> ArgumentParser:
    from convolab import __version__

    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    parser = ArgumentParser(
        prog="convolab",
        description="2-D convolution from Dive into Deep Learning 6.1-6.3: the chapter tour, "
                    "image filtering, shape arithmetic, kernel learning, LeNet on handwritten "
                    "digits and template matching.",
        epilog="'convolab COMMAND --help' describes each command.",
    )
    parser.add_argument("--version", action="version", version=f"convolab {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND",
                                       parser_class=ArgumentParser)
    subparsers.required = True
    for command in COMMANDS:
        command.register(subparsers, parent)
    return parser


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())  # one line, whatever the message looked like


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: object = None, line: str | None = None) -> None:
    warn(str(message))  # the library's warnings.warn, as the command's own warnings look


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning  # restored when the block ends
            return args.run(args)
    except (ValueError, TypeError, OSError) as exc:
        print(f"convolab: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except ImportError as exc:  # an optional dependency of this command is not installed
        print(f"convolab: error: {exc.name or exc} is not installed; "
              "pip install 'convolab[cli]' (and 'convolab[dask]' for .zarr)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("convolab: interrupted", file=sys.stderr)
        return 130
