"""The animations of Dumoulin & Visin's "A guide to convolution arithmetic" (2016), as GIFs.

One GIF per case (no padding, half/"same" padding, full padding, stride, padding + stride,
dilation), each with the shape arithmetic printed. Run:
``python examples/conv_arithmetic.py [--out examples/out/conv_arithmetic/]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from convolab.apps.animation import conv_animation
from convolab.shapes import explain_shape

CASES = {
    "no_padding_no_strides": dict(input_hw=(4, 4), kernel_size=3),
    "same_padding_no_strides": dict(input_hw=(5, 5), kernel_size=3, padding="same"),
    "full_padding_no_strides": dict(input_hw=(5, 5), kernel_size=3, padding="full"),
    "no_padding_strides": dict(input_hw=(5, 5), kernel_size=3, stride=2),
    "padding_strides": dict(input_hw=(5, 5), kernel_size=3, padding=1, stride=2),
    "dilation": dict(input_hw=(7, 7), kernel_size=3, dilation=2),
}


OUT = Path(__file__).parent / "out"  # ignored by git (.gitignore)


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(OUT / "conv_arithmetic"),
                        help="directory for the GIFs (default: examples/out/conv_arithmetic)")
    parser.add_argument("--force", action="store_true", help="overwrite existing GIFs")
    args = parser.parse_args(argv)

    written = []
    for name, case in CASES.items():
        path = Path(args.out) / f"{name}.gif"
        conv_animation(path, force=args.force, **case)
        shape_args = {k: v for k, v in case.items() if k not in ("input_hw", "kernel_size")}
        print(f"{path}:\n{explain_shape(case['input_hw'], case['kernel_size'], **shape_args)}")
        written.append(path)
    return written


if __name__ == "__main__":
    main()
