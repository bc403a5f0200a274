"""``convolab filter``: cross-correlate an image (or .npy array, or Zarr store) with a kernel."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from convolab.apps.files import check_output
from convolab.apps.kernels import KERNELS, get_kernel, kernel_parameters, parse_kernel
from convolab.cli.common import add_conv_options, conv_options, progress
from convolab.cli.files import (
    IMAGE_OUTPUTS,
    Source,
    check_picture,
    check_suffix,
    read_input,
    write_output,
)

HELP = "filter an image or .npy array with a named or given kernel"
DEFAULT_KERNEL = "vertical_edge"
SCALES = ("auto", "clip", "minmax", "abs", "signed")
EPILOG = f"""kernels: {", ".join(f"{n}({', '.join(kernel_parameters(n))})" if kernel_parameters(n)
                       else n for n in KERNELS)}

values: a picture's samples keep their numbers (8-bit 0..255, 16-bit 0..65535, 1-bit 0/1,
float TIFF as stored), exactly as a .npy array does; .npy outputs hold the raw results.

scaling for 8- and 16-bit picture outputs (a float TIFF output holds the raw results):
  clip    the input's range (0..255, 0..65535, else 0..1) as black..white; values outside
          are clipped, with a warning (smoothing kernels on pictures)
  minmax  the smallest value is black, the largest white
  abs     |value| / max |value| (edge strength)
  signed  0 is mid-gray, -max black, +max white (signed edges)
  auto    clip for kernels summing to 1 on inputs inside that range, signed for kernels
          summing to 0, minmax otherwise

depth and alpha: picture outputs keep the input's depth where the format can (16-bit gray
PNG/TIFF, float gray TIFF), else 8 bits. Alpha is passed through unfiltered (the alpha at
the centre of each output pixel's window) unless --filter-alpha; JPEG and BMP drop it.
Whatever an output loses is said in one warning line on stderr.

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
    p.add_argument("--filter-alpha", action="store_true",
                   help="filter an alpha channel like the others (default: pass it through)")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.set_defaults(run=run)


def read_kernel(args: argparse.Namespace) -> tuple[np.ndarray, str]:
    """The kernel the options describe, as float64 (kh, kw), and a short name for it."""
    params = {k: v for k, v in (("size", args.size), ("sigma", args.sigma)) if v is not None}
    if args.kernel_file is not None:
        if params:
            raise ValueError("--size/--sigma: only apply to a named kernel, not --kernel-file")
        k = read_input(args.kernel_file, "--kernel-file").values
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


def scale_for_display(y: np.ndarray, how: str, *, kernel_sum: float, full: float = 1.0,
                      in_range: bool = True) -> np.ndarray:
    """Map filter output to picture intensities, 0 black and 1 white (see ``--scale``).

    ``full`` is the input's white (255 for 8-bit), ``in_range`` whether the input lies in
    ``[0, full]``. "clip" leaves values outside [0, 1] for the writer to clip (and count).

    >>> scale_for_display(np.array([0.0, 51.0, 306.0]), "auto", kernel_sum=1.0, full=255.0)
    array([0. , 0.2, 1.2])
    """
    if how == "auto":
        how = ("clip" if in_range and abs(kernel_sum - 1) < 1e-6
               else "signed" if abs(kernel_sum) < 1e-6 else "minmax")
    peak = float(np.abs(y).max()) or 1.0
    if how == "clip":
        return y / full
    if how == "abs":
        return np.abs(y) / peak
    if how == "signed":
        return 0.5 + 0.5 * y / peak
    lo, hi = float(y.min()), float(y.max())
    return (y - lo) / ((hi - lo) or 1.0)


def _centre_kernel(kernel: np.ndarray, conv: dict[str, object]) -> np.ndarray:
    """A (eh, ew) delta, eh = dh (kh - 1) + 1: with dilation 1 and the same padding and stride,
    it picks for each output pixel the input pixel at the centre of its (dilated) window.

    For an even window the padding decides: "same" pads the bottom/right more, so the
    upper/left centre is the output pixel's own; "same_lower" the other way round.
    """
    d = conv["dilation"]
    dh, dw = (d, d) if isinstance(d, int) else d
    eh, ew = dh * (kernel.shape[0] - 1) + 1, dw * (kernel.shape[1] - 1) + 1
    lower = conv["padding"] == "same_lower"
    delta = np.zeros((eh, ew))
    delta[eh // 2 if lower else (eh - 1) // 2, ew // 2 if lower else (ew - 1) // 2] = 1.0
    return delta


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

        # An 8-bit picture, as a photo would be.
        rgb = np.round(sample_image(256, rgb=True) * 255)
        source, inputs = Source(rgb, np.dtype(np.uint8), "RGB"), ()
        print(f"input: built-in test picture {source.describe()}")
    else:
        source, inputs = read_input(args.image, "IMAGE"), (args.image,)
        print(f"read {args.image}: {source.describe()}")
    x = source.values
    if any(Path(out).suffix.lower() in IMAGE_OUTPUTS for out in outputs):
        check_picture(x, source)  # the result has the input's channels
    x3 = x[..., None] if x.ndim == 2 else x  # (H, W, C): each channel filtered alike
    keep_alpha = source.alpha and not args.filter_alpha

    def correlate(c: int, k: np.ndarray, **options: object) -> np.ndarray:
        return conv2d(x3[None, :, :, c : c + 1], k[:, :, None, None],
                      padding_mode=args.padding_mode, **options)[0, :, :, 0]

    n_color = x3.shape[2] - keep_alpha
    channels = [correlate(c, kernel, **conv)
                for c in progress(range(n_color), quiet=args.quiet, desc="channels")]
    if keep_alpha:  # (Ho, Wo): the alpha under each window's centre, unfiltered
        channels.append(correlate(n_color, _centre_kernel(kernel, conv),
                                  **{**conv, "dilation": 1}))
    y = np.stack(channels, axis=-1) if x.ndim == 3 else channels[0]  # (Ho, Wo[, C])
    color = y[..., :-1] if source.alpha else y  # what --scale maps; alpha has its own rule
    print(f"kernel {kernel_name} {kernel.shape[0]}x{kernel.shape[1]}: output "
          f"{'x'.join(map(str, y.shape))}, values in [{color.min():.4g}, {color.max():.4g}]")
    x_color = x3[..., :-1] if source.alpha else x3
    in_range = bool(x_color.min() >= 0 and x_color.max() <= source.full_scale)
    display = scale_for_display(color, args.scale, kernel_sum=float(kernel.sum()),
                                full=source.full_scale, in_range=in_range)
    for out in outputs:
        written = write_output(out, y, display, source, force=args.force, inputs=inputs)
        print(f"wrote {out}: {written}")
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
