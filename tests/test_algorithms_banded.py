"""The banded-matrix algorithms with small blocks, so that every block edge is exercised.

``stencil`` works in blocks of ``ROWS`` output rows and clips each block's band at the image
border; ``toeplitz`` in blocks of output columns. On the small random problems of
``test_algorithms`` both usually make a single block; here the blocks are a few pixels wide.
"""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import configs

import convolab as cl
from convolab import reference
from convolab.algorithms import blas, stencil, toeplitz
from convolab.plan import problem_of

seeds = st.integers(0, 2**31 - 1)
needs_blas = pytest.mark.skipif(not blas.gemms(), reason="stencil needs NumPy's OpenBLAS")


@needs_blas
@settings(max_examples=60)
@given(cfg=configs(max_hw=12, max_batch=2), rows=st.integers(1, 4), seed=seeds)
def test_stencil_in_blocks_of_few_rows_matches_the_reference(cfg, rows, seed):
    cfg = dataclasses.replace(cfg, cg=1, og=1, groups=1, stride=(cfg.stride[0], 1))
    x, w, b = cfg.arrays(seed)
    p = problem_of(x, w, **cfg.kwargs())
    gy = np.random.default_rng(seed).standard_normal(p.y_shape)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(stencil, "ROWS", rows)
        patch.setattr(stencil, "MAX_PARTIALS", 2)  # several blocks summed per task
        y = cl.conv2d(x, w, b, algorithm="stencil", **cfg.kwargs())
        gw = stencil.backward_weight(gy, x, p)
    np.testing.assert_allclose(y, reference.conv2d(x, w, b, **cfg.kwargs()),
                               rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(gw, reference.conv2d_backward(gy, x, w, **cfg.kwargs())[1],
                               rtol=1e-10, atol=1e-10)


@settings(max_examples=60)
@given(cfg=configs(max_hw=12, max_batch=2), target=st.integers(1, 6),
       block_bytes=st.sampled_from([1, 4 << 20]), seed=seeds)
def test_toeplitz_in_blocks_of_few_columns_matches_the_reference(cfg, target, block_bytes, seed):
    """Few output columns a block, and (1 byte) a block per output row: the gradients' row
    blocks then share halo rows, which backward_input adds one block at a time."""
    cfg = dataclasses.replace(cfg, cg=cfg.groups * cfg.cg, og=cfg.groups * cfg.og, groups=1)
    x, w, b = cfg.arrays(seed)
    p = problem_of(x, w, **cfg.kwargs())
    gy = np.random.default_rng(seed).standard_normal(p.y_shape)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(toeplitz, "TARGET_COLUMNS", target)
        patch.setattr(toeplitz, "BLOCK_BYTES", block_bytes)
        y = toeplitz.forward(x, w, p, b)
        gx, gw = toeplitz.backward_input(gy, w, p), toeplitz.backward_weight(gy, x, p)
    np.testing.assert_allclose(y, reference.conv2d(x, w, b, **cfg.kwargs()),
                               rtol=1e-10, atol=1e-10)
    want_x, want_w, _ = reference.conv2d_backward(gy, x, w, **cfg.kwargs())
    np.testing.assert_allclose(gx, want_x, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(gw, want_w, rtol=1e-10, atol=1e-10)


@needs_blas
def test_stencil_filters_a_large_image_like_the_reference_float32():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 300, 257, 1), dtype=np.float32)
    w = rng.standard_normal((3, 5, 1, 1), dtype=np.float32)
    for kw in (dict(padding="same"), dict(padding="same", padding_mode="reflect"),
               dict(padding=(4, 1), stride=(3, 1), dilation=2)):
        y = cl.conv2d(x, w, algorithm="stencil", **kw)
        want = reference.conv2d(x, w, **kw)
        assert np.max(np.abs(y - want)) / np.max(np.abs(want)) < 1e-5
