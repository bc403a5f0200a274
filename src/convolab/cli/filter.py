"""``convolab filter``: cross-correlate an image (or .npy array, or Zarr store) with a kernel."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from convolab.apps.files import check_output
from convolab.apps.kernels import KERNELS, get_kernel, kernel_parameters, parse_kernel
from convolab.cli.common import add_conv_options, conv_options, output_named, progress, read_array
from convolab.cli.files import check_suffix, write_output

HELP = "filter an image or .npy array with a named or given kernel"
DEFAULT_KERNEL = "vertical_edge"
SCALES = ("auto", "clip", "minmax", "abs", "signed")
EPILOG = f"""kernels: {", ".join(f"{n}({', '.join(kernel_parameters(n))})" if kernel_parameters(n)
                       else n for n in KERNELS)}

scaling for image outputs (.npy outputs are always the raw values):
  clip    values outside [0, 1] are clipped (smoothing kernels on images)
  minmax  the smallest value is black, the largest white
  abs     |value| / max |value| (edge strength)
  signed  0 is mid-gray, -max black, +max white (signed edges)
  auto    clip for kernels summing to 1 on images, signed for kernels summing to 0,
          minmax otherwise

examples:
  convolab filter                       # the built-in picture, the book's [[1, -1]]: filtered.png
  convolab filter photo.png --kernel sobel_x -o edges.png
  convolab filter --kernel gaussian --sigma 3 -o blur.png     # size from sigma: 19x19
  convolab filter photo.png --kernel gaussian --size 9 --sigma 2 -o blur.png -o blur.npy
  convolab filter --kernel "[[1, -1]]" --padding valid -o book.png
  convolab filter scan.zarr --kernel box --size 5 -o smooth.zarr"""


def register(subparsers: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "filter", help=HELP, parents=[parent], epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(HELP[0].upper() + HELP[1:] + " (cross-correlation, as conv layers do; "
                     "--flip for true convolution). Color images are filtered per channel. "
                     "With no IMAGE, a built-in 256x256 test picture is used; with no kernel, the "
                     "book's [[1, -1]] (6.2.3)."))
    p.add_argument("image", nargs="?", help="PNG/JPEG/... image, .npy array or .zarr store")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--kernel", help='a kernel name (see below) or numbers, "[[1, -1]]" '
                                         "(default: vertical_edge, the book's [[1, -1]])")
    source.add_argument("--kernel-file", help="a .npy file holding a 2-D kernel")
    p.add_argument("--size", type=int, help="kernel size, for identity, box and gaussian "
                                            "(gaussian: 2*ceil(3*sigma)+1 when not given)")
    p.add_argument("--sigma", type=float, help="standard deviation, for gaussian")
    add_conv_options(p, padding="same")
    p.add_argument("--padding-mode", default="zeros",
                   help="zeros, reflect, replicate, circular, symmetric (or a NumPy/SciPy/"
                        "OpenCV alias; default: zeros)")
    p.add_argument("--flip", action="store_true", help="flip the kernel: true convolution")
    p.add_argument("-o", "--output", action="append", default=None,
                   help="output path, .png/.jpg/... (scaled for display) or .npy (raw values), "
                        "or .zarr for a .zarr input; repeat for several (default: filtered.png)")
    p.add_argument("--scale", choices=SCALES, default="auto",
                   help="how values map to pixels in image outputs (default: auto)")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.set_defaults(run=run)


def read_kernel(args: argparse.Namespace) -> tuple[np.ndarray, str]:
    """The kernel the options describe, as float64 (kh, kw), and a short name for it."""
    params = {k: v for k, v in (("size", args.size), ("sigma", args.sigma)) if v is not None}
    if args.kernel_file is not None:
        if params:
            raise ValueError("--size/--sigma: only apply to a named kernel, not --kernel-file")
        k, _ = read_array(args.kernel_file, "--kernel-file")
        if k.ndim != 2:
            raise ValueError(f"--kernel-file: expected a 2-D kernel, got shape {k.shape}")
        return k, Path(args.kernel_file).stem
    if args.kernel is None:  # the book's edge detector (6.2.3)
        if params:
            raise ValueError("--size/--sigma: only apply to a named kernel; give --kernel")
        return get_kernel(DEFAULT_KERNEL), f"{DEFAULT_KERNEL} (the default, the book's [[1, -1]])"
    if args.kernel.lstrip().startswith("["):
        if params:
            raise ValueError("--size/--sigma: only apply to a named kernel, not to numbers")
        return parse_kernel(args.kernel), "custom"
    return get_kernel(args.kernel, **params), args.kernel


def scale_for_display(y: np.ndarray, how: str, *, kernel_sum: float, image: bool) -> np.ndarray:
    """Map filter output to [0, 1] for an 8-bit picture (see ``--scale``)."""
    if how == "auto":
        how = ("clip" if image and abs(kernel_sum - 1) < 1e-6
               else "signed" if abs(kernel_sum) < 1e-6 else "minmax")
    peak = float(np.abs(y).max()) or 1.0
    if how == "clip":
        return np.clip(y, 0.0, 1.0)
    if how == "abs":
        return np.abs(y) / peak
    if how == "signed":
        return 0.5 + 0.5 * y / peak
    lo, hi = float(y.min()), float(y.max())
    return (y - lo) / ((hi - lo) or 1.0)


def run(args: argparse.Namespace) -> int:
    from convolab.ops import conv2d

    kernel, kernel_name = read_kernel(args)
    if args.flip:
        kernel = kernel[::-1, ::-1]
    conv = conv_options(args)
    outputs = args.output or ["filtered.png"]
    if args.image is not None and Path(args.image).suffix.lower() == ".zarr":
        return _run_zarr(args, kernel, conv, outputs)
    for out in outputs:  # refuse bad or existing outputs before any work
        check_suffix(out, "--output")
        check_output(out, force=args.force, inputs=() if args.image is None else (args.image,))
    if args.image is None:
        from convolab.apps.images import sample_image

        x, is_image, inputs = sample_image(256, rgb=True), True, ()
        print("input: built-in test image 256x256x3")
    else:
        x, is_image = read_array(args.image, "IMAGE")
        inputs = (args.image,)
        print(f"input: {args.image} {'x'.join(map(str, x.shape))}")
    x3 = x[..., None] if x.ndim == 2 else x  # (H, W, C): each channel filtered alike
    channels = [
        conv2d(x3[None, :, :, c : c + 1], kernel[:, :, None, None], padding_mode=args.padding_mode,
               **conv)[0, :, :, 0]
        for c in progress(range(x3.shape[2]), quiet=args.quiet, desc="channels")
    ]
    y = np.stack(channels, axis=-1) if x.ndim == 3 else channels[0]  # (Ho, Wo[, C])
    print(f"kernel {kernel_name} {kernel.shape[0]}x{kernel.shape[1]}: output "
          f"{'x'.join(map(str, y.shape))}, values in [{y.min():.4g}, {y.max():.4g}]")
    display = scale_for_display(y, args.scale, kernel_sum=float(kernel.sum()), image=is_image)
    for out in outputs:
        with output_named(out):
            write_output(out, y, display, force=args.force, inputs=inputs)
        print(f"wrote {out}")
    return 0


def _run_zarr(args: argparse.Namespace, kernel: np.ndarray, conv: dict[str, object],
              outputs: list[str]) -> int:
    """A .zarr input is filtered chunk by chunk with Dask into a .zarr output."""
    if len(outputs) != 1 or Path(outputs[0]).suffix.lower() != ".zarr":
        raise ValueError("--output: a .zarr input needs exactly one .zarr output (-o OUT.zarr)")
    if not Path(args.image).exists():
        raise FileNotFoundError(f"IMAGE: no such Zarr store: {args.image}")
    try:
        from convolab.chunked import filter_store
    except ImportError:
        raise ValueError("IMAGE: filtering a .zarr store needs Dask and Zarr: "
                         "pip install 'convolab[dask]'") from None
    out = filter_store(args.image, outputs[0], kernel, padding_mode=args.padding_mode,
                       progress=not args.quiet, overwrite=args.force, **conv)
    print(f"wrote {out}")
    return 0
