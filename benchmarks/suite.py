"""The benchmark suite: the conv layers and image filters of issue 4, and issue 10's variants.

Each conv layer ("cnn") also runs in float64 and with convolab called in NCHW / OIHW
(``variants``); the image filters and the tiny call run in float32 NHWC only.
Shapes are NHWC / HWIO (ours); ``Case.ours`` gives convolab its arrays in the case's layout.
Peers get the same problem in their own best layout; a peer whose padding cannot express
TensorFlow's asymmetric "same" (PyTorch, at stride 2) is given the symmetric padding ``k // 2``,
which yields the same output shape and the same FLOPs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

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
    kind: str = "cnn"  # "cnn" (a conv layer), "image" (one big single-channel image), "call"
    dtype: str = "float32"
    layout: str = "NHWC"  # how convolab is called: "NHWC" (with HWIO) or "NCHW" (with OIHW)

    @property
    def label(self) -> str:
        return label(self.name, self.dtype, self.layout)

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

    def traffic(self, direction: str) -> int:
        """Bytes a memory-bound conv must move: forward reads x and writes y; backward reads
        gy and x and writes grad_x (grad_w and grad_b are small)."""
        x = self.n * self.hw**2 * self.c
        y = self.n * self.out_hw**2 * self.o
        return np.dtype(self.dtype).itemsize * (x + y if direction == "forward" else 2 * x + y)

    def kwargs(self) -> dict:
        return dict(stride=self.stride, padding=self.padding, groups=self.groups)

    def arrays(self, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """x (N, H, W, C), w (k, k, C/groups, O) scaled to unit output variance, bias (O,),
        in the case's dtype (the same values in float32 and float64)."""
        rng = np.random.default_rng(seed)
        x = rng.standard_normal(self.x_shape, dtype=np.float32)
        fan_in = self.k * self.k * (self.c // self.groups)
        w = rng.standard_normal(self.w_shape, dtype=np.float32) / np.float32(np.sqrt(fan_in))
        b = rng.standard_normal(self.o, dtype=np.float32)
        return x.astype(self.dtype), w.astype(self.dtype), b.astype(self.dtype)

    def ours(self, x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
        """x, w and the keyword arguments of convolab's call in this case's layout: NCHW input
        and OIHW weights as C-contiguous arrays, the way a channels-first caller holds them."""
        if self.layout == "NHWC":
            return x, w, self.kwargs()
        # (N, H, W, C) -> (N, C, H, W); (kh, kw, C/g, O) -> (O, C/g, kh, kw)
        return (np.ascontiguousarray(x.transpose(0, 3, 1, 2)),
                np.ascontiguousarray(w.transpose(3, 2, 0, 1)),
                dict(self.kwargs(), data_format="NCHW", kernel_format="OIHW"))


def label(name: str, dtype: str = "float32", layout: str = "NHWC") -> str:
    """A case's name in the tables: ``res3x3a``, ``res3x3a/f64``, ``res3x3a/nchw``, ..."""
    return name + ("/f64" if dtype == "float64" else "") + ("/nchw" if layout == "NCHW" else "")


def variants(cases: list[Case], dtypes: list[str], layouts: list[str]) -> list[Case]:
    """Each conv layer in every selected dtype and layout, next to each other; the other
    cases only in float32 NHWC (and only if both are selected)."""
    return [replace(c, dtype=d, layout=lay) for c in cases for d in dtypes for lay in layouts
            if c.kind == "cnn" or (d, lay) == ("float32", "NHWC")]


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
    Case("tiny", 1, 4, 1, 1, 3, kind="call"),  # per-call overhead: 9 multiply-adds a pixel
]
BACKWARD = [c for c in FORWARD if c.name in ("res3x3a", "res3x3s2", "dw3x3", "lenet1")]
GEMM_BOUND = ("res3x3a", "res3x3b", "res3x3s2", "stem", "pw1x1")
MEMORY_BOUND = ("img3x3", "dw3x3")  # rated against copy bandwidth; the rest against GEMM peak
