"""Channels-first calls with the layout change fused into image groups (channels_first.py).

Every kernel that binds (direct, winograd_f4, direct_depthwise) is run on NCHW
(and NCW) input through the fused path, at every instruction set this CPU has, against
``reference``: groups of one image and of several, a batch split over the workers, every
padding form and mode. A spy proves the fused path ran, so a silent fall back to the separate
transposes cannot pass for it.
"""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from strategies import MODES, examples, paddings

import convolab as cl
from convolab import _native, reference
from convolab.algorithms import (
    channels_first,
    channels_first_pointwise,
    direct_stencil,
    native,
    scheduler,
)
from convolab.ops.layout_routes import FUSED, SEPARATE
from convolab.padding import check_padding_fits
from convolab.plan import problem_of
from convolab.shapes import conv_geometry

pytestmark = pytest.mark.skipif(not _native.available(),
                                reason=f"the compiled core is not available: {_native.reason}")
ISAS = _native.supported_isas()
BOUND = ("direct", "winograd_f4", "direct_depthwise")


@st.composite
def problems(draw, name: str):
    """``(x shape NHWC, w shape HWIO, conv2d keywords)`` of a conv that ``name`` runs, with a
    batch of 2 to 5 images (the fused path wants a whole image a worker at least)."""
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    groups = 1
    if name == "winograd_f4":
        kh = kw = 3
        stride = dilation = (1, 1)
        c, o = draw(st.integers(1, 20)), draw(st.integers(1, 40))
    elif name == "direct_depthwise":  # small images: fused at any stride (not read as planes)
        c = o = groups = draw(st.integers(2, 40))
    else:
        groups = draw(st.sampled_from([1, 1, 2]))
        c, o = groups * draw(st.integers(1, 20)), groups * draw(st.integers(1, 20))
    h, w = draw(st.integers(1, 12)), draw(st.integers(1, 40))
    kwargs = dict(stride=stride, dilation=dilation, padding=draw(paddings),
                  padding_mode=draw(st.sampled_from(MODES)), groups=groups)
    try:
        g = conv_geometry((h, w), (kh, kw), stride=stride, padding=kwargs["padding"],
                          dilation=dilation)
        check_padding_fits(g.in_shape, g.pads, kwargs["padding_mode"])
    except ValueError:
        assume(False)
    return (draw(st.integers(2, 5)), h, w, c), (kh, kw, c // groups, o), kwargs


def spy(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record each fused call's batch; the fused path on any work, in groups of one image or
    of all of them, with two workers whatever the machine's cores (a batch of at least two
    images then qualifies)."""
    calls: list[int] = []
    real = channels_first.forward

    def recording(kernel, x, p):
        calls.append(x.shape[0])
        return real(kernel, x, p)

    monkeypatch.setattr(channels_first, "forward", recording)
    monkeypatch.setattr(native, "SERIAL_MACS", 0)
    monkeypatch.setattr(scheduler, "workers", lambda: 2)
    return calls


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("name", BOUND)
@settings(max_examples=examples(25), deadline=None)
@given(problem=st.data(), seed=st.integers(0, 2**31 - 1), f64=st.booleans(),
       group_bytes=st.sampled_from([1, 1 << 20]))
def test_the_fused_path_matches_reference(isa, name, problem, seed, f64, group_bytes):
    x_shape, w_shape, kw = problem.draw(problems(name))
    # a 1x1 layer that needs no padding is read as it lies instead (test_native_pointwise_cf)
    p = problem_of(np.empty(x_shape), np.empty(w_shape), **kw)
    assume(not channels_first_pointwise.reads(p))
    # a depthwise conv keeping its shape at stride 1 reads its planes flat (test_native_plane)
    assume(name != "direct_depthwise" or not direct_stencil.reads_flat(p))
    rng = np.random.default_rng(seed)
    dtype = np.float64 if f64 else np.float32
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[3]).astype(dtype)
    want = reference.conv2d(x, w, b, **kw).transpose(0, 3, 1, 2)
    with pytest.MonkeyPatch.context() as mp, _native.using(isa):
        calls = spy(mp)
        mp.setattr(channels_first, "GROUP_BYTES", group_bytes)  # 1: a task an image
        got = cl.conv2d(np.ascontiguousarray(x.transpose(0, 3, 1, 2)), w.transpose(3, 2, 0, 1),
                        b, data_format="NCHW", kernel_format="OIHW", algorithm=name, **kw)
    assert calls == [x_shape[0]]
    plan = cl.plan(x.transpose(0, 3, 1, 2), w.transpose(3, 2, 0, 1), data_format="NCHW",
                   kernel_format="OIHW", algorithm=name, **kw)
    assert plan.layout == FUSED and "transposed inside the work" in str(plan)
    assert got.shape == want.shape and got.dtype == dtype and got.flags.c_contiguous
    scale = max(np.abs(want).max(initial=0), 1e-30)
    assert np.abs(got - want).max(initial=0) / scale < (1e-12 if f64 else 1e-5)


def test_a_signal_and_an_unbatched_image_take_the_fused_path(monkeypatch):
    """NCW is an image of one row; an unbatched (C, H, W) image is a batch of one."""
    calls = spy(monkeypatch)
    monkeypatch.setattr(scheduler, "workers", lambda: 1)
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((3, 7, 50)), rng.standard_normal((5, 7, 4))  # NCW, OIW
    got = cl.conv1d(x, w, padding="same", stride=2, data_format="NCW", kernel_format="OIW",
                    algorithm="direct")
    want = reference.conv(x.transpose(0, 2, 1), w.transpose(2, 1, 0), padding="same", stride=2)
    np.testing.assert_allclose(got, want.transpose(0, 2, 1), rtol=1e-12, atol=1e-12)
    image, k = rng.standard_normal((6, 9, 11)), rng.standard_normal((4, 6, 3, 3))
    got = cl.conv2d(image, k, padding=1, data_format="NCHW", kernel_format="OIHW",
                    algorithm="winograd_f4")
    want = reference.conv2d(image.transpose(1, 2, 0)[None], k.transpose(2, 3, 1, 0), padding=1)
    np.testing.assert_allclose(got, want[0].transpose(2, 0, 1), rtol=1e-12, atol=1e-12)
    assert calls == [3, 1]


def test_a_non_finite_winograd_output_falls_back_to_the_definitions_result(monkeypatch):
    """Winograd's transforms would spread an Inf over its tile: the fused run reports it and
    the general path computes the definition's NaN/Inf pattern."""
    calls = spy(monkeypatch)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 5, 12, 12))
    x[1, 2, 6, 3] = np.inf
    w = rng.standard_normal((6, 5, 3, 3))
    with np.errstate(invalid="ignore", over="ignore"):
        got = cl.conv2d(x, w, padding="same", data_format="NCHW", kernel_format="OIHW",
                        algorithm="winograd_f4")
        want = reference.conv2d(x.transpose(0, 2, 3, 1), w.transpose(2, 3, 1, 0),
                                padding="same").transpose(0, 3, 1, 2)
    assert calls == [2]
    for test in (np.isnan, np.isposinf, np.isneginf):
        np.testing.assert_array_equal(test(got), test(want))
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-12, atol=1e-12)


def test_what_the_fused_path_leaves_to_the_separate_transposes(monkeypatch):
    """A batch smaller than the workers, an image past ``IMAGE_BYTES``, an algorithm with no
    bound kernel, a volume: the general path runs, with the same result."""
    calls = spy(monkeypatch)
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((1, 3, 8, 8)), rng.standard_normal((4, 3, 3, 3))
    want = reference.conv2d(x.transpose(0, 2, 3, 1), w.transpose(2, 3, 1, 0))
    for algorithm in ("direct", "im2col"):
        got = cl.conv2d(x, w, data_format="NCHW", kernel_format="OIHW", algorithm=algorithm)
        np.testing.assert_allclose(got, want.transpose(0, 3, 1, 2), rtol=1e-12, atol=1e-12)
        assert cl.plan(x, w, data_format="NCHW", kernel_format="OIHW",
                       algorithm=algorithm).layout == SEPARATE
    v, k = rng.standard_normal((2, 3, 4, 5, 6)), rng.standard_normal((2, 3, 2, 2, 2))
    for algorithm in ("direct", "winograd_f4", "im2col"):  # folded to images, or as they lie
        kk = np.ones((2, 3, 2, 3, 3)) if algorithm == "winograd_f4" else k
        got = cl.conv3d(v, kk, padding=1, data_format="NCDHW", kernel_format="OIDHW",
                        algorithm=algorithm)
        wanted = reference.conv(v.transpose(0, 2, 3, 4, 1), kk.transpose(2, 3, 4, 1, 0), padding=1)
        np.testing.assert_allclose(got, np.moveaxis(wanted, -1, 1), rtol=1e-12, atol=1e-12)
    monkeypatch.setattr(channels_first, "IMAGE_BYTES", 100)
    got = cl.conv2d(np.concatenate([x, x]), w, data_format="NCHW", kernel_format="OIHW")
    np.testing.assert_allclose(got[1], want[0].transpose(2, 0, 1), rtol=1e-12, atol=1e-12)
    assert calls == []


def test_a_depthwise_image_within_l2_is_fused_and_a_larger_one_read_as_planes(monkeypatch):
    """An NCHW depthwise conv whose image (input and output) fits ``FUSED_DEPTHWISE_BYTES``
    is transposed in L2; a larger one is read as N*C planes, as it lies. (A "same" conv at
    stride 1 reads its planes flat at any size: tests/test_native_plane.py.)"""
    from convolab.ops.layout_routes import FUSED_DEPTHWISE_BYTES, PLANES

    monkeypatch.setattr(scheduler, "workers", lambda: 2)

    def route(c: int, hw: int, padding: str = "valid") -> str:
        x, w = np.empty((2, c, hw, hw), np.float32), np.empty((c, 1, 3, 3), np.float32)
        return cl.plan(x, w, padding=padding, groups=c, data_format="NCHW",
                       kernel_format="OIHW", algorithm="direct_depthwise").layout

    assert 128 * (44 * 44 + 42 * 42) * 4 <= FUSED_DEPTHWISE_BYTES < 128 * (56 * 56 + 54 * 54) * 4
    assert route(128, 44) == FUSED
    assert route(128, 56) == PLANES
    assert route(128, 44, "same") == PLANES
