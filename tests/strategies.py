"""Hypothesis strategies for random, valid conv configurations (small: the oracle is loops)."""

from __future__ import annotations

import os
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


@dataclass(frozen=True)
class NDConfig:
    """A conv of any rank: spatial sizes, kernel sizes, per-axis stride and dilation."""

    n: int
    spatial: tuple[int, ...]
    kernel: tuple[int, ...]
    groups: int
    cg: int
    og: int
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    padding: object
    padding_mode: str

    @property
    def rank(self) -> int:
        return len(self.spatial)

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
        """x (N, *spatial, C), w (*kernel, C/groups, O), bias (O,): channels last."""
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((self.n, *self.spatial, self.c)).astype(dtype)
        w = rng.standard_normal((*self.kernel, self.cg, self.o)).astype(dtype)
        b = rng.standard_normal(self.o).astype(dtype)
        return x, w, b

    def geometry(self):
        return conv_geometry(self.spatial, self.kernel, stride=self.stride,
                             padding=self.padding, dilation=self.dilation)


def nd_paddings(rank: int) -> st.SearchStrategy:
    amounts = st.integers(0, 2)
    return st.one_of(
        st.sampled_from(["valid", "same", "same_lower", "full"]),
        amounts,
        st.tuples(*[amounts] * rank),
        st.tuples(*[st.tuples(amounts, amounts)] * rank),
    )


@st.composite
def nd_configs(draw, rank: int, max_size: int = 6, max_batch: int = 2,
               modes: tuple[str, ...] = MODES) -> NDConfig:
    """A valid conv of ``rank`` spatial axes (small: the oracle is loops over every axis)."""
    axes = lambda lo, hi: st.tuples(*[st.integers(lo, hi)] * rank)  # noqa: E731
    cfg = NDConfig(
        n=draw(st.integers(1, max_batch)),
        spatial=draw(axes(1, max_size)),
        kernel=draw(axes(1, 3)),
        groups=draw(st.integers(1, 2)),
        cg=draw(st.integers(1, 2)),
        og=draw(st.integers(1, 2)),
        stride=draw(axes(1, 3)),
        dilation=draw(axes(1, 2)),
        padding=draw(nd_paddings(rank)),
        padding_mode=draw(st.sampled_from(modes)),
    )
    try:
        g = cfg.geometry()
        check_padding_fits(g.in_shape, g.pads, cfg.padding_mode)
    except ValueError:
        assume(False)
    return cfg


def examples(n: int) -> int:
    """``n`` hypothesis examples, a third of them (at least 10) in the sanitized build's pass
    (``CONVOLAB_TEST_PROFILE=sanitize``, .ci/run), which runs ~4x slower: every kernel still
    meets sizes, strides and paddings of every kind at every instruction set."""
    return max(10, n // 3) if os.environ.get("CONVOLAB_TEST_PROFILE") == "sanitize" else n


def assert_same_non_finite(got: np.ndarray, want: np.ndarray, tol: float) -> None:
    """``got`` has ``want``'s NaN, +Inf and -Inf exactly where ``want`` has them (the
    definition's Inf/NaN pattern), and its finite values within ``tol``."""
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(want))
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want))
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], rtol=tol, atol=tol)
