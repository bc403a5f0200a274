"""Signals and volumes against PyTorch: conv1d/conv3d (F.pad for the other padding modes),
conv_transpose1d/3d, and autograd's gradients, float32 and float64."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import nd_configs

import convolab as cl

torch = pytest.importorskip("torch")
F = torch.nn.functional

TORCH_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate",
              "circular": "circular"}
TORCH_CONV = {1: F.conv1d, 3: F.conv3d}
TORCH_TRANSPOSE = {1: F.conv_transpose1d, 3: F.conv_transpose3d}
FIRST = {1: ("NCW", "OIW"), 3: ("NCDHW", "OIDHW")}


def _channels_first(x, w):
    return (np.ascontiguousarray(np.moveaxis(x, -1, 1)),
            np.ascontiguousarray(np.transpose(w, (w.ndim - 1, w.ndim - 2, *range(w.ndim - 2)))))


def _torch_forward(xt, wt, bt, cfg):
    """PyTorch's conv of ``cfg`` on channels-first tensors, padding by F.pad."""
    pads = []
    for before, after in reversed(cfg.geometry().pads):  # F.pad lists the last axis first
        pads += [before, after]
    if any(pads):
        xt = F.pad(xt, pads, mode=TORCH_MODE[cfg.padding_mode])
    return TORCH_CONV[cfg.rank](xt, wt, bt, stride=cfg.stride, dilation=cfg.dilation,
                                groups=cfg.groups)


def _tol(dtype):
    return 1e-11 if dtype == np.float64 else 1e-4


@pytest.mark.parametrize("rank", [1, 3])
@settings(max_examples=50, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**31 - 1),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_forward_and_gradients_match_torch_autograd(rank, data, seed, dtype):
    modes = ("zeros", "reflect", "replicate", "circular")
    cfg = data.draw(nd_configs(rank, max_size=5 if rank == 3 else 12, modes=modes))
    x, w, b = cfg.arrays(seed, dtype)
    xf, wf = _channels_first(x, w)
    fmt, kfmt = FIRST[rank]
    y = cl.conv(xf, wf, b, data_format=fmt, kernel_format=kfmt, **cfg.kwargs())
    xt = torch.from_numpy(xf).requires_grad_()
    wt = torch.from_numpy(wf).requires_grad_()
    bt = torch.from_numpy(b).requires_grad_()
    yt = _torch_forward(xt, wt, bt, cfg)
    tol = _tol(dtype)
    expected = yt.detach().numpy()
    np.testing.assert_allclose(y, expected, rtol=tol, atol=tol * max(1, np.abs(expected).max()))
    gy = np.random.default_rng(seed + 7).standard_normal(y.shape).astype(dtype)
    yt.backward(torch.from_numpy(gy))
    grads = cl.conv_backward(gy, xf, wf, data_format=fmt, kernel_format=kfmt, **cfg.kwargs())
    for got, want in zip(grads, (xt.grad, wt.grad, bt.grad)):
        want = want.numpy()
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * max(1, np.abs(want).max()))


@pytest.mark.parametrize("rank", [1, 3])
@settings(max_examples=40, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**31 - 1), stride=st.integers(1, 3),
       out_pad=st.integers(0, 2), pad=st.integers(0, 2),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_conv_transpose_matches_torch(rank, data, seed, stride, out_pad, pad, dtype):
    cfg = data.draw(nd_configs(rank, max_size=4 if rank == 3 else 9, modes=("zeros",)))
    out_pad = min(out_pad, max(stride, max(cfg.dilation)) - 1)
    rng = np.random.default_rng(seed)
    c_in, cog = cfg.c, cfg.og
    x = rng.standard_normal((cfg.n, c_in, *cfg.spatial)).astype(dtype)
    w = rng.standard_normal((c_in, cog, *cfg.kernel)).astype(dtype)  # PyTorch's weight
    b = rng.standard_normal(cog * cfg.groups).astype(dtype)
    kw = dict(stride=stride, padding=pad, output_padding=out_pad, dilation=cfg.dilation,
              groups=cfg.groups)
    try:
        expected = TORCH_TRANSPOSE[rank](torch.from_numpy(x), torch.from_numpy(w),
                                         torch.from_numpy(b), **kw).numpy()
    except RuntimeError:  # an output PyTorch finds too small: ours must refuse too
        expected = None
    if expected is None or min(expected.shape[2:]) == 0:
        # padding that removes the whole output: an error here (PyTorch may return it empty)
        with pytest.raises(ValueError, match="padding"):
            cl.conv_transpose(x, w, b, data_format="channels_first", **kw)
        return
    io = "IOW" if rank == 1 else "IODHW"
    y = cl.conv_transpose(x, w, b, data_format="channels_first", kernel_format=io, **kw)
    tol = _tol(dtype)
    np.testing.assert_allclose(y, expected, rtol=tol, atol=tol * max(1, np.abs(expected).max()))


def test_keras_same_transpose_of_a_volume_doubles_each_axis():
    x = np.ones((1, 3, 4, 5, 2))
    y = cl.conv_transpose3d(x, np.ones((3, 3, 3, 4, 2)), stride=2, padding="same")
    assert y.shape == (1, 6, 8, 10, 4)
