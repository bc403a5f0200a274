"""Parity with PyTorch's F.conv2d (with F.pad for asymmetric padding and padding modes)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import configs

import convolab as cl
from convolab.shapes import conv_geometry

torch = pytest.importorskip("torch")
F = torch.nn.functional

TORCH_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate",
              "circular": "circular"}


def torch_conv2d(x_nchw, w_oihw, b, cfg):
    geom = conv_geometry((cfg.h, cfg.w), (cfg.kh, cfg.kw), stride=cfg.stride,
                         padding=cfg.padding, dilation=cfg.dilation)
    (top, bottom), (left, right) = geom.pads
    xt = F.pad(torch.from_numpy(x_nchw), (left, right, top, bottom),
               mode=TORCH_MODE[cfg.padding_mode])
    y = F.conv2d(xt, torch.from_numpy(w_oihw), torch.from_numpy(b), stride=cfg.stride,
                 dilation=cfg.dilation, groups=cfg.groups)
    return y.numpy()


@given(configs().filter(lambda c: c.padding_mode != "symmetric"), st.integers(0, 2**31 - 1),
       st.sampled_from([np.float32, np.float64]))
def test_conv2d_matches_torch(cfg, seed, dtype):
    x, w, b = cfg.arrays(seed, dtype)
    x_nchw, w_oihw = np.ascontiguousarray(x.transpose(0, 3, 1, 2)), np.ascontiguousarray(
        w.transpose(3, 2, 0, 1))
    y = cl.conv2d(x_nchw, w_oihw, b, data_format="NCHW", kernel_format="OIHW", **cfg.kwargs())
    expected = torch_conv2d(x_nchw, w_oihw, b, cfg)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(y, expected, rtol=tol, atol=tol * np.abs(expected).max())


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_same_padding_agrees_with_torch_for_odd_and_even_kernels(k):
    """PyTorch's padding='same' (stride 1) also puts the odd pixel at the bottom/right."""
    rng = np.random.default_rng(k)
    x, w = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, k, k))
    y = cl.conv2d(x, w, padding="same", data_format="NCHW", kernel_format="OIHW")
    expected = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding="same").numpy()
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


def test_larger_layer_matches_torch_in_float32():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 16, 20, 20)).astype(np.float32)
    w = rng.standard_normal((32, 16, 3, 3)).astype(np.float32)
    y = cl.conv2d(x, w, padding=1, stride=2, data_format="NCHW", kernel_format="OIHW")
    expected = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1, stride=2).numpy()
    assert np.max(np.abs(y - expected)) / np.max(np.abs(expected)) < 1e-5
