"""What an algorithm is handed: a conv problem already validated, resolved and canonical.

A problem has any rank (``x`` is ``(N, *spatial, C)``, ``w`` is ``(*kernel, C // groups, O)``);
``ops/lowering.py`` turns one of rank 1 or 3+ into the rank-2 problem the algorithms compute.
Algorithms trust these fields. Arrays reaching an algorithm are NHWC (``x``, ``(N, H, W, C)``),
HWIO (``w``, ``(kh, kw, C // groups, O)``), C-contiguous and of one float dtype (float32 or
float64); the output is NHWC ``(N, Ho, Wo, O)``, with the ``bias`` (O,) a ``forward`` is given
added (``algorithms/bias.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from convolab.padding import index_map
from convolab.shapes import ConvGeometry


@dataclass(frozen=True)
class ConvProblem:
    """One conv's shapes and options, resolved.

    ``x_shape`` is ``(N, *spatial, C)``, ``w_shape`` is ``(*kernel, C // groups, O)``
    (``(N, H, W, C)`` and ``(kh, kw, C // groups, O)`` for images); ``padding_mode`` is
    canonical ("zeros", "reflect", "replicate", "circular", "symmetric").
    """

    x_shape: tuple[int, ...]
    w_shape: tuple[int, ...]
    geom: ConvGeometry
    groups: int
    padding_mode: str
    dtype: np.dtype

    @property
    def rank(self) -> int:
        """Number of spatial axes (2 for images)."""
        return len(self.w_shape) - 2

    @property
    def y_shape(self) -> tuple[int, ...]:
        return (self.x_shape[0], *self.geom.out_shape, self.w_shape[-1])

    @property
    def flops(self) -> int:
        """Multiply-adds of the direct method, counted as 2 FLOPs each."""
        return 2 * math.prod(self.y_shape) * math.prod(self.w_shape[:-1])

    @property
    def empty(self) -> bool:
        """Whether the input has no pixel (N = 0 or a spatial size 0): nothing to compute."""
        return min(self.x_shape[:-1]) == 0

    def row_map(self) -> np.ndarray:
        """Padded row -> input row (or -1 for zero), length ``H + top + bottom`` (the
        second-to-last spatial axis)."""
        t, b = self.geom.pads[-2]
        return index_map(self.x_shape[-3], t, b, self.padding_mode)

    def col_map(self) -> np.ndarray:
        """Padded column -> input column (or -1 for zero), length ``W + left + right`` (the
        last spatial axis)."""
        left, r = self.geom.pads[-1]
        return index_map(self.x_shape[-2], left, r, self.padding_mode)
