"""What an algorithm is handed: a conv problem already validated, resolved and canonical.

Algorithms trust these fields. Arrays reaching an algorithm are NHWC (``x``, ``(N, H, W, C)``),
HWIO (``w``, ``(kh, kw, C // groups, O)``), C-contiguous and of one float dtype (float32 or
float64); the output is NHWC ``(N, Ho, Wo, O)``, with the ``bias`` (O,) a ``forward`` is given
added (``algorithms/bias.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from convolab.padding import index_map
from convolab.shapes import ConvGeometry


@dataclass(frozen=True)
class ConvProblem:
    """One conv's shapes and options, resolved.

    ``x_shape`` is ``(N, H, W, C)``, ``w_shape`` is ``(kh, kw, C // groups, O)``;
    ``padding_mode`` is canonical ("zeros", "reflect", "replicate", "circular", "symmetric").
    """

    x_shape: tuple[int, int, int, int]
    w_shape: tuple[int, int, int, int]
    geom: ConvGeometry
    groups: int
    padding_mode: str
    dtype: np.dtype

    @property
    def y_shape(self) -> tuple[int, int, int, int]:
        return (self.x_shape[0], *self.geom.out_shape, self.w_shape[3])

    @property
    def flops(self) -> int:
        """Multiply-adds of the direct method, counted as 2 FLOPs each."""
        kh, kw, cg, o = self.w_shape
        n, ho, wo, _ = self.y_shape
        return 2 * n * ho * wo * o * kh * kw * cg

    def row_map(self) -> np.ndarray:
        """Padded row -> input row (or -1 for zero), length ``H + top + bottom``."""
        (t, b), _ = self.geom.pads
        return index_map(self.x_shape[1], t, b, self.padding_mode)

    def col_map(self) -> np.ndarray:
        """Padded column -> input column (or -1 for zero), length ``W + left + right``."""
        _, (left, r) = self.geom.pads
        return index_map(self.x_shape[2], left, r, self.padding_mode)
