"""6.1 theory: the fully-connected W of a conv, re-indexing, locally-connected layers,
parameter counts and translation equivariance, all checked against the library's conv."""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convolab import conv2d, corr2d
from convolab.apps.theory import (
    dense_matrix,
    dense_weights,
    fully_connected,
    locally_connected,
    parameter_counts,
    parameter_table,
    reindex,
    translation_equivariance_error,
)


@st.composite
def conv_case(draw):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    h = draw(st.integers(dh * (kh - 1) + 1, 9))
    w = draw(st.integers(dw * (kw - 1) + 1, 9))
    padding = draw(st.sampled_from(["valid", "same", 1, ((0, 2), (1, 0))]))
    mode = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular", "symmetric"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return rng.random((h, w)), rng.standard_normal((kh, kw)), dict(
        stride=(sh, sw), dilation=(dh, dw), padding=padding, padding_mode=mode)


@settings(max_examples=60, deadline=None)
@given(conv_case())
def test_fully_connected_layer_with_dense_weights_equals_conv2d(case):
    x, k, args = case
    try:
        expected = conv2d(x[None, :, :, None], k[:, :, None, None], **args)[0, :, :, 0]
    except ValueError:  # e.g. reflect padding wider than the input: no such conv
        return
    w = dense_weights(k, x.shape, **args)
    np.testing.assert_allclose(fully_connected(x, w), expected, atol=1e-12)
    np.testing.assert_allclose(dense_matrix(k, x.shape, **args) @ x.ravel(), expected.ravel(),
                               atol=1e-12)


def test_reindexed_dense_weights_are_the_kernel_everywhere_and_zero_elsewhere():
    rng = np.random.default_rng(0)
    k = rng.standard_normal((3, 2))
    w = dense_weights(k, (7, 6))  # (5, 5, 7, 6)
    v = reindex(w, k.shape)  # translation invariance: V[i, j] == K for every (i, j)
    np.testing.assert_array_equal(v, np.broadcast_to(k, v.shape))
    assert np.count_nonzero(w) == np.count_nonzero(v)  # locality: nothing outside the windows


def test_locally_connected_with_a_shared_kernel_is_corr2d():
    rng = np.random.default_rng(1)
    x, k = rng.random((6, 7)), rng.standard_normal((2, 3))
    v = np.broadcast_to(k, (5, 5, 2, 3))
    np.testing.assert_allclose(locally_connected(x, v, 0.5), corr2d(x, k) + 0.5, atol=1e-12)


def test_locally_connected_uses_each_positions_own_kernel():
    rng = np.random.default_rng(2)
    x, v = rng.random((5, 5)), rng.standard_normal((3, 3, 3, 3))
    h = locally_connected(x, v)
    assert h[1, 2] == pytest.approx(np.sum(v[1, 2] * x[1:4, 2:5]))


def test_parameter_counts_of_the_books_megapixel_example():
    counts = parameter_counts((1000, 1000), 3, padding="same", bias=False)
    assert counts.fully_connected == 10**12
    assert counts.locally_connected == 9 * 10**6
    assert counts.convolutional == 9


def test_parameter_counts_default_to_a_hidden_map_the_size_of_the_image_as_in_6_1():
    counts = parameter_counts((1000, 1000), (3, 3))  # the README's call
    assert counts == parameter_counts((1000, 1000), 3, padding="same")  # the tour's
    assert counts.fully_connected == 10**12 + 10**6  # one bias per hidden unit
    assert counts.convolutional == 9 + 1


def test_parameter_table_splits_each_count_into_weights_and_biases():
    counts = parameter_counts((8, 8), (5, 3), in_channels=3, out_channels=4, stride=2)
    text = parameter_table((8, 8), (5, 3), in_channels=3, out_channels=4, stride=2)
    rows = text.splitlines()[1:]
    assert len(rows) == 3
    for row, total in zip(rows, counts):
        numbers = [int(n.replace(",", "")) for n in re.findall(r"[\d,]*\d", row.split(":")[1])]
        assert numbers[0] == total and numbers[1] + numbers[2] == total
    assert numbers[1:] == [5 * 3 * 3 * 4, 4]  # the conv: kh*kw*C*O weights, O biases
    assert text.splitlines()[0].startswith("8x8x3 image -> 4x4x4 hidden map, 5x3 kernel")


def test_parameter_counts_with_channels_and_bias():
    counts = parameter_counts((8, 8), (5, 3), in_channels=3, out_channels=4,
                              padding="valid")  # output 4x6
    assert counts == (8 * 8 * 3 * 4 * 6 * 4 + 4 * 6 * 4, 4 * 6 * (5 * 3 * 3 * 4) + 4 * 6 * 4,
                      5 * 3 * 3 * 4 + 4)


def test_conv_with_circular_padding_is_translation_equivariant_locally_connected_is_not():
    rng = np.random.default_rng(3)
    x, k, v = rng.random((8, 8)), rng.standard_normal((3, 3)), rng.standard_normal((8, 8, 3, 3))
    conv = lambda z: corr2d(np.pad(z, 1, mode="wrap"), k)  # noqa: E731
    local = lambda z: locally_connected(np.pad(z, 1, mode="wrap"), v)  # noqa: E731
    assert translation_equivariance_error(conv, x, (3, -2)) < 1e-12
    assert translation_equivariance_error(local, x, (3, -2)) > 0.1


def test_locally_connected_wrong_weight_shape_is_an_error():
    with pytest.raises(ValueError, match="v: a 2x2 kernel"):
        locally_connected(np.zeros((5, 5)), np.zeros((3, 3, 2, 2)))


def test_equivariance_check_needs_a_shape_preserving_layer():
    with pytest.raises(ValueError, match="f: must keep the input shape"):
        translation_equivariance_error(lambda z: corr2d(z, [[1.0, -1.0]]), np.zeros((4, 4)), (1, 1))
