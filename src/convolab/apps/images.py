"""Built-in images, generated (deterministically) by code: nothing is downloaded or shipped.

- :func:`edge_image`: the book's 6x8 black-and-white "image" (6.2.3).
- :func:`sample_image`: a photo-like scene (sky gradient, sun, hills, a house, textured grass)
  for trying filters on.
- :func:`waldo_scene`: a cluttered scene with one planted "Waldo" and look-alike distractors
  for template matching ("Where's Waldo", 6.1.4).

All images are float64 in [0, 1].
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from convolab.apps.kernels import gaussian
from convolab.ops import corr2d


def edge_image() -> np.ndarray:
    """The book's ``X`` (6.2.3): 6x8 ones with columns 2..5 set to zero (two vertical edges).

    >>> edge_image()[0]
    array([1., 1., 0., 0., 0., 0., 1., 1.])
    """
    x = np.ones((6, 8))
    x[:, 2:6] = 0.0
    return x


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Gaussian-blurred white noise rescaled to [0, 1]: a cheap natural-looking texture."""
    size = 2 * int(3 * sigma) + 1
    t = corr2d(rng.standard_normal(shape), gaussian(size, sigma), padding="same")
    return (t - t.min()) / (t.max() - t.min())


def sample_image(size: int = 256, *, rgb: bool = False) -> np.ndarray:
    """A deterministic photo-like test scene, ``(size, size)`` gray or ``(size, size, 3)`` RGB.

    >>> img = sample_image(64, rgb=True)
    >>> img.shape, img.dtype, bool(img.min() >= 0 and img.max() <= 1)
    ((64, 64, 3), dtype('float64'), True)
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 16:
        raise ValueError(f"size: expected an int >= 16, got size={size!r}")
    rng = np.random.default_rng(6_1_2023)
    y, x = np.mgrid[0:size, 0:size] / size  # (size, size) coordinates in [0, 1)
    texture = _smooth_noise(rng, (size, size), sigma=max(size / 128, 0.5))
    # Sky: blue gradient, lighter near the horizon.
    img = np.empty((size, size, 3))
    img[...] = np.stack([0.35 + 0.5 * y, 0.55 + 0.4 * y, np.full_like(y, 0.95)], axis=-1)
    sun = (y - 0.2) ** 2 + (x - 0.78) ** 2 < 0.08**2
    img[sun] = (1.0, 0.92, 0.45)
    # Hills: a wavy horizon, green with grass texture below.
    horizon = 0.55 + 0.06 * np.sin(2 * np.pi * 1.5 * x) + 0.03 * np.sin(2 * np.pi * 4.3 * x + 1)
    ground = y > horizon
    grass = np.stack([0.2 + 0.25 * texture, 0.45 + 0.35 * texture, 0.15 + 0.1 * texture], -1)
    img[ground] = grass[ground]
    # House: walls, roof (a triangle), door and a checkered window.
    walls = (x > 0.18) & (x < 0.45) & (y > 0.45) & (y < 0.75)
    img[walls] = (0.85, 0.8, 0.7)
    roof = (y > 0.3) & (y <= 0.45) & (np.abs(x - 0.315) < (y - 0.3) * 1.1)
    img[roof] = (0.6, 0.15, 0.1)
    door = (x > 0.28) & (x < 0.34) & (y > 0.6) & (y < 0.75)
    img[door] = (0.35, 0.2, 0.1)
    window = (x > 0.37) & (x < 0.43) & (y > 0.52) & (y < 0.6)
    checks = (np.floor(x * size / 4) + np.floor(y * size / 4)) % 2
    img[window] = (0.2 + 0.6 * checks[window])[:, None] * np.array([0.7, 0.85, 1.0])
    img = np.clip(img, 0.0, 1.0)
    return img if rgb else to_gray(img)


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """Luma (ITU-R 601: 0.299 R + 0.587 G + 0.114 B) of an ``(H, W, 3)`` image, ``(H, W)``."""
    return rgb[..., :3] @ np.array([0.299, 0.587, 0.114])


def waldo() -> np.ndarray:
    """The 15x9 "Waldo" template: a round head, a red-and-white striped shirt, dark trousers."""
    t = np.full((15, 9), 0.5)
    yy, xx = np.mgrid[0:4, 0:9]
    t[0:4][(yy - 1.5) ** 2 + (xx - 4) ** 2 <= 4.5] = 0.9  # head
    t[4:11, 1:8] = np.where(np.arange(4, 11)[:, None] % 2 == 0, 0.95, 0.15)  # stripes
    t[11:15, 2:4] = 0.05  # left leg
    t[11:15, 5:7] = 0.05  # right leg
    return t


class Scene(NamedTuple):
    """A template-matching puzzle: the ``image``, the ``template`` and its top-left ``location``."""

    image: np.ndarray
    template: np.ndarray
    location: tuple[int, int]


def waldo_scene(height: int = 240, width: int = 320, *, seed: int = 0) -> Scene:
    """A cluttered gray scene with one Waldo planted at a seed-dependent place.

    Clutter: rectangles, disks and striped look-alikes (wrong stripe period or colours) on a
    textured background, plus mild noise, so a plain intensity search would be fooled.

    >>> scene = waldo_scene(seed=1)
    >>> r, c = scene.location
    >>> th, tw = scene.template.shape
    >>> float(np.abs(scene.image[r:r + th, c:c + tw] - scene.template).max()) < 0.1
    True
    """
    if min(height, width) < 32:
        raise ValueError(f"height, width: expected both >= 32, got {(height, width)}")
    rng = np.random.default_rng(seed)
    img = 0.3 + 0.4 * _smooth_noise(rng, (height, width), sigma=6.0)
    yy, xx = np.mgrid[0:height, 0:width]
    for _ in range(height * width // 400):
        kind = rng.integers(3)
        cy, cx = rng.integers(0, height), rng.integers(0, width)
        value = rng.uniform(0.0, 1.0)
        if kind == 0:  # rectangle
            h, w = rng.integers(3, 18, size=2)
            img[cy : cy + h, cx : cx + w] = value
        elif kind == 1:  # disk
            r = rng.uniform(2, 8)
            img[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = value
        else:  # striped decoy: Waldo's outline with another stripe period or palette
            decoy = waldo()
            period = rng.choice([1, 3])
            lo, hi = np.sort(rng.uniform(0, 1, size=2))
            decoy[4:11, 1:8] = np.where((np.arange(4, 11)[:, None] // period) % 2, lo, hi)
            patch = img[cy : cy + 15, cx : cx + 9]
            patch[...] = decoy[: patch.shape[0], : patch.shape[1]]
    template = waldo()
    th, tw = template.shape
    row, col = int(rng.integers(0, height - th)), int(rng.integers(0, width - tw))
    img[row : row + th, col : col + tw] = template
    img += rng.normal(0.0, 0.02, size=img.shape)
    return Scene(np.clip(img, 0.0, 1.0), template, (row, col))
