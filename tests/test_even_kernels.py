"""Even kernels: which convolab padding each peer's "same"-sized filter equals (the README's table,
issue 13 item 7), row by row.

An even kernel has no centre pixel, so "same" padding must put the extra pixel on one side;
libraries disagree. convolab's ``"same"`` puts it after (bottom/right, TensorFlow),
``"same_lower"`` before (top/left, JAX). Each test also checks that the other choice differs,
so the table cannot be right by accident.
"""

import numpy as np
import pytest
from scipy import ndimage, signal

from convolab import convolve2d, corr2d

SHAPES = [(2, 2), (4, 4), (1, 2), (2, 1), (2, 3), (3, 4), (6, 5)]
OTHER = {"same": "same_lower", "same_lower": "same"}


@pytest.fixture(params=SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def xk(request):
    rng = np.random.default_rng(sum(request.param))
    return rng.random((11, 13)), rng.standard_normal(request.param)


def matches(y, op, x, k, padding, **border):
    np.testing.assert_allclose(y, op(x, k, padding=padding, **border), rtol=1e-10, atol=1e-12)
    assert not np.allclose(y, op(x, k, padding=OTHER[padding], **border))


# -- cross-correlation --------------------------------------------------------------------------

def test_cv2_filter2d_default_anchor_is_same_lower(xk):
    cv2 = pytest.importorskip("cv2")
    x, k = xk
    matches(cv2.filter2D(x, -1, k, borderType=cv2.BORDER_CONSTANT), corr2d, x, k, "same_lower")
    # and with OpenCV's default border, BORDER_REFLECT_101 = our "reflect"
    matches(cv2.filter2D(x, -1, k), corr2d, x, k, "same_lower", padding_mode="reflect")


def test_ndimage_correlate_origin_0_is_same_lower(xk):
    x, k = xk
    matches(ndimage.correlate(x, k, mode="constant"), corr2d, x, k, "same_lower")
    matches(ndimage.correlate(x, k, mode="mirror"), corr2d, x, k, "same_lower",
            padding_mode="reflect")
    # ndimage's default border, its "reflect", is our "symmetric"
    matches(ndimage.correlate(x, k), corr2d, x, k, "same_lower", padding_mode="symmetric")


def test_signal_correlate2d_same_is_same(xk):
    x, k = xk
    matches(signal.correlate2d(x, k, mode="same"), corr2d, x, k, "same")
    matches(signal.correlate2d(x, k, mode="same", boundary="symm"), corr2d, x, k, "same",
            padding_mode="symmetric")
    matches(signal.correlate2d(x, k, mode="same", boundary="wrap"), corr2d, x, k, "same",
            padding_mode="circular")


# -- true convolution: the pairing flips ---------------------------------------------------------

def test_ndimage_convolve_origin_0_is_same(xk):
    x, k = xk
    matches(ndimage.convolve(x, k, mode="constant"), convolve2d, x, k, "same")
    matches(ndimage.convolve(x, k, mode="mirror"), convolve2d, x, k, "same",
            padding_mode="reflect")
    matches(ndimage.convolve(x, k), convolve2d, x, k, "same", padding_mode="symmetric")


def test_signal_convolve2d_same_is_same_lower(xk):
    x, k = xk
    matches(signal.convolve2d(x, k, mode="same"), convolve2d, x, k, "same_lower")
    matches(signal.convolve2d(x, k, mode="same", boundary="symm"), convolve2d, x, k,
            "same_lower", padding_mode="symmetric")


def test_cv2_filter2d_of_the_flipped_kernel_is_same_lower(xk):
    """Flipping the kernel alone keeps filter2D's anchor at the flipped kernel's centre."""
    cv2 = pytest.importorskip("cv2")
    x, k = xk
    matches(cv2.filter2D(x, -1, cv2.flip(k, -1), borderType=cv2.BORDER_CONSTANT), convolve2d,
            x, k, "same_lower")


def test_cv2_filter2d_with_opencvs_convolution_recipe_is_same(xk):
    """OpenCV's documented recipe: flip the kernel and move the anchor to
    (kw - 1 - kw//2, kh - 1 - kh//2)."""
    cv2 = pytest.importorskip("cv2")
    x, k = xk
    kh, kw = k.shape
    y = cv2.filter2D(x, -1, cv2.flip(k, -1), anchor=(kw - 1 - kw // 2, kh - 1 - kh // 2),
                     borderType=cv2.BORDER_CONSTANT)
    matches(y, convolve2d, x, k, "same")


# -- any anchor: OpenCV's anchor, SciPy's origin, convolab's explicit padding --------------------

def anchored(x, k):
    """(x, y) -> convolab's answer with kernel pixel (x, y) on each output pixel: explicit
    padding ((y, kh-1-y), (x, kw-1-x)), OpenCV's default border."""
    kh, kw = k.shape
    for ay in range(kh):
        for ax in range(kw):
            pads = ((ay, kh - 1 - ay), (ax, kw - 1 - ax))
            yield (ax, ay), corr2d(x, k, padding=pads, padding_mode="reflect")


@pytest.mark.parametrize("shape", [(3, 4), (2, 2), (5, 1)])
def test_scipy_origin_is_the_anchor_minus_the_centre(shape):
    """SciPy's origin = (y - kh//2, x - kw//2): positive moves the anchor down/right."""
    rng = np.random.default_rng(7)
    x, k = rng.random((9, 10)), rng.standard_normal(shape)
    for (ax, ay), y in anchored(x, k):
        origin = (ay - shape[0] // 2, ax - shape[1] // 2)
        np.testing.assert_allclose(y, ndimage.correlate(x, k, mode="mirror", origin=origin),
                                   rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape", [(3, 4), (2, 2), (5, 1)])
def test_cv2_anchor_is_explicit_padding(shape):
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(7)
    x, k = rng.random((9, 10)), rng.standard_normal(shape)
    for (ax, ay), y in anchored(x, k):
        np.testing.assert_allclose(y, cv2.filter2D(x, -1, k, anchor=(ax, ay)), rtol=1e-10,
                                   atol=1e-12)
