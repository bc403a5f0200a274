"""``convolab shape``: the output shape of a conv and the arithmetic that gives it."""

from __future__ import annotations

import argparse

from convolab.cli.common import add_conv_options, conv_options, parse_pair
from convolab.shapes import explain_shape

HELP = "output shape of a conv, and the arithmetic behind it"
EPILOG = """examples:
  convolab shape                        # the book's 8x8 input and a 3x3 kernel: 6x6
  convolab shape --input 8x8 --kernel 5x3
  convolab shape --input 8x8 --kernel 3 --padding same --stride 2
  convolab shape --input 224 --kernel 7 --padding 3 --stride 2 --dilation 1"""


def register(subparsers: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser("shape", help=HELP, description=HELP.capitalize() + ".",
                              parents=[parent], epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", default="8x8",
                   help="input size, N or HxW (default: 8x8, the book's input in 6.3)")
    p.add_argument("--kernel", default="3x3", help="kernel size, N or HxW (default: 3x3)")
    add_conv_options(p, padding="valid")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    size = parse_pair(args.input, "--input")
    hw = (size, size) if isinstance(size, int) else size
    print(explain_shape(hw, parse_pair(args.kernel, "--kernel"), **conv_options(args)))
    return 0
