"""conv2d against the reference loops, and the properties of the math (6.1, 6.2)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import configs

import convolab as cl
from convolab import reference

seeds = st.integers(0, 2**31 - 1)


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


@given(configs(), seeds)
def test_conv2d_matches_reference_float64(cfg, seed):
    x, w, b = cfg.arrays(seed)
    expected = reference.conv2d(x, w, b, **cfg.kwargs())
    y = cl.conv2d(x, w, b, **cfg.kwargs())
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


@given(configs(), seeds)
def test_conv2d_float32_is_float32_and_close_to_reference(cfg, seed):
    x, w, b = cfg.arrays(seed, np.float32)
    y = cl.conv2d(x, w, b, **cfg.kwargs())
    assert y.dtype == np.float32
    assert rel_err(y, reference.conv2d(x, w, b, **cfg.kwargs())) < 1e-5


@given(configs(), seeds)
def test_nchw_oihw_layout_is_the_same_function(cfg, seed):
    x, w, b = cfg.arrays(seed)
    y_nhwc = cl.conv2d(x, w, b, **cfg.kwargs())
    y_nchw = cl.conv2d(x.transpose(0, 3, 1, 2), w.transpose(3, 2, 0, 1), b,
                       data_format="NCHW", kernel_format="OIHW", **cfg.kwargs())
    np.testing.assert_allclose(y_nchw, y_nhwc.transpose(0, 3, 1, 2), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular", "symmetric"])
@pytest.mark.parametrize(
    ("stride", "dilation", "groups"), [((2, 1), 1, 1), (1, (2, 1), 5), (3, 2, 1)]
)
def test_row_blocks_on_a_wide_image_match_reference(mode, stride, dilation, groups):
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 9, 200, 5)), rng.standard_normal((3, 3, 5 // groups, 5))
    kw = dict(stride=stride, dilation=dilation, groups=groups, padding="same", padding_mode=mode)
    with cl.workspace_limit(1 << 16):  # one output row costs 200*9*5*8 = 72 KB: one row a block
        y = cl.conv2d(x, w, **kw)
    np.testing.assert_allclose(y, reference.conv2d(x, w, **kw), rtol=1e-12, atol=1e-12)


@given(configs(), seeds)
def test_unbatched_3d_input_gives_3d_output(cfg, seed):
    x, w, b = cfg.arrays(seed)
    y = cl.conv2d(x[0], w, b, **cfg.kwargs())
    np.testing.assert_array_equal(y, cl.conv2d(x[:1], w, b, **cfg.kwargs())[0])


@given(configs(), seeds)
def test_conv2d_is_linear_in_x(cfg, seed):
    x, w, _ = cfg.arrays(seed)
    x2, _, _ = cfg.arrays(seed + 1)
    lhs = cl.conv2d(2.0 * x - 3.0 * x2, w, **cfg.kwargs())
    rhs = 2.0 * cl.conv2d(x, w, **cfg.kwargs()) - 3.0 * cl.conv2d(x2, w, **cfg.kwargs())
    np.testing.assert_allclose(lhs, rhs, rtol=1e-10, atol=1e-10)


@given(st.integers(1, 3), st.integers(1, 3), st.integers(0, 3), st.integers(0, 3), seeds)
def test_translation_equivariance(kh, kw, di, dj, seed):
    """6.1.2.1: shifting the input shifts the output (valid interior, stride 1)."""
    rng = np.random.default_rng(seed)
    x, k = rng.standard_normal((12, 12)), rng.standard_normal((kh, kw))
    shifted = np.roll(x, (di, dj), axis=(0, 1))
    y, y_shift = cl.corr2d(x, k), cl.corr2d(shifted, k)
    ho, wo = y.shape
    np.testing.assert_allclose(y_shift[di + kh:, dj + kw:], y[kh : ho - di, kw : wo - dj],
                               rtol=1e-12, atol=1e-12)


@given(st.integers(1, 3), st.integers(1, 3), seeds)
def test_circular_padding_makes_translation_equivariance_exact(kh, kw, seed):
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal((1, 8, 8, 2)), rng.standard_normal((kh, kw, 2, 3))
    conv = lambda a: cl.conv2d(a, w, padding="same", padding_mode="circular")  # noqa: E731
    np.testing.assert_allclose(conv(np.roll(x, (2, 3), axis=(1, 2))),
                               np.roll(conv(x), (2, 3), axis=(1, 2)), rtol=1e-12, atol=1e-12)


@given(st.integers(2, 6), st.integers(2, 6), st.integers(1, 3), st.integers(1, 3), seeds)
def test_convolve2d_matches_the_sum_definition(h, w, kh, kw, seed):
    """(f*g)(i, j) = sum_a sum_b f(a, b) g(i-a, j-b), 'valid' part, by loops."""
    rng = np.random.default_rng(seed)
    if kh > h or kw > w:
        return
    x, k = rng.standard_normal((h, w)), rng.standard_normal((kh, kw))
    full = np.zeros((h + kh - 1, w + kw - 1))
    for a in range(h):
        for b in range(w):
            full[a : a + kh, b : b + kw] += x[a, b] * k
    valid = full[kh - 1 : h, kw - 1 : w]
    np.testing.assert_allclose(cl.convolve2d(x, k), valid, rtol=1e-12, atol=1e-12)


def test_depthwise_is_per_channel_corr2d():
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((1, 6, 7, 4)), rng.standard_normal((3, 2, 1, 4))
    y = cl.conv2d(x, w, groups=4)
    for c in range(4):
        np.testing.assert_allclose(y[0, :, :, c], cl.corr2d(x[0, :, :, c], w[:, :, 0, c]),
                                   rtol=1e-12)


def test_multiple_input_channels_sum_per_channel_correlations():
    """6.1.5: H[i,j,d] = sum_c corr2d(X[..., c], V[..., c, d])."""
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((5, 5, 3)), rng.standard_normal((2, 2, 3, 2))
    y = cl.conv2d(x, w)
    for d in range(2):
        expected = sum(cl.corr2d(x[:, :, c], w[:, :, c, d]) for c in range(3))
        np.testing.assert_allclose(y[:, :, d], expected, rtol=1e-12)


@pytest.mark.parametrize(("a", "b", "out"), [
    (np.float32, np.float32, np.float32), (np.float64, np.float32, np.float64),
    (np.int64, np.int32, np.float64), (np.bool_, np.float32, np.float64),
    (np.int8, np.float32, np.float64), (np.float16, np.float16, np.float16),
])
def test_dtype_rules(a, b, out):
    x, w = np.ones((1, 3, 3, 1), a), np.ones((2, 2, 1, 1), b)
    y = cl.conv2d(x, w)
    assert y.dtype == out
    np.testing.assert_array_equal(y, np.full((1, 2, 2, 1), 4))


def test_empty_batch_gives_empty_batch():
    y = cl.conv2d(np.zeros((0, 5, 5, 2), np.float32), np.ones((3, 3, 2, 4), np.float32),
                  padding="same", stride=2)
    assert y.shape == (0, 3, 3, 4) and y.dtype == np.float32
    y = cl.conv2d(np.zeros((0, 2, 5, 5)), np.ones((4, 2, 3, 3)), data_format="NCHW",
                  kernel_format="OIHW")
    assert y.shape == (0, 4, 3, 3)


def test_inputs_are_never_modified():
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((2, 6, 6, 2)), rng.standard_normal((3, 3, 2, 2)), np.ones(2)
    copies = [a.copy() for a in (x, w, b)]
    cl.conv2d(x, w, b, padding="same", padding_mode="reflect")
    for a, c in zip((x, w, b), copies):
        np.testing.assert_array_equal(a, c)


def test_nan_and_inf_propagate_as_ieee_says():
    x = np.zeros((1, 4, 4, 1))
    x[0, 0, 0, 0] = np.nan
    x[0, 3, 3, 0] = np.inf
    y = cl.conv2d(x, np.ones((2, 2, 1, 1)))[0, :, :, 0]
    assert np.isnan(y[0, 0]) and np.isinf(y[2, 2]) and y[2, 2] > 0
    assert np.isfinite(y[0, 2]) and y[0, 2] == 0


def test_result_is_contiguous_in_the_callers_layout():
    y = cl.conv2d(np.ones((1, 2, 5, 5)), np.ones((3, 2, 3, 3)), data_format="NCHW",
                  kernel_format="OIHW")
    assert y.shape == (1, 3, 3, 3) and y.flags.c_contiguous


def test_lists_are_accepted_like_arrays():
    y = cl.conv2d([[[[1.0], [2.0]], [[3.0], [4.0]]]], [[[[1.0]]]])
    np.testing.assert_array_equal(y, [[[[1.0], [2.0]], [[3.0], [4.0]]]])


def test_workspace_limit_in_one_thread_does_not_leak_into_another():
    import threading

    default = cl.get_workspace_limit()
    inside, release = threading.Event(), threading.Event()
    seen: list[int] = []

    def hold_small_limit():
        with cl.workspace_limit(1 << 20):
            inside.set()
            release.wait(5)

    t = threading.Thread(target=hold_small_limit)
    t.start()
    inside.wait(5)
    seen.append(cl.get_workspace_limit())  # main thread, while the other holds 1 MiB
    release.set()
    t.join()
    assert seen == [default] and cl.get_workspace_limit() == default


def test_concurrent_calls_from_threads_give_the_serial_result():
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(11)
    x = rng.standard_normal((4, 20, 20, 8)).astype(np.float32)
    w = rng.standard_normal((3, 3, 8, 16)).astype(np.float32)
    expected = reference.conv2d(x, w, padding="same")
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: cl.conv2d(x, w, padding="same"), range(8)))
    for y in results:
        assert rel_err(y, expected) < 1e-5
