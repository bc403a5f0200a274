"""corr2d / convolve2d take conv2d's padding modes and dilation, and colour images (issue 13)."""

import numpy as np
import pytest

import convolab as cl
from convolab import reference


def test_corr2d_pads_with_a_padding_mode_as_scipy_ndimage_does():
    ndimage = pytest.importorskip("scipy.ndimage")
    rng = np.random.default_rng(0)
    x, k = rng.standard_normal((9, 11)), rng.standard_normal((3, 5))
    # scipy's "mirror" is our "reflect", its "reflect" our "symmetric" (README's table)
    for ours, theirs in (("reflect", "mirror"), ("symmetric", "reflect"), ("replicate", "nearest"),
                         ("circular", "wrap")):
        got = cl.corr2d(x, k, padding="same", padding_mode=ours)
        np.testing.assert_allclose(got, ndimage.correlate(x, k, mode=theirs), atol=1e-12)


def test_corr2d_and_convolve2d_take_dilation():
    rng = np.random.default_rng(1)
    x, k = rng.standard_normal((12, 13)), rng.standard_normal((3, 2))
    want = reference.conv2d(x[None, :, :, None], k[:, :, None, None], dilation=(2, 3),
                            padding="same")[0, :, :, 0]
    np.testing.assert_allclose(cl.corr2d(x, k, dilation=(2, 3), padding="same"), want,
                               atol=1e-12)
    np.testing.assert_allclose(cl.convolve2d(x, k[::-1, ::-1], dilation=(2, 3), padding="same"),
                               want, atol=1e-12)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_a_colour_image_is_filtered_channel_by_channel(channels):
    rng = np.random.default_rng(channels)
    x = rng.standard_normal((40, 37, channels)).astype(np.float32)
    k = rng.standard_normal((5, 5)).astype(np.float32)
    kw = dict(padding="same", padding_mode="reflect")
    got = cl.corr2d(x, k, **kw)
    assert got.shape == (40, 37, channels) and got.dtype == np.float32
    for c in range(channels):
        np.testing.assert_allclose(got[:, :, c], cl.corr2d(x[:, :, c], k, **kw), rtol=1e-5,
                                   atol=1e-5)
    np.testing.assert_allclose(cl.convolve2d(x, k, **kw), cl.corr2d(x, k[::-1, ::-1], **kw))


def test_a_4d_image_is_refused_with_what_is_allowed():
    with pytest.raises(ValueError, match=r"X \(an image \(h, w\) or a colour image"):
        cl.corr2d(np.ones((2, 3, 4, 5)), np.ones((2, 2)))


def test_the_dask_path_takes_the_same_options():
    da = pytest.importorskip("dask.array")
    rng = np.random.default_rng(3)
    x, k = rng.standard_normal((30, 31)), rng.standard_normal((3, 3))
    kw = dict(padding="same", padding_mode="symmetric", dilation=2)
    lazy = cl.corr2d(da.from_array(x, chunks=10), k, **kw)
    np.testing.assert_allclose(lazy.compute(), cl.corr2d(x, k, **kw), atol=1e-12)
