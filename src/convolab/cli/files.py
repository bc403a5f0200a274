"""Reading inputs (PNG/JPEG/... images and .npy arrays) and writing outputs for the command."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from convolab.apps.files import atomic_write

IMAGE_OUTPUTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
OUTPUT_SUFFIXES = (*IMAGE_OUTPUTS, ".npy")


def read_input(path: str | os.PathLike, name: str) -> tuple[np.ndarray, bool]:
    """Load ``path``: an image as float64 in [0, 1], ``(H, W)`` gray or ``(H, W, 3)`` RGB
    (alpha dropped), or a ``.npy`` array as float64. Returns the array and whether it was an
    image (so its values are display intensities in [0, 1]).
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{name}: no such file: {p}")
    if p.is_dir():
        raise IsADirectoryError(f"{name}: {p} is a directory, expected an image or .npy file")
    if p.suffix.lower() == ".npy":
        try:
            a = np.load(p, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise ValueError(f"{name}: {p} is not a readable .npy array ({exc})") from None
        if a.dtype.kind not in "biuf" or a.ndim not in (2, 3) or 0 in a.shape:
            raise ValueError(f"{name}: {p} holds a {a.dtype} array of shape {a.shape}; "
                             "expected a non-empty real (H, W) or (H, W, C) array")
        return a.astype(np.float64), False
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(p) as im:
            im.load()
            if im.mode.startswith("I"):  # 16-bit gray PNG/TIFF
                return np.asarray(im, np.float64) / 65535.0, True
            gray = im.mode in ("1", "L", "LA")
            return np.asarray(im.convert("L" if gray else "RGB"), np.float64) / 255.0, True
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ValueError(f"{name}: {p} is not an image Pillow can read, nor a .npy array "
                         f"({type(exc).__name__})") from None


def check_suffix(path: str, option: str, allowed: tuple[str, ...] = OUTPUT_SUFFIXES) -> None:
    """Refuse an output path whose suffix says a format we cannot write."""
    if Path(path).suffix.lower() not in allowed:
        raise ValueError(f"{option}: expected a path ending in {', '.join(allowed)}, "
                         f"got {path!r}")


def write_output(path: str | os.PathLike, raw: np.ndarray, display: np.ndarray, *,
                 force: bool, inputs: tuple[str | os.PathLike, ...] = ()) -> None:
    """Write ``raw`` to a .npy path, else ``display`` (values in [0, 1]) as an 8-bit image.

    Atomic; never over an input; over an existing file only with ``force``.
    """
    p = Path(path)
    is_npy = p.suffix.lower() == ".npy"
    if display.ndim == 3 and display.shape[2] == 1:
        display = display[:, :, 0]  # (H, W, 1) -> (H, W): one channel is a gray picture
    if not is_npy and display.ndim == 3 and display.shape[2] not in (3, 4):
        raise ValueError(f"--output: a picture shows 1, 3 or 4 channels, the result has "
                         f"{display.shape[2]}; write it to a .npy file instead")
    with atomic_write(p, force=force, inputs=inputs) as tmp:
        if is_npy:
            with open(tmp, "wb") as f:
                np.save(f, raw)
        else:
            from PIL import Image

            pixels = np.round(np.clip(display, 0.0, 1.0) * 255).astype(np.uint8)
            Image.fromarray(pixels).save(tmp)
