"""Winograd F(4, 3) along rows (``winograd_1d``) in the compiled core, at every instruction set
this CPU has.

Against ``reference`` on random signals (every padding form and mode, kernels from one tap to
longer than three groups, strides that split them into phases, channel counts crossing the
SIMD blocks, both dtypes, with and without bias); images with a one-row kernel (row stride and
row padding through the row map); each register tile at the kernel's entry, with blocks cut
into tasks; long signals whose passes and tasks end mid-row; float32's error on the M5 layer;
Inf, NaN and overflow (computed the direct way); PyTorch's conv1d; and the entry points'
guards.
"""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from strategies import MODES, examples, nd_paddings

import convolab as cl
from convolab import _native, reference
from convolab.algorithms import native, winograd_1d
from convolab.padding import check_padding_fits
from convolab.plan import problem_of
from convolab.shapes import conv_geometry

pytestmark = pytest.mark.skipif(not _native.available(),
                                reason=f"the compiled core is not available: {_native.reason}")
ISAS = _native.supported_isas()


def rel_err(a: np.ndarray, b: np.ndarray, scale: np.ndarray) -> float:
    """The largest ``|a - b|`` over the largest of ``scale``: the sums of the terms'
    magnitudes, what rounding grows with (a sum that cancels is rounded as its terms)."""
    return float(np.max(np.abs(a - b), initial=0) / max(np.max(scale, initial=0), 1e-30))


def magnitudes(x, w, b, **kw) -> np.ndarray:
    """``reference.conv`` of the operands' magnitudes: each output's sum of ``|terms|``."""
    return reference.conv(np.abs(x), np.abs(w), None if b is None else np.abs(b), **kw)


def bound(dtype) -> float:
    return 1e-12 if dtype == np.float64 else winograd_1d.ERROR_BOUND_F32


@st.composite
def signals(draw):
    """``(x shape NWC, w shape WIO, conv1d keywords)``: any kernel length and stride, any
    padding."""
    n, length = draw(st.integers(1, 3)), draw(st.integers(1, 90))
    c, o = draw(st.integers(1, 9)), draw(st.integers(1, 40))
    k, stride = draw(st.integers(1, 25)), draw(st.integers(1, 5))
    kwargs = dict(stride=stride, padding=draw(nd_paddings(1)),
                  padding_mode=draw(st.sampled_from(MODES)))
    try:
        g = conv_geometry((length,), (k,), stride=stride, padding=kwargs["padding"])
        check_padding_fits(g.in_shape, g.pads, kwargs["padding_mode"])
    except ValueError:
        assume(False)
    return (n, length, c), (k, c, o), kwargs


@pytest.mark.parametrize("isa", ISAS)
@settings(max_examples=examples(60), deadline=None)
@given(problem=signals(), seed=st.integers(0, 2**31 - 1), f64=st.booleans(),
       with_bias=st.booleans())
def test_signals_match_reference(isa, problem, seed, f64, with_bias):
    x_shape, w_shape, kw = problem
    rng = np.random.default_rng(seed)
    dtype = np.float64 if f64 else np.float32
    x, w = rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[-1]).astype(dtype) if with_bias else None
    with _native.using(isa):
        y = cl.conv1d(x, w, b, algorithm="winograd_1d", **kw)
    assert y.dtype == dtype
    want = reference.conv(x, w, b, **kw)
    assert y.shape == want.shape
    assert rel_err(y, want, magnitudes(x, w, b, **kw)) < bound(dtype)


@pytest.mark.parametrize("isa", ISAS)
@settings(max_examples=examples(25), deadline=None)
@given(seed=st.integers(0, 2**31 - 1), h=st.integers(1, 7), sh=st.integers(1, 3),
       k=st.integers(1, 12), sw=st.integers(1, 4), mode=st.sampled_from(MODES))
def test_an_image_with_a_one_row_kernel_reads_rows_through_the_row_map(isa, seed, h, sh, k,
                                                                       sw, mode):
    """kh = 1: each output row is its own signal, the input row the row map names (a row
    stride skips rows; row padding makes rows of zeros or of the mode's copies)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, h, 30, 3))
    w = rng.standard_normal((1, k, 3, 5))
    padding = ((1, 1), (k // 2, k - 1 - k // 2))
    try:
        g = conv_geometry((h, 30), (1, k), stride=(sh, sw), padding=padding)
        check_padding_fits(g.in_shape, g.pads, mode)
    except ValueError:
        assume(False)
    kw = dict(stride=(sh, sw), padding=padding, padding_mode=mode)
    with _native.using(isa):
        y = cl.conv2d(x, w, algorithm="winograd_1d", **kw)
    want = reference.conv2d(x, w, **kw)
    assert rel_err(y, want, reference.conv2d(np.abs(x), np.abs(w), **kw)) < 1e-12


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("o", [1, 7, 16, 33, 64, 100])
def test_every_register_tile_runs_at_the_entry_point(isa, o):
    """Each register tile width (one or two vectors of output channels), on output channels
    that fill its vectors, fall short and spill into another block of them; the blocks in
    three calls, as three tasks, the middle one a single block (a register tile mostly past
    its end)."""
    rng = np.random.default_rng(o)
    x = rng.standard_normal((3, 1, 135, 2))  # 66 outputs a row: its last block sticks out
    w = rng.standard_normal((1, 11, 2, o))
    b = rng.standard_normal(o)
    kw = dict(stride=(1, 2), padding=((0, 0), (3, 4)))
    want = reference.conv2d(x, w, b, **kw)
    with _native.using(isa):
        p = problem_of(x, w, **kw)
        lanes = _native.core.lanes(8)
        rows, cols = native.maps(p)
        blocks = winograd_1d.blocks(p)
        for nv in (1, 2):
            u, pb = winograd_1d.pack(w, b, p, nv * lanes)
            y = np.full(p.y_shape, np.nan)
            for q0, q1 in ((0, 5), (5, 6), (6, blocks)):
                assert _native.core.winograd_1d(x, u, pb, y, rows, cols, native.geometry(p),
                                                nv, q0, q1)
            assert rel_err(y, want, reference.conv2d(np.abs(x), np.abs(w), np.abs(b), **kw)
                           ) < 1e-12


@pytest.mark.parametrize(("workers", "chunk"), [(1, 0), (2, 7), (3, 7)])
def test_long_signals_cut_into_passes_and_tasks_equal_direct(workers, chunk):
    """Signals long enough for several passes a row (the transformed stretch a pass holds is
    bounded: 40 of a row's 80 blocks, in float64 on AVX-512), in one task or in tasks of 7
    blocks that end mid-row and mid-register-tile, on 1-3 threads of the native pool: every
    output written once, against direct's float64 result (direct is proven against reference
    in test_native.py; reference's loops over 10^7 products take minutes)."""
    rng = np.random.default_rng(workers)
    x = rng.standard_normal((3, 9000, 1))
    w = rng.standard_normal((80, 1, 32))
    b = rng.standard_normal(32)
    p = problem_of(x[:, None], w[None], stride=(1, 4))
    nv = winograd_1d.vectors(p)
    u, pb = winograd_1d.pack(w[None], b, p, nv * _native.core.lanes(8))
    rows, cols = native.maps(p)
    y = np.full(p.y_shape, np.nan)
    blocks = winograd_1d.blocks(p)
    assert _native.core.winograd_1d(x[:, None], u, pb, y, rows, cols, native.geometry(p), nv, 0,
                                    blocks, None, chunk or blocks, workers)
    want = cl.conv1d(x, w, b, stride=4, algorithm="direct")
    scale = cl.conv1d(np.abs(x), np.abs(w), np.abs(b), stride=4, algorithm="direct")
    assert rel_err(y[:, 0], want, scale) < 1e-12


def test_float32_error_on_the_m5_layer_stays_within_the_bound():
    """The M5 network's first layer (80 taps, stride 4, one channel in, 32 out): 21 taps a
    phase in 7 groups, 28 channels a product. Against direct's float32 error, a small
    factor."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 4000, 1), dtype=np.float32)
    w = (rng.standard_normal((80, 1, 32)) * 0.1).astype(np.float32)
    exact = cl.conv1d(x.astype(np.float64), w.astype(np.float64), stride=4, algorithm="direct")
    scale = cl.conv1d(np.abs(x).astype(np.float64), np.abs(w).astype(np.float64), stride=4,
                      algorithm="direct")
    err = rel_err(cl.conv1d(x, w, stride=4, algorithm="winograd_1d"), exact, scale)
    err_direct = rel_err(cl.conv1d(x, w, stride=4, algorithm="direct"), exact, scale)
    assert err < winograd_1d.ERROR_BOUND_F32
    assert err < 8 * err_direct + 1e-7


@pytest.mark.parametrize("isa", ISAS)
@settings(max_examples=examples(20), deadline=None)
@given(seed=st.integers(0, 2**31 - 1), mode=st.sampled_from(["zeros", "reflect"]),
       spots=st.lists(st.tuples(st.integers(0, 1), st.integers(0, 60),
                                st.sampled_from([np.inf, -np.inf, np.nan])),
                      min_size=1, max_size=3))
def test_inf_and_nan_give_the_definitions_result(isa, seed, mode, spots):
    """The transforms would spread an Inf or NaN over a tile's outputs (and its row's
    transformed copies): the kernel sees a non-finite output and the call is computed the
    direct way, so the pattern of NaN and +-Inf is the definition's."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 61, 3))
    for n, i, v in spots:
        x[n, i, rng.integers(3)] = v
    w = rng.standard_normal((9, 3, 4))
    kw = dict(stride=2, padding="same", padding_mode=mode)
    with np.errstate(invalid="ignore", over="ignore"), _native.using(isa):
        got = cl.conv1d(x, w, algorithm="winograd_1d", **kw)
        want = reference.conv(x, w, **kw)
    for test in (np.isnan, np.isposinf, np.isneginf):
        np.testing.assert_array_equal(test(got), test(want))
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-12, atol=1e-12)


def test_an_output_that_overflows_in_the_transform_is_computed_directly():
    """Finite float32 inputs near the largest float: the transforms (coefficients up to 8)
    overflow where the direct sums do not, so the kernel reports it and direct runs."""
    x = np.full((1, 40, 2), 3e37, np.float32)
    x[0, ::2, 0] *= -1
    w = np.full((6, 2, 3), 0.25, np.float32)
    p = problem_of(x[:, None], w[None])
    nv = winograd_1d.vectors(p)
    u, _ = winograd_1d.pack(w[None], None, p, nv * _native.core.lanes(4))
    rows, cols = native.maps(p)
    y = np.empty(p.y_shape, np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        assert not _native.core.winograd_1d(x[:, None], u, None, y, rows, cols,
                                            native.geometry(p), nv, 0, winograd_1d.blocks(p))
        got = cl.conv1d(x, w, algorithm="winograd_1d")
    want = reference.conv(x.astype(np.float64), w.astype(np.float64))
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize(("stride", "padding", "dtype"), [
    (4, 0, np.float32), (1, 1, np.float32), (3, 5, np.float64), (2, 0, np.float64)])
def test_conv1d_matches_pytorch(stride, padding, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(stride)
    x = rng.standard_normal((2, 300, 3)).astype(dtype)
    w = rng.standard_normal((17, 3, 20)).astype(dtype)
    b = rng.standard_normal(20).astype(dtype)
    want = torch.nn.functional.conv1d(torch.from_numpy(x.transpose(0, 2, 1).copy()),
                                      torch.from_numpy(w.transpose(2, 1, 0).copy()),
                                      torch.from_numpy(b), stride=stride, padding=padding)
    y = cl.conv1d(x, w, b, stride=stride, padding=padding, algorithm="winograd_1d")
    scale = magnitudes(x, w, b, stride=stride, padding=padding)
    assert rel_err(y, want.numpy().transpose(0, 2, 1), scale) < (
        1e-12 if dtype == np.float64 else 1e-5)


def test_auto_runs_the_m5_layer_on_it():
    """The M5 layer has about half the direct method's multiply-adds this way: "auto" picks it
    where the instruction set has the wide tiles."""
    x, w = np.zeros((16, 16000, 1), np.float32), np.zeros((80, 1, 32), np.float32)
    if _native.isa() == "avx512":
        assert cl.plan(x, w, stride=4).algorithm == "winograd_1d"


def _call(**change):
    """The arguments of a valid winograd_1d call (a 30-sample signal, 9 taps at stride 2),
    with ``change`` applied."""
    x = np.ones((1, 1, 30, 2), np.float32)
    w = np.ones((1, 9, 2, 3), np.float32)
    p = problem_of(x, w, stride=(1, 2))
    nv = winograd_1d.vectors(p)
    u, _ = winograd_1d.pack(w, None, p, nv * _native.core.lanes(4))
    rows, cols = native.maps(p)
    args = dict(x=x, u=u, bias=None, y=np.empty(p.y_shape, np.float32), rows=rows, cols=cols,
                geometry=native.geometry(p), nv=nv, q0=0, q1=winograd_1d.blocks(p))
    args.update(change)
    return list(args.values())


def test_the_entry_point_runs_a_valid_call():
    assert _native.core.winograd_1d(*_call())


@pytest.mark.parametrize(("change", "message"), [
    (dict(geometry=(1, 1, 30, 2, 1, 11, 3, 3, 9, 1, 2, 1, 1, 1),
          rows=np.zeros(3, np.int64)), "one row"),
    (dict(geometry=(1, 1, 30, 2, 1, 11, 3, 1, 9, 1, 2, 1, 2, 1),
          cols=np.zeros(37, np.int64)), "no dilation"),
    (dict(nv=3), "nv = 3"),
    (dict(nv=4), "nv = 4"),
    (dict(u=np.ones(10, np.float32)), "u"),
    (dict(bias=np.ones(2, np.float32)), "bias"),
    (dict(q1=10**6), "outside"),
])
def test_the_entry_point_refuses_what_it_cannot_run(change, message):
    with pytest.raises(ValueError, match=message):
        _native.core.winograd_1d(*_call(**change))


def test_the_entry_point_refuses_a_plane_map():
    """It reads image n of x as plane n: a volume's plane map (a 16-size geometry with fewer
    planes than images) would read past x."""
    args = _call()
    geometry = (*args[6][:14], 1, 1)  # np = 1 plane, kd = 1, for the geometry's n images
    args[6] = geometry
    with pytest.raises(ValueError, match="plane_map"):
        _native.core.winograd_1d(*args, np.zeros(1, np.int64))


def test_the_entry_point_refuses_channels_first_input():
    args = _call(q1=1)  # planar items are images
    with pytest.raises(ValueError, match="channels-last"):
        _native.core.winograd_1d(*args, None, 0, 1, 1)


def test_the_kernel_transform_checks_its_arguments():
    w = np.ones((9, 2, 3), np.float32)
    with pytest.raises(ValueError, match="one-row kernel"):
        _native.core.winograd_1d_pack(w[None], np.zeros(10, np.float32), 2, 16, 0, 3)
    with pytest.raises(ValueError, match="sw = 0"):
        _native.core.winograd_1d_pack(w, np.zeros(10, np.float32), 0, 16, 0, 3)
    with pytest.raises(ValueError, match="u"):
        _native.core.winograd_1d_pack(w, np.zeros(10, np.float32), 2, 16, 0, 3)
    with pytest.raises(TypeError, match="u"):
        _native.core.winograd_1d_pack(w, np.zeros(6 * 2 * 2 * 2 * 16), 2, 16, 0, 3)
