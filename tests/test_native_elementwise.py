"""The compiled activations (``_native/activation_kernel.h``) at every instruction set this CPU
has: the sigmoid within a few ulp of the exact value (long double) over the whole range, Inf,
NaN, -0 and subnormal results included; its derivative, relu and relu's derivative bit for bit
NumPy's formulas; the workers' split; the entry point's guards."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import examples

from convolab import _native
from convolab.algorithms import elementwise, scheduler

pytestmark = pytest.mark.skipif(not _native.available(),
                                reason=f"the compiled core is not available: {_native.reason}")
ISAS = _native.supported_isas()
SPECIAL = [0.0, -0.0, 1e-30, -1e-30, 20, -20, 88, -88, -104, -110, 110, -745, -750, 700,
           np.inf, -np.inf, np.nan]


def _values(rng, n, dtype):
    x = np.concatenate([rng.standard_normal(n) * rng.choice([1, 10, 100]), SPECIAL])
    rng.shuffle(x)
    return x.astype(dtype)


@pytest.mark.parametrize("isa", ISAS)
@settings(max_examples=examples(30), deadline=None)
@given(n=st.integers(0, 300), f64=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_sigmoid_within_a_few_ulp_of_the_exact_value(isa, n, f64, seed):
    dtype = np.float64 if f64 else np.float32
    x = _values(np.random.default_rng(seed), n, dtype)
    with _native.using(isa):
        y = elementwise.sigmoid(x)
    assert y.dtype == dtype and y.shape == x.shape
    with np.errstate(over="ignore"):
        exact = 1 / (1 + np.exp(-x.astype(np.longdouble)))
    np.testing.assert_array_equal(np.isnan(y), np.isnan(x))
    ok = ~np.isnan(x)
    err = np.abs(y[ok] - exact[ok]) / np.spacing(exact[ok].astype(dtype))
    assert err.max(initial=0) <= 4, (x[ok][np.argmax(err)], err.max())
    assert ((y[ok] >= 0) & (y[ok] <= 1)).all()


@pytest.mark.parametrize("isa", ISAS)
@settings(max_examples=examples(30), deadline=None)
@given(n=st.integers(1, 300), f64=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_derivatives_are_numpys_formulas_bit_for_bit(isa, n, f64, seed):
    dtype = np.float64 if f64 else np.float32
    rng = np.random.default_rng(seed)
    g = _values(rng, n, dtype)
    y = rng.random(g.size).astype(dtype)
    y[rng.random(g.size) < 0.3] = 0  # relu's off units
    with _native.using(isa), np.errstate(invalid="ignore", over="ignore"):
        np.testing.assert_array_equal(elementwise.sigmoid_grad(g, y), g * (1 - y) * y)
        np.testing.assert_array_equal(elementwise.relu_grad(g, y),
                                      np.where(y > 0, g, 0).astype(dtype))


@pytest.mark.parametrize("isa", ISAS)
@settings(max_examples=examples(30), deadline=None)
@given(n=st.integers(1, 300), f64=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_relu_is_numpys_maximum_bit_for_bit(isa, n, f64, seed):
    """NaN stays NaN, -0 gives +0, -inf gives 0: np.maximum(x, 0) exactly, sign bits too."""
    dtype = np.float64 if f64 else np.float32
    x = _values(np.random.default_rng(seed), n, dtype)
    with _native.using(isa):
        y = elementwise.relu(x)
    want = np.maximum(x, 0)
    np.testing.assert_array_equal(y, want)
    np.testing.assert_array_equal(np.signbit(y), np.signbit(want))


def test_the_workers_split_gives_the_same_array(monkeypatch):
    x = np.random.default_rng(0).standard_normal((3, 1001)).astype(np.float32)
    one = elementwise.sigmoid(x)
    monkeypatch.setattr(elementwise, "SERIAL", 0)
    monkeypatch.setattr(scheduler, "workers", lambda: 2)
    np.testing.assert_array_equal(elementwise.sigmoid(x), one)


def test_other_dtypes_and_strided_arrays_are_left_to_numpy():
    x = np.ones((4, 4), np.float32)
    assert elementwise.sigmoid(x.astype(np.float16)) is None
    assert elementwise.sigmoid(x[:, ::2]) is None
    assert elementwise.sigmoid_grad(x, x.astype(np.float64)) is None


@pytest.mark.parametrize(("args", "error", "match"), [
    ((4, "x", None, "out", 0, 4), ValueError, "op: expected"),
    ((0, "x", None, "out", 0, 5), ValueError, "outside"),
    ((1, "x", "short", "out", 0, 4), ValueError, "b: expected 4 items"),
    ((0, "x64", None, "out", 0, 4), TypeError, "a:"),
])
def test_the_entry_point_refuses_what_would_leave_the_arrays(args, error, match):
    arrays = {"x": np.zeros(4, np.float32), "out": np.zeros(4, np.float32),
              "short": np.zeros(3, np.float32), "x64": np.zeros(4)}
    with pytest.raises(error, match=match):
        _native.core.activation(*(arrays.get(a, a) if isinstance(a, str) else a
                                  for a in args))
