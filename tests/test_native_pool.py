"""The compiled pooling kernel (``_native/pool_kernel.h``), at every instruction set this CPU
has, against ``reference``'s loops: max (values, PyTorch's indices, ties, -inf and NaN) and
average pooling, forward and backward, every rank, padding, ceil_mode, dilation, channel
counts across one SIMD vector and not a multiple of it; the entry point's guards."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import examples

from convolab import _native, reference
from convolab.algorithms import native_pool
from convolab.ops.pooling import pool_geometry

pytestmark = pytest.mark.skipif(not _native.available(),
                                reason=f"the compiled core is not available: {_native.reason}")
ISAS = _native.supported_isas()


@st.composite
def poolings(draw):
    """A valid pooling: ``(x, geometry)`` with x ``(B, *spatial, C)`` holding ties, -inf and
    NaN when drawn so."""
    r = draw(st.integers(1, 3))
    n_max = {1: 12, 2: 7, 3: 4}[r]
    in_shape = tuple(draw(st.integers(1, n_max)) for _ in range(r))
    k = tuple(draw(st.integers(1, 3)) for _ in range(r))
    s = tuple(draw(st.integers(1, 3)) for _ in range(r))
    d = tuple(draw(st.integers(1, 2)) for _ in range(r))
    padding = draw(st.sampled_from(["valid", "same", "pairs"]))
    if padding == "pairs":
        padding = tuple((draw(st.integers(0, kk // 2)), draw(st.integers(0, kk // 2)))
                        for kk in k)
    try:
        geom = pool_geometry(in_shape, k, s, padding, dilation=d,
                             ceil_mode=draw(st.booleans()))
    except ValueError:
        geom = pool_geometry(in_shape, 1)  # a window past the input: the 1x1 pool instead
    b, c = draw(st.integers(1, 3)), draw(st.sampled_from([1, 3, 6, 16, 17, 33]))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    shape = (b, *in_shape, c)
    if draw(st.booleans()):
        x = rng.standard_normal(shape)
    else:  # ties, -inf and NaN
        x = rng.integers(0, 3, shape).astype(np.float64)
        x[rng.random(shape) < 0.2] = -np.inf
        x[rng.random(shape) < 0.05] = np.nan
    return x.astype(dtype), geom


def _windows(geom):
    args = (geom.in_shape, geom.out_shape, geom.pool_size, geom.strides, geom.dilation,
            tuple(b for b, _ in geom.pads))
    return native_pool.Windows.of(*args), reference.pool_taps(*args)


def _scatter(gy: np.ndarray, index: np.ndarray, x_shape: tuple[int, ...]) -> np.ndarray:
    """Max pooling's gradient by its indices: ``gy`` added at each maximum's position."""
    b, c = x_shape[0], x_shape[-1]
    gx = np.zeros((b, int(np.prod(x_shape[1:-1])), c))
    for n in range(b):
        for ch in range(c):
            np.add.at(gx[n, :, ch], index[n, ..., ch].ravel(), gy[n, ..., ch].ravel())
    return gx.reshape(x_shape)


@pytest.mark.parametrize("isa", ISAS)
@settings(max_examples=examples(40), deadline=None)
@given(case=poolings(), seed=st.integers(0, 2**31 - 1))
def test_pool_kernel_matches_reference(isa, case, seed):
    x, geom = case
    windows, taps = _windows(geom)
    want_y, want_index = reference.max_pool(x, taps)
    sums = reference.window_sums(np.nan_to_num(x, nan=0.0, neginf=0.0), taps)
    finite = np.where(np.isfinite(x), x, 0).astype(x.dtype)  # averages of finite values
    div = np.random.default_rng(seed).integers(1, 5, (1, *geom.out_shape, 1)).astype(x.dtype)
    gy = np.random.default_rng(seed + 1).standard_normal(want_y.shape).astype(x.dtype)
    tol = 1e-12 if x.dtype == np.float64 else 1e-5
    with _native.using(isa):
        y, index = native_pool.max_forward(x, windows, True)
        y_only, none = native_pool.max_forward(x, windows, False)
        avg = native_pool.avg_forward(finite, windows, div)
        gx_max = native_pool.max_backward(x, gy, windows)
        gx_avg = native_pool.avg_backward(gy, x.shape, windows, div)
        # dividing in the kernel rounds as NumPy's g / div does
        gx_divided = native_pool.avg_backward(gy / div, x.shape, windows, np.ones(1, x.dtype))
    assert y.dtype == x.dtype and none is None
    np.testing.assert_array_equal(gx_avg, gx_divided)
    np.testing.assert_array_equal(y, want_y.astype(x.dtype))  # NaN where NaN: equal
    np.testing.assert_array_equal(y_only, y)
    np.testing.assert_array_equal(index, want_index)
    np.testing.assert_allclose(avg, sums / div, rtol=tol, atol=tol)
    np.testing.assert_allclose(gx_max, _scatter(gy, want_index, x.shape), rtol=tol, atol=tol)
    # the average's backward is the adjoint of the window sums: <sums(v), gy> = <v, gx>
    v = np.random.default_rng(seed + 2).standard_normal(x.shape)
    lhs = np.sum(reference.window_sums(v, taps) * (gy / div))
    assert abs(lhs - np.sum(v * gx_avg)) <= tol * (1 + np.sum(np.abs(v)) * np.abs(gy).max())


def test_tasks_on_the_workers_give_what_one_call_gives(monkeypatch):
    """Overlapping windows split between images, the others anywhere: the same sums."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 9, 11, 5))
    geom = pool_geometry(x.shape[1:-1], 3, 1, "same")  # overlapping windows
    windows, taps = _windows(geom)
    gy = rng.standard_normal((4, *geom.out_shape, 5))
    monkeypatch.setattr(native_pool, "SERIAL_WORK", 0)
    monkeypatch.setattr(native_pool.scheduler, "workers", lambda: 2)
    y, index = native_pool.max_forward(x, windows, True)
    np.testing.assert_array_equal(y, reference.max_pool(x, taps)[0])
    np.testing.assert_allclose(native_pool.max_backward(x, gy, windows),
                               _scatter(gy, index, x.shape), rtol=1e-12, atol=1e-12)
    ones = np.ones((1, *geom.out_shape, 1))
    gx = native_pool.avg_backward(gy, x.shape, windows, np.ones(1))
    v = rng.standard_normal(x.shape)
    assert np.isclose(np.sum(reference.window_sums(v, taps) * gy), np.sum(v * gx))
    np.testing.assert_allclose(native_pool.avg_forward(x, windows, ones),
                               reference.window_sums(x, taps), rtol=1e-12)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("size", [(8,), (6, 4), (4, 2, 6)])
def test_windows_that_partition_the_input_write_grad_x_whole(isa, size):
    """A 2-wide pool on even sizes (every pixel in exactly one window) writes grad_x rather
    than adding to zeros: the same gradients, every pixel written (an output full of NaN
    before the call is overwritten everywhere)."""
    rng = np.random.default_rng(len(size))
    x = rng.integers(0, 3, (2, *size, 17)).astype(np.float64)  # ties
    geom = pool_geometry(size, 2)
    windows, taps = _windows(geom)
    assert windows.partition and not _windows(pool_geometry(size, 2, 1))[0].partition
    gy = rng.standard_normal((2, *geom.out_shape, 17))
    with _native.using(isa):
        gx_max = native_pool.max_backward(x, gy, windows)
        gx_avg = native_pool.avg_backward(gy, x.shape, windows, np.ones(1))
        out = np.full_like(x, np.nan)
        _native.core.pool(3, None, gy, out, None, None, *windows.maps,
                          (2, 17, *windows.in_shape, *windows.out_shape, *windows.size), 0,
                          gy.size // 17, True)
    np.testing.assert_array_equal(gx_max, _scatter(gy, reference.max_pool(x, taps)[1], x.shape))
    np.testing.assert_array_equal(gx_avg, out)
    for i, window in taps.items():  # each pixel of a window holds its output's gradient
        for p in window:
            np.testing.assert_array_equal(out[(slice(None), *p)], gy[(slice(None), *i)])


def _call(**change):
    """A valid call of the entry point (a 2x2 max pool of a 1x4x4x2 image), with ``change``."""
    args = dict(mode=0, x=np.zeros((1, 4, 4, 2)), g=None, out=np.zeros((1, 2, 2, 2)),
                index=None, div=None, taps_d=np.zeros(1, np.int64),
                taps_h=np.array([0, 1, 2, 3], np.int64), taps_w=np.array([0, 1, 2, 3], np.int64),
                dims=(1, 2, 1, 4, 4, 1, 2, 2, 1, 2, 2), q0=0, q1=4, assign=False)
    args.update(change)
    return _native.core.pool(*args.values())


def test_a_valid_call_runs():
    _call()


@pytest.mark.parametrize(("change", "error", "match"), [
    (dict(mode=4), ValueError, "mode"),
    (dict(q1=5), ValueError, "outside"),
    (dict(out=np.zeros((1, 2, 2, 1))), ValueError, "out: expected 8 items"),
    (dict(x=np.zeros((1, 4, 4, 2), np.float32)), TypeError, "x:"),
    (dict(taps_h=np.array([0, 1, 2, 4], np.int64)), ValueError, r"taps_h\[3\] = 4"),
    (dict(taps_w=np.array([0, 1, 2], np.int64)), ValueError, "taps_w: expected at least"),
    (dict(index=np.zeros((1, 2, 2, 1), np.int64)), ValueError, "index"),
    (dict(mode=1), TypeError, "bytes-like object"),  # div is None
    (dict(mode=2, out=np.zeros((1, 4, 4, 2))), TypeError, "bytes-like"),  # g: None
    (dict(dims=(1, 2, 1, 4, 4, 1, 2, 2, 1, 1 << 12, 1 << 12)), ValueError, "2\\*\\*24"),
    (dict(mode=3, x=None, g=np.zeros((1, 2, 2, 2)), out=np.zeros((1, 4, 4, 2)), assign=True,
          taps_h=np.array([0, 1, 1, 2], np.int64)), ValueError, "taps_h do not partition"),
])
def test_the_entry_point_refuses_what_would_leave_the_arrays(change, error, match):
    with pytest.raises(error, match=match):
        _call(**change)
