"""Direct's tiles storing through a placement: a stride's phases of an input gradient write
their pixels into grad_x itself (``direct.forward_into``, ``adjoint._by_phases``)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import configs, examples
from test_native import ISAS, arrays, problems, rel_err

from convolab import _native, reference
from convolab.algorithms import adjoint, direct, native
from convolab.plan import problem_of

pytestmark = pytest.mark.skipif(not _native.available(), reason="the compiled core is not built")


@pytest.mark.parametrize("isa", ISAS)
@settings(max_examples=examples(30), deadline=None)
@given(problem=st.data(), seed=st.integers(0, 2**31 - 1), f64=st.booleans(),
       step=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       start=st.tuples(st.integers(0, 2), st.integers(0, 2)))
def test_forward_into_a_view_writes_its_pixels_and_nothing_else(isa, problem, seed, f64, step,
                                                                 start):
    """Every output pixel lands where the view has it, equal to the forward conv; every
    other value of the base array keeps its sentinel (a wider pixel stride, rows and images
    apart, an offset start)."""
    x_shape, w_shape, kw = problem.draw(problems())
    dtype = np.float64 if f64 else np.float32
    x, w, _ = arrays(x_shape, w_shape, seed, dtype)
    p = problem_of(x, w, **kw)
    n, ho, wo, o = p.y_shape
    base = np.full((n, start[0] + ho * step[0], start[1] + wo * step[1], o + 3), 7.5, dtype)
    view = base[:, start[0]::step[0], start[1]::step[1], :o][:, :ho, :wo]
    with _native.using(isa):
        direct.forward_into(x, w, p, base, view)
    want = reference.conv2d(x, w, **kw)
    assert rel_err(view, want) < (1e-12 if f64 else 1e-5)
    untouched = np.ones(base.shape, bool)
    untouched[:, start[0]::step[0], start[1]::step[1], :o][:, :ho, :wo] = False
    assert (base[untouched] == 7.5).all()


@pytest.mark.parametrize("isa", ISAS)
@settings(max_examples=examples(30), deadline=None)
@given(cfg=configs(max_hw=11).filter(lambda c: max(c.stride) > 1 and c.dilation == (1, 1)),
       seed=st.integers(0, 2**31 - 1))
def test_the_strides_phases_written_into_grad_x_give_the_input_gradient(isa, cfg, seed):
    """Each phase cropped to the rows and columns inside the input (its padding moved, a
    negative amount skipping grad_y's first rows) and stored into grad_x by the tiles: the
    definition's grad_x, every padding mode (those folded back copy instead)."""
    x, w, _ = cfg.arrays(seed)
    p = problem_of(x, w, **cfg.kwargs())
    gy = np.random.default_rng(seed + 1).standard_normal(p.y_shape)
    flipped = adjoint.transposed_kernel(w, cfg.groups)
    with _native.using(isa):
        gx = adjoint.input_gradient(gy, flipped, p, cfg.groups, direct.forward,
                                    direct.forward_into)
    want = reference.conv2d_backward(gy, x, w, **cfg.kwargs())[0]
    np.testing.assert_allclose(gx, want, rtol=1e-10, atol=1e-10)


def _call(y: np.ndarray, placement: object, *, n: int = 1, nv: int | None = None,
          **extra: object) -> None:
    """core.direct of a 1x1 conv (n, 2, 2, 4) -> 16 outputs, into y through placement."""
    x = np.ones((n, 2, 2, 4), np.float32)
    w = np.ones((1, 1, 4, 16), np.float32)
    p = problem_of(x, w)
    nv = direct.tile(p, dot=False)[0] if nv is None else nv
    packed = direct.pack(w, None, p, nv * _native.core.lanes(4))[0] if nv else direct.pack_dot(w, p)
    rows, cols = native.maps(p)
    _native.core.direct(x, packed, None, y, rows, cols, native.geometry(p), nv, 0, 4 * n, None,
                        extra.get("chunk", 0), 1, extra.get("planar", 0), placement)


def test_a_placement_inside_y_is_taken():
    y = np.zeros(4 * 4 * 16, np.float32)  # every other row and column of a (1, 4, 4, 16)
    _call(y, (0, 256, 128, 32))
    assert y.reshape(4, 4, 16)[::2, ::2].min() == 4.0
    assert y.reshape(4, 4, 16)[1::2].max() == y.reshape(4, 4, 16)[:, 1::2].max() == 0.0


@pytest.mark.parametrize("placement", [
    (0, 64, 32, 8),    # pixels overlap (ysw < O)
    (0, 64, 16, 16),   # rows overlap (ysh < a row's span, 32)
    (0, 48, 32, 16),   # images overlap (ysn < an image's span, 64)
    (1, 64, 32, 16),   # the last pixel ends past y
    (-1, 64, 32, 16),  # before y
])
def test_a_placement_that_overlaps_or_leaves_y_is_refused(placement):
    _call(np.zeros(128, np.float32), (0, 64, 32, 16), n=2)  # y itself: taken
    with pytest.raises(ValueError, match=r"placement \(.*apart.*inside y \(128 items"):
        _call(np.zeros(128, np.float32), placement, n=2)


def test_a_placement_is_refused_where_the_kernel_cannot_take_one():
    with pytest.raises(TypeError, match="placement: expected a tuple"):
        _call(np.zeros(64, np.float32), [0, 64, 32, 16])
    with pytest.raises(ValueError, match="dot tiles"):
        _call(np.zeros(64, np.float32), (0, 64, 32, 16), nv=0)
    with pytest.raises(ValueError, match="placement: only direct"):
        _call(np.zeros(64, np.float32), (0, 64, 32, 16), planar=1)
    x = np.ones((1, 2, 2, 4), np.float32)
    p = problem_of(x, np.ones((1, 1, 4, 16), np.float32))
    rows, cols = native.maps(p)
    with pytest.raises(ValueError, match="placement: only direct"):
        _native.core.wgrad(x, np.zeros(64, np.float32), None, np.ones((1, 2, 2, 16), np.float32),
                           rows, cols, native.geometry(p), 1, 0, 4, None, 0, 1, 0,
                           (0, 64, 32, 16))


def test_a_placement_needs_a_contiguous_base_and_contiguous_channels():
    base = np.zeros((2, 4, 4, 8))
    with pytest.raises(ValueError, match="placement"):
        native.placement(base, base[..., ::2])
    with pytest.raises(ValueError, match="placement"):
        native.placement(base[:, ::2], base[:, ::2])
    assert native.placement(base, base[1:, 1::2, 2::2]) == (128 + 32 + 16, 128, 64, 16)
