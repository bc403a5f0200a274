"""Every fast algorithm computes the reference's function, on the problems it supports.

Each algorithm is forced (``algorithm=NAME``) on random problems reshaped to what it supports
and compared with the float64 loops of ``reference``; float32 results must stay within each
algorithm's stated error bound. Problems it does not support raise a ValueError naming it.
"""

import dataclasses
import tracemalloc

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from strategies import Config, configs

import convolab as cl
from convolab import reference
from convolab.algorithms import (
    REGISTRY,
    implicit,
    scheduler,
    stencil,
    toeplitz,
    winograd,
    winograd_1d,
    winograd_f4,
)
from convolab.padding import check_padding_fits
from convolab.plan import problem_of
from convolab.select import supports

seeds = st.integers(0, 2**31 - 1)


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


# What each algorithm needs, imposed on an arbitrary random problem.
SHAPE_TO = {
    "im2col": lambda c: c,
    "pointwise": lambda c: dataclasses.replace(c, kh=1, kw=1, groups=1, padding="valid"),
    "fft": lambda c: dataclasses.replace(c, groups=1),
    "winograd": lambda c: dataclasses.replace(c, kh=3, kw=3, stride=(1, 1), dilation=(1, 1),
                                              groups=1),
    "depthwise": lambda c: dataclasses.replace(c, groups=c.c, cg=1),
    "implicit": lambda c: dataclasses.replace(c, stride=(1, 1), groups=1,
                                              cg=implicit.MIN_CHANNELS, og=implicit.MIN_CHANNELS),
    "toeplitz": lambda c: dataclasses.replace(c, groups=1),
    "stencil": lambda c: dataclasses.replace(c, cg=1, og=1, groups=1, stride=(c.stride[0], 1)),
    "direct": lambda c: c,
    "direct_depthwise": lambda c: dataclasses.replace(c, groups=c.c, cg=1, og=1),
    "small": lambda c: dataclasses.replace(c, n=1),
    "direct_stencil": lambda c: dataclasses.replace(c, cg=1, groups=1, stride=(c.stride[0], 1)),
    "separable": lambda c: dataclasses.replace(c, groups=c.c, cg=1, og=1),
    "winograd_f4": lambda c: dataclasses.replace(c, kh=3, kw=3, stride=(1, 1), dilation=(1, 1),
                                                 groups=1),
    "winograd_1d": lambda c: dataclasses.replace(c, kh=1, dilation=(c.dilation[0], 1), groups=1),
}
# float32 relative error bound of each algorithm (winograd's is derived in winograd.py)
F32_BOUND = {"im2col": 1e-5, "pointwise": 1e-5, "fft": 1e-5, "depthwise": 1e-5, "implicit": 1e-5,
             "stencil": 1e-5, "toeplitz": 1e-5, "winograd": winograd.ERROR_BOUND_F32,
             "direct": 1e-5, "direct_depthwise": 1e-5, "small": 1e-5,
             "direct_stencil": 1e-5, "separable": 1e-5,
             "winograd_f4": winograd_f4.ERROR_BOUND_F32,
             "winograd_1d": winograd_1d.ERROR_BOUND_F32}


def test_every_registered_algorithm_is_tested_here():
    assert set(REGISTRY) == set(SHAPE_TO) == set(F32_BOUND)


def supported(name: str, cfg: Config) -> Config:
    cfg = SHAPE_TO[name](cfg)
    try:
        p = problem_of(np.zeros((cfg.n, cfg.h, cfg.w, cfg.c)), np.zeros((cfg.kh, cfg.kw, cfg.cg,
                       cfg.o)), **cfg.kwargs())
        check_padding_fits(p.geom.in_shape, p.geom.pads, cfg.padding_mode)
    except ValueError:
        assume(False)
    assume(supports(name, p))
    return cfg


@pytest.mark.parametrize("name", sorted(SHAPE_TO))
@settings(max_examples=40)
@given(cfg=configs(max_hw=8), seed=seeds)
def test_algorithm_matches_reference_float64(name, cfg, seed):
    cfg = supported(name, cfg)
    x, w, b = cfg.arrays(seed)
    y = cl.conv2d(x, w, b, algorithm=name, **cfg.kwargs())
    np.testing.assert_allclose(y, reference.conv2d(x, w, b, **cfg.kwargs()),
                               rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", sorted(SHAPE_TO))
@settings(max_examples=25)
@given(cfg=configs(max_hw=8), seed=seeds)
def test_algorithm_float32_within_its_error_bound(name, cfg, seed):
    cfg = supported(name, cfg)
    x, w, b = cfg.arrays(seed, np.float32)
    y = cl.conv2d(x, w, b, algorithm=name, **cfg.kwargs())
    assert y.dtype == np.float32
    assert rel_err(y, reference.conv2d(x, w, b, **cfg.kwargs())) < F32_BOUND[name]


# A problem no specialised algorithm supports: 3x3, stride 2, dilated, grouped, not depthwise.
UNSUPPORTED = dict(stride=2, dilation=2, groups=2, padding="same")


@pytest.mark.parametrize("name", sorted(set(REGISTRY) - {"im2col", "direct"}))
def test_forcing_an_algorithm_on_a_problem_it_cannot_run_names_it(name):
    x, w = np.ones((4, 29, 29, 4)), np.ones((3, 3, 2, 4))  # beyond "small" too
    with pytest.raises(ValueError, match=f"algorithm: '{name}' cannot run"):
        cl.conv2d(x, w, algorithm=name, **UNSUPPORTED)


def test_unknown_algorithm_is_a_value_error_with_a_suggestion():
    with pytest.raises(ValueError, match="did you mean 'im2col'"):
        cl.conv2d(np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 1)), algorithm="im2cool")


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_algorithm_matches_pytorch(name):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    # 3x3 (1x1 for pointwise, 1x3 for winograd_1d), stride 1, "valid"; depthwise with a channel
    # multiplier of 2
    k = 1 if name == "pointwise" else 3
    kh = 1 if name == "winograd_1d" else k
    groups = 8 if "depthwise" in name else 1
    c, o = (1, 1) if "stencil" in name or name == "separable" else (8, 16)  # one channel
    o = 8 if name == "direct_depthwise" else o  # no channel multiplier
    n = 1 if name == "small" else 2
    c, o = (2, 3) if name == "small" else (c, o)  # a few thousand multiply-adds at most
    x = rng.standard_normal((n, 10, 12, c)).astype(np.float32)
    w = rng.standard_normal((kh, k, c // groups, o)).astype(np.float32)
    want = torch.nn.functional.conv2d(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()),
                                      torch.from_numpy(w.transpose(3, 2, 0, 1).copy()),
                                      groups=groups)
    y = cl.conv2d(x, w, algorithm=name, groups=groups)
    assert rel_err(y, want.numpy().transpose(0, 2, 3, 1)) < F32_BOUND[name]


def peak_bytes(call) -> int:
    tracemalloc.start()
    tracemalloc.reset_peak()
    call()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


@pytest.mark.parametrize(("name", "k", "c", "groups"), [
    ("im2col", 5, 8, 1), ("pointwise", 1, 64, 1), ("fft", 15, 1, 1), ("winograd", 3, 32, 1),
    ("implicit", 5, 16, 1), ("depthwise", 5, 64, 64), ("toeplitz", 5, 1, 1),
    ("stencil", 5, 1, 1), ("direct", 5, 8, 1), ("direct_depthwise", 5, 64, 64),
    ("direct_stencil", 5, 1, 1)])
def test_workspace_limit_bounds_peak_memory(name, k, c, groups):
    # a k*k-fold copy of this 8 MiB input (im2col's columns in one go) would be 25x its size
    rng = np.random.default_rng(0)
    hw = 1448 if c == 1 else int(np.sqrt((2 << 20) / c))
    x = rng.standard_normal((1, hw, hw, c), dtype=np.float32)
    w = np.ones((k, k, c // groups, c), np.float32)
    limit = 1 << 20
    with cl.workspace_limit(limit):
        peak = peak_bytes(lambda: cl.conv2d(x, w, padding="same", groups=groups, algorithm=name))
    out = x.nbytes  # "same", O == C: the output is the input's size
    # the output, one copy of the input (a padded band per block, at most), the limit, slack
    assert peak <= out + x.nbytes + limit + (512 << 10)


def test_fft_keeps_nan_and_inf_in_the_windows_that_read_them():
    x = np.zeros((1, 40, 40, 1))
    x[0, 0, 0, 0], x[0, 39, 39, 0] = np.nan, np.inf
    y = cl.conv2d(x, np.ones((15, 15, 1, 1)), algorithm="fft")[0, :, :, 0]
    assert np.isnan(y[0, 0]) and np.isposinf(y[-1, -1]) and y[0, -1] == 0


@pytest.mark.parametrize("channels", [(1, 1), (3, 2)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fft_computes_the_same_with_numpy_fft(monkeypatch, channels, dtype):
    """Without scipy, numpy.fft computes the same correlation: the single tile (its kernel
    transform taken row by row, one channel's planes multiplied in place) and the tiles."""
    from convolab.algorithms import fft

    monkeypatch.setattr(fft, "_backend", lambda: (np.fft, False))
    c, o = channels
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 37, 45, c)).astype(dtype)
    w = rng.standard_normal((9, 7, c, o)).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    for kw in (dict(padding="same"), dict(padding=(3, 5), dilation=(1, 2), stride=(2, 1)),
               dict(padding="same", padding_mode="reflect")):
        got = cl.conv2d(x, w, b, algorithm="fft", **kw)
        assert got.dtype == dtype
        np.testing.assert_allclose(got, reference.conv2d(x, w, b, **kw), rtol=tol, atol=tol)


WITH_BACKWARD = sorted(n for n, m in REGISTRY.items()
                       if n != "im2col" and hasattr(m, "backward_input"))


def test_the_algorithms_with_their_own_backward_are_the_expected_ones():
    assert WITH_BACKWARD == ["depthwise", "pointwise", "toeplitz", "winograd"]


@pytest.mark.parametrize("name", WITH_BACKWARD)
@settings(max_examples=30)
@given(cfg=configs(max_hw=7), seed=seeds)
def test_algorithm_backward_matches_reference(name, cfg, seed):
    cfg = supported(name, cfg)
    x, w, _ = cfg.arrays(seed)
    p = problem_of(x, w, **cfg.kwargs())
    gy = np.random.default_rng(seed + 1).standard_normal(p.y_shape)
    gx_ref, gw_ref, _ = reference.conv2d_backward(gy, x, w, **cfg.kwargs())
    module = REGISTRY[name]
    np.testing.assert_allclose(module.backward_input(gy, w, p), gx_ref, rtol=1e-10, atol=1e-10)
    gw = getattr(module, "backward_weight", REGISTRY["im2col"].backward_weight)(gy, x, p)
    np.testing.assert_allclose(gw, gw_ref, rtol=1e-10, atol=1e-10)


def test_scheduler_stops_and_reraises_when_a_block_fails():
    done = []

    def work(task, worker):
        if task == 3:
            raise ValueError("block 3 failed")
        done.append(task)

    with pytest.raises(ValueError, match="block 3 failed"):
        scheduler.run(list(range(100)), work, 2)
    assert len(done) < 99  # the other worker stopped instead of finishing the queue
    scheduler.run([0, 1], lambda t, i: done.append(-1), 2)  # and the region is free again
    assert done[-2:] == [-1, -1]


@pytest.mark.parametrize("name", ["im2col", "implicit", "winograd", "depthwise", "pointwise",
                                  "toeplitz", "stencil"])
def test_two_workers_compute_what_one_computes(name, monkeypatch):
    rng = np.random.default_rng(5)
    c, groups, k = (8, 8, 3) if name == "depthwise" else (8, 1, 1 if name == "pointwise" else 3)
    c, o = (1, 1) if name == "stencil" else (c, 8)  # stencil filters one-channel images
    x = rng.standard_normal((4, 64, 64, c), dtype=np.float32)
    w = rng.standard_normal((k, k, c // groups, o), dtype=np.float32)
    kw = dict(padding="same" if k > 1 else "valid", groups=groups, algorithm=name)
    monkeypatch.setattr(scheduler, "workers", lambda: 2)
    monkeypatch.setattr(scheduler, "PARALLEL_BYTES", 0)  # small as it is, split it
    with cl.workspace_limit(1 << 18):  # many small blocks, shared by the two workers
        two = cl.conv2d(x, w, **kw)
    monkeypatch.setattr(scheduler, "workers", lambda: 1)
    # the same function; only BLAS's blocking (one thread or two) may round differently
    np.testing.assert_allclose(two, cl.conv2d(x, w, **kw), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("image_blocks", [True, False])
def test_two_workers_compute_toeplitz_gradients(image_blocks, monkeypatch):
    """Blocks of one whole image each (the input gradient then runs on both workers), or of
    single rows (their halos overlap: one block after another)."""
    rng = np.random.default_rng(6)
    x, w = rng.standard_normal((6, 20, 24, 2)), rng.standard_normal((3, 5, 2, 6))
    p = problem_of(x, w, padding="same")
    gy = rng.standard_normal(p.y_shape)
    monkeypatch.setattr(scheduler, "workers", lambda: 2)
    monkeypatch.setattr(scheduler, "PARALLEL_BYTES", 0)
    row = toeplitz._row_bytes(p)
    monkeypatch.setattr(toeplitz, "BLOCK_BYTES", row * 20 if image_blocks else row)
    assert len(toeplitz._blocks(p)) == (6 if image_blocks else 120)
    gx, gw = toeplitz.backward_input(gy, w, p), toeplitz.backward_weight(gy, x, p)
    want_x, want_w, _ = reference.conv2d_backward(gy, x, w, padding="same")
    np.testing.assert_allclose(gx, want_x, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(gw, want_w, rtol=1e-10, atol=1e-10)


def test_two_workers_compute_the_stencil_weight_gradient(monkeypatch):
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal((3, 30, 24, 1)), rng.standard_normal((3, 5, 1, 1))
    p = problem_of(x, w, padding="same")
    gy = rng.standard_normal(p.y_shape)
    monkeypatch.setattr(scheduler, "workers", lambda: 2)
    monkeypatch.setattr(stencil, "ROWS", 2)  # 45 blocks,
    monkeypatch.setattr(stencil, "MAX_PARTIALS", 4)  # summed 12 a task, 4 tasks
    want = reference.conv2d_backward(gy, x, w, padding="same")[1]
    np.testing.assert_allclose(stencil.backward_weight(gy, x, p), want, rtol=1e-10, atol=1e-10)


def test_winograd_float32_error_on_a_wide_layer_stays_within_its_bound():
    # 128 input channels: 1152 products per output, where rounding has room to grow
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 16, 16, 128), dtype=np.float32)
    w = rng.standard_normal((3, 3, 128, 16), dtype=np.float32) / np.float32(34)
    exact = cl.conv2d(x.astype(np.float64), w.astype(np.float64), padding="same",
                      algorithm="im2col")
    err = rel_err(cl.conv2d(x, w, padding="same", algorithm="winograd"), exact)
    direct = rel_err(cl.conv2d(x, w, padding="same", algorithm="im2col"), exact)
    assert err < winograd.ERROR_BOUND_F32
    assert err < 10 * direct  # a small constant over the direct method's rounding


# One Inf and one NaN in the input (or grad_y); every algorithm must keep them in the outputs
# whose windows read them, as the definition does (0 * inf is NaN, so an algorithm multiplying
# zeros the definition never multiplies would spread them; those fall back to im2col).
NON_FINITE_CASES = {
    "im2col": ((1, 12, 13, 3), (3, 3, 3, 4), {}),
    "implicit": ((1, 12, 13, 4), (3, 3, 4, 4), {}),
    "pointwise": ((1, 12, 13, 4), (1, 1, 4, 4), {"padding": "valid"}),
    "winograd": ((1, 12, 13, 4), (3, 3, 4, 4), {}),
    "depthwise": ((1, 12, 13, 4), (3, 3, 1, 8), {"groups": 4}),
    "fft": ((1, 12, 13, 2), (5, 5, 2, 3), {}),
    "toeplitz": ((2, 12, 13, 1), (5, 5, 1, 6), {}),
    "stencil": ((2, 40, 37, 1), (3, 3, 1, 1), {}),
    "direct": ((1, 12, 13, 3), (3, 3, 1, 6), {"groups": 3}),
    "direct_depthwise": ((1, 12, 13, 4), (3, 3, 1, 4), {"groups": 4}),
    "small": ((1, 6, 7, 2), (3, 3, 1, 4), {"groups": 2}),
    "direct_stencil": ((2, 40, 37, 1), (3, 3, 1, 1), {}),
    "separable": ((2, 40, 37, 1), (3, 3, 1, 1), {}),
    "winograd_f4": ((1, 12, 13, 4), (3, 3, 4, 4), {}),
    "winograd_1d": ((2, 3, 40, 3), (1, 9, 3, 5), {"stride": (1, 2)}),
}


def _with_non_finite(shape: tuple[int, ...]) -> np.ndarray:
    a = np.random.default_rng(4).standard_normal(shape)
    a.flat[a.size // 3], a.flat[-2] = np.inf, np.nan
    return a


def test_every_algorithm_is_tried_with_inf_and_nan():
    assert set(NON_FINITE_CASES) == set(REGISTRY)


@pytest.mark.parametrize("name", sorted(NON_FINITE_CASES))
def test_inf_and_nan_stay_in_the_windows_that_read_them(name):
    x_shape, w_shape, kw = NON_FINITE_CASES[name]
    kw = {"padding": "same", **kw}
    x, w = _with_non_finite(x_shape), np.random.default_rng(5).standard_normal(w_shape)
    with np.errstate(invalid="ignore", over="ignore"):
        y = cl.conv2d(x, w, algorithm=name, **kw)
        want = reference.conv2d(x, w, **kw)
        gy, x = _with_non_finite(want.shape), np.where(np.isfinite(x), x, 0.0)
        got_grads = cl.conv2d_backward(gy, x, w, algorithm=name, **kw)
        want_grads = reference.conv2d_backward(gy, x, w, **kw)
    for got, ref in ((y, want), *zip(got_grads[:2], want_grads[:2])):
        np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
        np.testing.assert_array_equal(np.isinf(got), np.isinf(ref))
        finite = np.isfinite(ref)
        np.testing.assert_allclose(got[finite], ref[finite], rtol=1e-10, atol=1e-10)


def _padding_only_cases(kind: str) -> list[str]:
    """Algorithms of NON_FINITE_CASES that run ``kind``'s padding-only case (see below)."""
    names = []
    for name in sorted(NON_FINITE_CASES):
        x, w, kw = _padding_only_case(name, kind)
        names += [name] if supports(name, problem_of(x, w, **kw)) else []
    return names


def _padding_only_case(name: str, kind: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """``(x, w, kwargs)`` where an Inf and a NaN meet nothing but zero padding.

    "weight": an image (kh - 1) // 2 rows tall, "same": the kernel's first and last rows read
    only the padding rows above and below it, and hold the Inf and the NaN. "grad_y": kh rows
    of padding on top, so grad_y's first row (which gets the Inf and the NaN) has windows lying
    wholly in the padding."""
    x_shape, w_shape, kw = NON_FINITE_CASES[name]
    kh = w_shape[0]
    w = np.random.default_rng(11).standard_normal(w_shape)
    if kind == "weight":
        x = np.random.default_rng(10).standard_normal((x_shape[0], max(1, (kh - 1) // 2),
                                                       *x_shape[2:]))
        w[0, 0, 0, 0], w[-1, -1, -1, -1] = np.inf, np.nan
        return x, w, {**kw, "padding": "same"}
    x = np.random.default_rng(10).standard_normal(x_shape)
    pad = ((kh, kh // 2), (w_shape[1] // 2, w_shape[1] // 2))
    return x, w, {**kw, "padding": pad}


@pytest.mark.parametrize("name", _padding_only_cases("weight"))
def test_a_weight_meeting_only_padding_still_makes_nan_in_the_output(name):
    """0 * inf is NaN in the definition even where the 0 is padding: an algorithm skipping the
    zero padding (stencil) must not lose it."""
    x, w, kw = _padding_only_case(name, "weight")
    with np.errstate(invalid="ignore", over="ignore"):
        got, want = cl.conv2d(x, w, algorithm=name, **kw), reference.conv2d(x, w, **kw)
    assert np.isnan(want).any()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))


@pytest.mark.parametrize("name", _padding_only_cases("grad_y"))
def test_a_gradient_whose_window_is_padding_still_makes_nan_in_the_weight_gradient(name):
    x, w, kw = _padding_only_case(name, "grad_y")
    gy = np.random.default_rng(12).standard_normal(problem_of(x, w, **kw).y_shape)
    gy[0, 0, 0, 0], gy[0, 0, -1, -1] = np.inf, np.nan
    with np.errstate(invalid="ignore", over="ignore"):
        got = cl.conv2d_backward(gy, x, w, algorithm=name, **kw)[1]
        want = reference.conv2d_backward(gy, x, w, **kw)[1]
    assert np.isnan(want).any()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))


def test_the_padding_only_cases_reach_the_algorithms_that_skip_padding():
    for kind in ("weight", "grad_y"):
        assert {"im2col", "stencil", "toeplitz"} <= set(_padding_only_cases(kind))


@pytest.mark.parametrize("stride", [1, 2])
def test_phased_input_gradient_keeps_inf_and_nan_where_the_definition_puts_them(stride):
    x = np.random.default_rng(6).standard_normal((2, 11, 12, 3))
    w = _with_non_finite((3, 3, 3, 4))  # an Inf and a NaN weight
    kw = dict(padding="same", stride=stride)
    gy = np.random.default_rng(7).standard_normal(problem_of(x, w, **kw).y_shape)
    with np.errstate(invalid="ignore", over="ignore"):
        got = cl.conv2d_backward(gy, x, w, algorithm="phased", **kw)[0]
        want = reference.conv2d_backward(gy, x, w, **kw)[0]
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))


def _weight_cases() -> list[tuple[str, int]]:
    """(algorithm, stride) pairs of NON_FINITE_CASES that the algorithm supports, and "auto"."""
    cases = [("auto", 1), ("auto", 2)]
    for name, (x_shape, w_shape, kw) in sorted(NON_FINITE_CASES.items()):
        for stride in (1, 2):
            p = problem_of(np.zeros(x_shape), np.zeros(w_shape),
                           **{"padding": "same", **kw, "stride": stride})
            cases += [(name, stride)] if supports(name, p) else []
    return cases


@pytest.mark.parametrize(("name", "stride"), _weight_cases())
def test_an_inf_or_nan_weight_reaches_the_input_gradient_where_the_definition_puts_it(name,
                                                                                      stride):
    """The conv of grad_y (adjoint) multiplies the zeros around and between grad_y's pixels by
    the kernel; with an Inf or NaN weight those products must not appear. The forward's output
    too (stencil skips the zero padding the definition multiplies by the weight)."""
    x_shape, w_shape, kw = NON_FINITE_CASES.get(name, NON_FINITE_CASES["im2col"])
    kw = {"padding": "same", **kw, "stride": stride}
    x = np.random.default_rng(8).standard_normal(x_shape)
    w = _with_non_finite(w_shape)
    gy = np.random.default_rng(9).standard_normal(problem_of(x, w, **kw).y_shape)
    with np.errstate(invalid="ignore", over="ignore"):
        got = [cl.conv2d_backward(gy, x, w, algorithm=name, **kw)[0],
               cl.conv2d(x, w, algorithm=name, **kw)]
        want = [reference.conv2d_backward(gy, x, w, **kw)[0], reference.conv2d(x, w, **kw)]
    for g, r in zip(got, want):
        np.testing.assert_array_equal(np.isnan(g), np.isnan(r))
        np.testing.assert_array_equal(np.isinf(g), np.isinf(r))
