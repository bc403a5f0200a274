"""Named kernels, kernel text, and the built-in generated images."""

import numpy as np
import pytest
import scipy.ndimage

from convolab import corr2d
from convolab.apps.images import edge_image, sample_image, waldo_scene
from convolab.apps.kernels import KERNELS, get_kernel, parse_kernel


@pytest.mark.parametrize("name", list(KERNELS))
def test_every_named_kernel_is_a_finite_2d_float_array(name):
    k = get_kernel(name)
    assert k.ndim == 2 and k.dtype == np.float64 and np.isfinite(k).all()


@pytest.mark.parametrize("name, total", [("identity", 1), ("box", 1), ("gaussian", 1),
                                         ("sharpen", 1), ("emboss", 1), ("laplacian", 0),
                                         ("sobel_x", 0), ("scharr_y", 0), ("vertical_edge", 0)])
def test_smoothing_kernels_sum_to_one_and_derivatives_to_zero(name, total):
    assert get_kernel(name).sum() == pytest.approx(total, abs=1e-12)


def test_sobel_x_equals_scipy_sobel_along_columns():
    x = np.random.default_rng(0).random((12, 10))
    ours = corr2d(x, get_kernel("sobel_x"), padding="same")[1:-1, 1:-1]
    np.testing.assert_allclose(ours, scipy.ndimage.sobel(x, axis=1)[1:-1, 1:-1], atol=1e-12)


def test_gaussian_matches_scipy_gaussian_filter_in_the_interior():
    x = np.random.default_rng(1).random((20, 20))
    ours = corr2d(x, get_kernel("gaussian", size=9, sigma=1.5), padding="same")[4:-4, 4:-4]
    theirs = scipy.ndimage.gaussian_filter(x, 1.5, truncate=4 / 1.5)[4:-4, 4:-4]
    np.testing.assert_allclose(ours, theirs, atol=1e-12)


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.0, 5.0])
def test_gaussian_without_a_size_reaches_three_sigma_as_opencv(sigma):
    k = get_kernel("gaussian", sigma=sigma)
    radius = (k.shape[0] - 1) // 2
    assert k.shape[0] == k.shape[1] == 2 * radius + 1
    assert radius >= 3 * sigma > radius - 1  # the smallest odd size reaching 3 sigma
    # the sampled curve, normalised: its edge is exp(-radius^2 / (2 sigma^2)) of its peak
    centre = k[radius, radius]
    assert k[radius, 0] / centre == pytest.approx(np.exp(-(radius**2) / (2 * sigma**2)))


def test_gaussian_size_too_small_for_sigma_warns_and_a_fitting_one_does_not(recwarn):
    with pytest.warns(UserWarning, match=r"size=5 cuts a Gaussian of sigma=5 .*size >= 21"):
        k = get_kernel("gaussian", size=5, sigma=5.0)
    assert k.shape == (5, 5)  # a given size is kept
    get_kernel("gaussian", size=21, sigma=5.0)
    get_kernel("gaussian", size=5, sigma=1.0)
    get_kernel("gaussian", sigma=5.0)
    assert not [w for w in recwarn if "gaussian" in str(w.message)]


def test_identity_kernel_leaves_the_image_unchanged():
    x = np.random.default_rng(2).random((7, 9))
    np.testing.assert_array_equal(corr2d(x, get_kernel("identity", size=5), padding="same"), x)


def test_the_books_kernels():
    np.testing.assert_array_equal(get_kernel("vertical_edge"), [[1.0, -1.0]])
    np.testing.assert_array_equal(get_kernel("horizontal_edge"), [[1.0], [-1.0]])


def test_typo_in_a_kernel_name_suggests_the_nearest():
    with pytest.raises(ValueError, match="did you mean 'prewitt_y'"):
        get_kernel("prewit_y")


def test_unknown_kernel_parameter_is_an_error_listing_the_allowed_ones():
    with pytest.raises(ValueError, match="'gaussian' takes size, sigma; got radius"):
        get_kernel("gaussian", radius=2)
    with pytest.raises(ValueError, match="sigma: expected a positive number"):
        get_kernel("gaussian", sigma=0)


@pytest.mark.parametrize("text", ["[[1, -1]", "[1, -1]", "[[]]", "[['a']]", "[[1, 2], [3]]",
                                  "__import__('os')", "[[nan]]"])
def test_bad_kernel_text_is_rejected(text):
    with pytest.raises(ValueError, match="kernel: expected a 2-D list"):
        parse_kernel(text)


def test_edge_image_is_the_books_x():
    x = edge_image()
    assert x.shape == (6, 8)
    np.testing.assert_array_equal(x.sum(axis=0), [6, 6, 0, 0, 0, 0, 6, 6])


def test_built_in_images_are_deterministic_and_in_range():
    a, b = sample_image(64, rgb=True), sample_image(64, rgb=True)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (64, 64, 3) and a.min() >= 0 and a.max() <= 1
    assert sample_image(64).shape == (64, 64)
    s1, s2 = waldo_scene(seed=4), waldo_scene(seed=4)
    np.testing.assert_array_equal(s1.image, s2.image)
    assert s1.location == s2.location
