"""Every rank on one engine: conv, conv_backward and conv_transpose of signals (1-D), volumes
(3-D) and beyond, against the N-D reference loops, PyTorch, and the rank-2 functions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import nd_configs

import convolab as cl
from convolab import reference
from convolab.algorithms import REGISTRY, direct_stencil
from convolab.ops import lowering
from convolab.ops.arguments import resolve
from convolab.select import supports

SEEDS = st.integers(0, 2**31 - 1)
DTYPES = st.sampled_from([np.float32, np.float64])


def _tol(dtype) -> float:
    return 1e-10 if dtype == np.float64 else 2e-4


def _close(got, want, dtype) -> None:
    tol = _tol(dtype)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * max(1.0, np.abs(want).max()))


@pytest.mark.parametrize("rank", [1, 3])
@settings(max_examples=60, deadline=None)
@given(data=st.data(), seed=SEEDS, dtype=DTYPES)
def test_conv_matches_the_reference_loops(rank, data, seed, dtype):
    cfg = data.draw(nd_configs(rank, max_size=5 if rank == 3 else 12))
    x, w, b = cfg.arrays(seed, dtype)
    y = cl.conv(x, w, b, **cfg.kwargs())
    assert y.dtype == dtype and y.shape == (cfg.n, *cfg.geometry().out_shape, cfg.o)
    _close(y, reference.conv(x, w, b, **cfg.kwargs()), dtype)


@pytest.mark.parametrize("rank", [1, 3])
@settings(max_examples=40, deadline=None)
@given(data=st.data(), seed=SEEDS, dtype=DTYPES)
def test_conv_backward_matches_the_reference_loops(rank, data, seed, dtype):
    cfg = data.draw(nd_configs(rank, max_size=5 if rank == 3 else 12))
    x, w, _ = cfg.arrays(seed, dtype)
    gy = np.random.default_rng(seed + 1).standard_normal(
        (cfg.n, *cfg.geometry().out_shape, cfg.o)).astype(dtype)
    got = cl.conv_backward(gy, x, w, **cfg.kwargs())
    for g, want in zip(got, reference.conv_backward(gy, x, w, **cfg.kwargs())):
        assert g.dtype == dtype
        _close(g, want, dtype)


@pytest.mark.parametrize("rank", [1, 3])
@settings(max_examples=40, deadline=None)
@given(data=st.data(), seed=SEEDS, stride=st.integers(1, 3), out_pad=st.integers(0, 2))
def test_conv_transpose_matches_the_reference_loops(rank, data, seed, stride, out_pad):
    cfg = data.draw(nd_configs(rank, max_size=4 if rank == 3 else 8, modes=("zeros",)))
    if isinstance(cfg.padding, str):
        return  # the string forms are Keras's for transposed convs: tested against torch below
    out_pad = min(out_pad, max(stride, max(cfg.dilation)) - 1)
    x, w, b = cfg.arrays(seed)
    w = w.reshape(*cfg.kernel, cfg.og, cfg.c)  # (*kernel, C_out/groups, C_in)
    kw = dict(stride=stride, padding=cfg.padding, dilation=cfg.dilation, groups=cfg.groups)
    try:
        want = reference.conv_transpose(x, w, b[:cfg.o], output_padding=out_pad, **kw)
    except ValueError:
        return
    if min(want.shape[1:-1]) < 1:
        return
    try:
        got = cl.conv_transpose(x, w, b[:cfg.o], output_padding=out_pad, **kw)
    except ValueError as e:  # a padding that removes the whole output: a clear error
        assert "padding" in str(e) or "output_padding" in str(e)
        return
    _close(got, want, np.float64)


@pytest.mark.parametrize("rank", [1, 3])
@settings(max_examples=25, deadline=None)
@given(data=st.data(), seed=SEEDS)
def test_every_algorithm_computes_the_lowered_problem(rank, data, seed):
    """Each algorithm that supports the rank-2 problem a signal or volume is lowered to gives
    the definition's result (the compiled ones only when the core is built)."""
    cfg = data.draw(nd_configs(rank, max_size=5 if rank == 3 else 10))
    x, w, b = cfg.arrays(seed)
    want = reference.conv(x, w, b, **cfg.kwargs())
    engine = lowering.engine_problem(resolve(x, w, b, **cfg.kwargs()).problem)
    names = [n for n in REGISTRY if supports(n, engine)]
    assert names
    for name in names:
        _close(cl.conv(x, w, b, algorithm=name, **cfg.kwargs()), want, np.float64)


def test_named_forms_are_conv_with_their_layouts():
    rng = np.random.default_rng(0)
    x1, w1 = rng.standard_normal((2, 9, 3)), rng.standard_normal((3, 3, 4))
    np.testing.assert_array_equal(cl.conv1d(x1, w1, padding="same"),
                                  cl.conv(x1, w1, padding="same"))
    x3, w3 = rng.standard_normal((1, 4, 5, 6, 2)), rng.standard_normal((2, 3, 2, 2, 3))
    np.testing.assert_array_equal(cl.conv3d(x3, w3, stride=2), cl.conv(x3, w3, stride=2))
    x2, w2 = rng.standard_normal((2, 6, 7, 3)), rng.standard_normal((3, 2, 3, 4))
    np.testing.assert_array_equal(cl.conv2d(x2, w2), cl.conv(x2, w2))
    # channels first, by the explicit names and by "channels_first"
    xf = np.ascontiguousarray(np.moveaxis(x3, -1, 1))
    wf = np.ascontiguousarray(np.transpose(w3, (4, 3, 0, 1, 2)))
    yf = cl.conv3d(xf, wf, data_format="NCDHW", kernel_format="OIDHW")
    np.testing.assert_allclose(np.moveaxis(yf, 1, -1), cl.conv3d(x3, w3), rtol=1e-12)
    np.testing.assert_array_equal(cl.conv(xf, wf, data_format="channels_first"), yf)
    # unbatched: one dimension fewer in and out
    np.testing.assert_array_equal(cl.conv1d(x1[0], w1), cl.conv1d(x1, w1)[0])
    np.testing.assert_array_equal(cl.conv3d(x3[0], w3), cl.conv3d(x3, w3)[0])


def test_rank_four_lowers_twice():
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((1, 3, 4, 3, 4, 2)), rng.standard_normal((2, 2, 1, 2, 2, 3))
    kw = dict(padding=((1, 0), (0, 1), (0, 0), (1, 1)), stride=(1, 2, 1, 1),
              padding_mode="replicate")
    np.testing.assert_allclose(cl.conv(x, w, **kw), reference.conv(x, w, **kw), rtol=1e-12)
    gy = rng.standard_normal(reference.conv(x, w, **kw).shape)
    for got, want in zip(cl.conv_backward(gy, x, w, **kw), reference.conv_backward(gy, x, w, **kw)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("fn, x_shape, w_shape, expected", [
    (cl.conv1d, (1, 4, 4, 1), (3, 1, 1), "rank-1 conv"),
    (cl.conv3d, (4, 4, 1), (3, 3, 3, 1, 1), "rank-3 conv"),
    (cl.conv3d, (1, 4, 4, 4, 1), (3, 3, 1, 1), "5-D DHWIO"),
    (cl.conv1d, (1, 4, 1), (3, 3, 1, 1), "3-D WIO"),
])
def test_the_wrong_rank_names_the_expected_shapes(fn, x_shape, w_shape, expected):
    with pytest.raises(ValueError, match=expected):
        fn(np.ones(x_shape), np.ones(w_shape))


def test_layout_names_must_match_the_rank():
    with pytest.raises(ValueError, match="data_format: expected 'NWC'"):
        cl.conv(np.ones((1, 5, 1)), np.ones((2, 1, 1)), data_format="NHWC")
    with pytest.raises(ValueError, match="kernel_format: expected 'DHWIO'"):
        cl.conv(np.ones((1, 3, 3, 3, 1)), np.ones((1, 1, 1, 1, 1)), kernel_format="HWIO")
    with pytest.raises(ValueError, match="K: expected a kernel of the rank of X"):
        cl.corr(np.ones((4, 4)), np.ones(2))


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_a_zero_spatial_size_gives_the_bias_where_padding_makes_room(rank):
    """TensorFlow's rule: an empty axis is valid when its padded size fits the kernel."""
    spatial = (0,) + (2,) * (rank - 1)
    x = np.ones((1, *spatial, 1))
    w = np.ones((1,) * rank + (1, 2))
    y = cl.conv(x, w, np.array([0.5, -1.0]), padding=1)
    assert y.shape == (1, 2, *(4,) * (rank - 1), 2)
    np.testing.assert_array_equal(y[..., 0], 0.5)
    np.testing.assert_array_equal(y[..., 1], -1.0)
    gx, gw, gb = cl.conv_backward(np.ones(y.shape), x, w, padding=1)
    assert gx.shape == x.shape and not gw.any() and (gb == y[0, ..., 0].size).all()
    with pytest.raises(ValueError, match="kernel_size"):
        cl.conv(x, np.ones((3,) * rank + (1, 1)))
    with pytest.raises(ValueError, match="only padding_mode='zeros'"):
        cl.conv(x, w, padding=1, padding_mode="reflect")


def test_the_issue_example_of_an_empty_height():
    y = cl.conv2d(np.ones((1, 0, 2, 1)), np.ones((1, 1, 1, 1)), padding=1)
    assert y.shape == (1, 2, 4, 1) and not y.any()


@pytest.mark.parametrize("rank", [1, 3])
def test_integer_bool_and_float16_inputs_as_conv2d_treats_them(rank):
    rng = np.random.default_rng(rank)
    x = rng.integers(-3, 4, (2, *(5,) * rank, 2))
    w = rng.integers(-2, 3, (*(2,) * rank, 2, 3))
    y = cl.conv(x, w)
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, reference.conv(x, w))
    assert cl.conv(x > 0, w).dtype == np.float64
    h = cl.conv(x.astype(np.float16), w.astype(np.float16))
    assert h.dtype == np.float16
    np.testing.assert_allclose(h, y, rtol=2e-3, atol=0.05)


def test_empty_batch_of_volumes():
    y = cl.conv3d(np.ones((0, 4, 4, 4, 2)), np.ones((3, 3, 3, 2, 5)), padding="same")
    assert y.shape == (0, 4, 4, 4, 5)


def test_corr_and_convolve_of_any_rank_agree_with_scipy():
    signal = pytest.importorskip("scipy.signal")
    rng = np.random.default_rng(3)
    for shape, k in (((30,), (4,)), ((9, 8), (3, 2)), ((6, 7, 5), (2, 3, 3))):
        x, kern = rng.standard_normal(shape), rng.standard_normal(k)
        np.testing.assert_allclose(cl.corr(x, kern), signal.correlate(x, kern, "valid"),
                                   rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(cl.convolve(x, kern), signal.convolve(x, kern, "valid"),
                                   rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(cl.convolve(x, kern, padding="full"),
                                   signal.convolve(x, kern, "full"), rtol=1e-10, atol=1e-12)


def test_corr_matches_scipy_ndimage_modes_on_a_volume():
    ndimage = pytest.importorskip("scipy.ndimage")
    rng = np.random.default_rng(5)
    x, k = rng.standard_normal((7, 6, 8)), rng.standard_normal((3, 3, 3))
    for ours, theirs in (("zeros", "constant"), ("symmetric", "reflect"), ("reflect", "mirror"),
                         ("replicate", "nearest"), ("circular", "wrap")):
        np.testing.assert_allclose(cl.corr(x, k, padding="same", padding_mode=ours),
                                   ndimage.correlate(x, k, mode=theirs), rtol=1e-10, atol=1e-12)


def test_output_shape_and_explain_shape_take_any_rank():
    assert cl.output_shape((16000,), 80, stride=4) == (3981,)
    assert cl.output_shape((16, 56, 56), 3, padding="same") == (16, 56, 56)
    text = cl.explain_shape((5, 8, 8), (3, 3, 3), padding=((1, 0), (1, 1), (1, 1)), stride=2)
    assert text.startswith("input 5x8x8, kernel 3x3x3")
    assert "depth: padding 1 front + 0 back" in text
    assert "length:" in cl.explain_shape((10,), 3)


@settings(max_examples=30, deadline=None)
@given(data=st.data(), seed=SEEDS, dtype=DTYPES, o=st.integers(1, 2))
def test_a_one_channel_volume_is_filtered_as_it_lies(data, seed, dtype, o):
    """A 3-D filter (one channel in, few out) runs on the stencil kernel on the volume itself:
    its rank-2 problem has the depth taps as channels, and the kernel reads them through the
    plane map (no unfolded copy)."""
    cfg = data.draw(nd_configs(3, max_size=6))
    kernel = cfg.kernel
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((cfg.n, *cfg.spatial, 1)).astype(dtype)
    w = rng.standard_normal((*kernel, 1, o)).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    kw = dict(stride=cfg.stride, padding=cfg.padding, dilation=cfg.dilation,
              padding_mode=cfg.padding_mode)
    p = resolve(x, w, b, **kw).problem
    q = lowering.engine_problem(p)
    assert q.x_shape[-1] == kernel[0] and q.w_shape[-1] == o
    if direct_stencil.supports(q):
        calls = []
        real = lowering.unfold_input
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(lowering, "unfold_input", lambda *a: calls.append(1) or real(*a))
            y = cl.conv3d(x, w, b, algorithm="direct_stencil", **kw)
        assert not calls
        _close(y, reference.conv(x, w, b, **kw), dtype)
    _close(cl.conv3d(x, w, b, **kw), reference.conv(x, w, b, **kw), dtype)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_backward_without_the_input_gradient_skips_it_and_keeps_the_rest(rank, monkeypatch):
    rng = np.random.default_rng(rank)
    x = rng.standard_normal((2, *(5,) * rank, 3))
    w = rng.standard_normal((*(3,) * rank, 3, 4))
    gy = rng.standard_normal(cl.conv(x, w, padding="same").shape)
    full = cl.conv_backward(gy, x, w, padding="same")
    called = []
    real = lowering.input_gradient
    monkeypatch.setattr(lowering, "input_gradient",
                        lambda *a, **k: called.append(1) or real(*a, **k))
    gx, gw, gb = cl.conv_backward(gy, x, w, padding="same", input_gradient=False)
    assert gx is None and not called
    np.testing.assert_array_equal(gw, full[1])
    np.testing.assert_array_equal(gb, full[2])
    with pytest.raises(TypeError, match="input_gradient: expected True or False"):
        cl.conv_backward(gy, x, w, padding="same", input_gradient=1)
