"""Hypothesis strategies for random, valid conv configurations (small: the oracle is loops)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from convolab.padding import check_padding_fits
from convolab.shapes import conv_geometry

MODES = ("zeros", "reflect", "replicate", "circular", "symmetric")


@dataclass(frozen=True)
class Config:
    n: int
    h: int
    w: int
    groups: int
    cg: int
    og: int
    kh: int
    kw: int
    stride: tuple[int, int]
    dilation: tuple[int, int]
    padding: object
    padding_mode: str

    @property
    def c(self) -> int:
        return self.groups * self.cg

    @property
    def o(self) -> int:
        return self.groups * self.og

    def kwargs(self) -> dict:
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation,
                    groups=self.groups, padding_mode=self.padding_mode)

    def arrays(self, seed: int, dtype=np.float64):
        """x NHWC, w HWIO, bias (O,)."""
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((self.n, self.h, self.w, self.c)).astype(dtype)
        w = rng.standard_normal((self.kh, self.kw, self.cg, self.o)).astype(dtype)
        b = rng.standard_normal(self.o).astype(dtype)
        return x, w, b


pair = lambda lo, hi: st.tuples(st.integers(lo, hi), st.integers(lo, hi))  # noqa: E731
paddings = st.one_of(
    st.sampled_from(["valid", "same", "same_lower", "full"]),
    st.integers(0, 2),
    pair(0, 2),
    st.tuples(pair(0, 2), pair(0, 2)),
)


@st.composite
def configs(draw, max_hw: int = 7, max_batch: int = 2) -> Config:
    cfg = Config(
        n=draw(st.integers(1, max_batch)),
        h=draw(st.integers(1, max_hw)),
        w=draw(st.integers(1, max_hw)),
        groups=draw(st.integers(1, 3)),
        cg=draw(st.integers(1, 2)),
        og=draw(st.integers(1, 2)),
        kh=draw(st.integers(1, 3)),
        kw=draw(st.integers(1, 3)),
        stride=draw(pair(1, 3)),
        dilation=draw(pair(1, 2)),
        padding=draw(paddings),
        padding_mode=draw(st.sampled_from(MODES)),
    )
    try:
        g = conv_geometry((cfg.h, cfg.w), (cfg.kh, cfg.kw), stride=cfg.stride,
                          padding=cfg.padding, dilation=cfg.dilation)
        check_padding_fits(g.in_shape, g.pads, cfg.padding_mode)
    except ValueError:
        assume(False)
    return cfg
