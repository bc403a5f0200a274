"""A channels-first 1x1 layer read as it lies (``MATRIX``: algorithms/channels_first_pointwise.py,
``_native/pointwise_kernel.h``): per image ``y[n] = w @ x[n]``, no transpose.

At every instruction set this CPU has, every rank, both dtypes, against ``reference``:
channel counts across the tile's rows and past them, pixel counts that fill the kernel's
blocks, fall to single vectors and leave a few pixels over, tasks that split images at
vectors or only between images. A spy proves the route ran.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import examples

import convolab as cl
from convolab import _native, reference
from convolab.algorithms import channels_first_pointwise, native, scheduler
from convolab.ops.layout_routes import MATRIX

pytestmark = pytest.mark.skipif(not _native.available(),
                                reason=f"the compiled core is not available: {_native.reason}")
ISAS = _native.supported_isas()
FORMATS = {1: ("NCW", "OIW"), 2: ("NCHW", "OIHW"), 3: ("NCDHW", "OIDHW")}


def spy(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, ...]]:
    """Record each call's input shape; two workers and no serial cut-off, so that even small
    work splits into tasks."""
    calls: list[tuple[int, ...]] = []
    real = channels_first_pointwise.forward

    def recording(x, w, p, bias=None):
        calls.append(x.shape)
        return real(x, w, p, bias)

    monkeypatch.setattr(channels_first_pointwise, "forward", recording)
    monkeypatch.setattr(native, "SERIAL_MACS", 0)
    monkeypatch.setattr(scheduler, "workers", lambda: 2)
    return calls


@pytest.mark.parametrize("isa", ISAS)
@settings(max_examples=examples(40), deadline=None)
@given(rank=st.integers(1, 3), n=st.integers(1, 4), c=st.integers(1, 70), o=st.integers(1, 70),
       data=st.data(), seed=st.integers(0, 2**31 - 1), f64=st.booleans(), with_bias=st.booleans(),
       padding=st.sampled_from(["valid", "same", 0]))
def test_a_1x1_layer_read_as_it_lies_matches_reference(isa, rank, n, c, o, data, seed, f64,
                                                       with_bias, padding):
    spatial = tuple(data.draw(st.integers(1, 70 if rank == 1 else 12)) for _ in range(rank))
    rng = np.random.default_rng(seed)
    dt = np.float64 if f64 else np.float32
    x = rng.standard_normal((n, *spatial, c)).astype(dt)
    w = rng.standard_normal((*(1,) * rank, c, o)).astype(dt)
    b = rng.standard_normal(o).astype(dt) if with_bias else None
    want = np.moveaxis(reference.conv(x, w, b, padding=padding), -1, 1)
    data_format, kernel_format = FORMATS[rank]
    x_first = np.ascontiguousarray(np.moveaxis(x, -1, 1))
    w_first = np.ascontiguousarray(np.moveaxis(w, (-1, -2), (0, 1)))
    with pytest.MonkeyPatch.context() as mp, _native.using(isa):
        calls = spy(mp)
        # direct: the route of the planner's compiled choices (a tiny call runs `small`)
        got = cl.conv(x_first, w_first, b, padding=padding, data_format=data_format,
                      kernel_format=kernel_format, algorithm="direct")
        # the same call again: remembered (ops/small_call.py), it runs the route directly
        again = cl.conv(x_first, w_first, b, padding=padding, data_format=data_format,
                        kernel_format=kernel_format, algorithm="direct")
    assert calls == [x_first.shape] * 2
    np.testing.assert_array_equal(again, got)
    assert got.shape == want.shape and got.dtype == dt and got.flags.c_contiguous
    scale = max(np.abs(want).max(initial=0), 1e-30)
    assert np.abs(got - want).max(initial=0) / scale < (1e-12 if f64 else 1e-5)


@pytest.mark.parametrize("isa", ISAS)
@settings(max_examples=examples(30), deadline=None)
@given(rank=st.integers(1, 3), n=st.integers(1, 3), c=st.integers(1, 40), o=st.integers(1, 40),
       data=st.data(), seed=st.integers(0, 2**31 - 1), f64=st.booleans(), bias=st.booleans(),
       input_gradient=st.booleans(), unbatched=st.booleans(), kernel_last=st.booleans())
def test_the_gradients_of_a_1x1_layer_read_as_it_lies_match_reference(
        isa, rank, n, c, o, data, seed, f64, bias, input_gradient, unbatched, kernel_last):
    """conv_backward of a channels-first 1x1 layer: grad_x by the same kernel (w transposed),
    grad_w and grad_b on the channels-first arrays, none of them transposed; every rank, a
    kernel in either layout, one unbatched example."""
    spatial = tuple(data.draw(st.integers(1, 50 if rank == 1 else 9)) for _ in range(rank))
    rng = np.random.default_rng(seed)
    dt = np.float64 if f64 else np.float32
    n = 1 if unbatched else n
    x = rng.standard_normal((n, *spatial, c)).astype(dt)
    w = rng.standard_normal((*(1,) * rank, c, o)).astype(dt)
    gy = rng.standard_normal((n, *spatial, o)).astype(dt)
    want = reference.conv_backward(gy, x, w)
    data_format, kernel_format = FORMATS[rank]
    first = (lambda a: np.ascontiguousarray(np.moveaxis(a, -1, 1))[0]) if unbatched else \
        (lambda a: np.ascontiguousarray(np.moveaxis(a, -1, 1)))
    w_caller = w if kernel_last else np.ascontiguousarray(np.moveaxis(w, (-1, -2), (0, 1)))
    calls = []
    real = channels_first_pointwise.backward
    with pytest.MonkeyPatch.context() as mp, _native.using(isa):
        mp.setattr(channels_first_pointwise, "backward",
                   lambda *a, **k: calls.append(1) or real(*a, **k))
        mp.setattr(native, "SERIAL_MACS", 0)
        mp.setattr(scheduler, "workers", lambda: 2)
        gx, gw, gb = cl.conv_backward(
            first(gy), first(x), w_caller, data_format=data_format,
            kernel_format="channels_last" if kernel_last else kernel_format, bias=bias,
            input_gradient=input_gradient)
    assert calls == [1]
    tol = 1e-12 if f64 else 1e-5
    if input_gradient:
        assert gx.dtype == dt and gx.shape == first(want[0]).shape
        assert rel_err(gx, first(want[0])) < tol
    else:
        assert gx is None
    want_w = want[1] if kernel_last else np.moveaxis(want[1], (-1, -2), (0, 1))
    assert gw.dtype == dt and gw.shape == want_w.shape and rel_err(gw, want_w) < tol
    assert (gb is None) if not bias else (gb.dtype == dt and rel_err(gb, want[2]) < tol)


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b), initial=0) / max(np.max(np.abs(b), initial=0), 1e-30))


def test_plan_names_the_route_and_a_padded_or_strided_1x1_layer_does_not_take_it():
    x, w = np.ones((2, 8, 5, 5), np.float32), np.ones((4, 8, 1, 1), np.float32)
    plan = cl.plan(x, w, data_format="NCHW", kernel_format="OIHW", algorithm="direct")
    assert plan.layout == MATRIX and "y[n] = w @ x[n]" in str(plan)
    for options in (dict(padding=1), dict(stride=2), dict(padding="same", padding_mode="reflect",
                                                          stride=2)):
        plan = cl.plan(x, w, data_format="NCHW", kernel_format="OIHW", algorithm="direct",
                       **options)
        assert plan.layout != MATRIX


@pytest.mark.parametrize("isa", ISAS)
def test_inf_and_nan_land_where_the_definition_puts_them(isa):
    """Every product is multiplied: inf times a zero weight is NaN, as in the definition."""
    x = np.ones((1, 3, 40), np.float32)
    x[0, 0, 5], x[0, 1, 33] = np.inf, np.nan
    w = np.array([[1, 0, 1], [0, 1, 1], [2, 2, 2]], np.float32)  # (O, C)
    want = np.einsum("oc,ncs->nos", w.astype(float), x.astype(float))
    with _native.using(isa):
        got = cl.conv1d(x, w[:, :, None], data_format="NCW", kernel_format="OIW",
                        algorithm="direct")
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(got[~np.isnan(got)], want[~np.isnan(want)])


def _call(**change):
    """The entry point's arguments for x (2, 3, 20), w (4, 3), with ``change`` applied."""
    args = dict(x=np.ones((2, 3, 20)), w=np.ones((4, 3)), bias=None, y=np.empty((2, 4, 20)),
                rows=np.zeros(1, np.int64), cols=np.arange(20, dtype=np.int64),
                geometry=(2, 1, 20, 3, 1, 20, 4, 1, 1, 1, 1, 1, 1, 1), q0=0, q1=40)
    args.update(change)
    return (args["x"], args["w"], args["bias"], args["y"], args["rows"], args["cols"],
            args["geometry"], 0, args["q0"], args["q1"])


def test_the_entry_point_runs_a_valid_call():
    args = _call()
    _native.core.pointwise_cf(*args)
    np.testing.assert_array_equal(args[3], np.full((2, 4, 20), 3.0))


@pytest.mark.parametrize(("change", "match"), [
    (dict(geometry=(2, 1, 20, 3, 1, 18, 4, 1, 3, 1, 1, 1, 1, 1), y=np.empty((2, 4, 18)),
          q1=36), "1x1 kernel"),
    (dict(geometry=(2, 1, 10, 3, 1, 5, 4, 1, 1, 1, 2, 1, 1, 1), x=np.ones((2, 3, 10)),
          y=np.empty((2, 4, 5)), cols=np.arange(10, dtype=np.int64), q1=10), "stride 1"),
    (dict(cols=np.array([1, 0, *range(2, 20)], np.int64)), "identity"),
    (dict(w=np.ones((3, 3))), "w: expected 12"),
    (dict(bias=np.ones(3)), "bias: expected 4"),
    (dict(q1=41), "outside"),
])
def test_the_entry_point_refuses_what_would_leave_the_arrays(change, match):
    with pytest.raises(ValueError, match=match):
        _native.core.pointwise_cf(*_call(**change))
