"""The benchmark suite: the conv layers and image filters of issue 4, float32.

Shapes are NHWC / HWIO (ours). Peers get the same problem in their own best layout; a peer
whose padding cannot express TensorFlow's asymmetric "same" (PyTorch, at stride 2) is given
the symmetric padding ``k // 2``, which yields the same output shape and the same FLOPs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Case:
    name: str
    n: int
    hw: int
    c: int
    o: int
    k: int
    stride: int = 1
    padding: str = "same"
    groups: int = 1
    kind: str = "cnn"  # "cnn" (a conv layer) or "image" (one big single-channel image)

    @property
    def x_shape(self) -> tuple[int, int, int, int]:
        return (self.n, self.hw, self.hw, self.c)

    @property
    def w_shape(self) -> tuple[int, int, int, int]:
        return (self.k, self.k, self.c // self.groups, self.o)

    @property
    def out_hw(self) -> int:
        if self.padding == "same":
            return -(-self.hw // self.stride)
        return (self.hw - self.k) // self.stride + 1

    @property
    def flops(self) -> int:
        """FLOPs of the direct method (2 per multiply-add): what every rate is counted with."""
        return 2 * self.n * self.out_hw**2 * self.o * self.k**2 * (self.c // self.groups)

    def kwargs(self) -> dict:
        return dict(stride=self.stride, padding=self.padding, groups=self.groups)

    def arrays(self, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """x (N, H, W, C), w (k, k, C/groups, O) scaled to unit output variance, bias (O,)."""
        rng = np.random.default_rng(seed)
        x = rng.standard_normal(self.x_shape, dtype=np.float32)
        fan_in = self.k * self.k * (self.c // self.groups)
        w = rng.standard_normal(self.w_shape, dtype=np.float32) / np.float32(np.sqrt(fan_in))
        b = rng.standard_normal(self.o, dtype=np.float32)
        return x, w, b


FORWARD = [
    Case("lenet1", 64, 28, 1, 6, 5),
    Case("lenet2", 64, 14, 6, 16, 5, padding="valid"),
    Case("res3x3a", 16, 56, 64, 64, 3),
    Case("res3x3b", 16, 28, 128, 128, 3),
    Case("res3x3s2", 16, 56, 64, 128, 3, stride=2),
    Case("stem", 4, 224, 3, 64, 7, stride=2),
    Case("pw1x1", 16, 28, 256, 64, 1),
    Case("dw3x3", 16, 56, 128, 128, 3, groups=128),
    Case("img3x3", 1, 2048, 1, 1, 3, kind="image"),
    Case("img31", 1, 1024, 1, 1, 31, kind="image"),
]
BACKWARD = [c for c in FORWARD if c.name in ("res3x3a", "res3x3s2", "dw3x3", "lenet1")]
GEMM_BOUND = ("res3x3a", "res3x3b", "res3x3s2", "stem", "pw1x1")
