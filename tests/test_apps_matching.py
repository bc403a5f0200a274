"""Template matching: the numbers of scikit-image / OpenCV, and finding a planted template."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convolab.apps.images import waldo_scene
from convolab.apps.matching import find_template, match_template, window_sums


@st.composite
def image_and_template(draw):
    h, w = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    th, tw = draw(st.integers(1, h)), draw(st.integers(1, w))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    # Offset 10 makes scikit-image's sum(x^2) - sum(x)^2/n cancel: on tiny windows it drifts
    # ~2e-5 from the exact value (ours stays ~1e-8), so only the loop definition is the oracle
    # there; the scikit-image comparison uses offset 0.
    offset = draw(st.sampled_from([0.0, 10.0]))
    return offset + rng.random((h, w)), rng.random((th, tw))


def ncc_by_loops(image: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Normalised cross-correlation by its definition, window by window."""
    th, tw = template.shape
    tz = template - template.mean()
    out = np.zeros((image.shape[0] - th + 1, image.shape[1] - tw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            wz = image[i : i + th, j : j + tw] - image[i : i + th, j : j + tw].mean()
            d = np.sqrt((wz**2).sum() * (tz**2).sum())
            out[i, j] = (wz * tz).sum() / d if d > 1e-12 else 0.0
    return out


NO_CONTRAST = "ignore:template. .* every score is 0:UserWarning"  # 1x1 templates, drawn on purpose


@pytest.mark.filterwarnings(NO_CONTRAST)
@settings(max_examples=60, deadline=None)
@given(image_and_template())
def test_match_template_equals_the_loop_definition(case):
    image, template = case
    np.testing.assert_allclose(match_template(image, template), ncc_by_loops(image, template),
                               atol=1e-6)


@pytest.mark.filterwarnings(NO_CONTRAST)
@settings(max_examples=60, deadline=None)
@given(image_and_template())
def test_match_template_equals_skimage_on_random_images(case):
    skimage_feature = pytest.importorskip("skimage.feature")
    image, template = case
    image = image - np.floor(image.min())  # offset 0: see image_and_template
    expected = skimage_feature.match_template(image, template)
    np.testing.assert_allclose(match_template(image, template), expected, atol=1e-5)


def test_match_template_equals_opencv_ccoeff_normed():
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(1)
    image, template = rng.random((50, 60)).astype(np.float32), rng.random((7, 9)).astype(np.float32)
    expected = cv2.matchTemplate(image, template, cv2.TM_CCOEFF_NORMED)
    np.testing.assert_allclose(match_template(image, template), expected, atol=1e-4)


def test_window_sums_equal_a_direct_sum_over_each_window():
    x = np.random.default_rng(2).random((9, 11))
    direct = np.lib.stride_tricks.sliding_window_view(x, (4, 3)).sum(axis=(2, 3))
    np.testing.assert_allclose(window_sums(x, (4, 3)), direct, atol=1e-12)


def test_score_is_invariant_to_brightness_and_contrast_of_the_image():
    rng = np.random.default_rng(3)
    image, template = rng.random((30, 30)), rng.random((5, 6))
    for offset, scale in [(7.0, 0.25), (-3.0, 1e-3), (1e4, 10.0)]:
        np.testing.assert_allclose(match_template(offset + scale * image, template),
                                   match_template(image, template), atol=1e-9)


def test_constant_window_scores_zero_like_skimage():
    image = np.zeros((8, 8))
    image[4:, 4:] = np.random.default_rng(4).random((4, 4))
    scores = match_template(image, np.arange(6.0).reshape(2, 3))
    assert scores[0, 0] == 0.0


@pytest.mark.parametrize("shape", [(5, 7), (2, 9), (1, 1)])
def test_flat_or_one_pixel_template_warns_and_scores_zero_everywhere(shape):
    rng = np.random.default_rng(6)
    image = rng.random((40, 40)) * 1e6  # large windows: rounding noise would become scores
    template = np.full(shape, 1.7456506810729044)  # t - t.mean() is not exactly 0 for it
    with pytest.warns(UserWarning, match="template: .* no contrast .* every score is 0"):
        scores = match_template(image, template)
    assert scores.shape == (41 - shape[0], 41 - shape[1])
    assert not scores.any()
    with pytest.warns(UserWarning, match="every score is 0"):
        find_template(image, template)


def test_template_with_contrast_does_not_warn(recwarn):
    match_template(np.random.default_rng(7).random((9, 9)), [[0.0, 1.0]])
    assert not recwarn.list


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_find_template_finds_the_planted_waldo_among_look_alikes(seed):
    scene = waldo_scene(seed=seed)
    best = find_template(scene.image, scene.template)[0]
    assert (best.row, best.col) == scene.location
    assert best.score > 0.95


def test_find_template_returns_k_non_overlapping_matches_best_first():
    rng = np.random.default_rng(5)
    template = rng.random((4, 5))
    image = rng.random((40, 40)) * 0.2
    for r, c in [(3, 4), (20, 30), (30, 2)]:
        image[r : r + 4, c : c + 5] = template
    matches = find_template(image, template, k=3)
    assert sorted((m.row, m.col) for m in matches) == [(3, 4), (20, 30), (30, 2)]
    assert [m.score for m in matches] == sorted((m.score for m in matches), reverse=True)


def test_template_larger_than_image_is_an_error():
    with pytest.raises(ValueError, match="template"):
        match_template(np.zeros((4, 4)), np.ones((5, 2)))


def test_color_image_is_an_error_naming_the_argument():
    with pytest.raises(ValueError, match="image: expected a 2-D"):
        match_template(np.zeros((8, 8, 3)), np.ones((2, 2)))


def test_bad_k_is_an_error():
    with pytest.raises(ValueError, match="k: expected a positive int"):
        find_template(np.zeros((8, 8)), np.ones((2, 2)), k=0)
