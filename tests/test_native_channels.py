"""The compiled per-channel kernels (``_native/channel_kernel.h``, what batch normalisation
runs on) at every instruction set this CPU has, against NumPy in float64; and the
``BatchNormalization`` layer on them equal to its NumPy path, forward and backward, training
and inference; the entry points' guards."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import examples

from convolab import _native
from convolab.algorithms import channels, scheduler
from convolab.layers import BatchNormalization

pytestmark = pytest.mark.skipif(not _native.available(),
                                reason=f"the compiled core is not available: {_native.reason}")
ISAS = _native.supported_isas()


@pytest.mark.parametrize("isa", ISAS)
@settings(max_examples=examples(30), deadline=None)
@given(rows=st.integers(1, 700), c=st.integers(1, 40), f64=st.booleans(),
       offset=st.sampled_from([0.0, 1e3]), seed=st.integers(0, 2**31 - 1))
def test_channel_kernels_match_numpy_in_float64(isa, rows, c, f64, offset, seed):
    dtype = np.float64 if f64 else np.float32
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((rows, c)) + offset).astype(dtype)
    g = rng.standard_normal((rows, c)).astype(dtype)
    s, p, q, t = (rng.standard_normal(c).astype(dtype) for _ in range(4))
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    tol = 1e-12 if f64 else 1e-5
    with _native.using(isa):
        mean, var = channels.mean_var(x)
        sum_g, sum_gx = channels.gradient_sums(x, g, mean)
        y = channels.affine(x, s, q, t)
        gx = channels.affine(x, s, q, t, g, p)
    assert mean.dtype == var.dtype == y.dtype == dtype
    np.testing.assert_allclose(mean, x64.mean(0), rtol=tol, atol=tol * (1 + offset))
    np.testing.assert_allclose(var, x64.var(0), rtol=tol * 10, atol=tol * 10)
    np.testing.assert_allclose(sum_g, g64.sum(0), rtol=tol, atol=tol * rows)
    np.testing.assert_allclose(sum_gx, (g64 * (x64 - mean)).sum(0), rtol=tol,
                               atol=tol * rows * (1 + offset))
    np.testing.assert_allclose(y, (x64 - s) * q + t, rtol=tol, atol=tol * (1 + offset))
    np.testing.assert_allclose(gx, g64 * p + (x64 - s) * q + t, rtol=tol,
                               atol=tol * (1 + offset))


@pytest.mark.parametrize("f64", [False, True])
def test_a_bias_gradient_sums_on_the_kernels_in_float64(f64):
    """``grad_b`` of a conv sums grad_y's (N*Ho, Wo*O) rows by the compiled column sums, in
    float64 across blocks: for 256x28x28x6 float32 (LeNet's first layer) within float64's
    sum rounded once, where a float32 running sum over 200704 values drifts further."""
    from convolab.ops.engine import bias_gradient

    dtype = np.float64 if f64 else np.float32
    gy = (np.random.default_rng(1).standard_normal((256, 28, 28, 6)) + 3).astype(dtype)
    want = gy.astype(np.float64).sum(axis=(0, 1, 2))
    got = bias_gradient(gy, dtype)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, want, rtol=1e-13 if f64 else 1e-7)


def test_the_workers_split_gives_the_same_sums(monkeypatch):
    x = np.random.default_rng(0).standard_normal((1001, 7))
    one = channels.mean_var(x)
    monkeypatch.setattr(channels, "SERIAL", 0)
    monkeypatch.setattr(scheduler, "workers", lambda: 2)
    for a, b in zip(channels.mean_var(x), one):
        np.testing.assert_allclose(a, b, rtol=1e-14)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_on_the_kernels_equals_its_numpy_path(monkeypatch, dtype, training):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((4, 5, 6, 3)) * 3 + 2).astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    results = []
    for compiled in (True, False):
        if not compiled:
            monkeypatch.setattr(channels, "runs", lambda *a: False)
        layer = BatchNormalization(momentum=0.9, dtype=dtype)
        layer.build(x.shape)
        layer.gamma[...] = rng.standard_normal(3) if compiled else results[0][4]
        layer.beta[...] = [0.5, -1, 2]
        layer(x, training=True)  # moving statistics away from (0, 1)
        y = layer(x, training=training)
        gx = layer.backward(g)
        results.append((y, gx, layer.grads["gamma"], layer.grads["beta"], layer.gamma.copy(),
                        layer.moving_mean.copy(), layer.moving_variance.copy()))
    tol = 1e-12 if dtype == "float64" else 2e-5
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda a, o: _native.core.channel_sums(3, a, None, None, o, 4, 0, 2), ValueError, "mode"),
    (lambda a, o: _native.core.channel_sums(0, a, None, None, o, 3, 0, 2), ValueError,
     "not rows of 3"),
    (lambda a, o: _native.core.channel_sums(0, a, None, None, o, 4, 0, 3), ValueError,
     "outside"),
    (lambda a, o: _native.core.channel_sums(2, a, a[:1], a[0], np.zeros(8), 4, 0, 2),
     ValueError, "b: expected 8"),
    (lambda a, o: _native.core.channel_sums(0, a, None, None, o.astype(np.float32), 4, 0, 2),
     TypeError, "out:"),
    (lambda a, o: _native.core.channel_affine(None, a, a[0], None, a[0], a[0], a[:1], 4, 0, 2),
     ValueError, "out: expected 8"),
    (lambda a, o: _native.core.channel_affine(None, a, a[0, :3], None, a[0], a[0],
                                              np.empty_like(a), 4, 0, 2),
     ValueError, "s: expected 4"),
])
def test_the_entry_points_refuse_what_would_leave_the_arrays(call, error, match):
    with pytest.raises(error, match=match):
        call(np.zeros((2, 4)), np.zeros(4))


def test_inference_gradient_is_the_scaled_gradient_even_beside_an_inf_input():
    """At inference y is affine in x, so dL/dx is g * gamma / std wherever x is: an Inf in x
    must not reach grad_x (as (x - mean) * 0 would make it NaN)."""
    layer = BatchNormalization(dtype="float32")
    x = np.ones((4, 3), np.float32)
    layer.build(x.shape)
    x[1, 2] = np.inf
    layer(x)  # inference: the moving statistics
    g = np.ones_like(x)
    gx = layer.backward(g)
    want = g * (layer.gamma / np.sqrt(layer.moving_variance + layer.epsilon))
    np.testing.assert_allclose(gx, want, rtol=1e-6)
