"""Reading inputs (PNG/TIFF/JPEG/... images and .npy arrays) and writing outputs for the command.

One rule for values, whatever the file: a sample keeps its own number. An 8-bit picture reads
as 0..255, a 16-bit one as 0..65535, a 1-bit one as 0/1, a float TIFF as its floats, and a
``.npy`` array as its values: the same pixels in a PNG and in a uint8 ``.npy`` give the same
array. The stored type is remembered (:class:`Source`) so that outputs can keep it.

Big pictures: a picture is converted to floats in strips of rows (never a second full copy of
its samples), and a picture output is quantized in bands of rows, its display scale applied
band by band (:func:`write_output` takes the scale as a function), so that reading and writing
hold little beyond the float image and the file's own samples.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from convolab.apps.files import atomic_write
from convolab.cli.common import warn

IMAGE_OUTPUTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
OUTPUT_SUFFIXES = (*IMAGE_OUTPUTS, ".npy")
NPY_MAGIC = b"\x93NUMPY"  # the first bytes of every .npy file
_ALPHA_FORMATS = (".png", ".tif", ".tiff")  # the formats Pillow writes (and reads) alpha in
_UINT16_FORMATS = (".png", ".tif", ".tiff")  # 16-bit gray
_FLOAT_FORMATS = (".tif", ".tiff")  # float32 gray (Pillow mode "F")
STRIP_BYTES = 4 << 20  # samples converted (read) or quantized (written) at a time

# Pillow mode -> (channels, stored sample type). Other modes are converted (see _read_image).
_MODES = {
    "1": ("gray", np.dtype(bool)),
    "L": ("gray", np.dtype(np.uint8)),
    "LA": ("gray+alpha", np.dtype(np.uint8)),
    "RGB": ("RGB", np.dtype(np.uint8)),
    "RGBA": ("RGBA", np.dtype(np.uint8)),
    "I;16": ("gray", np.dtype(np.uint16)),
    "I;16L": ("gray", np.dtype(np.uint16)),
    "I;16B": ("gray", np.dtype(np.uint16)),
    "I;16N": ("gray", np.dtype(np.uint16)),
    "I": ("gray", np.dtype(np.int32)),
    "F": ("gray", np.dtype(np.float32)),
}


class Source(NamedTuple):
    """An input as read: its values and what they were stored as.

    values : float ndarray (float64 unless read otherwise), shape (H, W) or (H, W, C), the
        file's own numbers
    dtype : the stored sample type (bool for 1-bit pictures, uint8, uint16, float32, ...)
    channels : "gray", "gray+alpha", "RGB" or "RGBA" for a picture, "" for a .npy array
    note : how the picture was converted on reading ("" if it was not)
    """

    values: np.ndarray
    dtype: np.dtype
    channels: str = ""
    note: str = ""

    @property
    def alpha(self) -> bool:
        """The last channel is opacity (gray+alpha and RGBA pictures; never a .npy array)."""
        return self.channels.endswith("A") or self.channels.endswith("alpha")

    @property
    def full_scale(self) -> float:
        """The value shown as white: the top of an integer picture type, else 1.0.

        >>> Source(np.zeros((1, 1)), np.dtype(np.uint16)).full_scale
        65535.0
        """
        if self.dtype in (np.uint8, np.uint16):
            return float(np.iinfo(self.dtype).max)
        return 1.0  # 1-bit pictures (0/1), and float or other arrays: [0, 1] as float pictures

    def describe(self) -> str:
        """``"64x64 gray float32"``, ``"32x32 RGBA uint8"``, ``"12x10x2 float64 array"``."""
        h, w = self.values.shape[:2]
        depth = "1-bit" if self.dtype == bool and self.channels else str(self.dtype)
        if not self.channels:
            return f"{'x'.join(map(str, self.values.shape))} {depth} array"
        return f"{h}x{w} {self.channels} {depth}" + (f" ({self.note})" if self.note else "")


def read_input(path: str | os.PathLike, name: str,
               dtype: np.dtype | type = np.float64) -> Source:
    """Load ``path``, a picture Pillow reads or a ``.npy`` array, keeping its values.

    A picture is ``(H, W)`` gray or ``(H, W, C)`` with C = 2 (gray+alpha), 3 (RGB) or 4 (RGBA);
    a ``.npy`` array is any non-empty real ``(H, W)`` or ``(H, W, C)`` array. Values are of
    ``dtype`` (float64 or float32) but otherwise as stored (see the module docstring); float32
    holds every 1-, 8- and 16-bit sample exactly.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{name}: no such file: {p}")
    if p.is_dir():
        raise IsADirectoryError(f"{name}: {p} is a directory, expected an image or .npy file")
    if p.suffix.lower() == ".npy":
        # np.load takes any other file for a pickle and refuses it as one, which says nothing
        # useful about, say, a text file named .npy: look at the magic bytes first.
        with open(p, "rb") as f:
            head = f.read(len(NPY_MAGIC))
        if head != NPY_MAGIC:
            raise ValueError(f"{name}: {p} is not a NumPy file (a .npy file begins with the "
                             f"bytes {NPY_MAGIC!r}, this one with {head!r})")
        try:
            a = np.load(p, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise ValueError(f"{name}: {p} is not a readable .npy array ({exc})") from None
        if a.dtype.kind not in "biuf" or a.ndim not in (2, 3) or 0 in a.shape:
            raise ValueError(f"{name}: {p} holds a {a.dtype} array of shape {a.shape}; "
                             "expected a non-empty real (H, W) or (H, W, C) array")
        return Source(a.astype(dtype), a.dtype)
    from PIL import UnidentifiedImageError

    try:
        return _read_image(p, np.dtype(dtype))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ValueError(f"{name}: {p} is not an image Pillow can read, nor a .npy array "
                         f"({type(exc).__name__})") from None


def _read_image(p: Path, dtype: np.dtype) -> Source:
    from PIL import Image

    with Image.open(p) as im:
        rawmode = im.tile[0].args if im.tile else None  # the stored layout, before decoding
        rawmode = rawmode[0] if isinstance(rawmode, tuple) else rawmode
        im.load()
        note = ""
        if im.mode not in _MODES:  # palette, premultiplied, CMYK, YCbCr, ...: as RGB(A)
            target = {"La": "LA", "RGBa": "RGBA", "PA": "RGBA"}.get(im.mode) or (
                "RGBA" if "transparency" in im.info else "RGB")
            note = f"converted from {im.mode}"
            im = im.convert(target)
        channels, stored = _MODES[im.mode]
        values = _as_floats(im, dtype)
    if isinstance(rawmode, str) and ";16" in rawmode and stored == np.uint8:
        # Pillow has no 16-bit color modes: it decodes 16-bit RGB(A)/LA to 8 bits per sample.
        warn(f"{p} holds 16-bit {channels}; Pillow reads it as 8-bit (the low byte of every "
             "sample is lost); save it as 16-bit gray or .npy to keep the values")
        note = "from 16-bit"
    return Source(values, stored, channels, note)


def _as_floats(im: object, dtype: np.dtype) -> np.ndarray:
    """A loaded Pillow image's samples as ``dtype``, ``(H, W)`` or ``(H, W, C)``, converted a
    strip of rows at a time (``np.asarray(im)`` would hold all its samples once more)."""
    width, height = im.size
    first = np.asarray(im.crop((0, 0, width, min(height, 1))))  # the layout of a row
    values = np.empty((height, *first.shape[1:]), dtype)
    rows = max(1, STRIP_BYTES // max(1, first.nbytes))
    for r0 in range(0, height, rows):
        values[r0 : r0 + rows] = np.asarray(im.crop((0, r0, width, min(height, r0 + rows))))
    return values


def check_suffix(path: str, option: str, allowed: tuple[str, ...] = OUTPUT_SUFFIXES) -> None:
    """Refuse an output path whose suffix says a format we cannot write."""
    if Path(path).suffix.lower() not in allowed:
        raise ValueError(f"{option}: expected a path ending in {', '.join(allowed)}, "
                         f"got {path!r}")


def check_picture(y: np.ndarray, source: Source, option: str = "--output") -> None:
    """Refuse, before any work, a result no picture can show (e.g. 2 channels without alpha)."""
    c = 1 if y.ndim == 2 else y.shape[2]
    if c in (1, 3, 4) or (c == 2 and source.alpha):
        return
    raise ValueError(f"{option}: a picture shows 1, 3 or 4 channels, the result has {c}; "
                     "write it to a .npy file instead")


Display = Callable[[np.ndarray], np.ndarray]  # colour values (r, W, C) -> 0 black, 1 white


def write_output(path: str | os.PathLike, y: np.ndarray, display: np.ndarray | Display,
                 source: Source, *, force: bool,
                 inputs: tuple[str | os.PathLike, ...] = ()) -> str:
    """Write the result ``y`` to ``path``; return what was written ("64x64 gray uint16").

    ``.npy``: ``y`` itself, in its dtype, every channel (alpha included). A picture keeps the
    input's depth where the format holds it: 8-bit for 1- and 8-bit input; 16-bit gray
    PNG/TIFF for 16-bit gray input; for float gray input a float TIFF holding ``y`` itself (as
    ``.npy`` does), else 8 bits. Colour channels show ``display`` (0 black, 1 white, see
    ``--scale``; values beyond are clipped): an array of ``y``'s colour channels, or a function
    mapping a band of their rows, applied band by band; alpha shows ``y``'s alpha channel over
    the input's full scale. Whatever a picture loses (values clipped, depth reduced, alpha
    dropped) is one warning line on stderr.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".npy":
        with atomic_write(p, force=force, inputs=inputs) as tmp, open(tmp, "wb") as f:
            np.save(f, y)
        return f"{'x'.join(map(str, y.shape))} {y.dtype} array"
    check_picture(y, source)
    y3 = y[..., None] if y.ndim == 2 else y  # (H, W, C)
    colour = y3[..., :-1] if source.alpha else y3  # (H, W, C - alpha)
    if callable(display):
        shown = lambda r0, r1: display(colour[r0:r1])  # noqa: E731
    else:
        d3 = display[..., None] if display.ndim == 2 else display
        shown = lambda r0, r1: d3[r0:r1]  # noqa: E731
    alpha = y3[..., -1] if source.alpha else None
    lost: list[str] = []
    if alpha is not None and suffix not in _ALPHA_FORMATS:
        lost.append(f"alpha dropped ({suffix} has no alpha channel)")
        alpha = None
    gray = colour.shape[2] == 1
    if alpha is None and gray and source.dtype.kind == "f" and suffix in _FLOAT_FORMATS:
        pixels, kind = y3[..., 0].astype(np.float32, copy=False), "float32"  # as .npy
        if not np.isfinite(pixels).all() and np.isfinite(y3).all():
            lost.append("values beyond float32's range became inf")
    else:
        top = 65535 if (alpha is None and gray and source.dtype == np.uint16
                        and suffix in _UINT16_FORMATS) else 255
        kind = "uint16" if top == 65535 else "uint8"
        if source.dtype.itemsize > 1 and source.dtype != bool and top == 255:
            what = "float" if source.dtype.kind == "f" else f"{source.dtype.itemsize * 8}-bit"
            lost.append(f"{what} values reduced to 8 bits")
        height, width, c = colour.shape
        pixels = np.empty((height, width, c + (alpha is not None)), kind)  # (H, W, C)
        outside = alpha_outside = 0
        rows = max(1, STRIP_BYTES // (width * c * y.itemsize))
        for r0 in range(0, height, rows):  # in bands of rows: no full-size temporaries
            r1 = min(height, r0 + rows)
            band = shown(r0, r1)  # (r, W, C), 0 black and 1 white
            # Clipping counted on the rounded samples: 255.00000000000003 is no loss.
            q = np.round(band * top)  # (r, W, C)
            outside += int(np.count_nonzero((q < 0) | (q > top)))
            pixels[r0:r1, :, :c] = np.clip(q, 0, top, out=q)
            if alpha is not None:
                a = np.round(alpha[r0:r1] / source.full_scale * top)  # (r, W)
                alpha_outside += int(np.count_nonzero((a < 0) | (a > top)))
                pixels[r0:r1, :, c] = np.clip(a, 0, top, out=a)
        if outside:  # only --scale clip leaves values outside [0, 1]
            lost.append(f"{outside} of {colour.size} values outside "
                        f"[0, {source.full_scale:g}] clipped (--scale minmax would show them "
                        "all)")
        if alpha_outside:
            lost.append(f"{alpha_outside} alpha values outside [0, {source.full_scale:g}] "
                        "clipped")
        pixels = pixels[..., 0] if pixels.shape[2] == 1 else pixels  # (H, W, 1) -> (H, W)
    channels = {1: "gray", 2: "gray+alpha", 3: "RGB", 4: "RGBA"}[
        1 if pixels.ndim == 2 else pixels.shape[2]]
    from PIL import Image

    with atomic_write(p, force=force, inputs=inputs) as tmp:
        Image.fromarray(pixels).save(tmp)
    if lost:
        warn(f"{p}: " + "; ".join(lost))
    return f"{pixels.shape[0]}x{pixels.shape[1]} {channels} {kind}"
