"""conv2d_backward: against the chain-rule loops, finite differences and torch autograd."""

import dataclasses
import tracemalloc
import types

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import configs

from convolab import conv2d, reference, select
from convolab.algorithms import REGISTRY, blas, im2col, scheduler
from convolab.config import workspace_limit
from convolab.ops.arguments import prepare
from convolab.ops.backward import conv2d_backward
from convolab.padding import check_padding_fits
from convolab.select import supports
from convolab.shapes import conv_geometry

seeds = st.integers(0, 2**31 - 1)
TORCH_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate",
              "circular": "circular"}


def grad_y_for(cfg, seed, dtype=np.float64):
    geom = conv_geometry((cfg.h, cfg.w), (cfg.kh, cfg.kw), stride=cfg.stride,
                         padding=cfg.padding, dilation=cfg.dilation)
    rng = np.random.default_rng(seed + 1)
    return rng.standard_normal((cfg.n, *geom.out_shape, cfg.o)).astype(dtype)


@given(configs(), seeds)
def test_gradients_match_reference_loops(cfg, seed):
    x, w, _ = cfg.arrays(seed)
    gy = grad_y_for(cfg, seed)
    gx, gw, gb = conv2d_backward(gy, x, w, **cfg.kwargs())
    rx, rw, rb = reference.conv2d_backward(gy, x, w, **cfg.kwargs())
    np.testing.assert_allclose(gx, rx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gw, rw, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gb, rb, rtol=1e-12, atol=1e-12)


@settings(max_examples=25)
@given(configs(max_hw=5), seeds)
def test_gradients_match_central_finite_differences(cfg, seed):
    """d/dt L(x + t dx, w + t dw, b + t db) at t=0, for L = <conv2d(...), gy>."""
    x, w, b = cfg.arrays(seed)
    gy = grad_y_for(cfg, seed)
    rng = np.random.default_rng(seed + 2)
    dx, dw, db = (rng.standard_normal(a.shape) for a in (x, w, b))
    gx, gw, gb = conv2d_backward(gy, x, w, **cfg.kwargs())

    def loss(t):
        return np.sum(conv2d(x + t * dx, w + t * dw, b + t * db, **cfg.kwargs()) * gy)

    eps = 1e-4
    numeric = (loss(eps) - loss(-eps)) / (2 * eps)
    analytic = np.sum(gx * dx) + np.sum(gw * dw) + np.sum(gb * db)
    assert abs(numeric - analytic) <= 1e-7 * max(1.0, abs(analytic))


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular", "symmetric"])
def test_every_input_pixel_gradient_matches_finite_differences(mode):
    """Entry by entry, so a border pixel that gets its reflected copy's gradient is checked."""
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((1, 4, 5, 2)), rng.standard_normal((3, 2, 2, 3))
    kw = dict(stride=(2, 1), padding=((2, 1), (1, 2)), dilation=(1, 2), padding_mode=mode)
    gy = rng.standard_normal(conv2d(x, w, **kw).shape)
    gx, gw, _ = conv2d_backward(gy, x, w, **kw)
    eps = 1e-5
    for arr, grad in ((x, gx), (w, gw)):
        numeric = np.zeros(arr.shape)
        for idx in np.ndindex(arr.shape):
            step = np.zeros(arr.shape)
            step[idx] = eps
            args = (x + step, w) if arr is x else (x, w + step)
            args_m = (x - step, w) if arr is x else (x, w - step)
            numeric[idx] = np.sum((conv2d(*args, **kw) - conv2d(*args_m, **kw)) * gy) / (2 * eps)
        np.testing.assert_allclose(grad, numeric, rtol=1e-7, atol=1e-8)


@given(configs().filter(lambda c: c.padding_mode != "symmetric"), seeds,
       st.sampled_from([np.float32, np.float64]))
def test_gradients_match_torch_autograd(cfg, seed, dtype):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x, w, b = cfg.arrays(seed, dtype)
    x_nchw, w_oihw = x.transpose(0, 3, 1, 2).copy(), w.transpose(3, 2, 0, 1).copy()
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x_nchw, w_oihw, b))
    geom = conv_geometry((cfg.h, cfg.w), (cfg.kh, cfg.kw), stride=cfg.stride,
                         padding=cfg.padding, dilation=cfg.dilation)
    (top, bottom), (left, right) = geom.pads
    xp = F.pad(xt, (left, right, top, bottom), mode=TORCH_MODE[cfg.padding_mode])
    yt = F.conv2d(xp, wt, bt, stride=cfg.stride, dilation=cfg.dilation, groups=cfg.groups)
    gy = grad_y_for(cfg, seed, dtype).transpose(0, 3, 1, 2).copy()
    yt.backward(torch.from_numpy(gy))
    gx, gw, gb = conv2d_backward(gy, x_nchw, w_oihw, data_format="NCHW", kernel_format="OIHW",
                                 **cfg.kwargs())
    tol = 1e-12 if dtype == np.float64 else 2e-5
    for ours, theirs in ((gx, xt.grad), (gw, wt.grad), (gb, bt.grad)):
        assert ours.dtype == dtype
        expected = theirs.numpy()
        np.testing.assert_allclose(ours, expected, rtol=tol,
                                   atol=tol * max(1.0, np.abs(expected).max()))


@given(configs(), seeds)
def test_layouts_give_the_same_gradients_transposed(cfg, seed):
    x, w, _ = cfg.arrays(seed)
    gy = grad_y_for(cfg, seed)
    gx, gw, gb = conv2d_backward(gy, x, w, **cfg.kwargs())
    gx2, gw2, gb2 = conv2d_backward(gy.transpose(0, 3, 1, 2), x.transpose(0, 3, 1, 2),
                                    w.transpose(3, 2, 0, 1), data_format="NCHW",
                                    kernel_format="OIHW", **cfg.kwargs())
    np.testing.assert_allclose(gx2, gx.transpose(0, 3, 1, 2), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gw2, gw.transpose(3, 2, 0, 1), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gb2, gb, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ["zeros", "reflect", "circular"])
def test_small_workspace_blocks_give_the_same_gradients(mode):
    """Row blocks of one image (and image blocks) accumulate to the unblocked result."""
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((3, 40, 50, 4)), rng.standard_normal((3, 3, 2, 6))
    kw = dict(stride=2, padding="same", dilation=(2, 1), groups=2, padding_mode=mode)
    gy = rng.standard_normal(conv2d(x, w, **kw).shape)
    gx, gw, gb = conv2d_backward(gy, x, w, **kw)
    with workspace_limit(64 << 10):  # a row costs 25*3*3*4*8 B: 9 of 20 rows per block
        gx2, gw2, gb2 = conv2d_backward(gy, x, w, **kw)
    np.testing.assert_allclose(gx2, gx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gw2, gw, rtol=1e-12, atol=1e-11)
    np.testing.assert_array_equal(gb2, gb)


def test_unbatched_input_gives_unbatched_grad_x():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((5, 6, 2)), rng.standard_normal((3, 3, 2, 4))
    gy = rng.standard_normal((3, 4, 4))
    gx, gw, _ = conv2d_backward(gy, x, w)
    gx4, gw4, _ = conv2d_backward(gy[None], x[None], w)
    assert gx.shape == x.shape
    np.testing.assert_allclose(gx, gx4[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gw, gw4, rtol=1e-12, atol=1e-12)


def test_dtypes_follow_promotion_and_bias_false_gives_none():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 4, 4, 1)).astype(np.float32)
    w = rng.standard_normal((2, 2, 1, 1)).astype(np.float32)
    gy = np.ones((1, 3, 3, 1), np.float32)
    gx, gw, gb = conv2d_backward(gy, x, w, bias=False)
    assert (gx.dtype, gw.dtype, gb) == (np.float32, np.float32, None)
    gx, gw, gb = conv2d_backward(gy.astype(np.float64), x, w)
    assert gx.dtype == gw.dtype == gb.dtype == np.float64


def test_empty_batch_has_zero_weight_gradient():
    x, w = np.zeros((0, 5, 5, 2)), np.ones((3, 3, 2, 4))
    gx, gw, gb = conv2d_backward(np.zeros((0, 3, 3, 4)), x, w)
    assert gx.shape == x.shape
    np.testing.assert_array_equal(gw, np.zeros(w.shape))
    np.testing.assert_array_equal(gb, np.zeros(4))


def test_inputs_are_not_modified():
    rng = np.random.default_rng(0)
    x, w, gy = (rng.standard_normal(s) for s in ((1, 5, 5, 2), (3, 3, 2, 2), (1, 5, 5, 2)))
    copies = [a.copy() for a in (x, w, gy)]
    conv2d_backward(gy, x, w, padding="same", padding_mode="reflect")
    for a, c in zip((x, w, gy), copies):
        np.testing.assert_array_equal(a, c)


def test_algorithm_without_backward_falls_back_to_im2col(monkeypatch):
    fake = types.SimpleNamespace(NAME="forward_only", forward=im2col.forward)
    monkeypatch.setitem(REGISTRY, "forward_only", fake)
    rng = np.random.default_rng(0)
    x, w, gy = (rng.standard_normal(s) for s in ((2, 5, 5, 2), (3, 3, 2, 2), (2, 2, 2, 2)))
    ours = conv2d_backward(gy, x, w, stride=2, algorithm="forward_only")
    expected = conv2d_backward(gy, x, w, stride=2, algorithm="im2col")
    for a, b in zip(ours, expected):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "shape, fmt, pattern",
    [
        ((1, 3, 4, 2), "NHWC",
         r"grad_y: must have the shape of the forward conv's output, \(1, 3, 3, 2\)"),
        ((3, 3, 2), "NHWC", r"grad_y.*\(1, 3, 3, 2\).*got \(3, 3, 2\)"),
        ((1, 3, 3, 2), "NCHW", r"grad_y.*\(1, 2, 3, 3\)"),
    ],
)
def test_grad_y_of_the_wrong_shape_is_an_error(shape, fmt, pattern):
    x = np.zeros((1, 5, 5, 2)) if fmt == "NHWC" else np.zeros((1, 2, 5, 5))
    with pytest.raises(ValueError, match=pattern):
        conv2d_backward(np.zeros(shape), x, np.zeros((3, 3, 2, 2)), data_format=fmt)


def test_backward_validates_like_conv2d():
    with pytest.raises(ValueError, match="padding"):
        conv2d_backward(np.zeros((1, 3, 3, 1)), np.zeros((1, 5, 5, 1)), np.zeros((3, 3, 1, 1)),
                        padding="sam")
    with pytest.raises(TypeError, match="grad_y"):
        conv2d_backward("a", np.zeros((1, 5, 5, 1)), np.zeros((3, 3, 1, 1)))


def test_backward_workspace_is_bounded_by_the_limit():
    """Peak memory is a few copies of x (gradient, folded border) plus blocks of the limit's
    size, far below the 4.7 MB that the whole column matrix would take."""
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 64, 64, 8)), rng.standard_normal((3, 3, 8, 8))
    kw = dict(padding="same", padding_mode="reflect")
    gy = rng.standard_normal(conv2d(x, w, **kw).shape)
    limit = 64 << 10
    with workspace_limit(limit):
        tracemalloc.start()
        conv2d_backward(gy, x, w, **kw)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    cols_bytes = x.size * 9 * 8  # one receptive field (3*3*8 values) per output pixel
    assert peak < 4 * x.nbytes + 4 * limit < cols_bytes


def test_gradients_are_bitwise_reproducible_across_parallel_blocks():
    """Blocks run on two workers; their results are combined in block order, not finish order."""
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 40, 30, 4)), rng.standard_normal((3, 3, 4, 4))
    gy = rng.standard_normal((2, 38, 14, 4))
    with workspace_limit(64 << 10):  # dozens of row blocks, overlapping bands (col2im)
        runs = [conv2d_backward(gy, x, w, stride=(1, 2), algorithm="im2col") for _ in range(4)]
    for gx, gw, _ in runs[1:]:
        np.testing.assert_array_equal(gx, runs[0][0])
        np.testing.assert_array_equal(gw, runs[0][1])


def test_an_error_in_one_block_is_raised_not_deadlocked(monkeypatch):
    calls = []

    def failing(*args):
        calls.append(1)
        if len(calls) == 3:
            raise MemoryError("block 3 ran out of memory")
        return col2im(*args)

    col2im = im2col._col2im
    monkeypatch.setattr(im2col, "_col2im", failing)
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 40, 30, 4)), rng.standard_normal((3, 3, 4, 4))
    with workspace_limit(64 << 10), pytest.raises(MemoryError, match="block 3"):
        conv2d_backward(rng.standard_normal((2, 38, 14, 4)), x, w, stride=(1, 2),
                        algorithm="im2col")


BACKWARD_CASES = [  # shapes chosen so that every registered algorithm supports some of them
    dict(x=(2, 7, 8, 4), w=(3, 3, 4, 6), kw=dict(padding="same")),
    dict(x=(2, 7, 8, 4), w=(1, 1, 4, 6), kw=dict()),
    dict(x=(2, 7, 8, 4), w=(3, 3, 1, 8), kw=dict(groups=4, padding=1, padding_mode="reflect")),
    dict(x=(1, 12, 11, 2), w=(5, 4, 2, 3), kw=dict(stride=2, dilation=(1, 2))),
    dict(x=(2, 12, 11, 1), w=(3, 4, 1, 1), kw=dict(padding="same", padding_mode="reflect")),
    dict(x=(1, 12, 11, 1), w=(3, 2, 1, 1), kw=dict(stride=(2, 1), padding=(2, 1))),
]


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_algorithm_gives_the_reference_gradients(name):
    """Forcing an algorithm forces its backward functions (or im2col's if it has none)."""
    ran = 0
    for case in BACKWARD_CASES:
        rng = np.random.default_rng(0)
        x, w = rng.standard_normal(case["x"]), rng.standard_normal(case["w"])
        if not supports(name, prepare(x, w, **case["kw"]).problem):
            continue
        gy = rng.standard_normal(conv2d(x, w, **case["kw"]).shape)
        gx, gw, gb = conv2d_backward(gy, x, w, algorithm=name, **case["kw"])
        rx, rw, rb = reference.conv2d_backward(gy, x, w, **case["kw"])
        np.testing.assert_allclose(gx, rx, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(gw, rw, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(gb, rb, rtol=1e-10, atol=1e-10)
        ran += 1
    assert ran, f"no case in BACKWARD_CASES is supported by {name!r}: add one"


def _valid(cfg) -> bool:
    try:
        g = conv_geometry((cfg.h, cfg.w), (cfg.kh, cfg.kw), stride=cfg.stride,
                          padding=cfg.padding, dilation=cfg.dilation)
        check_padding_fits(g.in_shape, g.pads, cfg.padding_mode)
    except ValueError:
        return False
    return True


stride_1_configs = configs().map(lambda c: dataclasses.replace(c, stride=(1, 1))).filter(_valid)


@pytest.mark.parametrize("factor", [0.0, float("inf")])  # always col2im / always the conv
@given(stride_1_configs, seeds)
def test_both_ways_to_grad_x_at_stride_1_match_the_reference(factor, cfg, seed):
    """At stride 1, grad_x is a conv of grad_y or col2im, whichever the cost model prices
    lower; both must be right for every option."""
    x, w, _ = cfg.arrays(seed)
    gy = grad_y_for(cfg, seed)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(select, "COL2IM_VS_IM2COL", factor)
        gx, _, _ = conv2d_backward(gy, x, w, **cfg.kwargs())
    rx, _, _ = reference.conv2d_backward(gy, x, w, **cfg.kwargs())
    np.testing.assert_allclose(gx, rx, rtol=1e-12, atol=1e-12)


@pytest.mark.skipif(not blas.gemms(), reason="phased needs NumPy's OpenBLAS (algorithms/blas.py)")
@pytest.mark.parametrize(("stride", "c", "runs"), [(2, 8, True), (1, 1, True), (1, 8, False)])
def test_auto_runs_phased_for_strided_or_one_channel_grad_x(monkeypatch, stride, c, runs,
                                                           numpy_engine):
    """"auto" sends grad_x to algorithms.phased at stride > 1 and where the conv of grad_y
    would not run on implicit GEMM (one input channel); stride 1 with channels: the conv."""
    from convolab.algorithms import phased

    calls = []
    real = phased.backward_input
    monkeypatch.setattr(phased, "backward_input", lambda *a: calls.append(1) or real(*a))
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 9, 9, c)), rng.standard_normal((3, 3, c, 8))
    kw = dict(stride=stride, padding="same")
    gy = rng.standard_normal(conv2d(x, w, **kw).shape)
    gx, _, _ = conv2d_backward(gy, x, w, **kw)
    assert bool(calls) == runs
    np.testing.assert_allclose(gx, reference.conv2d_backward(gy, x, w, **kw)[0], atol=1e-10)


def test_forced_phased_runs_phased_for_grad_x_and_auto_for_the_rest(monkeypatch):
    from convolab.algorithms import phased

    calls = []
    real = phased.backward_input
    monkeypatch.setattr(phased, "backward_input", lambda *a: calls.append(1) or real(*a))
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 9, 8, 3)), rng.standard_normal((3, 2, 3, 5))
    kw = dict(stride=1, padding="same", padding_mode="circular")
    gy = rng.standard_normal(conv2d(x, w, **kw).shape)
    if not phased.supports(prepare(x, w, **kw).problem):
        pytest.skip("phased needs NumPy's OpenBLAS (algorithms/blas.py)")
    got = conv2d_backward(gy, x, w, algorithm="phased", **kw)
    assert calls == [1]
    for ours, want in zip(got, reference.conv2d_backward(gy, x, w, **kw)):
        np.testing.assert_allclose(ours, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ["zeros", "reflect"])  # grad_x directly / the padded gradient
@pytest.mark.parametrize("stride", [1, 2])
def test_the_conv_of_grad_y_that_is_priced_is_the_one_run(monkeypatch, mode, stride):
    """algorithms.adjoint runs exactly the problems select prices (gradient_problems: the
    stride's phases past stride 1)."""
    from convolab.algorithms import adjoint

    seen = []
    real = im2col.forward
    monkeypatch.setattr(im2col, "forward", lambda x, w, q: seen.append(q) or real(x, w, q))
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 9, 8, 3)), rng.standard_normal((3, 3, 3, 4))
    kw = dict(stride=stride, padding="same", padding_mode=mode)
    p = prepare(x, w, **kw).problem
    gy = rng.standard_normal(p.y_shape)
    gx = adjoint.input_gradient(gy, adjoint.transposed_kernel(w, 1), p, 1, im2col.forward)
    assert seen == adjoint.gradient_problems(p)
    assert len(seen) == (1 if stride == 1 else 4)
    np.testing.assert_allclose(gx, reference.conv2d_backward(gy, x, w, **kw)[0], atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(cfg=configs(max_hw=9).filter(lambda c: max(c.stride) > 1 and c.dilation == (1, 1)),
       seed=st.integers(0, 2**31 - 1))
def test_the_strides_phases_give_the_input_gradient_by_every_algorithm(cfg, seed):
    """Past stride 1, algorithms.adjoint runs one stride-1 conv of grad_y per phase of the
    stride (no spread copy, no products with its zeros): every algorithm that supports those
    convs gives the definition's grad_x, every padding mode folded back."""
    from convolab.algorithms import adjoint

    x, w, _ = cfg.arrays(seed)
    p = prepare(x, w, **cfg.kwargs()).problem
    gy = np.random.default_rng(seed + 1).standard_normal(p.y_shape)
    want = reference.conv2d_backward(gy, x, w, **cfg.kwargs())[0]
    flipped = adjoint.transposed_kernel(w, cfg.groups)
    names = [n for n in REGISTRY if all(supports(n, q) for q in adjoint.gradient_problems(p))]
    assert names
    for name in names:
        gx = adjoint.input_gradient(gy, flipped, p, cfg.groups, REGISTRY[name].forward)
        np.testing.assert_allclose(gx, want, rtol=1e-10, atol=1e-10, err_msg=name)
    # the phases' copies into grad_x shared among two workers, as large ones are
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(adjoint, "COPY_SPLIT", 1)
        mp.setattr(scheduler, "workers", lambda: 2)
        gx = adjoint.input_gradient(gy, flipped, p, cfg.groups, REGISTRY[names[0]].forward)
    np.testing.assert_allclose(gx, want, rtol=1e-10, atol=1e-10)
