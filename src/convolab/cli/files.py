"""Reading inputs (PNG/TIFF/JPEG/... images and .npy arrays) and writing outputs for the command.

One rule for values, whatever the file: a sample keeps its own number. An 8-bit picture reads
as 0..255, a 16-bit one as 0..65535, a 1-bit one as 0/1, a float TIFF as its floats, and a
``.npy`` array as its values: the same pixels in a PNG and in a uint8 ``.npy`` give the same
array. The stored type is remembered (:class:`Source`) so that outputs can keep it.
"""

from __future__ import annotations

import os
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

    values : float64 ndarray, shape (H, W) or (H, W, C), the file's own numbers
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


def read_input(path: str | os.PathLike, name: str) -> Source:
    """Load ``path``, a picture Pillow reads or a ``.npy`` array, keeping its values.

    A picture is ``(H, W)`` gray or ``(H, W, C)`` with C = 2 (gray+alpha), 3 (RGB) or 4 (RGBA);
    a ``.npy`` array is any non-empty real ``(H, W)`` or ``(H, W, C)`` array. Values are
    float64 but otherwise as stored (see the module docstring).
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
        return Source(a.astype(np.float64), a.dtype)
    from PIL import UnidentifiedImageError

    try:
        return _read_image(p)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ValueError(f"{name}: {p} is not an image Pillow can read, nor a .npy array "
                         f"({type(exc).__name__})") from None


def _read_image(p: Path) -> Source:
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
        channels, dtype = _MODES[im.mode]
        values = np.asarray(im).astype(np.float64)
    if isinstance(rawmode, str) and ";16" in rawmode and dtype == np.uint8:
        # Pillow has no 16-bit color modes: it decodes 16-bit RGB(A)/LA to 8 bits per sample.
        warn(f"{p} holds 16-bit {channels}; Pillow reads it as 8-bit (the low byte of every "
             "sample is lost); save it as 16-bit gray or .npy to keep the values")
        note = "from 16-bit"
    return Source(values, dtype, channels, note)


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


def write_output(path: str | os.PathLike, y: np.ndarray, display: np.ndarray, source: Source,
                 *, force: bool, inputs: tuple[str | os.PathLike, ...] = ()) -> str:
    """Write the result ``y`` to ``path``; return what was written ("64x64 gray uint16").

    ``.npy``: ``y`` itself, float64, every channel (alpha included). A picture keeps the input's
    depth where the format holds it: 8-bit for 1- and 8-bit input; 16-bit gray PNG/TIFF for
    16-bit gray input; for float gray input a float TIFF holding ``y`` itself (as ``.npy``
    does), else 8 bits. Colour channels show ``display`` (0 black, 1 white, see ``--scale``;
    values beyond are clipped); alpha shows ``y``'s alpha channel over the input's full
    scale. Whatever a picture loses (values clipped, depth reduced, alpha dropped) is one
    warning line on stderr.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".npy":
        with atomic_write(p, force=force, inputs=inputs) as tmp, open(tmp, "wb") as f:
            np.save(f, y)
        return f"{'x'.join(map(str, y.shape))} float64 array"
    check_picture(y, source)
    y3 = y[..., None] if y.ndim == 2 else y  # (H, W, C)
    d3 = display[..., None] if display.ndim == 2 else display  # (H, W, C - alpha)
    alpha = y3[..., -1] if source.alpha else None
    lost: list[str] = []
    if alpha is not None and suffix not in _ALPHA_FORMATS:
        lost.append(f"alpha dropped ({suffix} has no alpha channel)")
        alpha = None
    gray = d3.shape[2] == 1
    if alpha is None and gray and source.dtype.kind == "f" and suffix in _FLOAT_FORMATS:
        pixels, kind = y3[..., 0].astype(np.float32), "float32"  # the values, as .npy
        if not np.isfinite(pixels).all() and np.isfinite(y3).all():
            lost.append("values beyond float32's range became inf")
    else:
        top = 65535 if (alpha is None and gray and source.dtype == np.uint16
                        and suffix in _UINT16_FORMATS) else 255
        kind = "uint16" if top == 65535 else "uint8"
        if source.dtype.itemsize > 1 and source.dtype != bool and top == 255:
            what = "float" if source.dtype.kind == "f" else f"{source.dtype.itemsize * 8}-bit"
            lost.append(f"{what} values reduced to 8 bits")
        # Clipping counted on the rounded samples: 255.00000000000003 is no loss.
        planes = [np.round(d3 * top)]  # (H, W, C)
        outside = int(((planes[0] < 0) | (planes[0] > top)).sum())
        if outside:  # only --scale clip leaves values outside [0, 1]
            lost.append(f"{outside} of {d3.size} values outside [0, {source.full_scale:g}] "
                        "clipped (--scale minmax would show them all)")
        if alpha is not None:
            a = np.round(alpha / source.full_scale * top)[..., None]  # (H, W, 1)
            if (outside := int(((a < 0) | (a > top)).sum())):
                lost.append(f"{outside} alpha values outside [0, {source.full_scale:g}] "
                            "clipped")
            planes.append(a)
        pixels = np.clip(np.concatenate(planes, axis=-1), 0, top).astype(kind)
        pixels = pixels[..., 0] if pixels.shape[2] == 1 else pixels  # (H, W, 1) -> (H, W)
    channels = {1: "gray", 2: "gray+alpha", 3: "RGB", 4: "RGBA"}[
        1 if pixels.ndim == 2 else pixels.shape[2]]
    from PIL import Image

    with atomic_write(p, force=force, inputs=inputs) as tmp:
        Image.fromarray(pixels).save(tmp)
    if lost:
        warn(f"{p}: " + "; ".join(lost))
    return f"{pixels.shape[0]}x{pixels.shape[1]} {channels} {kind}"
