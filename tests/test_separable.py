"""Separable kernels as two 1-D passes, and one kernel over interleaved channels
(``algorithms/separable.py``): every path against the definition's loops (``reference``)."""

import dataclasses
import tracemalloc

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from strategies import configs

import convolab as cl
from convolab import _native, reference
from convolab.algorithms import scheduler, separable
from convolab.apps.kernels import get_kernel
from convolab.padding import check_padding_fits
from convolab.plan import plan, problem_of

compiled = pytest.mark.skipif(not _native.available(), reason="needs the compiled core")
PATHS = ["one_pass", "two_passes", "numpy"]


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def take(monkeypatch, path: str) -> list[str]:
    """Send a shared kernel down ``path`` (as long as it factors: else one pass, or NumPy's
    fallback); the names of the paths that ran are appended to the list returned."""
    ran: list[str] = []
    for name in ("_one_pass", "_two_passes", "_numpy_passes"):
        def spy(*args, _f=separable.__dict__[name], _n=name):
            ran.append(_n.strip("_"))
            return _f(*args)
        monkeypatch.setattr(separable, name, spy)
    if path == "numpy":
        monkeypatch.setattr(separable, "_compiled", lambda p: False)
    elif path in ("one_pass", "two_passes"):  # else: as shipped
        monkeypatch.setattr(separable, "TWO_PASS_SAVES", -(10**9) if path == "two_passes"
                            else 10**9)
    return ran


@st.composite
def filters(draw):
    """A depthwise conv (C = 1..3) with a rank-1 kernel up to 5x5, zeros in its factors now and
    then, the same for every channel or (``shared`` False) one per channel."""
    cfg = draw(configs(max_hw=9))
    kh, kw, c = draw(st.integers(1, 5)), draw(st.integers(1, 5)), draw(st.integers(1, 3))
    cfg = dataclasses.replace(cfg, kh=kh, kw=kw, groups=c, cg=1, og=1)
    try:
        p = problem_of(np.zeros((cfg.n, cfg.h, cfg.w, c)), np.zeros((kh, kw, 1, c)),
                       **cfg.kwargs())
        check_padding_fits(p.geom.in_shape, p.geom.pads, cfg.padding_mode)
    except ValueError:
        assume(False)
    return cfg, draw(st.booleans()), draw(st.integers(0, 2**31 - 1))


def arrays(cfg, shared: bool, seed: int, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((cfg.n, cfg.h, cfg.w, cfg.c)).astype(dtype)
    kernels = []
    for _ in range(1 if shared else cfg.c):
        col, row = rng.standard_normal(cfg.kh), rng.standard_normal(cfg.kw)
        col[rng.random(cfg.kh) < 0.2] = 0.0  # Sobel's middle column, a kernel row of zeros
        row[rng.random(cfg.kw) < 0.2] = 0.0
        kernels.append(np.outer(col, row))
    k = np.stack(kernels * cfg.c if shared else kernels, axis=-1)  # (kh, kw, C)
    return x, k[:, :, None, :].astype(dtype), rng.standard_normal(cfg.c).astype(dtype)


@pytest.mark.parametrize("path", PATHS)
@settings(max_examples=40)
@given(case=filters())
def test_every_path_matches_the_definition_on_rank_1_kernels(path, case):
    if path != "numpy" and not _native.available():
        pytest.skip("needs the compiled core")
    cfg, shared, seed = case
    x, w, b = arrays(cfg, shared, seed)
    with pytest.MonkeyPatch.context() as monkeypatch:
        ran = take(monkeypatch, path)
        y = cl.conv2d(x, w, b, algorithm="separable", **cfg.kwargs())
    np.testing.assert_allclose(y, reference.conv2d(x, w, b, **cfg.kwargs()),
                               rtol=1e-10, atol=1e-10)
    compiled_ok = path != "numpy" and (shared or cfg.c == 1) and cfg.stride[1] == 1
    assert ran == [("one_pass" if path == "one_pass" else "two_passes") if compiled_ok
                   else "numpy_passes"]


@pytest.mark.parametrize("path", PATHS)
@settings(max_examples=25)
@given(case=filters())
def test_every_path_keeps_float32_within_rounding(path, case):
    if path != "numpy" and not _native.available():
        pytest.skip("needs the compiled core")
    cfg, shared, seed = case
    x, w, b = arrays(cfg, shared, seed, np.float32)
    with pytest.MonkeyPatch.context() as monkeypatch:
        take(monkeypatch, path)
        y = cl.conv2d(x, w, b, algorithm="separable", **cfg.kwargs())
    assert y.dtype == np.float32
    assert rel_err(y, reference.conv2d(x, w, b, **cfg.kwargs())) < 1e-5


@settings(max_examples=30)
@given(cfg=configs(max_hw=8), seed=st.integers(0, 2**31 - 1))
def test_a_kernel_that_does_not_factor_runs_one_pass_or_the_fallback(cfg, seed):
    cfg = dataclasses.replace(cfg, groups=cfg.c, cg=1, og=1)
    x, w, b = cfg.arrays(seed)  # random kernels: rank 2 or more (or 1x1), one per channel
    np.testing.assert_allclose(cl.conv2d(x, w, b, algorithm="separable", **cfg.kwargs()),
                               reference.conv2d(x, w, b, **cfg.kwargs()), rtol=1e-10,
                               atol=1e-10)


# -- which kernels factor -------------------------------------------------------------------

@pytest.mark.parametrize("name, params", [
    ("gaussian", {}), ("gaussian", {"sigma": 3.0}), ("gaussian", {"size": 4, "sigma": 0.5}),
    ("box", {"size": 5}), ("sobel_x", {}), ("sobel_y", {}), ("prewitt_x", {}),
    ("scharr_y", {}), ("identity", {}), ("vertical_edge", {}), ("horizontal_edge", {})])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_named_separable_kernels_factor_to_rounding(name, params, dtype):
    k = get_kernel(name, **params).astype(dtype)
    col, row = separable.factors(k, dtype)
    assert col.dtype == row.dtype == dtype
    rebuilt = np.outer(col.astype(np.float64), row.astype(np.float64))
    np.testing.assert_array_equal(rebuilt == 0, k == 0)
    np.testing.assert_allclose(rebuilt, k, rtol=separable.TOLERANCE * np.finfo(dtype).eps)


@pytest.mark.parametrize("name", ["sharpen", "laplacian", "emboss"])
def test_the_named_kernels_of_rank_2_and_more_do_not_factor(name):
    assert separable.factors(get_kernel(name)) is None


def test_nearly_rank_1_is_rank_1_only_to_the_dtypes_rounding():
    k = get_kernel("gaussian", sigma=1.0)
    k[2, 3] *= 1 + 1e-9
    assert separable.factors(k, np.float64) is None
    assert separable.factors(k, np.float32) is not None  # 1e-9 is below float32's rounding


def test_non_finite_kernels_do_not_factor():
    for bad in (np.inf, np.nan):
        k = np.ones((3, 3))
        k[1, 1] = bad
        assert separable.factors(k) is None


def test_a_zero_that_no_factor_explains_is_not_rank_1():
    """k[1, 1] underflowed to 0: the definition's 0 * inf is NaN there, where two passes
    would multiply by 1e-200 twice and give inf, so the zero patterns must agree."""
    k = np.outer([1.0, 1e-200], [1.0, 1e-200])
    assert k[1, 1] == 0 and separable.factors(k) is None


# -- Inf and NaN, overflow --------------------------------------------------------------------

@pytest.mark.parametrize("path", PATHS)
def test_inf_and_nan_reach_the_outputs_the_definition_puts_them_in(path, monkeypatch):
    if path != "numpy" and not _native.available():
        pytest.skip("needs the compiled core")
    x = np.random.default_rng(1).standard_normal((1, 20, 17, 3))
    x[0, 5, 6, 0], x[0, 12, 3, 1], x[0, 0, 16, 2] = np.inf, np.nan, -np.inf
    w = np.repeat(get_kernel("sobel_x")[:, :, None, None], 3, axis=3)  # a column of zeros:
    kw = dict(groups=3, padding="same", padding_mode="reflect")  # 0 * inf is NaN there
    take(monkeypatch, path)
    with np.errstate(invalid="ignore"):
        got, want = cl.conv2d(x, w, algorithm="separable", **kw), reference.conv2d(x, w, **kw)
    assert np.isnan(want).any() and np.isinf(want).any()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("path", PATHS)
def test_an_intermediate_that_overflows_where_the_definition_does_not_is_recomputed(
        path, monkeypatch):
    if path != "numpy" and not _native.available():
        pytest.skip("needs the compiled core")
    # the last column is read only by the tiny tap: its vertical sum (2e308) overflows, the
    # definition's products (1e-300 * 1e308 each) do not
    x = np.ones((1, 2, 4, 1))
    x[0, :, -1] = 1e308
    w = np.outer([1.0, 1.0], [1.0, 1e-300])[:, :, None, None]
    take(monkeypatch, path)
    y = cl.conv2d(x, w, algorithm="separable")
    np.testing.assert_allclose(y, reference.conv2d(x, w), rtol=1e-12)
    assert np.isfinite(y).all()


# -- how it runs ------------------------------------------------------------------------------

@compiled
def test_a_large_rank_1_kernel_takes_two_passes_and_a_small_one_one(monkeypatch):
    ran = take(monkeypatch, "as shipped")
    x = np.random.default_rng(2).random((1, 40, 30, 3), dtype=np.float32)
    for size in (15, 7):
        w = np.repeat(get_kernel("gaussian", size=size, sigma=size / 6)[:, :, None, None], 3, 3)
        cl.conv2d(x, w.astype(np.float32), groups=3, padding="same", algorithm="separable")
    assert ran == ["two_passes", "one_pass"]


@compiled
def test_many_bands_on_two_workers_compute_what_one_band_computes(monkeypatch):
    x = np.random.default_rng(3).standard_normal((2, 50, 23, 3))
    w = np.repeat(get_kernel("gaussian", size=11, sigma=2.0)[:, :, None, None], 3, axis=3)
    kw = dict(groups=3, padding="same", padding_mode="symmetric", stride=(2, 1))
    take(monkeypatch, "two_passes")
    whole = cl.conv2d(x, w, algorithm="separable", **kw)
    monkeypatch.setattr(scheduler, "workers", lambda: 2)
    monkeypatch.setattr(separable, "BAND_BYTES", 3 * 23 * 3 * 8)  # 3 rows a band: 18 bands
    assert separable._band_rows(problem_of(x, w, **kw)) == 3
    np.testing.assert_array_equal(cl.conv2d(x, w, algorithm="separable", **kw), whole)


@compiled
@pytest.mark.parametrize("path", ["one_pass", "two_passes"])
def test_a_colour_image_is_filtered_without_copying_its_planes(path, monkeypatch):
    x = np.random.default_rng(4).random((1, 512, 512, 3), dtype=np.float32)  # 3 MiB
    w = np.repeat(get_kernel("gaussian", size=15, sigma=2.5)[:, :, None, None], 3, axis=3)
    w = np.ascontiguousarray(w, np.float32)
    take(monkeypatch, path)
    monkeypatch.setattr(separable, "BAND_BYTES", 256 << 10)  # bands of 42 rows
    cl.conv2d(x, w, groups=3, padding="same", algorithm="separable")  # warm up
    tracemalloc.start()
    tracemalloc.reset_peak()
    cl.conv2d(x, w, groups=3, padding="same", algorithm="separable")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    band = separable._band_workspace(problem_of(x, w, groups=3, padding="same"))
    # the output, the two-pass band of each worker, maps and slack: no 1 MiB plane copied
    assert peak <= x.nbytes + band + (256 << 10)


def test_auto_never_picks_it_as_it_cannot_see_the_kernel():
    for x_shape, w_shape, kw in [((1, 512, 512, 1), (7, 7, 1, 1), {}),
                                 ((1, 512, 512, 3), (15, 15, 1, 3), {"groups": 3}),
                                 ((4, 64, 64, 8), (3, 3, 1, 8), {"groups": 8})]:
        p = plan(x_shape, w_shape, padding="same", **kw)
        assert p.algorithm != "separable"
        forced = plan(x_shape, w_shape, padding="same", algorithm="separable", **kw)
        assert forced.seconds > p.seconds and "auto never picks it" in forced.reason


def test_the_weight_gradient_is_the_fallbacks():
    x = np.random.default_rng(5).standard_normal((2, 9, 8, 3))
    w = np.random.default_rng(6).standard_normal((3, 3, 1, 3))
    kw = dict(groups=3, padding="same", padding_mode="reflect")
    gy = np.random.default_rng(7).standard_normal((2, 9, 8, 3))
    got = cl.conv2d_backward(gy, x, w, algorithm="separable", **kw)
    want = reference.conv2d_backward(gy, x, w, **kw)
    for g, r in zip(got[:2], want[:2]):
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-10)
