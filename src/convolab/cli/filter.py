"""``convolab filter``: cross-correlate an image (or .npy array, or Zarr store) with a kernel."""

from __future__ import annotations

import argparse
import contextlib
import re
import signal
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from convolab.apps.files import check_output
from convolab.apps.kernels import KERNELS, get_kernel, kernel_parameters, parse_kernel
from convolab.cli.common import add_conv_options, conv_options, progress
from convolab.cli.files import (
    IMAGE_OUTPUTS,
    Display,
    Source,
    check_picture,
    check_suffix,
    read_input,
    write_output,
)
from convolab.shapes import PADDING_MODES, normalize_padding_mode, normalize_pair, resolve_padding

HELP = "filter an image or .npy array with a named or given kernel"
DEFAULT_KERNEL = "vertical_edge"
SCALES = ("auto", "clip", "minmax", "abs", "signed")
DTYPES = ("auto", "float32", "float64")
RAW_OUTPUTS = (".npy", ".tif", ".tiff")  # outputs that can hold the computed numbers as such
# {} (benchmarks/filter_big.py sets it) records the seconds of each phase of a picture's run
TIMINGS: dict[str, float] | None = None
DEFAULT_BORDER = "reflect"  # OpenCV's BORDER_DEFAULT (REFLECT_101); the library keeps zeros
# The row a b c d and what each border puts beside it (the constant's v is --border-value).
BORDER_ROWS = {"reflect": "dcb|abcd|cba", "symmetric": "cba|abcd|dcb",
               "replicate": "aaa|abcd|ddd", "circular": "bcd|abcd|abc", "zeros": "vvv|abcd|vvv"}


def _border_names() -> str:
    """The epilog's table: every accepted --border name, by what it does."""
    lines = []
    for mode, row in BORDER_ROWS.items():
        names = [n for n, m in PADDING_MODES.items() if m == mode and n != mode]
        title = "constant" if mode == "zeros" else mode
        if mode == "zeros":
            names = ["zeros", *(n for n in names if n != "constant")]
        lines.append(textwrap.fill(", ".join(names), 92, initial_indent=f"  {title:<10} {row}  ",
                                   subsequent_indent=" " * 27))
    return "\n".join(lines)

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

precision (--dtype): float32 unless an output holds the raw numbers (.npy, TIFF), which get
float64, the library's own precision for integer input; float32 holds every 8- and 16-bit
sample exactly and is far finer than a picture's step, at half the memory and twice the
speed. Colour channels are filtered as one interleaved image (no copy per channel), and a
rank-1 kernel (gaussian, box, sobel, ...) of 9x9 or more as two 1-D passes.

depth and alpha: picture outputs keep the input's depth where the format can (16-bit gray
PNG/TIFF, float gray TIFF), else 8 bits. Alpha is passed through unfiltered (the alpha under
each output pixel's anchor, see below) unless --filter-alpha; JPEG and BMP drop it.
Whatever an output loses is said in one warning line on stderr.

examples:
  convolab filter                       # the built-in picture, the book's [[1, -1]]: filtered.png
  convolab filter photo.png --kernel sobel_x -o edges.png
  convolab filter --kernel gaussian --sigma 3 -o blur.png     # size from sigma: 19x19
  convolab filter photo.png --kernel gaussian --size 9 --sigma 2 -o blur.png -o blur.npy
  convolab filter --kernel "[[1, -1]]" --padding valid -o book.png
  convolab filter photo.png --kernel box --border constant --border-value 255 -o out.png
  convolab filter photo.png --kernel "[[1, 2], [3, 4]]" --anchor 0,0 -o out.npy
  convolab filter scan.zarr --kernel box --size 5 -o smooth.zarr
  convolab filter scan.zarr --kernel box --size 5 -o smooth.zarr --resume   # after a stop

borders (--border, what is read beyond the edge; --padding-mode is the same option): the
row a b c d padded by 3, and every accepted name (NumPy, SciPy, OpenCV; any case):
""" + _border_names() + """
  reflect is the default (OpenCV's); the library's own default is constant 0. SciPy's
  ndimage "reflect" is symmetric here. --border-value V is the constant (OpenCV's
  borderValue, SciPy's cval); a V other than 0 needs --border constant.

anchor (--anchor X,Y, as OpenCV's): the kernel pixel, column X and row Y from the top-left,
that sits on each output pixel; -1 means the centre, kw//2 (kh//2), OpenCV's default (write
--anchor=-1,-1, as argparse takes a bare -1,-1 for an option). It pads X columns before and
kw-1-X after (Y and kh-1-Y rows), so the anchor of output pixel (i, j) lies on input pixel
(i*s, j*s) at stride s and the output keeps the input's size at stride 1: the same as
cv2.filter2D(img, -1, k, anchor=(X, Y)) and scipy.ndimage.correlate(img, k, origin=(Y - kh//2,
X - kw//2)). Without --padding or --anchor the default anchor is used: at stride 1 that is
--padding same for odd kernels, same_lower for even ones (cv2.filter2D's and ndimage's place).
With --flip the anchor is still a pixel of the kernel as given, k[Y, X] multiplies the
output pixel's own input pixel: OpenCV's recipe for true convolution (flip the kernel, anchor
it at (kw-1-X, kh-1-Y)); the default then equals scipy.ndimage.convolve, i.e. --padding same.
With --dilation D the anchor sits D*X, D*Y into the dilated window."""


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
    add_conv_options(p, padding=None,
                     padding_default="set by --anchor, the output the input's size")
    p.add_argument("--anchor", metavar="X,Y",
                   help="the kernel pixel (column X, row Y) on each output pixel, as OpenCV's "
                        "anchor; -1 for the centre, as --anchor=-1,-1 (default: the centre, "
                        "kw//2,kh//2)")
    p.add_argument("--border", "--padding-mode", dest="padding_mode", default=DEFAULT_BORDER,
                   metavar="MODE",
                   help="reflect, symmetric, replicate, circular or constant, or any NumPy/"
                        "SciPy/OpenCV name (see below; default: reflect, OpenCV's "
                        "BORDER_REFLECT_101)")
    p.add_argument("--border-value", type=float, default=0.0, metavar="V",
                   help="the value of a constant border (--border constant; default: 0)")
    p.add_argument("--flip", action="store_true", help="flip the kernel: true convolution")
    p.add_argument("-o", "--output", action="append", default=None,
                   help="output path, .png/.jpg/... (scaled for display) or .npy (raw values), "
                        "or .zarr for a .zarr input; repeat for several (default: filtered.png)")
    p.add_argument("--scale", choices=SCALES, default="auto",
                   help="how values map to pixels in image outputs (default: auto)")
    p.add_argument("--dtype", choices=DTYPES, default="auto",
                   help="the precision to filter in (default: auto, float32 unless an output "
                        "is .npy or TIFF; see below)")
    p.add_argument("--filter-alpha", action="store_true",
                   help="filter an alpha channel like the others (default: pass it through)")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.add_argument("--resume", action="store_true",
                   help="finish an interrupted .zarr run: compute only the chunks its output "
                        "lacks (same command and options; refused if they differ)")
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
    return display_scale(float(y.min()), float(y.max()), how, kernel_sum=kernel_sum,
                         full=full, in_range=in_range)(y)


def display_scale(lo: float, hi: float, how: str, *, kernel_sum: float, full: float = 1.0,
                  in_range: bool = True) -> Display:
    """:func:`scale_for_display` as a function of any part of an output whose values lie in
    ``[lo, hi]``: the writer applies it band by band, with no full-size temporary.

    >>> display_scale(-2.0, 4.0, "signed", kernel_sum=0.0)(np.array([-2.0, 0.0, 4.0]))
    array([0.25, 0.5 , 1.  ])
    """
    if how == "auto":
        how = ("clip" if in_range and abs(kernel_sum - 1) < 1e-6
               else "signed" if abs(kernel_sum) < 1e-6 else "minmax")
    peak = max(abs(lo), abs(hi)) or 1.0
    if how == "clip":
        return lambda y: y / full
    if how == "abs":
        return lambda y: np.abs(y) / peak
    if how == "signed":
        return lambda y: 0.5 + 0.5 * y / peak
    return lambda y: (y - lo) / ((hi - lo) or 1.0)


def _lap(phase: str) -> None:
    """Add the seconds since the previous lap to ``phase`` (when ``TIMINGS`` is a dict)."""
    if TIMINGS is not None:
        from time import perf_counter

        now = perf_counter()
        TIMINGS[phase] = TIMINGS.get(phase, 0.0) + now - TIMINGS.get("_since", now)
        TIMINGS["_since"] = now


def working_dtype(choice: str, outputs: list[str]) -> np.dtype:
    """``--dtype``: float32, unless asked for float64 or an output holds the raw numbers.

    >>> working_dtype("auto", ["a.png"]), working_dtype("auto", ["a.png", "a.npy"])
    (dtype('float32'), dtype('float64'))
    """
    if choice != "auto":
        return np.dtype(choice)
    raw = any(Path(out).suffix.lower() in RAW_OUTPUTS for out in outputs)
    return np.dtype(np.float64 if raw else np.float32)


def filter_image(x3: np.ndarray, kernel: np.ndarray, conv: dict[str, object],
                 border: dict[str, object], *, keep_alpha: bool = False,
                 anchor: tuple[int, int] | None = None) -> np.ndarray:
    """``x3`` (H, W, C) cross-correlated with ``kernel`` (kh, kw), every channel alike, in
    ``x3``'s dtype: ``(Ho, Wo, C)``; with ``keep_alpha``, the last channel is the input's alpha
    under each window's anchor (its centre by default), unfiltered.

    The channels run as one interleaved image (``algorithms/separable.py``: no plane copied
    out and back), a rank-1 kernel as two 1-D passes where that is faster; a one-channel image
    with a kernel of rank 2 or more goes to the algorithm "auto" picks (FFT for large ones).
    """
    from convolab.algorithms.separable import factors
    from convolab.ops import conv2d

    c = x3.shape[2]
    k = kernel.astype(x3.dtype)  # a float64 kernel would promote a float32 image
    w = np.ascontiguousarray(np.broadcast_to(k[:, :, None, None], (*k.shape, 1, c)))
    algorithm = "separable" if c > 1 or factors(k, x3.dtype) is not None else "auto"
    y = conv2d(x3[None], w, groups=c, algorithm=algorithm, **border, **conv)[0]
    if keep_alpha:  # (Ho, Wo): the alpha under each window's anchor (or centre), unfiltered
        at = None if anchor is None else (conv["padding"][0][0], conv["padding"][1][0])
        delta = _centre_kernel(kernel, conv, at).astype(x3.dtype)
        y[..., -1] = conv2d(x3[None, :, :, -1:], delta[:, :, None, None], **border,
                            **{**conv, "dilation": 1})[0, :, :, 0]
    return y


def parse_anchor(text: str | None, shape: tuple[int, int]) -> tuple[int, int]:
    """``--anchor X,Y``: the kernel pixel, column X and row Y (OpenCV's ``Point(x, y)``), that
    sits on each output pixel; -1 for a coordinate is the centre, ``size // 2`` (OpenCV's).

    >>> parse_anchor(None, (3, 4)), parse_anchor("0,-1", (3, 4))
    ((2, 1), (0, 1))
    """
    kh, kw = shape
    allowed = (f"X,Y with 0 <= X < {kw} and 0 <= Y < {kh} (a column and a row of the "
               f"{kh}x{kw} kernel; -1 for its centre)")
    if text is None:
        return kw // 2, kh // 2
    if not re.fullmatch(r"\s*-?\d+\s*,\s*-?\d+\s*", text):
        raise ValueError(f"--anchor: expected {allowed}, got {text!r}")
    x, y = (int(v) for v in text.split(","))
    x, y = kw // 2 if x == -1 else x, kh // 2 if y == -1 else y
    if not (0 <= x < kw and 0 <= y < kh):
        raise ValueError(f"--anchor: expected {allowed}, got {text!r}")
    return x, y


def anchor_padding(shape: tuple[int, int], anchor: tuple[int, int], dilation: object, *,
                   flip: bool) -> tuple[tuple[int, int], tuple[int, int]]:
    """``((top, bottom), (left, right))`` that put kernel pixel ``anchor`` = (x, y) on each
    output pixel: ``d*a`` before and ``d*(k - 1 - a)`` after, per axis.

    With ``flip`` the kernel is about to be flipped and ``anchor`` names a pixel of the
    unflipped one, which moves to ``(kw - 1 - x, kh - 1 - y)`` (OpenCV's recipe for true
    convolution).

    >>> anchor_padding((3, 4), (2, 1), 1, flip=False), anchor_padding((3, 4), (2, 1), 2, flip=True)
    (((1, 1), (2, 1)), ((2, 2), (2, 4)))
    """
    (kh, kw), (x, y) = shape, anchor
    dh, dw = normalize_pair(dilation, "dilation")
    if flip:
        x, y = kw - 1 - x, kh - 1 - y
    return (dh * y, dh * (kh - 1 - y)), (dw * x, dw * (kw - 1 - x))


def border_options(args: argparse.Namespace) -> dict[str, object]:
    """``--border``/``--border-value`` as the library's ``padding_mode``/``padding_value``,
    checked before any work."""
    try:
        mode = normalize_padding_mode(args.padding_mode)
    except ValueError as exc:
        raise ValueError(str(exc).replace("padding_mode:", "--border (padding_mode):", 1)) from None
    if args.border_value != 0 and mode != "zeros":
        raise ValueError(f"--border-value: a constant border needs --border constant, got "
                         f"--border-value {args.border_value:g} with --border {args.padding_mode}")
    return {"padding_mode": args.padding_mode, "padding_value": args.border_value}


def describe_border(border: dict[str, object],
                    pads: tuple[tuple[int, int], ...] | None = None) -> str:
    """``"border reflect (dcb|abcd|cba)"``, ``"border constant 255"``; ``"no border"`` when
    ``pads`` (resolved, if known) add nothing.

    >>> describe_border({"padding_mode": "mirror", "padding_value": 0.0})
    'border reflect (dcb|abcd|cba)'
    """
    if pads is not None and not any(any(p) for p in pads):
        return "no border"
    mode = normalize_padding_mode(border["padding_mode"])
    if mode == "zeros":
        return f"border constant {border['padding_value']:g}"
    return f"border {mode} ({BORDER_ROWS[mode]})"


def _centre_kernel(kernel: np.ndarray, conv: dict[str, object],
                   at: tuple[int, int] | None = None) -> np.ndarray:
    """A (eh, ew) delta, eh = dh (kh - 1) + 1: with dilation 1 and the same padding and stride,
    it picks for each output pixel the input pixel at ``at`` in its (dilated) window: the
    anchor's place; by default the window's centre.

    For an even window the padding decides: "same" pads the bottom/right more, so the
    upper/left centre is the output pixel's own; "same_lower" the other way round.
    """
    d = conv["dilation"]
    dh, dw = (d, d) if isinstance(d, int) else d
    eh, ew = dh * (kernel.shape[0] - 1) + 1, dw * (kernel.shape[1] - 1) + 1
    lower = conv["padding"] == "same_lower"
    if at is None:
        at = (eh // 2 if lower else (eh - 1) // 2, ew // 2 if lower else (ew - 1) // 2)
    delta = np.zeros((eh, ew))
    delta[at] = 1.0
    return delta


def run(args: argparse.Namespace) -> int:
    kernel, kernel_name = read_kernel(args)
    conv = conv_options(args)
    border = border_options(args)
    anchor = None  # (x, y) of the kernel as given, when it places the kernel
    if conv["padding"] is None:
        anchor = parse_anchor(args.anchor, kernel.shape)
        conv["padding"] = anchor_padding(kernel.shape, anchor, conv["dilation"], flip=args.flip)
    elif args.anchor is not None:
        raise ValueError("--anchor: sets the padding itself (X columns before, kw-1-X after); "
                         f"give --anchor or --padding, not both (got --padding {args.padding})")
    if args.flip:
        kernel = kernel[::-1, ::-1]
    placed = "" if anchor is None else f", anchor x={anchor[0]} y={anchor[1]}"
    what = f"kernel {kernel_name} {kernel.shape[0]}x{kernel.shape[1]}{placed}"
    outputs = args.output or ["filtered.png"]
    if args.image is not None and Path(args.image).suffix.lower() == ".zarr":
        return _run_zarr(args, kernel, conv, border, outputs, what)
    if args.resume:
        raise ValueError("--resume: only for a .zarr input (it finishes a chunked run)")
    for out in outputs:  # refuse bad or existing outputs before any work
        check_suffix(out, "--output")
        check_output(out, force=args.force, inputs=() if args.image is None else (args.image,))
    writing = progress(outputs, quiet=args.quiet, desc="writing")  # the slowest part: a bar
    dtype = working_dtype(args.dtype, outputs)
    _lap("start")
    if args.image is None:
        from convolab.apps.images import sample_image

        # An 8-bit picture, as a photo would be.
        rgb = np.round(sample_image(256, rgb=True) * 255).astype(dtype)
        source, inputs = Source(rgb, np.dtype(np.uint8), "RGB"), ()
        print(f"input: built-in test picture {source.describe()}")
    else:
        source, inputs = read_input(args.image, "IMAGE", dtype), (args.image,)
        print(f"read {args.image}: {source.describe()}")
    x = source.values
    _lap("read")
    if any(Path(out).suffix.lower() in IMAGE_OUTPUTS for out in outputs):
        check_picture(x, source)  # the result has the input's channels
    x3 = x[..., None] if x.ndim == 2 else x  # (H, W, C): each channel filtered alike
    x_color = x3[..., :-1] if source.alpha else x3
    in_range = bool(x_color.min() >= 0 and x_color.max() <= source.full_scale)
    _lap("stats")
    y = filter_image(x3, kernel, conv, border, anchor=anchor,
                     keep_alpha=source.alpha and not args.filter_alpha)  # (Ho, Wo, C)
    _lap("filter")
    y = y if x.ndim == 3 else y[..., 0]
    in_shape = x.shape[:2]
    del x, x3, x_color  # the input is not needed any more: let it go before writing
    source = source._replace(values=None)
    color = y[..., :-1] if source.alpha else y  # what --scale maps; alpha has its own rule
    lo, hi = float(color.min()), float(color.max())
    pads = resolve_padding(conv["padding"], in_shape, kernel.shape,
                           normalize_pair(conv["stride"], "stride"),
                           normalize_pair(conv["dilation"], "dilation"))
    print(f"{what}, {describe_border(border, pads)}: output {'x'.join(map(str, y.shape))} "
          f"{y.dtype}, values in [{lo:.4g}, {hi:.4g}]")
    display = display_scale(lo, hi, args.scale, kernel_sum=float(kernel.sum()),
                            full=source.full_scale, in_range=in_range)
    _lap("stats")
    for out in writing:
        written = write_output(out, y, display, source, force=args.force, inputs=inputs)
        print(f"wrote {out}: {written}")
    _lap("write")
    return 0


def _run_zarr(args: argparse.Namespace, kernel: np.ndarray, conv: dict[str, object],
              border: dict[str, object], outputs: list[str], what: str) -> int:
    """A .zarr input is filtered chunk by chunk with Dask into a .zarr output. Ctrl-C or
    SIGTERM stop it with one line saying how much is written and how to resume (exit status
    130 or 143); a write error is the library's OSError (one line, status 2)."""
    if len(outputs) != 1 or Path(outputs[0]).suffix.lower() != ".zarr":
        raise ValueError("--output: a .zarr input needs exactly one .zarr output (-o OUT.zarr)")
    if border["padding_value"] != 0:
        raise ValueError("--border-value: a .zarr input takes no constant border other than 0 "
                         "yet; pad the store or use another --border")
    if args.resume and args.force:
        raise ValueError("--resume, --force: give one (--resume finishes an interrupted run, "
                         "--force starts over)")
    if not Path(args.image).exists():
        raise FileNotFoundError(f"IMAGE: no such Zarr store: {args.image}")
    try:
        from convolab.chunked import filter_store, store_status
    except ImportError:
        raise ValueError("IMAGE: filtering a .zarr store needs Dask and Zarr: "
                         "pip install 'convolab[dask]'") from None
    try:
        with _sigterm_interrupts():
            out = filter_store(args.image, outputs[0], kernel,
                               padding_mode=border["padding_mode"], progress=not args.quiet,
                               overwrite=args.force, resume=args.resume, **conv)
    except KeyboardInterrupt as exc:
        by = "SIGTERM" if isinstance(exc, _Terminated) else "Ctrl-C"
        try:
            status = store_status(outputs[0])
            left = (f"{outputs[0]} is marked incomplete, {status.written} of {status.total} "
                    "chunks written (each whole); run the same command with --resume to "
                    "compute only the others")
        except ValueError:
            left = f"nothing was written to {outputs[0]}"
        print(f"convolab: interrupted ({by}): {left}", file=sys.stderr)
        return 143 if isinstance(exc, _Terminated) else 130
    run = store_status(out).last_run
    retried = ("retries not counted" if run["retried"] is None
               else f"{run['retried']} retried")
    print(f"{what}, {describe_border(border)}: wrote {out}: "
          f"{run['computed'] + run['resumed']} chunks, {run['computed']} computed, "
          f"{run['resumed']} resumed (written by an earlier run), {retried}")
    return 0


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread as Ctrl-C raises KeyboardInterrupt."""


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Turn SIGTERM into :class:`_Terminated` while the block runs (main thread only), so a
    stopped run says what it left, as Ctrl-C does."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise _Terminated

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
