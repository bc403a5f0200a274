"""Padding modes against NumPy's np.pad, and pad_adjoint as the adjoint of pad."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import convolab as cl
from convolab.padding import check_padding_fits, pad, pad_adjoint

NUMPY_NAME = {"zeros": "constant", "reflect": "reflect", "replicate": "edge",
              "circular": "wrap", "symmetric": "symmetric"}
LIMIT = {"zeros": 5, "replicate": 5, "reflect": -1, "circular": 0, "symmetric": 0}


@st.composite
def padded_cases(draw):
    mode = draw(st.sampled_from(sorted(NUMPY_NAME)))
    h, w = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    cap_h, cap_w = h + LIMIT[mode], w + LIMIT[mode]
    side = lambda cap: st.integers(0, max(cap, 0))  # noqa: E731
    pads = ((draw(side(cap_h)), draw(side(cap_h))), (draw(side(cap_w)), draw(side(cap_w))))
    return mode, h, w, pads


@given(padded_cases(), st.integers(0, 2**31 - 1))
def test_pad_matches_numpy_pad_in_every_mode(case, seed):
    mode, h, w, pads = case
    x = np.random.default_rng(seed).standard_normal((2, h, w, 3))
    expected = np.pad(x, ((0, 0), *pads, (0, 0)), mode=NUMPY_NAME[mode])
    np.testing.assert_array_equal(pad(x, pads, mode), expected)


@given(padded_cases(), st.integers(0, 2**31 - 1))
def test_pad_adjoint_is_the_adjoint_of_pad(case, seed):
    mode, h, w, pads = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1, h, w, 2))
    g = rng.standard_normal(pad(x, pads, mode).shape)
    lhs = np.vdot(pad(x, pads, mode), g)
    rhs = np.vdot(x, pad_adjoint(g, pads, mode, (h, w)))
    assert np.isclose(lhs, rhs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ["reflect", "circular", "symmetric"])
def test_mode_limits_are_errors(mode):
    n = 3
    too_much = n if mode == "reflect" else n + 1
    with pytest.raises(ValueError, match=f"padding_mode='{mode}'"):
        check_padding_fits((n, 10), ((too_much, 0), (0, 0)), mode)


def test_reflect_padding_at_the_axis_length_is_rejected_by_conv2d():
    x = np.ones((1, 3, 3, 1))
    with pytest.raises(ValueError, match=r"reflect.*less than the input height 3"):
        cl.conv2d(x, np.ones((1, 1, 1, 1)), padding=3, padding_mode="reflect")
