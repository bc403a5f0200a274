"""Output-size arithmetic and padding resolution (shapes.py)."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

import convolab as cl
from convolab.shapes import (
    conv_geometry,
    normalize_padding_mode,
    normalize_pair,
    resolve_padding,
)


def test_same_padding_puts_extra_row_at_bottom():
    # 8 rows, kernel 4: total padding 3, TensorFlow puts 1 on top and 2 at the bottom.
    assert resolve_padding("same", (8, 8), (4, 2), (1, 1), (1, 1)) == ((1, 2), (0, 1))


def test_same_lower_puts_extra_row_at_top():
    assert resolve_padding("same_lower", (8, 8), (4, 2), (1, 1), (1, 1)) == ((2, 1), (1, 0))


def test_same_with_stride_matches_tensorflows_formula():
    # TF: out = ceil(7/2) = 4; total = max((4-1)*2 + 3 - 7, 0) = 2 -> (1, 1)
    assert resolve_padding("same", (7, 8), (3, 3), (2, 2), (1, 1)) == ((1, 1), (0, 1))


def test_padding_strings_are_case_insensitive():
    assert resolve_padding("SAME", (5, 5), (3, 3), (1, 1), (1, 1)) == ((1, 1), (1, 1))


@given(n=st.integers(1, 40), k=st.integers(1, 7), s=st.integers(1, 5), d=st.integers(1, 3))
def test_same_gives_ceil_n_over_s_for_every_stride(n, k, s, d):
    geom = conv_geometry((n, n), (k, k), stride=s, padding="same", dilation=d)
    assert geom.out_shape == (math.ceil(n / s),) * 2
    (top, bottom), _ = geom.pads
    assert 0 <= bottom - top <= 1


@given(n=st.integers(1, 40), k=st.integers(1, 7), s=st.integers(1, 5), d=st.integers(1, 3),
       p=st.integers(0, 4))
def test_output_size_is_the_textbook_formula(n, k, s, d, p):
    span = d * (k - 1) + 1
    if span > n + 2 * p:
        with pytest.raises(ValueError, match="kernel_size"):
            cl.output_shape((n, n), k, stride=s, padding=p, dilation=d)
    else:
        assert cl.output_shape((n, n), k, stride=s, padding=p, dilation=d) == (
            (n + 2 * p - span) // s + 1,
        ) * 2


def test_full_padding_pads_dilated_kernel_minus_one():
    geom = conv_geometry((5, 6), (3, 2), padding="full", dilation=2)
    assert geom.pads == ((4, 4), (2, 2)) and geom.out_shape == (9, 8)


def test_explicit_padding_forms():
    assert resolve_padding(2, (4, 4), (1, 1), (1, 1), (1, 1)) == ((2, 2), (2, 2))
    assert resolve_padding((2, 1), (4, 4), (1, 1), (1, 1), (1, 1)) == ((2, 2), (1, 1))
    assert resolve_padding(((0, 1), (2, 3)), (4, 4), (1, 1), (1, 1), (1, 1)) == ((0, 1), (2, 3))


def test_explain_shape_shows_numbers_and_warns_about_dropped_rows():
    text = cl.explain_shape((8, 8), 3, stride=2)
    assert "floor((8 + 0 + 0 - 1*(3-1) - 1) / 2) + 1 = 3" in text
    assert "dropped" in text  # rows 8 is not reached: (8 - 3) % 2 == 1
    assert "dropped" not in cl.explain_shape((9, 9), 3, stride=2)


def test_explain_shape_names_padding_sides():
    text = cl.explain_shape((8, 8), 4, padding="same")
    assert "1 top + 2 bottom" in text and "1 left + 2 right" in text


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [("constant", "zeros"), ("edge", "replicate"), ("nearest", "replicate"),
     ("wrap", "circular"), ("mirror", "reflect"), ("grid-mirror", "symmetric"),
     ("border_reflect_101", "reflect"), ("border_reflect", "symmetric"),
     ("SYMMETRIC", "symmetric")],
)
def test_padding_mode_aliases_map_to_behaviour(alias, canonical):
    assert normalize_padding_mode(alias) == canonical


def test_unknown_padding_suggests_nearest():
    with pytest.raises(ValueError, match=r"padding: .*got 'sam'.*did you mean 'same'"):
        cl.output_shape((8, 8), 3, padding="sam")


def test_unknown_padding_mode_suggests_nearest():
    with pytest.raises(ValueError, match="padding_mode.*did you mean 'reflect'"):
        normalize_padding_mode("reflct")


@pytest.mark.parametrize("bad", [0, -1, (1, 0), (2, -3)])
def test_stride_below_one_is_rejected(bad):
    with pytest.raises(ValueError, match=r"stride: expected .*received stride="):
        cl.output_shape((8, 8), 3, stride=bad)


@pytest.mark.parametrize("bad", [1.5, "2", (1, 2, 3), True, None, (1.0, 1)])
def test_non_int_dilation_is_rejected(bad):
    with pytest.raises(TypeError, match="dilation"):
        cl.output_shape((8, 8), 3, dilation=bad)


def test_negative_padding_is_rejected():
    with pytest.raises(ValueError, match="padding: expected amounts >= 0"):
        cl.output_shape((8, 8), 3, padding=((0, -1), (0, 0)))


def test_malformed_padding_is_a_type_error():
    with pytest.raises(TypeError, match="padding"):
        cl.output_shape((8, 8), 3, padding=(1, 2, 3))


def test_dilated_kernel_larger_than_padded_input_is_an_error_not_empty():
    with pytest.raises(ValueError, match=r"dilated kernel height 5 .* padded input height 4"):
        cl.output_shape((4, 9), 3, dilation=2)


def test_normalize_pair_accepts_numpy_ints():
    import numpy as np

    assert normalize_pair((np.int64(2), np.int32(3)), "stride") == (2, 3)
