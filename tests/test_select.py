"""The cost model behind ``algorithm="auto"`` and ``cl.plan``: choices, reasons, errors."""

import numpy as np
import pytest

import convolab as cl
from convolab.algorithms import REGISTRY, blas
from convolab.plan import Plan, plan, problem_of
from convolab.select import choose, choose_input_gradient, estimates, gemm_efficiency, supports

# (x shape NHWC, w shape HWIO, keywords) of layers whose best algorithm is not in doubt
CLEAR_CHOICES = [
    ("pointwise", (16, 28, 28, 256), (1, 1, 256, 64), {}),
    ("depthwise", (16, 56, 56, 128), (3, 3, 1, 128), {"groups": 128, "padding": "same"}),
    ("fft", (1, 1024, 1024, 1), (31, 31, 1, 1), {"padding": "same"}),
    ("im2col", (4, 224, 224, 3), (7, 7, 3, 64), {"stride": 2, "padding": "same"}),
]


@pytest.mark.parametrize(("expected", "x_shape", "w_shape", "kw"), CLEAR_CHOICES)
def test_auto_picks_the_algorithm_made_for_the_layer(expected, x_shape, w_shape, kw,
                                                     numpy_engine):
    assert plan(x_shape, w_shape, **kw).algorithm == expected


def test_large_kernel_on_a_large_image_picks_fft_by_itself():
    p = plan((1, 1024, 1024, 1), (31, 31, 1, 1), padding="same")
    assert p.algorithm == "fft"
    assert p.flops < p.direct_flops / 5  # FFT does a fraction of the direct arithmetic


def test_a_3x3_layer_with_many_channels_goes_to_a_gemm_algorithm(numpy_engine):
    p = plan((16, 28, 28, 128), (3, 3, 128, 128), padding="same")
    gemms = {"implicit", "winograd", "im2col"}
    assert p.algorithm in gemms
    assert {e.algorithm for e in p.alternatives} >= gemms - {p.algorithm}


def test_plan_of_arrays_equals_plan_of_their_shapes():
    x, w = np.zeros((2, 9, 9, 4), np.float32), np.zeros((3, 3, 4, 8), np.float32)
    a, b = plan(x, w, padding="same"), plan(x.shape, w.shape, padding="same")
    assert a.algorithm == b.algorithm and a.problem == b.problem


def test_plan_is_what_conv2d_runs(monkeypatch):
    ran = []
    x, w = np.ones((1, 40, 40, 1), np.float32), np.ones((15, 15, 1, 1), np.float32)
    for name, module in REGISTRY.items():
        def spy(x, w, p, bias=None, _f=module.forward, _n=name):
            ran.append(_n)
            return _f(x, w, p, bias)
        monkeypatch.setattr(module, "forward", spy)
    cl.conv2d(x, w, padding="same")
    assert ran == [plan(x, w, padding="same").algorithm]


def test_plan_reads_nchw_and_oihw_like_conv2d():
    nhwc = plan((2, 10, 12, 3), (5, 5, 3, 4))
    nchw = plan((2, 3, 10, 12), (4, 3, 5, 5), data_format="NCHW", kernel_format="OIHW")
    assert nhwc.problem == nchw.problem


def test_plan_says_what_why_how_much():
    p = plan((16, 56, 56, 64), (3, 3, 64, 64), padding="same")
    assert isinstance(p, Plan)
    assert p.flops > 0 and p.workspace > 0 and p.seconds > 0
    assert p.direct_flops == 2 * 16 * 56 * 56 * 64 * 9 * 64
    text = str(p)
    assert p.algorithm in text and "why:" in text and "MiB" in text
    assert all(e.algorithm in text for e in p.alternatives)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("w_shape", "kw"), [
    ((3, 3, 2, 4), {}),
    ((3, 3, 1, 4), {"groups": 2}),  # every estimate 0 s: was a ZeroDivisionError
    ((3, 3, 2, 4), {"padding": "same", "stride": 2}),
    ((1, 1, 2, 4), {"algorithm": "im2col"}),
])
def test_plan_of_an_empty_batch_says_nothing_runs_as_conv2d_does(dtype, w_shape, kw):
    x, w = np.zeros((0, 16, 17, 2), dtype), np.ones(w_shape, dtype)
    p = plan(x, w, **kw)
    y = cl.conv2d(x, w, **kw)
    assert y.shape == p.problem.y_shape and y.shape[0] == 0
    assert p.algorithm == choose(p.problem, kw.get("algorithm", "auto"))  # what conv2d picks
    assert p.seconds == 0 and p.flops == 0 and p.workspace == 0
    assert "empty batch" in p.reason and "empty batch" in str(p)


def test_forced_algorithm_is_reported_as_forced():
    p = plan((1, 16, 16, 2), (3, 3, 2, 2), algorithm="im2col")
    assert p.algorithm == "im2col" and p.reason.startswith("forced")


def test_plan_rejects_an_unknown_algorithm():
    with pytest.raises(ValueError, match="algorithm: expected one of"):
        plan((1, 8, 8, 1), (3, 3, 1, 1), algorithm="fastest")


def test_plan_rejects_an_algorithm_that_cannot_run_the_conv():
    with pytest.raises(ValueError, match="'winograd' cannot run .* needs a 3x3 kernel"):
        plan((1, 8, 8, 1), (5, 5, 1, 1), algorithm="winograd")


def test_plan_validates_like_conv2d():
    with pytest.raises(ValueError, match="groups"):
        plan((1, 8, 8, 3), (3, 3, 1, 4), groups=3)
    with pytest.raises(ValueError, match="padding"):
        plan((1, 8, 8, 1), (3, 3, 1, 1), padding="sam")


def test_estimates_are_sorted_and_only_supporting_algorithms():
    p = problem_of((1, 20, 20, 4), (3, 3, 4, 4), padding="same")
    est = estimates(p)
    assert [e.seconds for e in est] == sorted(e.seconds for e in est)
    assert {e.algorithm for e in est} == {n for n in REGISTRY if supports(n, p)}
    assert choose(p) == est[0].algorithm


def test_every_estimate_stays_within_the_workspace_limit():
    p = problem_of((8, 64, 64, 32), (3, 3, 32, 32), padding="same")
    for e in estimates(p):
        assert e.cost.workspace <= cl.get_workspace_limit() + (1 << 20), e.algorithm


def test_thin_matrices_rate_below_square_ones():
    square = gemm_efficiency(2048, 2048, 2048)
    assert gemm_efficiency(2048, 2048, 1) < gemm_efficiency(2048, 2048, 64) < square <= 1
    assert gemm_efficiency(2048, 9, 64) < gemm_efficiency(2048, 576, 64)


def test_plan_of_a_dask_array_reads_only_its_shape_and_dtype():
    da = pytest.importorskip("dask.array")
    x = da.ones((2, 64, 64, 3), dtype=np.float64, chunks=(1, 32, 32, 3))
    p = plan(x, (3, 3, 3, 8), padding="same")
    assert p.problem.x_shape == (2, 64, 64, 3) and p.problem.dtype == np.float64


@pytest.mark.parametrize(("name", "x_shape", "w_shape", "kw"), [
    ("im2col", (4, 64, 64, 16), (5, 5, 16, 16), {}),
    ("winograd", (4, 64, 64, 32), (3, 3, 32, 32), {}),
    ("implicit", (4, 64, 64, 32), (3, 3, 32, 32), {}),
    ("depthwise", (4, 64, 64, 64), (3, 3, 1, 64), {"groups": 64}),
    ("fft", (1, 700, 700, 1), (21, 21, 1, 1), {}),
    ("toeplitz", (16, 64, 64, 1), (5, 5, 1, 6), {}),
])
def test_planned_workspace_is_what_the_call_allocates_within_2x(name, x_shape, w_shape, kw):
    import tracemalloc

    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape, dtype=np.float32)
    w = rng.standard_normal(w_shape, dtype=np.float32)
    p = plan(x, w, padding="same", algorithm=name, **kw)
    tracemalloc.start()
    tracemalloc.reset_peak()
    cl.conv2d(x, w, padding="same", algorithm=name, **kw)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    scratch = peak - 4 * np.prod(p.problem.y_shape)  # all but the output
    assert p.workspace / 2 <= scratch <= 2 * p.workspace


# the benchmark suite's backward cases (float32, "same"): what "auto" runs for grad_x, measured
INPUT_GRADIENT_CHOICES = [
    ("toeplitz", (64, 28, 28, 1), (5, 5, 1, 6), {}),  # lenet1: one input channel
    ("adjoint:implicit", (16, 56, 56, 64), (3, 3, 64, 64), {}),  # res3x3a
    ("phased", (16, 56, 56, 64), (3, 3, 64, 128), {"stride": 2}),  # res3x3s2
    ("adjoint:depthwise", (16, 56, 56, 128), (3, 3, 1, 128), {"groups": 128}),  # dw3x3
    ("adjoint:stencil", (1, 512, 512, 1), (5, 5, 1, 1), {}),  # a one-channel image filter
]


@pytest.mark.skipif(not blas.gemms(), reason="phased and implicit need NumPy's OpenBLAS")
@pytest.mark.parametrize(("expected", "x_shape", "w_shape", "kw"), INPUT_GRADIENT_CHOICES)
def test_auto_input_gradient_keeps_the_measured_choices(expected, x_shape, w_shape, kw,
                                                        numpy_engine):
    p = problem_of(x_shape, w_shape, padding="same", **kw)
    assert choose_input_gradient(p) == expected


def test_forced_input_gradient_is_the_conv_of_grad_y_at_stride_1_else_its_own():
    p1 = problem_of((2, 9, 9, 3), (3, 3, 3, 4), padding="same")
    p2 = problem_of((2, 9, 9, 3), (3, 3, 3, 4), padding="same", stride=2)
    assert choose_input_gradient(p1, "im2col") == "adjoint:im2col"
    assert choose_input_gradient(p2, "im2col") == "im2col"
    # with a stride the conv of grad_y (mostly zeros between pixels) is not used: FFT's own way
    assert choose_input_gradient(p2, "fft") == "fft"


def test_input_gradient_by_an_algorithm_that_cannot_run_it_is_an_error():
    grouped = problem_of((2, 9, 9, 4), (3, 3, 2, 4), groups=2)
    with pytest.raises(ValueError, match="'phased' cannot run this conv.*groups=1"):
        choose_input_gradient(grouped, "phased")
    with pytest.raises(ValueError, match="algorithm: expected one of.*did you mean 'phased'"):
        choose_input_gradient(grouped, "phase")


def test_plan_shows_how_backward_computes_grad_x():
    p = plan((2, 9, 9, 3), (3, 3, 3, 4), padding="same", algorithm="im2col")
    assert p.input_gradient == "adjoint:im2col"
    assert "grad_x in conv_backward: adjoint:im2col" in str(p)
