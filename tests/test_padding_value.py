"""A constant border of any value (issue 13 items 6 and 9): ``padding_mode="constant"`` with
``padding_value=``, against SciPy's ``cval``, PyTorch's ``F.pad`` value and the definition."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import nd_configs

import convolab as cl
from convolab import reference

VALUES = st.one_of(st.floats(-5, 5), st.sampled_from([0.0, 1.0, -2.5, np.inf]))


@pytest.mark.parametrize("rank", [1, 2, 3])
@settings(max_examples=30, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**31 - 1), value=VALUES)
def test_conv_with_a_constant_border_is_the_conv_of_the_bordered_input(rank, data, seed, value):
    cfg = data.draw(nd_configs(rank, max_size=4 if rank == 3 else 7, modes=("zeros",)))
    x, w, b = cfg.arrays(seed)
    pads = cfg.geometry().pads
    bordered = np.pad(x, ((0, 0), *pads, (0, 0)), constant_values=value)
    kw = dict(stride=cfg.stride, dilation=cfg.dilation, groups=cfg.groups)
    with np.errstate(invalid="ignore"):
        want = reference.conv(bordered, w, b, **kw)
        got = cl.conv(x, w, b, padding=cfg.padding, padding_mode="constant",
                      padding_value=value, **kw)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("shape, kernel", [((13,), (4,)), ((9, 8), (3, 4)), ((6, 5, 7), (3, 2, 3))])
@pytest.mark.parametrize("name", ["constant", "grid-constant"])
def test_corr_matches_scipy_ndimage_cval(shape, kernel, name):
    ndimage = pytest.importorskip("scipy.ndimage")
    rng = np.random.default_rng(len(shape))
    x, k = rng.standard_normal(shape), rng.standard_normal(kernel)
    # scipy centres an even kernel one pixel later: convolab's "same_lower"
    got = cl.corr(x, k, padding="same_lower", padding_mode=name, padding_value=2.5)
    np.testing.assert_allclose(got, ndimage.correlate(x, k, mode=name, cval=2.5),
                               rtol=1e-10, atol=1e-12)


def test_colour_image_with_a_constant_border():
    rng = np.random.default_rng(2)
    img, k = rng.random((6, 7, 3)), rng.standard_normal((3, 3))
    got = cl.corr2d(img, k, padding="same", padding_mode="constant", padding_value=1.0)
    for c in range(3):
        want = cl.corr2d(np.pad(img[..., c], 1, constant_values=1.0), k)
        np.testing.assert_allclose(got[..., c], want, rtol=1e-12)
    np.testing.assert_allclose(
        cl.convolve2d(img[..., 0], k, padding=1, padding_value=-3.0),
        cl.corr2d(img[..., 0], k[::-1, ::-1], padding=1, padding_value=-3.0), rtol=1e-12)


@pytest.mark.parametrize("rank", [2, 3])
def test_gradients_match_torch_autograd_with_f_pad_value(rank):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(rank)
    spatial = (6, 7) if rank == 2 else (4, 5, 6)
    x = rng.standard_normal((2, 3, *spatial))
    w = rng.standard_normal((4, 3, *(3,) * rank))
    pads = ((2, 1), (1, 0)) if rank == 2 else ((1, 1), (2, 0), (0, 1))
    flat = [p for pair in reversed(pads) for p in pair]
    xt, wt = torch.from_numpy(x).requires_grad_(), torch.from_numpy(w).requires_grad_()
    conv = F.conv2d if rank == 2 else F.conv3d
    yt = conv(F.pad(xt, flat, value=3.0), wt, stride=2)
    gy = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.from_numpy(gy))
    kw = dict(padding=pads, stride=2, padding_value=3.0, data_format="channels_first")
    np.testing.assert_allclose(cl.conv(x, w, **kw), yt.detach().numpy(), rtol=1e-10)
    gx, gw, _ = cl.conv_backward(gy, x, w, bias=False, **kw)
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gw, wt.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_a_constant_needs_a_constant_border_and_a_number():
    x, w = np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 1))
    with pytest.raises(ValueError, match="padding_value: a constant border needs padding_mode"):
        cl.conv2d(x, w, padding=1, padding_mode="reflect", padding_value=1.0)
    with pytest.raises(TypeError, match="padding_value: expected a real number"):
        cl.conv2d(x, w, padding=1, padding_value="1")
    with pytest.raises(TypeError, match="padding_value: expected a real number"):
        cl.corr2d(x[0, ..., 0], w[..., 0, 0], padding=1, padding_value=True)
    # 0 with any mode is the mode itself
    np.testing.assert_array_equal(
        cl.conv2d(x, w, padding=1, padding_mode="reflect", padding_value=0),
        cl.conv2d(x, w, padding=1, padding_mode="reflect"))


def test_dask_arrays_refuse_a_nonzero_constant():
    da = pytest.importorskip("dask.array")
    img = da.ones((8, 8), chunks=4)
    with pytest.raises(TypeError, match="padding_value: a constant other than 0"):
        cl.corr2d(img, np.ones((3, 3)), padding=1, padding_value=1.0)
    assert cl.corr2d(img, np.ones((3, 3)), padding=1, padding_value=0.0).compute()[0, 0] == 4
