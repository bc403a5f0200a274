"""Winograd F(4x4, 3x3) in the compiled core, at every instruction set this CPU has.

Against ``reference`` on random 3x3 stride-1 problems (every padding form and mode, channel
counts crossing the SIMD blocks, images whose last tiles stick out), volumes through their
plane maps, with each register tile;
its float32 error on wide layers; Inf, NaN and overflow (computed the direct way); the
gradients of the input and the weights through it; and the entry points' guards.
"""

import contextlib

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from strategies import MODES, examples, nd_paddings, paddings

import convolab as cl
from convolab import _native, reference
from convolab.algorithms import direct, native, winograd_f4
from convolab.padding import check_padding_fits
from convolab.plan import problem_of
from convolab.shapes import conv_geometry

pytestmark = pytest.mark.skipif(not _native.available(),
                                reason=f"the compiled core is not available: {_native.reason}")
ISAS = _native.supported_isas()


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b), initial=0) / max(np.max(np.abs(b), initial=0), 1e-30))


@st.composite
def problems(draw):
    """``(x shape NHWC, w shape HWIO, conv2d keywords)``: a 3x3 stride-1 conv, any padding."""
    n, h, w = draw(st.integers(1, 3)), draw(st.integers(1, 14)), draw(st.integers(1, 14))
    c, o = draw(st.integers(1, 70)), draw(st.integers(1, 70))
    kwargs = dict(padding=draw(paddings), padding_mode=draw(st.sampled_from(MODES)))
    try:
        g = conv_geometry((h, w), (3, 3), padding=kwargs["padding"])
        check_padding_fits(g.in_shape, g.pads, kwargs["padding_mode"])
    except ValueError:
        assume(False)
    return (n, h, w, c), (3, 3, c, o), kwargs


@pytest.mark.parametrize("isa", ISAS)
@settings(max_examples=examples(40), deadline=None)
@given(problem=problems(), seed=st.integers(0, 2**31 - 1), f64=st.booleans(),
       nchw=st.booleans())
def test_winograd_matches_reference(isa, problem, seed, f64, nchw):
    x_shape, w_shape, kw = problem
    rng = np.random.default_rng(seed)
    dtype = np.float64 if f64 else np.float32
    x, w = rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[3]).astype(dtype)
    with _native.using(isa):
        if nchw:
            y = cl.conv2d(x.transpose(0, 3, 1, 2), w.transpose(3, 2, 0, 1), b,
                          algorithm="winograd_f4", data_format="NCHW", kernel_format="OIHW",
                          **kw).transpose(0, 2, 3, 1)
        else:
            y = cl.conv2d(x, w, b, algorithm="winograd_f4", **kw)
    assert y.dtype == dtype
    want = reference.conv2d(x, w, b, **kw)
    # relative to the outputs' size: the largest, or a sum of 9 C unit products' typical size
    # when there are too few outputs for the largest to show it (one channel of a 1x3 image)
    scale = max(float(np.abs(want).max(initial=0)), 3 * np.sqrt(x_shape[3]))
    assert np.abs(y - want).max(initial=0) / scale < (
        1e-12 if f64 else winograd_f4.ERROR_BOUND_F32)


@st.composite
def volumes(draw):
    """A 3-D conv whose every depth tap is a 3x3 stride-1 2-D conv: any depth size, stride,
    dilation and padding; every padding form and mode."""
    kd = draw(st.integers(1, 3))
    spatial = (draw(st.integers(1, 6)), draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    kwargs = dict(stride=(draw(st.integers(1, 3)), 1, 1),
                  dilation=(draw(st.integers(1, 2)), 1, 1),
                  padding=draw(nd_paddings(3)), padding_mode=draw(st.sampled_from(MODES)))
    try:
        g = conv_geometry(spatial, (kd, 3, 3), stride=kwargs["stride"],
                          padding=kwargs["padding"], dilation=kwargs["dilation"])
        check_padding_fits(g.in_shape, g.pads, kwargs["padding_mode"])
    except ValueError:
        assume(False)
    c, o = draw(st.integers(1, 24)), draw(st.integers(1, 40))
    return (draw(st.integers(1, 2)), *spatial, c), (kd, 3, 3, c, o), kwargs


@pytest.mark.parametrize("isa", ISAS)
@settings(max_examples=examples(30), deadline=None)
@given(problem=volumes(), seed=st.integers(0, 2**31 - 1), f64=st.booleans())
def test_a_volume_is_read_through_its_plane_map(isa, problem, seed, f64):
    """A volume as it lies, no unfolded copy: each output plane's tiles gather their kd input
    planes through the plane map into the channels of one Winograd (a tap's channel count
    not a whole number of vectors: its last vector spills into the next tap's, which
    overwrites it)."""
    x_shape, w_shape, kw = problem
    rng = np.random.default_rng(seed)
    dtype = np.float64 if f64 else np.float32
    x, w = rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[-1]).astype(dtype)
    with _native.using(isa):
        y = cl.conv3d(x, w, b, algorithm="winograd_f4", **kw)
    want = reference.conv(x, w, b, **kw)
    scale = max(float(np.abs(want).max(initial=0)), 3 * np.sqrt(w_shape[0] * x_shape[-1]))
    assert np.abs(y - want).max(initial=0) / scale < (
        1e-12 if f64 else winograd_f4.ERROR_BOUND_F32)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("o", [1, 7, 16, 33, 64, 100])
def test_every_tile_shape_runs_the_products(isa, o):
    """Each register tile the products can use, on output channels that fill it, fall short and
    spill over; 3 images of 9x7 outputs, so the last tiles of each row and column stick out,
    tasks end mid-image and blocks leave remainders of single tiles."""
    rng = np.random.default_rng(o)
    x = rng.standard_normal((3, 9, 7, 19))
    w = rng.standard_normal((3, 3, 19, o))
    b = rng.standard_normal(o)
    want = reference.conv2d(x, w, b, padding="same")
    with _native.using(isa):
        p = problem_of(x, w, padding="same")
        lanes = _native.core.lanes(8)
        for nv in _native.core.tiles(8):
            u, pb = winograd_f4.pack(w, b, p, nv * lanes)
            y = np.full(p.y_shape, np.nan)
            rows, cols = native.maps(p)
            tiles = winograd_f4.tiles(p)
            for t0, t1 in ((0, 5), (5, 6), (6, tiles)):  # three calls, as three tasks
                assert _native.core.winograd(x, u, pb, y, rows, cols, native.geometry(p), nv,
                                             t0, t1)
            np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("c", [64, 256, 1024])
def test_float32_error_on_wide_layers_stays_within_the_bound(c):
    """Rounding grows with the channels summed: F(4x4, 3x3) with the usual points 0, +-1, +-2
    passes 1e-5 relative to the largest output at 256 channels (1.3e-5); with 1/2 in place of
    2 it stays under it at 1024. Against direct's float32 error, a small factor."""
    rng = np.random.default_rng(c)
    x = rng.standard_normal((1, 12, 12, c), dtype=np.float32)
    w = rng.standard_normal((3, 3, c, 32), dtype=np.float32)
    exact = reference.conv2d(x.astype(np.float64), w.astype(np.float64), padding="same")
    err = rel_err(cl.conv2d(x, w, padding="same", algorithm="winograd_f4"), exact)
    err_direct = rel_err(cl.conv2d(x, w, padding="same", algorithm="direct"), exact)
    assert err < winograd_f4.ERROR_BOUND_F32
    assert err < 8 * err_direct


@pytest.mark.parametrize("isa", ISAS)
@settings(max_examples=examples(20), deadline=None)
@given(seed=st.integers(0, 2**31 - 1), mode=st.sampled_from(["zeros", "reflect"]),
       spots=st.lists(st.tuples(st.integers(0, 1), st.integers(0, 10), st.integers(0, 12),
                                st.sampled_from([np.inf, -np.inf, np.nan])),
                      min_size=1, max_size=3))
def test_inf_and_nan_give_the_definitions_result(isa, seed, mode, spots):
    """A tile's transform would spread an Inf or NaN to every output of the tile: the kernel
    sees a non-finite output and the call is computed the direct way, so the pattern of NaN
    and +-Inf is the definition's, wherever they are."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 11, 13, 5))
    for n, r, c, v in spots:
        x[n, r, c, rng.integers(5)] = v
    w = rng.standard_normal((3, 3, 5, 6))
    with np.errstate(invalid="ignore", over="ignore"), _native.using(isa):
        got = cl.conv2d(x, w, padding="same", padding_mode=mode, algorithm="winograd_f4")
        want = reference.conv2d(x, w, padding="same", padding_mode=mode)
    for test in (np.isnan, np.isposinf, np.isneginf):
        np.testing.assert_array_equal(test(got), test(want))
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-12, atol=1e-12)


def test_an_output_that_overflows_in_the_transform_is_computed_directly():
    """Finite float32 inputs near the largest float: the transforms (coefficients up to 8)
    overflow where the direct sums do not, so the kernel reports it and direct runs."""
    x = np.full((1, 8, 8, 2), 3e37, np.float32)
    x[0, ::2, :, 0] *= -1
    w = np.full((3, 3, 2, 2), 0.5, np.float32)
    p = problem_of(x, w)
    u, _ = winograd_f4.pack(w, None, p, direct.tile(p, dot=False)[0] * _native.core.lanes(4))
    rows, cols = native.maps(p)
    y = np.empty(p.y_shape, np.float32)
    nv = direct.tile(p, dot=False)[0]
    with np.errstate(over="ignore", invalid="ignore"):
        assert not _native.core.winograd(x, u, None, y, rows, cols, native.geometry(p), nv, 0,
                                         winograd_f4.tiles(p))
        got = cl.conv2d(x, w, algorithm="winograd_f4")
    want = reference.conv2d(x.astype(np.float64), w.astype(np.float64))
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize("isa", ISAS)
def test_the_input_gradient_runs_on_winograd(isa):
    """At stride 1 grad_x is a 3x3 conv of grad_y: "auto" runs it on Winograd where that is
    cheapest, as it does the forward."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 20, 20, 32))
    w = rng.standard_normal((3, 3, 32, 32))
    gy = rng.standard_normal((4, 20, 20, 32))
    with _native.using(isa):
        plan = cl.plan(x, w, padding="same")
        if isa == "avx512":
            assert plan.algorithm == "winograd_f4"
            assert plan.input_gradient == "adjoint:winograd_f4"
        got = cl.conv2d_backward(gy, x, w, padding="same", algorithm="winograd_f4")
    for g, r in zip(got, reference.conv2d_backward(gy, x, w, padding="same")):
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-10)


@contextlib.contextmanager
def winograd_gradient_always():
    """Inside: the weight gradient on Winograd whatever the batch (the tests' problems are
    small)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(winograd_f4, "WGRAD_MIN_TILES", 0)
        yield


@pytest.mark.parametrize("isa", ISAS)
@settings(max_examples=examples(30), deadline=None)
@given(problem=st.one_of(problems(), volumes()), seed=st.integers(0, 2**31 - 1),
       f64=st.booleans())
def test_the_weight_gradient_matches_reference(isa, problem, seed, f64):
    """F(3x3, 4x4) over grad_y's tiles (a volume's depth taps as channels), summed per block
    and per worker, then G^T M G: the definition's gradient on every draw."""
    x_shape, w_shape, kw = problem
    rng = np.random.default_rng(seed)
    dtype = np.float64 if f64 else np.float32
    x, w = rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype)
    p = problem_of(x, w, **kw)
    gy = rng.standard_normal(p.y_shape).astype(dtype)
    with _native.using(isa), winograd_gradient_always():
        gw = winograd_f4.backward_weight(gy, x, p)
    assert gw.shape == w.shape and gw.dtype == dtype
    want = reference.conv_backward(gy, x, w, **kw)[1]
    # relative to the gradient's size: the largest, or a sum of N*Ho*Wo unit products' typical
    # size when it has too few entries for the largest to show it
    scale = max(float(np.abs(want).max(initial=0)), np.sqrt(np.prod(p.y_shape[:-1])))
    assert np.abs(gw - want).max(initial=0) / scale < (
        1e-12 if f64 else winograd_f4.ERROR_BOUND_F32)


def test_the_weight_gradient_of_a_large_batch_stays_within_the_bound():
    """Float32 sums over 2048 tiles: a block's tiles are summed apart from the running sums,
    so rounding grows with the blocks, not with every tile (straight through it reached
    9e-6 on 3136 tiles)."""
    rng = np.random.default_rng(9)
    x = rng.standard_normal((8, 64, 64, 32), dtype=np.float32)
    w = np.zeros((3, 3, 32, 32), np.float32)
    p = problem_of(x, w, padding="same")
    gy = rng.standard_normal(p.y_shape, dtype=np.float32)
    assert winograd_f4.tiles(p) >= winograd_f4.WGRAD_MIN_TILES
    # the oracle: direct's float64 weight gradient (proven against reference in test_native;
    # the reference loops take half a minute here under the sanitizers)
    exact = direct.backward_weight(gy.astype(np.float64), x.astype(np.float64),
                                   problem_of(x.astype(np.float64), w.astype(np.float64),
                                              padding="same"))
    assert rel_err(winograd_f4.backward_weight(gy, x, p), exact) < winograd_f4.ERROR_BOUND_F32


@pytest.mark.parametrize("isa", ISAS)
def test_inf_and_nan_in_the_weight_gradient_are_the_definitions(isa):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 9, 10, 5))
    x[0, 3, 4, 1], x[1, 8, 0, 4] = np.inf, np.nan
    w = rng.standard_normal((3, 3, 5, 7))
    p = problem_of(x, w, padding="same")
    gy = rng.standard_normal(p.y_shape)
    gy[1, 0, 9, 2] = -np.inf
    with np.errstate(invalid="ignore", over="ignore"), _native.using(isa), \
            winograd_gradient_always():
        got = winograd_f4.backward_weight(gy, x, p)
        want = reference.conv_backward(gy, x, w, padding="same")[1]
    for test in (np.isnan, np.isposinf, np.isneginf):
        np.testing.assert_array_equal(test(got), test(want))
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-12, atol=1e-12)


def test_the_gradients_last_map_is_g_transposed_m_g():
    """grad_w = G^T M G (the adjoint of the kernel's transform), into a volume's layout."""
    m = np.random.default_rng(1).standard_normal((36, 2 * 3, 8))
    gw = np.empty((2, 3, 3, 3, 5))
    _native.core.winograd_unpack(gw, m, 8, 0, 5)
    want = np.einsum("au,abco,bv->uvco", _g(), m.reshape(6, 6, 6, 8)[..., :5], _g())
    np.testing.assert_allclose(gw, np.moveaxis(want.reshape(3, 3, 2, 3, 5), 2, 0),
                               rtol=1e-13, atol=1e-13)


def test_the_weight_gradient_of_a_winograd_layer_is_compiled(monkeypatch):
    """A layer whose forward runs on Winograd gets its weight gradient from direct's compiled
    kernel, not from im2col's NumPy one (the fallback of an algorithm without its own)."""
    from convolab.algorithms import im2col

    def refuse(*args):
        raise AssertionError("im2col's weight gradient ran")

    monkeypatch.setattr(im2col, "backward_weight", refuse)
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((2, 12, 12, 16)), rng.standard_normal((3, 3, 16, 16))
    gy = rng.standard_normal((2, 12, 12, 16))
    _, gw, _ = cl.conv2d_backward(gy, x, w, padding="same", algorithm="winograd_f4")
    np.testing.assert_allclose(gw, reference.conv2d_backward(gy, x, w, padding="same")[1],
                               rtol=1e-10, atol=1e-10)


def test_the_planner_names_the_kernel():
    plan = cl.plan((16, 56, 56, 64), (3, 3, 64, 64), padding="same")
    assert plan.algorithm == "winograd_f4"
    assert f"winograd_f32_{_native.isa()}" in plan.reason


# ---- the entry points' guards -------------------------------------------------------------

def _call(**change):
    """Arguments of a valid winograd call on x (1, 6, 6, 2), w (3, 3, 2, 3), "same"."""
    x = np.ones((1, 6, 6, 2))
    w = np.ones((3, 3, 2, 3))
    p = problem_of(x, w, padding=1)
    lanes = _native.core.lanes(8)
    nv = min(_native.core.tiles(8))
    u, b = winograd_f4.pack(w, np.ones(3), p, nv * lanes)
    rows, cols = native.maps(p)
    args = dict(x=x, u=u, bias=b, y=np.empty(p.y_shape), rows=rows, cols=cols,
                geometry=native.geometry(p), nv=nv, t0=0, t1=4)
    args.update(change)
    return tuple(args.values())


def test_a_valid_call_runs():
    args = _call()
    assert _native.core.winograd(*args)
    np.testing.assert_allclose(args[3], reference.conv2d(np.ones((1, 6, 6, 2)),
                                                         np.ones((3, 3, 2, 3)), np.ones(3),
                                                         padding=1))


@pytest.mark.parametrize(("change", "match"), [
    (dict(t1=5), r"tiles \[0, 5\) are outside \[0, 4\)"),
    (dict(u=np.ones(7)), "u: expected"),
    (dict(bias=np.ones(2)), "bias: expected"),
    (dict(nv=3), "nv = 3: no such tile"),
    (dict(geometry=(1, 6, 6, 2, 3, 3, 3, 3, 3, 2, 2, 1, 1, 1), y=np.empty((1, 3, 3, 3))),
     "needs a 3x3 kernel, stride 1"),
    (dict(geometry=(1, 6, 6, 2, 6, 6, 3, 3, 3, 1, 1, 1, 1, 2)), "groups must divide"),
    (dict(rows=np.full(8, 6)), r"row_map\[0\] = 6 is outside"),
])
def test_the_entry_point_refuses_what_would_leave_the_arrays(change, match):
    with pytest.raises(ValueError, match=match):
        _native.core.winograd(*_call(**change))


@pytest.mark.parametrize(("args", "error", "match"), [
    ((np.ones((3, 3, 2, 3)), np.zeros((1, 36, 2, 8)), 8, 0, 4), ValueError, "o1 = 4"),
    ((np.ones((3, 3, 2, 3)), np.zeros((1, 36, 2, 7)), 8, 0, 3), ValueError, "u: expected"),
    ((np.ones((2, 3, 2, 3)), np.zeros((1, 36, 2, 8)), 8, 0, 3), ValueError, r"\(3, 3, C, O\)"),
    ((np.ones((2, 3, 3, 2, 3)), np.zeros((1, 36, 2, 8)), 8, 0, 3), ValueError, "u: expected"),
    ((np.ones((3, 3, 2, 3)), np.zeros((1, 36, 2, 8), np.float32), 8, 0, 3), TypeError, "dtype"),
])
def test_the_packing_entry_point_checks_its_arguments(args, error, match):
    with pytest.raises(error, match=match):
        _native.core.winograd_pack(*args)


def _g() -> np.ndarray:
    """G of F(4x4, 3x3) from its points 0, 1, -1, 1/2, -2 and infinity (Toom-Cook: row j is
    (1, p, p^2) / prod(p - q))."""
    points = [0, 1, -1, 0.5, -2]
    g = np.zeros((6, 3))
    for j, pt in enumerate(points):
        g[j] = np.array([1, pt, pt * pt]) / np.prod([pt - q for q in points if q != pt])
    g[5, 2] = 1
    return g


def test_the_packing_is_g_w_g_transposed():
    """U = G w G^T, computed here from the points."""
    w = np.random.default_rng(0).standard_normal((3, 3, 4, 5))
    u = np.zeros((1, 36, 4, 8))
    _native.core.winograd_pack(w, u, 8, 0, 5)
    want = np.einsum("ua,abco,vb->uvco", _g(), w, _g()).reshape(36, 4, 5)
    np.testing.assert_allclose(u[0, :, :, :5], want, rtol=1e-13, atol=1e-13)
    assert not u[0, :, :, 5:].any()


def test_the_weight_gradient_entry_points_check_their_arguments():
    x, gy = np.ones((1, 6, 6, 2)), np.ones((1, 6, 6, 3))
    p = problem_of(x, np.ones((3, 3, 2, 3)), padding=1)
    nv = min(_native.core.tiles(8))
    kp = nv * _native.core.lanes(8)
    rows, cols = native.maps(p)
    args = (x, np.zeros((36, 2, kp)), None, gy, rows, cols, native.geometry(p), nv, 0, 4)
    _native.core.winograd_wgrad(*args)
    with pytest.raises(ValueError, match="m: expected"):
        _native.core.winograd_wgrad(x, np.zeros((36, 2, kp - 1)), *args[2:])
    with pytest.raises(ValueError, match="bias: a weight gradient takes None"):
        _native.core.winograd_wgrad(*args[:2], np.ones(3), *args[3:])
    with pytest.raises(ValueError, match=r"tiles \[0, 5\) are outside"):
        _native.core.winograd_wgrad(*args[:9], 5)
    with pytest.raises(ValueError, match="kp = 2"):
        _native.core.winograd_unpack(np.empty((3, 3, 2, 3)), np.zeros((36, 2, 2)), 2, 0, 3)
    with pytest.raises(ValueError, match="m: expected"):
        _native.core.winograd_unpack(np.empty((3, 3, 2, 3)), np.zeros((36, 2, 7)), 8, 0, 3)
    with pytest.raises(ValueError, match="grad_w: expected"):
        _native.core.winograd_unpack(np.empty((3, 2, 2, 3)), np.zeros((36, 2, 8)), 8, 0, 3)
