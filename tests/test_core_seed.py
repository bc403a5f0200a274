"""The chapter's own examples (6.2, 6.3), reproduced exactly."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import convolab as cl
from convolab import reference

X3 = [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]]
K2 = [[0.0, 1.0], [2.0, 3.0]]


def edge_image() -> np.ndarray:
    x = np.ones((6, 8), np.float32)
    x[:, 2:6] = 0
    return x


def test_corr2d_gives_the_books_19_25_37_43():
    np.testing.assert_array_equal(cl.corr2d(X3, K2), [[19, 25], [37, 43]])


def test_edge_detection_finds_vertical_edges_with_the_books_signs():
    y = cl.corr2d(edge_image(), np.array([[1.0, -1.0]], np.float32))
    expected = np.tile([0, 1, 0, 0, 0, -1, 0], (6, 1))
    assert y.shape == (6, 7) and y.dtype == np.float32
    np.testing.assert_array_equal(y, expected)


def test_edge_kernel_sees_nothing_in_the_transposed_image():
    y = cl.corr2d(edge_image().T, [[1.0, -1.0]])
    assert y.shape == (8, 5)
    np.testing.assert_array_equal(y, np.zeros((8, 5)))


def test_padding_one_with_2x2_kernel_on_3x3_gives_4x4_with_zero_corner():
    y = cl.corr2d(X3, K2, padding=1)
    assert y.shape == (4, 4)
    assert y[0, 0] == 0  # 0x0 + 0x1 + 0x2 + 0x3
    assert y[0, 1] == 3 and y[1, 1] == 19  # the unpadded result sits inside


def test_stride_3_2_with_padding_1_gives_0_8_6_8():
    np.testing.assert_array_equal(cl.corr2d(X3, K2, padding=1, stride=(3, 2)), [[0, 8], [6, 8]])


def test_convolve2d_is_corr2d_with_the_kernel_flipped():
    k = np.array(K2)
    np.testing.assert_array_equal(cl.convolve2d(X3, k), cl.corr2d(X3, k[::-1, ::-1]))


@pytest.mark.parametrize(
    ("kernel", "padding", "stride", "expected"),
    [
        (3, "same", 1, (8, 8)),  # conv2d = Conv2D(1, kernel_size=3, padding='same')
        ((5, 3), "valid", 1, (4, 6)),  # kernel 5x3, 'valid'
        ((5, 3), (2, 1), 1, (8, 8)),  # the comment's padding 2 and 1 on either side
        (3, "same", 2, (4, 4)),  # padding='same', strides=2
    ],
)
def test_seed_keras_examples_output_shapes(kernel, padding, stride, expected):
    assert cl.output_shape((8, 8), kernel, padding=padding, stride=stride) == expected
    k = np.ones(kernel if isinstance(kernel, tuple) else (kernel, kernel))
    x = np.random.default_rng(0).uniform(size=(8, 8))
    assert cl.corr2d(x, k, padding=padding, stride=stride).shape == expected


@given(st.integers(1, 7), st.integers(1, 7), st.integers(1, 3), st.integers(1, 3),
       st.integers(0, 2**31 - 1))
def test_corr2d_is_the_seeds_loop_definition(h, w, kh, kw, seed):
    if kh > h or kw > w:
        return
    rng = np.random.default_rng(seed)
    x, k = rng.standard_normal((h, w)), rng.standard_normal((kh, kw))
    np.testing.assert_allclose(cl.corr2d(x, k), reference.corr2d(x, k), rtol=1e-12, atol=1e-12)
