"""Planes read flat (``_native/plane_kernel.h``): a one-channel conv whose output keeps its
input's shape (stride 1, zero padding), each plane one long row.

The entry point is run at every instruction set this CPU has against ``reference``: every
split of the padding that keeps the shape (not only the centred one), dilation, the kernels
compiled for 3x3 and 5x5 and the general one, planes narrower than a vector, a bank of
kernels, any range of output pixels (nothing written outside it), several workers, an
output large enough to be stored non-temporally, and the definition's Inf/NaN pattern. Then
the public calls that take it: an image filter (NHWC and NCHW) and an NCHW depthwise conv.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import assert_same_non_finite, examples

import convolab as cl
from convolab import _native, reference
from convolab.algorithms import direct_stencil, scheduler
from convolab.ops import layout_routes
from convolab.padding import index_map

pytestmark = pytest.mark.skipif(not _native.available(),
                                reason=f"the compiled core is not available: {_native.reason}")
ISAS = _native.supported_isas()


def flat_call(x, w, b, pads, dilation, q0=0, q1=None, chunk=0, workers=1, bank=0):
    """``plane_stencil`` on planes ``x`` (N, H, W) with kernel ``w`` ((kh, kw), or (K, kh, kw)
    with ``bank`` = K); the output starts as NaN, so a pixel left unwritten shows."""
    n, h, wd = x.shape
    kh, kw = w.shape[-2:]
    (pt, pb), (pl, pr) = pads
    rows = np.ascontiguousarray(index_map(h, pt, pb, "zeros"), np.int64)
    cols = np.ascontiguousarray(index_map(wd, pl, pr, "zeros"), np.int64)
    y = np.full(x.shape, np.nan, x.dtype)
    geometry = (n, h, wd, 1, h, wd, 1, kh, kw, 1, 1, *dilation, 1)
    _native.core.plane_stencil(x, w, b, y, rows, cols, geometry, bank, q0,
                               n * h * wd if q1 is None else q1, None, chunk, workers)
    return y


def wanted(x, w, b, pads, dilation, bank):
    """The definition's planes: plane m by kernel m % K, in float64, with its magnitudes."""
    kernels = w.reshape(-1, *w.shape[-2:]).astype(np.float64)
    out, mag = np.empty(x.shape), np.empty(x.shape)
    for m in range(x.shape[0]):
        k = m % max(bank, 1)
        xm = x[m][None, :, :, None].astype(np.float64)
        wm = kernels[k][:, :, None, None]
        bm = None if b is None else b[k : k + 1].astype(np.float64)
        kw = dict(padding=pads, dilation=dilation)
        out[m] = reference.conv(xm, wm, bm, **kw)[0, :, :, 0]
        mag[m] = reference.conv(np.abs(xm), np.abs(wm), None if bm is None else np.abs(bm),
                                **kw)[0, :, :, 0]
    return out, mag


@st.composite
def plane_problems(draw):
    """Planes, a kernel and a padding that keeps their shape, split any way."""
    kh, kw = draw(st.sampled_from([3, 5, 1, 2, 4, 7])), draw(st.sampled_from([3, 5, 1, 2, 6]))
    if draw(st.booleans()):
        kw = kh  # the square kernels compiled on their own
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 3)))
    span = ((kh - 1) * dilation[0], (kw - 1) * dilation[1])
    top, left = draw(st.integers(0, span[0])), draw(st.integers(0, span[1]))
    if draw(st.booleans()):  # the centred split ("same")
        top, left = span[0] // 2, span[1] // 2
    pads = ((top, span[0] - top), (left, span[1] - left))
    n, h, w = draw(st.integers(1, 4)), draw(st.integers(1, 40)), draw(st.integers(1, 70))
    return (n, h, w), (kh, kw), pads, dilation


@pytest.mark.parametrize("isa", ISAS)
@settings(max_examples=examples(60), deadline=None)
@given(problem=plane_problems(), f64=st.booleans(), bank=st.sampled_from([0, 1, 3]),
       bias=st.booleans(), cut=st.tuples(st.floats(0, 1), st.floats(0, 1)),
       workers=st.integers(1, 3), chunk=st.integers(1, 500), seed=st.integers(0, 2**31 - 1))
def test_planes_read_flat_match_reference(isa, problem, f64, bank, bias, cut, workers, chunk,
                                          seed):
    shape, (kh, kw), pads, dilation = problem
    dtype = np.float64 if f64 else np.float32
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((bank, kh, kw) if bank else (kh, kw)).astype(dtype)
    b = rng.standard_normal(max(bank, 1)).astype(dtype) if bias else None
    total = x.size
    q0, q1 = sorted(int(c * total) for c in cut)
    with _native.using(isa):
        y = flat_call(x, w, b, pads, dilation, q0, q1, chunk, workers, bank)
    want, mag = wanted(x, w, b, pads, dilation, bank)
    got, want, mag = y.reshape(-1), want.reshape(-1), mag.reshape(-1)
    assert np.isnan(got[:q0]).all() and np.isnan(got[q1:]).all()  # nothing outside the range
    err = np.max(np.abs(got[q0:q1] - want[q0:q1]), initial=0)
    assert err <= (1e-12 if f64 else 1e-5) * max(np.max(mag, initial=0), 1e-30)


@pytest.mark.parametrize("isa", ISAS)
@settings(max_examples=examples(30), deadline=None)
@given(problem=plane_problems(), f64=st.booleans(), seed=st.integers(0, 2**31 - 1),
       inf_weight=st.booleans())
def test_planes_read_flat_keep_the_definitions_inf_and_nan(isa, problem, f64, seed, inf_weight):
    """An Inf or NaN reaches exactly the outputs whose windows hold it; an Inf weight makes the
    padding's zeros NaN, as the definition's products do, and no lane past a row's end (or a
    plane's) multiplies anything."""
    shape, (kh, kw), pads, dilation = problem
    dtype = np.float64 if f64 else np.float32
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((kh, kw)).astype(dtype)
    flat = x.reshape(-1)
    for value in (np.inf, -np.inf, np.nan):
        flat[rng.integers(0, flat.size)] = value
    if inf_weight:
        w[rng.integers(0, kh), rng.integers(0, kw)] = np.inf
    with _native.using(isa):
        y = flat_call(x, w, None, pads, dilation)
    with np.errstate(invalid="ignore"):  # the definition's own NaNs
        want, _ = wanted(x, w, None, pads, dilation, 0)
    assert_same_non_finite(y, want, 1e-4)


@pytest.mark.parametrize("isa", ISAS)
def test_a_large_output_is_streamed_and_still_right(isa):
    """Past 16 MiB (CL_STREAM_BYTES) the aligned vectors are stored non-temporally, the rest
    plainly: on an output starting off a line (NumPy's placement), over two workers."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 1031, 1400)).astype(np.float32)  # 17.3 MB
    w = rng.standard_normal((3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    pads = ((1, 1), (1, 1))
    with _native.using(isa):
        y = flat_call(x, w, b, pads, (1, 1), chunk=100_003, workers=2, bank=3)
    # the definition as shifts and adds (the loops of `reference` take minutes at this size)
    padded = np.pad(x.astype(np.float64), ((0, 0), (1, 1), (1, 1)))
    want = np.broadcast_to(b[:, None, None], x.shape).astype(np.float64)
    for i in range(3):
        for j in range(3):
            want = want + w[:, i, j, None, None] * padded[:, i : i + 1031, j : j + 1400]
    assert np.max(np.abs(y - want)) <= 1e-5 * np.max(np.abs(want))
    # and `reference` on the corners (a crop's outputs but its last or first row and column)
    top, _ = wanted(x[:, :20, :30], w, b, pads, (1, 1), 3)
    bottom, _ = wanted(x[:, -20:, -30:], w, b, pads, (1, 1), 3)
    np.testing.assert_allclose(y[:, :19, :29], top[:, :19, :29], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y[:, -19:, -29:], bottom[:, 1:, 1:], rtol=1e-5, atol=1e-5)


def test_the_entry_point_refuses_what_it_does_not_compute():
    x = np.zeros((1, 6, 6), np.float32)
    w = np.ones((3, 3), np.float32)
    y = np.zeros_like(x)  # (and its first three rows: a stride's output)
    same = np.array([-1, 0, 1, 2, 3, 4, 5, -1], np.int64)
    geometry = (1, 6, 6, 1, 6, 6, 1, 3, 3, 1, 1, 1, 1, 1)
    reflect = np.array([1, 0, 1, 2, 3, 4, 5, 4], np.int64)
    with pytest.raises(ValueError, match="zero padding"):
        _native.core.plane_stencil(x, w, None, y, reflect, same, geometry, 0, 0, 36)
    with pytest.raises(ValueError, match="zero padding"):
        _native.core.plane_stencil(x, w, None, y[:, :3], same, same,
                                   (1, 6, 6, 1, 3, 6, 1, 3, 3, 2, 1, 1, 1, 1), 0, 0, 18)
    shifted = np.array([-1, 1, 2, 3, 4, 5, 0, -1], np.int64)  # a permutation, not a padding
    with pytest.raises(ValueError, match="zero padding"):
        _native.core.plane_stencil(x, w, None, y, shifted, same, geometry, 0, 0, 36)
    with pytest.raises(ValueError, match="bank"):
        _native.core.plane_stencil(x, w, None, y, same, same, geometry, -1, 0, 36)
    with pytest.raises(ValueError, match="w: expected 18 items"):
        _native.core.plane_stencil(x, w, None, y, same, same, geometry, 2, 0, 36)
    with pytest.raises(ValueError, match="pixels"):
        _native.core.plane_stencil(x, w, None, y, same, same, geometry, 0, 0, 37)
    # a kernel span that wraps round: refused before any size is computed from it
    with pytest.raises(ValueError, match="overflow"):
        _native.core.plane_stencil(x, w[:1, :1], None, y, same, same,
                                   (1, 6, 6, 1, 6, 6, 1, 2**62 + 1, 1, 1, 1, 4, 1, 1), 3, 0, 36)


def spy(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record each plane_stencil call's batch of planes."""
    calls: list[int] = []
    core = _native.core

    class Spy:
        def __getattr__(self, name):
            return getattr(core, name)

        def plane_stencil(self, x, *args):
            calls.append(x.shape[0] if x.ndim == 3 else x.shape[0] * x.shape[1])
            return core.plane_stencil(x, *args)

    monkeypatch.setattr(_native, "core", Spy())
    return calls


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_an_image_filter_keeping_its_shape_reads_the_planes_flat(monkeypatch, isa, layout):
    """corr2d-style filters ("same", stride 1, zero padding) of one channel take the flat
    planes in either layout; a reflected border or a stride takes the row ring."""
    calls = spy(monkeypatch)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 37, 53, 1))
    w = rng.standard_normal((3, 5, 1, 1))
    kw = dict(padding="same", algorithm="direct_stencil")
    want = reference.conv2d(x, w, **{k: v for k, v in kw.items() if k != "algorithm"})
    with _native.using(isa):
        if layout == "NCHW":
            got = cl.conv2d(x.transpose(0, 3, 1, 2), w.transpose(3, 2, 0, 1), data_format="NCHW",
                            kernel_format="OIHW", **kw).transpose(0, 2, 3, 1)
        else:
            got = cl.conv2d(x, w, **kw)
        assert calls, "the flat planes did not run"
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        calls.clear()
        cl.conv2d(x, w, padding="same", padding_mode="reflect", algorithm="direct_stencil")
        cl.conv2d(x, w, padding="same", stride=(2, 1), algorithm="direct_stencil")
        assert not calls


def test_an_nchw_depthwise_conv_keeping_its_shape_reads_its_planes_flat_at_any_size(
        monkeypatch):
    """A "same" NCHW depthwise conv at stride 1 is N*C planes read flat, however small its
    images (they no longer take the fused transposes); another padding keeps the old route."""
    calls = spy(monkeypatch)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 6, 9, 20)).astype(np.float32)
    w = rng.standard_normal((6, 1, 3, 3)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    kw = dict(padding="same", groups=6, data_format="NCHW", kernel_format="OIHW",
              algorithm="direct_depthwise")
    assert cl.plan(x, w, **kw).layout == layout_routes.PLANES
    assert direct_stencil.reads_flat(cl.plan(x, w, **kw).problem)
    got = cl.conv2d(x, w, b, **kw)
    assert calls == [12]
    want = reference.conv2d(x.transpose(0, 2, 3, 1), w.transpose(2, 3, 1, 0), b, padding="same",
                            groups=6)
    np.testing.assert_allclose(got, want.transpose(0, 3, 1, 2), rtol=1e-5, atol=1e-5)
    monkeypatch.setattr(scheduler, "workers", lambda: 2)  # the fused path's batch: 2 images
    assert cl.plan(x, w, **dict(kw, padding="valid")).layout == layout_routes.FUSED


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_a_bias_of_another_dtype_is_taken_in_the_computes_dtype(layout):
    """The public call casts the bias as for any route: a float32 bias on float64 planes."""
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 21, 35, 1))
    w = rng.standard_normal((3, 3, 1, 1))
    b = rng.standard_normal(1).astype(np.float32)
    want = reference.conv2d(x, w, b, padding="same")
    if layout == "NCHW":
        got = cl.conv2d(x.transpose(0, 3, 1, 2), w.transpose(3, 2, 0, 1), b, padding="same",
                        data_format="NCHW", kernel_format="OIHW").transpose(0, 2, 3, 1)
    else:
        got = cl.conv2d(x, w, b, padding="same")
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
