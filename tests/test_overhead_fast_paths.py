"""The per-call fast paths give what the general forms they shortcut give.

ConvGeometry's sizes are computed once at construction, ``normalize_pair`` and ``index_map``
have shortcuts for their common inputs, and ``prepare`` skips copies of arrays that are already
right: each is checked here against the formula or the general code it stands in for.
"""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convolab.algorithms import bias, direct
from convolab.ops.arguments import prepare, result_dtype
from convolab.padding import _is_run, gather, index_map
from convolab.shapes import ConvGeometry, normalize_pair

MODES = ("zeros", "reflect", "replicate", "circular", "symmetric")
pairs = st.tuples(st.integers(1, 9), st.integers(1, 9))
pads = st.tuples(st.tuples(st.integers(0, 9), st.integers(0, 9)),
                 st.tuples(st.integers(0, 9), st.integers(0, 9)))


@given(in_hw=st.tuples(st.integers(0, 40), st.integers(0, 40)), kernel_hw=pairs,
       stride=pairs, dilation=pairs, pads=pads)
def test_geometry_sizes_agree_with_the_output_size_formula(in_hw, kernel_hw, stride, dilation,
                                                            pads):
    g = ConvGeometry(in_hw, kernel_hw, stride, dilation, pads)
    padded = tuple(n + before + after for n, (before, after) in zip(in_hw, pads))
    span = tuple(d * (k - 1) + 1 for d, k in zip(dilation, kernel_hw))
    out = tuple((p - sp) // s + 1 for p, sp, s in zip(padded, span, stride))
    assert (g.padded_shape, g.span_shape, g.out_shape) == (padded, span, out)


def test_geometry_equality_hash_repr_and_replace_see_only_its_fields():
    g = ConvGeometry((8, 8), (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)))
    same = ConvGeometry((8, 8), (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)))
    assert g == same and hash(g) == hash(same)
    assert repr(g) == ("ConvGeometry(in_shape=(8, 8), kernel_shape=(3, 3), stride=(1, 1), "
                       "dilation=(1, 1), pads=((1, 1), (1, 1)))")
    assert [f.name for f in dataclasses.fields(g)] == [
        "in_shape", "kernel_shape", "stride", "dilation", "pads"]
    assert dataclasses.replace(g, stride=(2, 2)).out_shape == (4, 4)
    assert pickle.loads(pickle.dumps(g)).out_shape == (8, 8)
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.in_shape = (1, 1)  # type: ignore[misc]


@given(value=st.one_of(
    st.integers(-3, 5), st.booleans(), st.tuples(st.integers(-3, 5), st.integers(-3, 5)),
    st.lists(st.integers(-3, 5), min_size=1, max_size=3), st.tuples(st.integers(0, 5)),
    st.tuples(st.booleans(), st.integers(0, 5)), st.just("22"), st.just(2.0),
    st.builds(np.int64, st.integers(-3, 5)),
), minimum=st.integers(0, 1))
def test_normalize_pair_fast_paths_match_the_general_rule(value, minimum):
    def general(v: object) -> object:
        ok_int = lambda q: isinstance(q, (int, np.integer)) and not isinstance(q, bool)  # noqa: E731
        if ok_int(v):
            pair = (int(v), int(v))
        elif isinstance(v, (list, tuple)) and len(v) == 2 and all(ok_int(q) for q in v):
            pair = (int(v[0]), int(v[1]))
        else:
            return TypeError
        return ValueError if min(pair) < minimum else pair

    try:
        got: object = normalize_pair(value, "stride", minimum=minimum)
    except (TypeError, ValueError) as exc:
        assert f"received stride={value!r}" in str(exc)
        got = type(exc)
    assert got == general(value)


@given(n=st.integers(1, 12), before=st.integers(0, 12), after=st.integers(0, 12),
       mode=st.sampled_from(MODES))
def test_index_map_matches_the_mode_formulas(n, before, after, mode):
    pos = np.arange(-before, n + after)
    expected = {
        "zeros": np.where((pos >= 0) & (pos < n), pos, -1),
        "replicate": np.clip(pos, 0, n - 1),
        "circular": pos % n,
        "reflect": (np.zeros_like(pos) if n == 1 else
                    np.where(pos % (2 * n - 2) < n, pos % (2 * n - 2),
                             2 * n - 2 - pos % (2 * n - 2))),
        "symmetric": np.where(pos % (2 * n) < n, pos % (2 * n), 2 * n - 1 - pos % (2 * n)),
    }[mode]
    got = index_map(n, before, after, mode)
    assert got.dtype == expected.dtype and got.tolist() == expected.tolist()


def test_index_map_still_refuses_an_unknown_mode_without_padding():
    with pytest.raises(ValueError, match="padding_mode"):
        index_map(4, 0, 0, "bogus")


@given(idx=st.lists(st.integers(-2, 80), max_size=90))
def test_is_run_means_a_slice_of_consecutive_indices(idx):
    a = np.array(idx, dtype=np.int64)
    expected = bool(len(a)) and a[0] >= 0 and a.tolist() == list(range(a[0], a[0] + len(a)))
    assert _is_run(a) == expected
    if len(a) and a.min() >= 0:
        x = np.arange(1.0, 82.0)[None, :, None, None] * np.ones((1, 1, 3, 1))
        np.testing.assert_array_equal(gather(x, (a, np.arange(3)), (1, 2))[0, :, 0, 0], a + 1)


def test_prepare_copies_only_what_is_not_ready():
    x = np.ones((1, 5, 5, 2), np.float32)
    w = np.ones((3, 3, 2, 4), np.float32)
    b = np.ones(4, np.float32)
    ready = prepare(x, w, b)
    assert ready.x is x and ready.w is w and ready.bias is b
    mixed = prepare(x, w.astype(np.float64), b.astype(np.float16))
    assert mixed.x.dtype == mixed.w.dtype == mixed.bias.dtype == np.float64
    assert mixed.out_dtype == np.float64
    nchw = prepare(np.ones((1, 2, 5, 5), np.float32), w, data_format="NCHW",
                   kernel_format="HWIO")
    assert nchw.x.flags.c_contiguous and nchw.x.shape == (1, 5, 5, 2)


@pytest.mark.parametrize("dtypes", [
    ("f4", "f4", None), ("f4", "f8", "f2"), (">f4", ">f4", None), ("f2", "f2", "f2"),
    ("i4", "f4", None), ("?", "u1", None), ("f4", "f4", "i8"),
])
def test_result_dtype_fast_path_matches_numpy_promotion(dtypes):
    arrays = [None if d is None else np.zeros(1, d) for d in dtypes]
    floats = [a.dtype if a.dtype.kind == "f" else np.dtype("f8") for a in arrays if a is not None]
    assert result_dtype(*arrays) == np.result_type(*floats)


@pytest.mark.parametrize("shape", [(1, 2, 2, 1), (1, 8, 8, 6), (2, 24, 24, 6), (2, 4, 3, 64)])
def test_bias_add_is_the_same_below_and_above_the_tiling_size(monkeypatch, shape):
    rng = np.random.default_rng(1)
    y = rng.standard_normal(shape).astype(np.float32)
    b = rng.standard_normal(shape[3]).astype(np.float32)
    results = []
    for tile_from in (0, 1 << 30):  # always tiled, never tiled
        monkeypatch.setattr(bias, "TILE_FROM", tile_from)
        out = y.copy()
        bias.add_bias(out, b)
        results.append(out)
        strided = np.zeros(shape[::-1], np.float32).T  # not C-contiguous: the broadcast add
        bias.add_bias(strided, b)
        np.testing.assert_array_equal(strided, np.broadcast_to(b, shape))
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], y + b)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 3), rank=st.sampled_from([1, 2, 3]),
       sizes=st.tuples(*[st.integers(0, 9)] * 3), c=st.integers(1, 9), o=st.integers(1, 20),
       k=st.tuples(*[st.integers(1, 3)] * 3), padding=st.sampled_from(["valid", "same", "full"]),
       stride=st.integers(1, 2), f64=st.booleans())
def test_a_repeated_call_runs_what_it_resolved_on_new_values(seed, n, rank, sizes, c, o, k,
                                                              padding, stride, f64):
    """The repeat-call path (``ops/small_call.py``): a second call with the same shapes and
    options, on new values, skips resolving and gives the definition's result, at every rank
    (a signal runs as its one-row image, a volume as the full path lowers it)."""
    from convolab import reference
    from convolab.ops import conv, small_call

    rng = np.random.default_rng(seed)
    dt = np.float64 if f64 else np.float32
    k = k[:rank]
    spatial = tuple(s + kk for s, kk in zip(sizes, k))
    x1, x2 = (rng.standard_normal((n, *spatial, c)).astype(dt) for _ in range(2))
    w1, w2 = (rng.standard_normal((*k, c, o)).astype(dt) for _ in range(2))
    b = rng.standard_normal(o).astype(dt)
    small_call._remembered.clear()
    conv(x1, w1, b, padding=padding, stride=stride)
    assert len(small_call._remembered) == 1
    (call,) = small_call._remembered.values()
    assert call.signal == (rank == 1)
    y = conv(x2, w2, b, padding=padding, stride=stride)
    assert len(small_call._remembered) == 1 and y.dtype == dt
    want = reference.conv(x2, w2, b, padding=padding, stride=stride)
    np.testing.assert_allclose(y, want, rtol=1e-9 if f64 else 2e-4, atol=1e-9 if f64 else 2e-4)
    assert y.shape == want.shape


def test_a_tiny_signal_is_remembered_on_the_small_kernel():
    """A tiny rank-1 call replays the ``small`` kernel on its one-row image, as a tiny image
    call does, and gives the definition's result on new values."""
    from convolab import _native, reference
    from convolab.ops import conv1d, small_call

    if _native.core is None:
        pytest.skip("the small kernel is compiled")
    rng = np.random.default_rng(5)
    xs = [rng.standard_normal((4, 6, 1)).astype(np.float32) for _ in range(2)]
    w = rng.standard_normal((3, 1, 2)).astype(np.float32)
    small_call._remembered.clear()
    conv1d(xs[0], w, padding="same")
    (call,) = small_call._remembered.values()
    assert call.signal and call.small is not None
    np.testing.assert_allclose(conv1d(xs[1], w, padding="same"),
                               reference.conv(xs[1], w, padding="same"), rtol=1e-5, atol=1e-6)


def test_a_change_of_threads_makes_the_call_choose_again(monkeypatch):
    """What the choice of algorithm depended on is checked on the way: under another thread
    count the remembered call is resolved and chosen anew."""
    import importlib

    from convolab.algorithms import scheduler
    from convolab.ops import conv2d, small_call

    conv_module = importlib.import_module("convolab.ops.conv")
    # not a tiny call: the small kernel's choice depends on nothing else, and is not checked
    x, w = np.ones((4, 32, 32, 16), np.float32), np.ones((3, 3, 16, 16), np.float32)
    small_call._remembered.clear()
    conv2d(x, w)
    chosen = []
    real = conv_module.choose
    monkeypatch.setattr(conv_module, "choose", lambda *a: chosen.append(1) or real(*a))
    conv2d(x, w)
    assert not chosen  # the same threads: straight to the algorithm
    monkeypatch.setattr(scheduler, "workers", lambda: 7)
    conv2d(x, w)
    assert chosen == [1]
    (call,) = small_call._remembered.values()
    assert call.context[0] == 7


def test_a_remembered_tiny_call_takes_the_full_path_once_the_core_is_off(monkeypatch):
    """A call remembered on the ``small`` kernel is not replayed without the compiled core
    (a test's numpy engine): the full path chooses a NumPy algorithm."""
    from convolab import _native, reference
    from convolab.ops import conv2d, small_call

    x = np.arange(16.0, dtype=np.float32).reshape(1, 4, 4, 1)
    w = np.ones((3, 3, 1, 1), np.float32)
    small_call._remembered.clear()
    conv2d(x, w, padding="same")
    monkeypatch.setattr(_native, "core", None)
    np.testing.assert_allclose(conv2d(x, w, padding="same"),
                               reference.conv2d(x, w, padding="same"), rtol=1e-6)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 4), rank=st.sampled_from([1, 2]),
       size=st.integers(0, 9), c=st.integers(1, 6), o=st.integers(1, 12), k=st.integers(1, 3),
       depthwise=st.booleans(), kernel_first=st.booleans(), with_bias=st.booleans(),
       padding=st.sampled_from(["valid", "same"]), f64=st.booleans())
def test_a_repeated_channels_first_call_runs_its_route_on_new_values(
        seed, n, rank, size, c, o, k, depthwise, kernel_first, with_bias, padding, f64):
    """A channels-first call that read the caller's array as it lies (``PLANES``, ``FUSED``)
    is remembered with its route; a second call on new values runs that route and gives the
    definition's result, in either kernel layout."""
    from convolab import reference
    from convolab.ops import conv, small_call
    from convolab.ops.layout_routes import NATIVE

    rng = np.random.default_rng(seed)
    dt = np.float64 if f64 else np.float32
    groups, o = (c, c) if depthwise else (1, o)
    spatial = (size + k,) * rank
    xs = [rng.standard_normal((n, c, *spatial)).astype(dt) for _ in range(2)]
    ws = [rng.standard_normal((*(k,) * rank, c // groups, o)).astype(dt) for _ in range(2)]
    b = rng.standard_normal(o).astype(dt) if with_bias else None
    kfmt = "channels_first" if kernel_first else "channels_last"
    given_w = [np.ascontiguousarray(np.moveaxis(w, (-1, -2), (0, 1))) if kernel_first else w
               for w in ws]
    options = dict(padding=padding, groups=groups, data_format="channels_first",
                   kernel_format=kfmt)
    small_call._remembered.clear()
    conv(xs[0], given_w[0], b, **options)
    routes = [call.route for call in small_call._remembered.values()]
    assert all(route != NATIVE for route in routes)  # remembered only on its own route
    y = conv(xs[1], given_w[1], b, **options)
    assert [call.route for call in small_call._remembered.values()] == routes
    want = reference.conv(np.moveaxis(xs[1], 1, -1), ws[1], b, padding=padding, groups=groups)
    assert y.dtype == dt
    np.testing.assert_allclose(y, np.moveaxis(want, -1, 1), rtol=1e-9 if f64 else 2e-4,
                               atol=1e-9 if f64 else 2e-4)


def test_channels_first_calls_that_read_the_input_as_it_lies_are_remembered():
    """The routes this path serves are taken at all: an NCHW layer on the fused transposes,
    an NCHW filter of one channel read as planes."""
    from convolab import _native
    from convolab.ops import conv2d, small_call
    from convolab.ops.layout_routes import FUSED, PLANES

    if _native.core is None:
        pytest.skip("the channels-first routes run the compiled kernels")
    x = np.ones((4, 8, 16, 16), np.float32)
    small_call._remembered.clear()
    conv2d(x, np.ones((16, 8, 3, 3), np.float32), data_format="NCHW", kernel_format="OIHW")
    conv2d(np.ones((4, 1, 16, 16), np.float32), np.ones((3, 1, 3, 3), np.float32),
           padding="same", data_format="NCHW", kernel_format="OIHW")
    assert sorted(c.route for c in small_call._remembered.values()) == sorted([FUSED, PLANES])


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 3), rank=st.sampled_from([1, 2]),
       size=st.integers(1, 30), c=st.integers(1, 5), o=st.integers(1, 40),
       k=st.integers(1, 5), stride=st.integers(1, 3), with_bias=st.booleans(),
       padding=st.sampled_from(["valid", "same", "full"]), f64=st.booleans())
def test_a_remembered_direct_call_replays_its_prepared_kernel_on_new_values(
        seed, n, rank, size, c, o, k, stride, with_bias, padding, f64):
    """A call remembered on ``direct`` keeps what depends on its problem alone (``prepared``:
    the maps, the geometry, the tasks); a second call on new weights, bias and input runs
    that kernel and gives the definition's result. Without the compiled core it is not
    replayed: the full path takes the call (and refuses ``direct``)."""
    from convolab import _native, reference
    from convolab.ops import conv, small_call

    if _native.core is None:
        pytest.skip("direct's kernel is compiled")
    rng = np.random.default_rng(seed)
    dt = np.float64 if f64 else np.float32
    spatial = (size + k,) * rank
    x1, x2 = (rng.standard_normal((n, *spatial, c)).astype(dt) for _ in range(2))
    w1, w2 = (rng.standard_normal((*(k,) * rank, c, o)).astype(dt) for _ in range(2))
    b1, b2 = (rng.standard_normal(o).astype(dt) if with_bias else None for _ in range(2))
    kw = dict(padding=padding, stride=stride, algorithm="direct")
    small_call._remembered.clear()
    conv(x1, w1, b1, **kw)
    (call,) = small_call._remembered.values()
    assert (call.run is not None) == bool(direct.tile(call.problem)[0])
    tol = dict(rtol=1e-9, atol=1e-9) if f64 else dict(rtol=2e-4, atol=2e-4)
    y = conv(x2, w2, b2, **kw)
    np.testing.assert_allclose(y, reference.conv(x2, w2, b2, padding=padding, stride=stride),
                               **tol)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_native, "core", None)
        with pytest.raises(ValueError, match="compiled core"):
            conv(x1, w1, b1, **kw)
