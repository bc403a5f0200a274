"""algorithms.phased: the input gradient as per-tap GEMMs over stride phases, against the loops."""

import dataclasses

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import configs

from convolab import reference
from convolab.algorithms import blas, phased
from convolab.config import workspace_limit
from convolab.ops.arguments import prepare

seeds = st.integers(0, 2**31 - 1)
# groups=1 (what phased runs), 1-5 input channels: both the tap-major (< 4) and per-tap GEMM paths
one_group = st.builds(lambda cfg, cg: dataclasses.replace(cfg, groups=1, cg=cg),
                      configs(max_hw=9, max_batch=3), st.integers(1, 5))


needs_blas = pytest.mark.skipif(not blas.gemms(), reason="phased calls NumPy's OpenBLAS "
                                "(algorithms/blas.py), not found here: it supports no conv")


def problem_and_gy(cfg, seed):
    x, w, _ = cfg.arrays(seed)
    p = prepare(x, w, None, **cfg.kwargs()).problem
    gy = np.random.default_rng(seed + 1).standard_normal(p.y_shape)
    return x, w, p, gy


@needs_blas
@settings(max_examples=150, deadline=None)
@given(one_group, seeds)
def test_input_gradient_matches_the_reference_loops(cfg, seed):
    """Every stride, dilation, padding form and mode; kernels of one tap are not supported."""
    x, w, p, gy = problem_and_gy(cfg, seed)
    if not phased.supports(p):
        # BLAS found (needs_blas) and images this small: only a one-tap kernel is refused
        assert cfg.kh * cfg.kw == 1
        return
    rx, _, _ = reference.conv2d_backward(gy, x, w, **cfg.kwargs())
    np.testing.assert_allclose(phased.backward_input(gy, w, p), rx, rtol=1e-12, atol=1e-12)


@needs_blas
@pytest.mark.parametrize("vertical", [True, False])
def test_a_phase_with_no_row_in_the_image_writes_nothing(vertical):
    """Stride 3 over 3 rows, 2 of them padding on top: phase rows 1 and 2 have no plane row
    inside the image; their empty span must not wrap around to the image's first row
    (a case hypothesis found: the slice stop went negative)."""
    x_shape, w_shape = ((1, 3, 1, 1), (2, 1, 1, 1)) if vertical else ((1, 1, 3, 1), (1, 2, 1, 1))
    pair = ((2, 0), (0, 0)) if vertical else ((0, 0), (2, 0))
    kw = dict(stride=(3, 1) if vertical else (1, 3), dilation=(2, 1) if vertical else (1, 2),
              padding=pair)
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    p = prepare(x, w, None, **kw).problem
    gy = rng.standard_normal(p.y_shape)
    rx, _, _ = reference.conv2d_backward(gy, x, w, **kw)
    np.testing.assert_allclose(phased.backward_input(gy, w, p), rx, rtol=1e-12, atol=1e-12)


@needs_blas
@pytest.mark.parametrize("c", [1, 6])
def test_many_image_blocks_give_the_same_gradient(c):
    """A small workspace limit splits the batch into blocks of images (run on the workers)."""
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((20, 12, 11, c)), rng.standard_normal((3, 2, c, 5))
    kw = dict(stride=(2, 1), padding="same", padding_mode="reflect")
    p = prepare(x, w, None, **kw).problem
    gy = rng.standard_normal(p.y_shape)
    one_block = phased.backward_input(gy, w, p)
    with workspace_limit(64 << 10):
        assert len(phased._blocks(p)) > 1
        many = phased.backward_input(gy, w, p)
    np.testing.assert_array_equal(many, one_block)
    rx, _, _ = reference.conv2d_backward(gy, x, w, **kw)
    np.testing.assert_allclose(many, rx, rtol=1e-12, atol=1e-12)


@needs_blas
def test_an_image_larger_than_the_workspace_is_not_supported():
    p = prepare(np.zeros((1, 200, 200, 8)), np.zeros((3, 3, 8, 8)), None).problem
    assert phased.supports(p)
    with workspace_limit(64 << 10):
        assert not phased.supports(p)


@needs_blas
@pytest.mark.parametrize("stride,c", [(1, 1), (2, 3), (2, 16), (3, 8)])
def test_float32_matches_torch(stride, c):
    """LeNet- and ResNet-like layers in float32, against PyTorch's convolution_backward."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 17, 15, c), dtype=np.float32)
    w = rng.standard_normal((5, 3, c, 8), dtype=np.float32)
    p = prepare(x, w, None, stride=stride, padding=(2, 1)).problem
    gy = rng.standard_normal(p.y_shape, dtype=np.float32)
    gx = phased.backward_input(gy, w, p)
    t = lambda a, *perm: torch.from_numpy(np.ascontiguousarray(a.transpose(*perm)))  # noqa: E731
    want = torch.ops.aten.convolution_backward(
        t(gy, 0, 3, 1, 2), t(x, 0, 3, 1, 2), t(w, 3, 2, 0, 1), None, [stride] * 2, [2, 1],
        [1, 1], False, [0, 0], 1, [True, False, False])[0].numpy().transpose(0, 2, 3, 1)
    assert gx.dtype == np.float32
    np.testing.assert_allclose(gx, want, rtol=1e-4, atol=1e-4)
