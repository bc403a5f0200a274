"""``convolab tour``: the chapter 6.1-6.3 walk-through, printed, with figures, index.html and
the interactive explorer.html."""

from __future__ import annotations

import argparse
import functools

from convolab.cli.common import progress

HELP = ("walk through D2L 6.1-6.3: print each result, write figures, index.html and "
        "explorer.html")


def register(subparsers: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "tour", help=HELP, parents=[parent],
        description=(HELP[0].upper() + HELP[1:] + ". Open OUT/index.html in a browser to see "
                     "every step with its figure and explanation, and OUT/explorer.html to "
                     "change the kernel, padding, stride and dilation and watch the output "
                     "(screenshots of it are taken when a Chromium is installed; "
                     "CONVOLAB_BROWSER names one)."))
    p.add_argument("--out", default="tour", help="directory for the figures, index.html and "
                                                  "explorer.html (default: ./tour)")
    p.add_argument("--force", action="store_true", help="overwrite an existing tour in --out")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from convolab.apps.tour import STEPS, run_tour

    bar = functools.partial(progress, quiet=args.quiet, desc="tour", total=len(STEPS))
    run_tour(args.out, force=args.force, progress=bar)
    return 0
