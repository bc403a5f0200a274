"""The compiled core: every kernel, at every instruction set this CPU has, against ``reference``.

Problems are drawn wider than ``strategies.configs`` so that the kernels' blocking is crossed:
output channels past one SIMD block and not a multiple of it (partial lanes), input channels
past one L1 pass, pixel runs longer than a tile and with remainders, every padding form and
mode, stride, dilation and groups. The entry points' own guards (what keeps a wrong argument
from reading or writing outside an array) are tested too, and so are the ways the core is
turned off or missing.
"""

import contextlib
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from strategies import MODES, assert_same_non_finite, examples, nd_paddings, paddings

import convolab as cl
from convolab import _native, reference
from convolab.algorithms import REGISTRY, direct, direct_stencil, native
from convolab.padding import check_padding_fits
from convolab.plan import problem_of
from convolab.shapes import conv_geometry

pytestmark = pytest.mark.skipif(not _native.available(),
                                reason=f"the compiled core is not available: {_native.reason}")
ISAS = _native.supported_isas()
KERNELS = ("direct", "direct_depthwise", "direct_stencil")
COMPILED_ADJOINT = ("adjoint:direct", "adjoint:direct_depthwise", "adjoint:small",
                    "adjoint:direct_stencil", "adjoint:winograd_f4")


@st.composite
def problems(draw, kind: str = "direct"):
    """``(x shape NHWC, w shape HWIO, conv2d keywords)`` of a random valid conv that kernel
    ``kind`` runs (depthwise: groups == C == O; stencil: groups 1, up to 8 outputs and
    horizontal stride 1)."""
    depthwise, few = kind == "direct_depthwise", kind == "direct_stencil"
    if few and draw(st.booleans()):  # the stencil's per-plane depthwise: an RGB image, say
        depthwise, few = True, False
        groups = draw(st.integers(2, 8))
    elif depthwise:
        groups = draw(st.integers(1, 40))
    else:
        groups = 1 if few else draw(st.sampled_from([1, 1, 2, 3]))
    # stencil: one channel (an image filter), the planes deinterleaved by a compiled channel
    # count (2..8), or by the general loop (9 and more)
    cg = (1 if depthwise else draw(st.sampled_from([1, 1, 2, 3, 6, 8, 9, 17])) if few
          else draw(st.integers(1, 40)))
    og = 1 if depthwise else draw(st.integers(1, 8 if few else 40))
    n, h = draw(st.integers(1, 2)), draw(st.integers(1, 11))
    # stencil: rows past a few vectors; depthwise: rows of several 8-pixel tiles, and the
    # widths 3 and 5 its column-reusing tiles are compiled for
    w = draw(st.integers(1, 80 if few else 30 if depthwise else 11))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 6 if depthwise else 4))
    kwargs = dict(stride=(draw(st.integers(1, 3)),
                          1 if kind == "direct_stencil" else draw(st.integers(1, 3))),
                  dilation=(draw(st.integers(1, 2)), draw(st.integers(1, 2))),
                  padding=draw(paddings), padding_mode=draw(st.sampled_from(MODES)),
                  groups=groups)
    try:
        g = conv_geometry((h, w), (kh, kw), stride=kwargs["stride"], padding=kwargs["padding"],
                          dilation=kwargs["dilation"])
        check_padding_fits(g.in_shape, g.pads, kwargs["padding_mode"])
    except ValueError:
        assume(False)
    return (n, h, w, groups * cg), (kh, kw, cg, groups * og), kwargs


def arrays(x_shape, w_shape, seed, dtype):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype),
            rng.standard_normal(w_shape[3]).astype(dtype))


def rel_err(a: np.ndarray, b: np.ndarray, scale: np.ndarray | None = None) -> float:
    """The largest ``|a - b|`` over the largest ``|b|``, or over the largest ``|scale|``: with
    ``scale`` the same sums of the terms' magnitudes (the conv of ``|x|``, ``|w|``, ``|b|``),
    what rounding grows with. A sum that cancels to near zero is rounded as a sum of its terms:
    against ``|b|`` alone, a 1x1 conv whose x*w and bias cancel to 1e-3 of each failed a right
    kernel."""
    den = np.max(np.abs(b if scale is None else scale), initial=0)
    return float(np.max(np.abs(a - b), initial=0) / max(den, 1e-30))


def magnitudes(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, **kw) -> np.ndarray:
    """``reference.conv`` of the operands' magnitudes (any rank): each output's sum of
    ``|terms|``."""
    return reference.conv(np.abs(x), np.abs(w), None if b is None else np.abs(b), **kw)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("name", KERNELS)
@settings(max_examples=examples(40))
@given(problem=st.data(), seed=st.integers(0, 2**31 - 1), f64=st.booleans(),
       nchw=st.booleans())
def test_kernel_matches_reference(isa, name, problem, seed, f64, nchw):
    x_shape, w_shape, kw = problem.draw(problems(name))
    x, w, b = arrays(x_shape, w_shape, seed, np.float64 if f64 else np.float32)
    want = reference.conv2d(x, w, b, **kw)
    with _native.using(isa):
        if nchw:
            y = cl.conv2d(x.transpose(0, 3, 1, 2), w.transpose(3, 2, 0, 1), b, algorithm=name,
                          data_format="NCHW", kernel_format="OIHW", **kw).transpose(0, 2, 3, 1)
        else:
            y = cl.conv2d(x, w, b, algorithm=name, **kw)
    assert y.dtype == x.dtype
    assert rel_err(y, want, magnitudes(x, w, b, **kw)) < (1e-12 if f64 else 1e-5)
    module = REGISTRY[name]
    if hasattr(module, "backward_weight"):  # the weight gradient's kernel, on the same draw
        p = problem_of(x, w, **kw)
        gy = np.random.default_rng(seed + 1).standard_normal(p.y_shape).astype(x.dtype)
        with _native.using(isa):
            gw = module.backward_weight(gy, x, p)
        _, want_gw, want_gb = reference.conv2d_backward(gy, x, w, **kw)
        _, mag_gw, mag_gb = reference.conv2d_backward(np.abs(gy), np.abs(x), w, **kw)
        assert gw.shape == w.shape and gw.dtype == x.dtype
        assert rel_err(gw, want_gw, mag_gw) < (1e-12 if f64 else 1e-5)
        if hasattr(module, "backward_weight_and_bias"):  # grad_b in the same pass
            with _native.using(isa):
                gw2, gb = module.backward_weight_and_bias(gy, x, p)
            np.testing.assert_array_equal(gw2, gw)
            assert gb.shape == (w.shape[3],) and gb.dtype == x.dtype
            assert rel_err(gb, want_gb, mag_gb) < (1e-12 if f64 else 1e-5)


@st.composite
def volumes(draw, stencil: bool = False):
    """A random valid 3-D conv for the kernels' plane map: channels past a SIMD block (the
    stencil's: groups 1, up to 8 outputs, horizontal stride 1), every padding form and mode on
    every axis, depth stride and dilation."""
    groups = 1 if stencil else draw(st.sampled_from([1, 1, 2]))
    cg = draw(st.sampled_from([1, 1, 2, 3, 9]) if stencil else st.integers(1, 20))
    og = draw(st.integers(1, 8 if stencil else 20))
    spatial = tuple(draw(st.integers(1, 6)) for _ in range(3))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(3))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(3))
    kwargs = dict(stride=(*stride[:2], 1) if stencil else stride,
                  dilation=tuple(draw(st.integers(1, 2)) for _ in range(3)),
                  padding=draw(nd_paddings(3)), padding_mode=draw(st.sampled_from(MODES)),
                  groups=groups)
    try:
        g = conv_geometry(spatial, kernel, stride=kwargs["stride"], padding=kwargs["padding"],
                          dilation=kwargs["dilation"])
        check_padding_fits(g.in_shape, g.pads, kwargs["padding_mode"])
    except ValueError:
        assume(False)
    n = draw(st.integers(1, 2))
    return (n, *spatial, groups * cg), (*kernel, cg, groups * og), kwargs


@pytest.mark.parametrize("isa", ISAS)
@settings(max_examples=examples(40), deadline=None)
@given(problem=st.data(), seed=st.integers(0, 2**31 - 1), f64=st.booleans())
def test_direct_reads_a_volume_through_its_plane_map(isa, problem, seed, f64):
    """The direct kernel and its weight gradient on a volume as it lies (depth taps through
    the plane map, no unfolded copy) against the N-D definition."""
    x_shape, w_shape, kw = problem.draw(volumes())
    dtype = np.float64 if f64 else np.float32
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[-1]).astype(dtype)
    p = problem_of(x, w, **kw)
    gy = rng.standard_normal(p.y_shape).astype(dtype)
    with _native.using(isa):
        y = direct.forward(x, w, p, b)
        gw = direct.backward_weight(gy, x, p)
    tol = 1e-12 if f64 else 1e-5
    assert rel_err(y, reference.conv(x, w, b, **kw), magnitudes(x, w, b, **kw)) < tol
    assert rel_err(gw, reference.conv_backward(gy, x, w, **kw)[1],
                   reference.conv_backward(np.abs(gy), np.abs(x), np.abs(w), **kw)[1]) < tol
    with _native.using(isa):  # the public call takes the same path
        assert rel_err(cl.conv3d(x, w, b, algorithm="direct", **kw), y) < tol


@pytest.mark.parametrize("isa", ISAS)
@settings(max_examples=examples(40), deadline=None)
@given(problem=st.data(), seed=st.integers(0, 2**31 - 1), f64=st.booleans())
def test_the_stencil_reads_a_volume_through_its_plane_map(isa, problem, seed, f64):
    """The stencil kernel on a volume as it lies (each output plane's depth taps as channels
    of its ring, through the plane map) against the N-D definition: a 3-D filter."""
    x_shape, w_shape, kw = problem.draw(volumes(stencil=True))
    dtype = np.float64 if f64 else np.float32
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[-1]).astype(dtype)
    p = problem_of(x, w, **kw)
    with _native.using(isa):
        y = direct_stencil.forward(x, w, p, b)
        public = cl.conv3d(x, w, b, algorithm="direct_stencil", **kw)
    tol = 1e-12 if f64 else 1e-5
    assert rel_err(y, reference.conv(x, w, b, **kw), magnitudes(x, w, b, **kw)) < tol
    assert rel_err(public, y) < tol


def test_a_plane_map_is_checked_like_the_row_and_column_maps():
    x, w = np.ones((1, 3, 4, 4, 2)), np.ones((2, 3, 3, 2, 16))
    p = problem_of(x, w)
    packed, _ = direct.pack(w, None, p, _native.core.lanes(8))
    y = np.empty(p.y_shape)
    rows, cols = native.maps(p)
    planes = native.planes(p)
    geometry = native.geometry(p)
    _native.core.direct(x, packed, None, y, rows, cols, geometry, 1, 0, 8, planes)
    np.testing.assert_allclose(y, reference.conv(x, w))
    bad = planes.copy()
    bad[1] = 3  # only planes 0..2 exist
    with pytest.raises(ValueError, match=r"plane_map\[1\] = 3 is outside \[-1, 3\)"):
        _native.core.direct(x, packed, None, y, rows, cols, geometry, 1, 0, 8, bad)
    with pytest.raises(ValueError, match="plane_map: expected at least 4 entries"):
        _native.core.direct(x, packed, None, y, rows, cols, geometry, 1, 0, 8, planes[:3])
    with pytest.raises(ValueError, match="plane_map: given exactly when geometry has np, kd"):
        _native.core.direct(x, packed, None, y, rows, cols, geometry, 1, 0, 8)
    with pytest.raises(ValueError, match="x: expected"):  # np planes of x, checked
        _native.core.direct(x[:, :2].copy(), packed, None, y, rows, cols, geometry, 1, 0, 8,
                            planes)
    with pytest.raises(ValueError, match="kd, plane_map: this kernel takes no depth taps"):
        _native.core.small(x, w, None, y, rows, cols, geometry, 0, 0, 8, planes)
    # a plane map with kd = 1 too: such a kernel reads image n as plane n (x checked for np)
    flat = (*geometry[:14], geometry[14], 1)
    with pytest.raises(ValueError, match="plane_map None"):
        _native.core.small(x, w, None, y, rows, cols, flat, 0, 0, 8, planes[:1])


@pytest.mark.parametrize("isa", ISAS)
@settings(max_examples=examples(25), deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 2), h=st.integers(2, 9),
       width=st.integers(1, 90), c=st.integers(1, 3),
       kernel=st.tuples(st.integers(1, 4), st.integers(1, 7)), dw=st.integers(1, 2),
       padding=paddings, mode=st.sampled_from(MODES), f64=st.booleans())
def test_the_stencil_computes_a_row_to_the_same_bits_alone_or_paired(
        isa, seed, n, h, width, c, kernel, dw, padding, mode, f64):
    """One output channel at vertical stride 1: output rows go through the stencil in pairs
    that share their input rows' loads, a task's last row alone. Which rows pair up depends on
    where the region cuts its tasks, so a row must come out the same either way: every row
    computed alone (one call a row) equals the call over all rows, bit for bit, and both
    equal the definition."""
    try:
        g = conv_geometry((h, width), kernel, padding=padding, dilation=(1, dw))
        check_padding_fits(g.in_shape, g.pads, mode)
    except ValueError:
        assume(False)
    dt = np.float64 if f64 else np.float32
    x, w, b = arrays((n, h, width, c), (*kernel, c, 1), seed, dt)
    kw_args = dict(padding=padding, dilation=(1, dw), padding_mode=mode)
    with _native.using(isa):
        p = problem_of(x, w, **kw_args)
        rows, cols = native.maps(p)
        geometry = native.geometry(p)
        _, ho, wo, _ = p.y_shape
        together, alone = np.empty(p.y_shape, dt), np.empty(p.y_shape, dt)
        _native.core.stencil(x, w, b, together, rows, cols, geometry, 0, 0, n * ho * wo)
        for r in range(n * ho):
            _native.core.stencil(x, w, b, alone, rows, cols, geometry, 0, r * wo, (r + 1) * wo)
    np.testing.assert_array_equal(together, alone)
    assert rel_err(together, reference.conv2d(x, w, b, **kw_args),
                   magnitudes(x, w, b, **kw_args)) < (1e-12 if f64 else 1e-5)


def _tiles() -> list[tuple[str, int]]:
    """(instruction set, vectors of output channels) of every direct tile built."""
    pairs = []
    for isa in ISAS:
        with _native.using(isa):
            pairs += [(isa, nv) for nv in _native.core.tiles(8)]
    return pairs


def direct_at_tile(isa: str, tile: int, x: np.ndarray, w: np.ndarray, b: np.ndarray,
                   **kw_args) -> np.ndarray:
    """conv2d of ``x`` and ``w`` plus ``b`` by direct's compiled kernel with ``tile`` vectors
    of output channels at instruction set ``isa``, every output pixel in one call (y starts
    as NaN: a pixel left unwritten shows)."""
    with _native.using(isa):
        p = problem_of(x, w, **kw_args)
        packed, pb = direct.pack(w, b, p, tile * _native.core.lanes(x.itemsize))
        y = np.full(p.y_shape, np.nan, x.dtype)
        rows, cols = native.maps(p)
        _native.core.direct(x, packed, pb, y, rows, cols, native.geometry(p), tile, 0,
                            int(np.prod(p.y_shape[:-1])))
    return y


@pytest.mark.parametrize(("isa", "tile"), _tiles() if ISAS else [])
@pytest.mark.parametrize("o", [1, 5, 16, 17, 33, 64, 100])
def test_every_tile_shape_and_channel_count(isa, o, tile):
    """Each tile width on output channels that fill it, fall short and spill over; 3 images of
    7x5 output pixels, so tiles run across rows and images and leave a remainder."""
    rng = np.random.default_rng(o)
    x = rng.standard_normal((3, 9, 7, 37))
    w = rng.standard_normal((3, 3, 37, o))
    b = rng.standard_normal(o)
    y = direct_at_tile(isa, tile, x, w, b)
    np.testing.assert_allclose(y, reference.conv2d(x, w, b), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("isa", "tile"), _tiles() if ISAS else [])
@settings(max_examples=examples(20), deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 2), h=st.integers(1, 3),
       width=st.integers(12, 90), c=st.integers(1, 4), o=st.integers(1, 70),
       kernel=st.tuples(st.integers(1, 3), st.integers(2, 8)), stride=st.integers(1, 3),
       padding=paddings, mode=st.sampled_from(MODES), f64=st.booleans())
def test_merged_rows_on_long_rows_match_reference(isa, tile, seed, n, h, width, c, o, kernel,
                                                  stride, padding, mode, f64):
    """Direct's merged kernel rows on rows of many tiles, at every tile width: a tile whose
    pixels lie in one output row and read one strided stretch of real input rows runs from
    its first pixel's pointers (a strided tile; consecutive ones in one call), one that meets
    padding or a row's end through the indirection; every padding mode and stride."""
    kh, kw = kernel
    try:
        g = conv_geometry((h, width), kernel, stride=(1, stride), padding=padding)
        check_padding_fits(g.in_shape, g.pads, mode)
    except ValueError:
        assume(False)
    dt = np.float64 if f64 else np.float32
    x, w, b = arrays((n, h, width, c), (kh, kw, c, o), seed, dt)
    kw_args = dict(stride=(1, stride), padding=padding, padding_mode=mode)
    y = direct_at_tile(isa, tile, x, w, b, **kw_args)
    assert rel_err(y, reference.conv2d(x, w, b, **kw_args),
                   magnitudes(x, w, b, **kw_args)) < (1e-12 if f64 else 1e-5)


@pytest.mark.parametrize(("isa", "tile"), _tiles() if ISAS else [])
@settings(max_examples=examples(15), deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 2), h=st.integers(1, 4),
       width=st.integers(1, 40), c=st.integers(32, 80), o=st.integers(1, 40),
       kernel=st.tuples(st.integers(1, 3), st.integers(1, 4)), stride=st.integers(1, 2),
       padding=paddings, mode=st.sampled_from(MODES), f64=st.booleans())
def test_tiles_that_prefetch_the_next_tiles_input_match_reference(isa, tile, seed, n, h, width,
                                                                 c, o, kernel, stride, padding,
                                                                 mode, f64):
    """Wide pixels (a group's channels past CL_PREFETCH_BYTES: 64 float32, 32 float64) take the
    tiles that prefetch the next tile's input as they go: per tap and merged rows, strided or
    through the indirection, the last tile of a chunk and a task's remainder."""
    kh, kw = kernel
    try:
        g = conv_geometry((h, width), kernel, stride=(stride, stride), padding=padding)
        check_padding_fits(g.in_shape, g.pads, mode)
    except ValueError:
        assume(False)
    dt = np.float64 if f64 else np.float32
    x, w, b = arrays((n, h, width, c), (kh, kw, c, o), seed, dt)
    kw_args = dict(stride=stride, padding=padding, padding_mode=mode)
    y = direct_at_tile(isa, tile, x, w, b, **kw_args)
    assert rel_err(y, reference.conv2d(x, w, b, **kw_args),
                   magnitudes(x, w, b, **kw_args)) < (1e-12 if f64 else 1e-5)


@contextlib.contextmanager
def forced_tile(dot: bool):
    """Inside: ``direct`` runs its dot tiles (True) or its best vector tile (False), whatever
    the cost model says."""
    real = direct.tile

    def tile(p, dot_allowed=True):
        if dot and dot_allowed:
            return 0, _native.core.dot_tile(p.dtype.itemsize)[0]
        return real(p, dot=False)

    direct.tile = tile
    try:
        yield
    finally:
        direct.tile = real


@pytest.mark.parametrize("isa", ISAS)
@settings(max_examples=examples(40), deadline=None)
@given(problem=st.data(), seed=st.integers(0, 2**31 - 1), f64=st.booleans(),
       dot=st.booleans())
def test_dot_and_vector_tiles_both_match_reference(isa, problem, seed, f64, dot):
    """Whichever tile the cost model would pick, both kinds are right on every draw: the dot
    tiles (the reduction in lanes) on many output channels too, the vector tiles on few."""
    x_shape, w_shape, kw = problem.draw(problems("direct"))
    x, w, b = arrays(x_shape, w_shape, seed, np.float64 if f64 else np.float32)
    with _native.using(isa), forced_tile(dot):
        assert (direct.tile(problem_of(x, w, **kw))[0] == 0) == dot
        y = cl.conv2d(x, w, b, algorithm="direct", **kw)
    assert rel_err(y, reference.conv2d(x, w, b, **kw), magnitudes(x, w, b, **kw)) < (
        1e-12 if f64 else 1e-5)


@pytest.mark.parametrize("isa", ISAS)
def test_dot_tiles_skip_only_zeros(isa):
    """Dot tiles leave out taps that read only padding, but only when every weight is finite:
    an Inf weight meeting padding still gives the definition's NaN, and a finite kernel on a
    "full" padding (most taps outside) gives the sums."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 5, 6, 16))
    w = rng.standard_normal((4, 3, 16, 3))
    with _native.using(isa), forced_tile(True):
        got = cl.conv2d(x, w, padding="full", algorithm="direct")
        np.testing.assert_allclose(got, reference.conv2d(x, w, padding="full"), rtol=1e-12,
                                   atol=1e-12)
        w[0, 0, 0, 1] = np.inf  # reaches the padding in every output row of "full" padding
        with np.errstate(invalid="ignore"):
            got = cl.conv2d(x, w, padding="full", algorithm="direct")
            want = reference.conv2d(x, w, padding="full")
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    assert np.isnan(got).any()


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("name", KERNELS)
def test_inf_and_nan_land_where_the_definition_puts_them(isa, name):
    """A padded tap reads real zeros, so 0 * inf = NaN appears exactly where the definition
    has it: an Inf weight meeting only padding included."""
    groups, cg, o = {"direct_depthwise": (6, 1, 6), "direct_stencil": (1, 3, 6)}.get(name,
                                                                                (2, 3, 4))
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 6, 7, groups * cg))
    x[0, 2, 3, 0], x[1, 5, 6, -1] = np.inf, np.nan
    w = rng.standard_normal((3, 3, cg, o))
    w[0, 0, 0, -1] = -np.inf  # meets the top padding row of the first output row
    for mode in ("zeros", "reflect"):
        kw = dict(padding="same", groups=groups, padding_mode=mode)
        p = problem_of(x, w, **kw)
        gy = rng.standard_normal(p.y_shape)
        gy[0, 0, 0, 0], gy[1, -1, -1, -1] = np.inf, np.nan  # windows reaching the padding
        with np.errstate(invalid="ignore", over="ignore"):
            want = [reference.conv2d(x, w, **kw)]
            with _native.using(isa):
                got = [cl.conv2d(x, w, algorithm=name, **kw)]
                if hasattr(REGISTRY[name], "backward_weight"):
                    x0 = np.where(np.isfinite(x), x, 0.0)
                    got.append(REGISTRY[name].backward_weight(gy, x0, p))
                    want.append(reference.conv2d_backward(gy, x0, w, **kw)[1])
        for g, r in zip(got, want):
            assert_same_non_finite(g, r, 1e-12)


@pytest.mark.parametrize("isa", ISAS)
def test_backward_through_the_kernels_matches_reference(isa):
    """grad_x at stride 1 is the conv of grad_y, which "auto" runs on the compiled kernels."""
    rng = np.random.default_rng(2)
    for groups, c, o in ((1, 8, 20), (8, 8, 8)):
        x = rng.standard_normal((2, 9, 8, c))
        w = rng.standard_normal((3, 3, c // groups, o))
        kw = dict(padding="same", groups=groups)
        gy = rng.standard_normal(reference.conv2d(x, w, **kw).shape)
        with _native.using(isa):
            assert cl.plan(x, w, **kw).input_gradient in COMPILED_ADJOINT
            got = cl.conv2d_backward(gy, x, w, **kw)
        for g, r in zip(got, reference.conv2d_backward(gy, x, w, **kw)):
            np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-10)


def test_two_workers_compute_what_one_computes(monkeypatch):
    from convolab.algorithms import scheduler

    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 40, 40, 16), dtype=np.float32)
    w = rng.standard_normal((3, 3, 16, 24), dtype=np.float32)
    assert len(native.pixel_ranges(problem_of(x, w), 9 * 16 * 24)) > 1  # really split
    two = cl.conv2d(x, w, padding="same", algorithm="direct")
    monkeypatch.setattr(scheduler, "workers", lambda: 1)
    one = cl.conv2d(x, w, padding="same", algorithm="direct")
    np.testing.assert_array_equal(one, two)  # same tiles, same order of sums: bitwise


# ---- the entry points' guards -------------------------------------------------------------

def _call(**change):
    """Arguments of a valid direct call on x (1, 4, 4, 2), w (3, 3, 2, 3), changed by ``change``."""
    x = np.ones((1, 4, 4, 2))
    w = np.ones((3, 3, 2, 3))
    p = problem_of(x, w, padding=1)
    lanes = _native.core.lanes(8)
    packed, b = direct.pack(w, np.ones(3), p, lanes)
    rows, cols = native.maps(p)
    args = dict(x=x, w=packed, bias=b, y=np.empty(p.y_shape), rows=rows, cols=cols,
                geometry=native.geometry(p), nv=1, q0=0, q1=16)
    args.update(change)
    return tuple(args.values())


def test_a_valid_call_runs():
    args = _call()
    _native.core.direct(*args)
    np.testing.assert_array_equal(args[3], reference.conv2d(np.ones((1, 4, 4, 2)),
                                                            np.ones((3, 3, 2, 3)), np.ones(3),
                                                            padding=1))


@pytest.mark.parametrize(("change", "error", "match"), [
    (dict(x=np.ones((1, 4, 4, 1))), ValueError, "x: expected 32 items"),
    (dict(y=np.empty(5)), ValueError, "y: expected"),
    (dict(y=np.empty((1, 4, 4, 3), np.float32)), TypeError, "y: expected .* of the input's"),
    (dict(x=np.ones((1, 4, 4, 2), np.int64)), TypeError, "x: expected .*float32/float64"),
    (dict(x=np.ones((1, 4, 8, 2))[:, :, ::2]), ValueError, "contiguous"),
    (dict(w=np.ones(3)), ValueError, "w: expected"),
    (dict(bias=np.ones(2)), ValueError, "bias: expected"),
    (dict(rows=np.array([-1, 0, 1, 2, 3, 5], np.int64)), ValueError, r"row_map\[5\] = 5"),
    (dict(cols=np.array([-1, 0, 1, 2, 3, -2], np.int64)), ValueError, r"col_map\[5\] = -2"),
    (dict(cols=np.array([-1, 0, 2**63 - 1, 2, 3, -1], np.int64)), ValueError, r"col_map\[2\]"),
    (dict(cols=np.array([-1, -2**63, 1, 2, 3, -1], np.int64)), ValueError, r"col_map\[1\]"),
    (dict(cols=np.zeros(3, np.int64)), ValueError, "col_map: expected at least 6"),
    (dict(cols=np.zeros(6, np.int32)), TypeError, "col_map: expected .*int64"),
    (dict(q1=17), ValueError, r"pixels \[0, 17\) are outside"),
    (dict(q0=-1), ValueError, "outside"),
    (dict(nv=3), ValueError, "nv = 3"),
    (dict(geometry=(1, 4, 4, 2, 4, 4, 3, 3, 3, 1, 1, 1, 1, 0)), ValueError, "positive"),
    (dict(geometry=(1, 4, 4, 2, 4, 4, 3, 3, 3, 1, 1, 1, 1, 2)), ValueError, "groups must"),
    (dict(geometry=(1 << 40, 1 << 40, 4, 2, 4, 4, 3, 3, 3, 1, 1, 1, 1, 1)), ValueError,
     "overflow"),
    (dict(y=np.empty((1, 4, 4, 3))[...].view()), None, None),  # a writable view is fine
])
def test_the_entry_point_refuses_what_would_leave_the_arrays(change, error, match):
    args = _call(**change)
    if error is None:
        _native.core.direct(*args)
        return
    with pytest.raises(error, match=match):
        _native.core.direct(*args)


def test_a_read_only_output_is_refused():
    y = np.empty((1, 4, 4, 3))
    y.flags.writeable = False
    with pytest.raises((BufferError, ValueError, TypeError)):
        _native.core.direct(*_call(y=y))


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize(("shape", "offset", "f64"), [
    ((1, 256, 256, 64), 16, False),   # 16 MiB out: every line streamed, the loads split
    ((1, 245, 241, 72), 0, False),    # 72 channels: a ragged vector a pixel, stored plainly
    ((1, 180, 184, 64), 8, True),     # float64
])
def test_a_large_depthwise_output_is_streamed_and_right(isa, shape, offset, f64):
    """Outputs of direct_depthwise.STREAM_BYTES or more start a line and go to memory by
    non-temporal stores of whole aligned vectors (the rest plainly), the input wherever it
    lies: against NumPy's depthwise algorithm in float64 (proven against reference in
    test_algorithms.py; reference's loops over 10^7 outputs take minutes)."""
    from convolab.algorithms import direct_depthwise
    dtype = np.float64 if f64 else np.float32
    c = shape[-1]
    rng = np.random.default_rng(c)
    raw = np.empty(math.prod(shape) * np.dtype(dtype).itemsize + 64, np.uint8)
    start = (offset - raw.ctypes.data) % 64
    x = raw[start:start + math.prod(shape) * np.dtype(dtype).itemsize].view(dtype)
    x = x.reshape(shape)
    x[...] = rng.standard_normal(shape)
    w, b = rng.standard_normal((3, 3, 1, c)), rng.standard_normal(c)
    kw = dict(groups=c, padding="same")
    p = problem_of(x, w.astype(dtype), **kw)
    assert math.prod(p.y_shape) * np.dtype(dtype).itemsize >= direct_depthwise.STREAM_BYTES
    with _native.using(isa):
        y = cl.conv2d(x, w.astype(dtype), b.astype(dtype), algorithm="direct_depthwise", **kw)
    want = cl.conv2d(x.astype(np.float64), w, b, algorithm="depthwise", **kw)
    scale = cl.conv2d(np.abs(x).astype(np.float64), np.abs(w), np.abs(b),
                      algorithm="depthwise", **kw)
    assert rel_err(y, want, scale) < (1e-12 if f64 else 1e-5)


def test_the_depthwise_entry_point_checks_its_packing():
    x = np.ones((1, 4, 4, 3))
    p = problem_of(x, np.ones((3, 3, 1, 3)), groups=3)
    rows, cols = native.maps(p)
    with pytest.raises(ValueError, match="cp a multiple of 64"):
        _native.core.depthwise(x, np.zeros(9 * 3), None, np.empty(p.y_shape), rows, cols,
                               native.geometry(p), 3, 0, 4)
    with pytest.raises(ValueError, match="w: expected 576"):
        _native.core.depthwise(x, np.zeros(9), None, np.empty(p.y_shape), rows, cols,
                               native.geometry(p), 64, 0, 4)


def test_the_depthwise_weight_gradient_entry_point_checks_grad_b():
    """grad_b, when given, holds cp values and is written: a short or read-only one is
    refused before anything is added."""
    x = np.ones((1, 4, 4, 3))
    p = problem_of(x, np.ones((3, 3, 1, 3)), groups=3)
    rows, cols = native.maps(p)
    gy, gw = np.ones(p.y_shape), np.zeros((9, 64))
    with pytest.raises(ValueError, match="grad_b: expected 64 items, got 3"):
        _native.core.dw_wgrad(x, gw, np.zeros(3), gy, rows, cols, native.geometry(p), 64, 0, 4)
    frozen = np.zeros(64)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="grad_b: the array is read-only"):
        _native.core.dw_wgrad(x, gw, frozen, gy, rows, cols, native.geometry(p), 64, 0, 4)
    assert not gw.any()
    gb = np.zeros(64)
    _native.core.dw_wgrad(x, gw, gb, gy, rows, cols, native.geometry(p), 64, 0, 4)
    np.testing.assert_array_equal(gb, [4.0] * 3 + [0.0] * 61)  # four pixels of ones


def test_the_dot_entry_point_checks_its_packing():
    """nv = 0 (dot tiles): w must be (G, nob, taps, outputs, cnp) and bias (O,)."""
    x, w = np.ones((1, 4, 4, 16)), np.ones((3, 3, 16, 2))
    p = problem_of(x, w, padding="same")
    rows, cols = native.maps(p)
    packed = direct.pack_dot(w, p)
    y = np.empty(p.y_shape)
    _native.core.direct(x, packed, np.zeros(2), y, rows, cols, native.geometry(p), 0, 0, 16)
    np.testing.assert_allclose(y, reference.conv2d(x, w, padding="same"))
    with pytest.raises(ValueError, match=f"w: expected {packed.size} items"):
        _native.core.direct(x, packed[..., :-1].copy(), None, y, rows, cols,
                            native.geometry(p), 0, 0, 16)
    with pytest.raises(ValueError, match="bias: expected 2 items"):
        _native.core.direct(x, packed, np.zeros(3), y, rows, cols, native.geometry(p), 0, 0,
                            16)


def test_the_stencil_weight_gradient_entry_point_checks_its_arguments():
    x, w = np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 2))
    p = problem_of(x, w, padding="same")
    rows, cols = native.maps(p)
    gy = np.ones(p.y_shape)
    gw = np.zeros((3, 3, 2))
    _native.core.stencil_wgrad(x, gw, None, gy, rows, cols, native.geometry(p), 0, 0, 16)
    np.testing.assert_allclose(gw.reshape(w.shape),
                               reference.conv2d_backward(gy, x, w, padding="same")[1])
    with pytest.raises(ValueError, match="grad_w: expected 18 items"):
        _native.core.stencil_wgrad(x, np.zeros(17), None, gy, rows, cols, native.geometry(p),
                                   0, 0, 16)
    with pytest.raises(ValueError, match="whole output rows"):
        _native.core.stencil_wgrad(x, gw, None, gy, rows, cols, native.geometry(p), 0, 0, 5)


# ---- dispatch, and the core turned off or missing -------------------------------------------

def test_the_best_instruction_set_runs_and_every_one_can_be_chosen():
    assert _native.isa() == ISAS[-1]
    for isa in ISAS:
        with _native.using(isa):
            assert _native.isa() == isa
            # plan names the kernel that runs, with its instruction set
            assert f"_{isa}," in cl.plan((1, 8, 8, 16), (3, 3, 16, 16), algorithm="direct").reason
    assert _native.isa() == ISAS[-1]
    with pytest.raises(ValueError, match="isa: expected"):
        _native.core.use("sse9")


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120, check=False)


def test_convolab_native_0_runs_on_numpy():
    r = _run("import numpy as np, convolab as cl; from convolab import _native\n"
             "print(_native.available(), _native.reason)\n"
             "x, w = np.ones((1, 8, 8, 4)), np.ones((3, 3, 4, 4))\n"
             "print(cl.plan(x, w).algorithm, cl.conv2d(x, w).sum())", CONVOLAB_NATIVE="0")
    assert r.returncode == 0, r.stderr
    first, second = r.stdout.splitlines()
    assert first == "False turned off by CONVOLAB_NATIVE=0"
    assert second.split()[0] != "direct" and float(second.split()[1]) == 36 * 36 * 4
    assert "Warning" not in r.stderr  # asked for: no warning


def test_convolab_isa_caps_the_instruction_set():
    r = _run("from convolab import _native; print(_native.isa())", CONVOLAB_ISA="baseline")
    assert r.returncode == 0 and r.stdout.strip() == "baseline", r.stderr
    r = _run("import convolab", CONVOLAB_ISA="mmx")
    assert r.returncode != 0 and "CONVOLAB_ISA: expected one of" in r.stderr


def test_a_missing_extension_warns_once_and_numpy_runs():
    r = _run("import sys, warnings\n"
             "sys.modules['convolab._native._core'] = None  # as if it were never built\n"
             "with warnings.catch_warnings(record=True) as caught:\n"
             "    warnings.simplefilter('always')\n"
             "    import numpy as np, convolab as cl\n"
             "    y = cl.conv2d(np.ones((1, 5, 5, 1)), np.ones((3, 3, 1, 1)))\n"
             "    import convolab._native\n"
             "print(len([w for w in caught if 'compiled core' in str(w.message)]), y.sum())")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1", "81.0"]


# ---- layout: the compiled transpose ---------------------------------------------------------

@pytest.mark.parametrize("isa", ISAS)
@settings(max_examples=examples(25))
@given(n=st.integers(1, 3), c=st.integers(1, 40), h=st.integers(1, 30), w=st.integers(1, 30),
       f64=st.booleans())
def test_transpose_is_numpys_at_every_size(isa, n, c, h, w, f64):
    from convolab.algorithms import layout

    x = np.random.default_rng(c * h).standard_normal((n, c, h, w)).astype(
        np.float64 if f64 else np.float32)
    with _native.using(isa), pytest.MonkeyPatch.context() as mp:
        mp.setattr(layout, "SMALL", 0)  # the kernel, however small
        mp.setattr(layout, "TASK_BYTES", 256)  # and split into many tasks, both ways
        y = layout.contiguous_channels_last(x.transpose(0, 2, 3, 1), x.dtype)
        back = layout.channels_first(y)
    np.testing.assert_array_equal(y, x.transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(back, x)
    assert y.flags.c_contiguous and back.flags.c_contiguous


@pytest.mark.parametrize("isa", ISAS)
@settings(max_examples=examples(40))
@given(rows=st.integers(1, 9), cols=st.integers(1, 60), data=st.data(), f64=st.booleans())
def test_a_transposes_columns_are_written_and_nothing_else(isa, rows, cols, data, f64):
    """A task's columns j0 <= j < j1 of a (rows, cols) matrix, alone: few rows (under 8) take
    the path whose stores overhang into the next columns, which must stay inside j1."""
    j0 = data.draw(st.integers(0, cols - 1))
    j1 = data.draw(st.integers(j0 + 1, cols))
    dt = np.float64 if f64 else np.float32
    src = np.random.default_rng(rows * cols).standard_normal((rows, cols)).astype(dt)
    dst = np.full((cols, rows), np.nan, dt)
    with _native.using(isa):
        _native.core.transpose(src, dst, 1, rows, cols, 0, 1, j0, j1)
    np.testing.assert_array_equal(dst[j0:j1], src.T[j0:j1])
    assert np.isnan(dst[:j0]).all() and np.isnan(dst[j1:]).all()


def test_nchw_calls_give_the_nhwc_results_through_the_transpose():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 16, 40, 40), dtype=np.float32)  # 200 KiB: the kernel's size
    w = rng.standard_normal((8, 16, 3, 3), dtype=np.float32)
    y = cl.conv2d(x, w, padding="same", data_format="NCHW", kernel_format="OIHW")
    want = cl.conv2d(x.transpose(0, 2, 3, 1), w.transpose(2, 3, 1, 0), padding="same")
    np.testing.assert_array_equal(y, want.transpose(0, 3, 1, 2))


@pytest.mark.parametrize(("args", "match"), [
    ((np.ones(6), np.empty(6), 1, 2, 3, 1, 2, 0, 3), "outside"),
    ((np.ones(6), np.empty(6), 1, 2, 3, 0, 1, 0, 4), "outside"),
    ((np.ones(6), np.empty(6), 1, 2, 3, 1, 0, 0, 3), "outside"),
    ((np.ones(6), np.empty(5), 1, 2, 3, 0, 1, 0, 3), "dst: expected 6"),
    ((np.ones(6), np.empty(6, np.float32), 1, 2, 3, 0, 1, 0, 3), "dst: expected"),
])
def test_the_transpose_entry_point_refuses_what_would_leave_the_arrays(args, match):
    with pytest.raises((ValueError, TypeError), match=match):
        _native.core.transpose(*args)


def test_convolab_info_names_the_kernels_and_instruction_set():
    r = subprocess.run([sys.executable, "-m", "convolab", "info"], capture_output=True, text=True,
                       timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    assert f"compiled core: {ISAS[-1]} kernels" in r.stdout and "direct tiles" in r.stdout
    r = _run("from convolab.cli.main import main; main(['info'])", CONVOLAB_NATIVE="0")
    assert "compiled core: not running (turned off by CONVOLAB_NATIVE=0)" in r.stdout


# ---- the small-call path ---------------------------------------------------------------------

def test_a_tiny_call_runs_the_small_kernel_and_is_remembered():
    from convolab.ops import small_call

    rng = np.random.default_rng(8)
    x = rng.standard_normal((1, 4, 4, 1)).astype(np.float32)
    w = rng.standard_normal((3, 3, 1, 1)).astype(np.float32)
    assert cl.plan(x, w, padding="same").algorithm == "small"
    small_call._remembered.clear()
    first = cl.conv2d(x, w, padding="same")
    assert len(small_call._remembered) == 1
    w2 = w * 2  # new values under the same key: the kernel reads them, nothing is cached
    again = cl.conv2d(x, w2, padding="same")
    np.testing.assert_allclose(first, reference.conv2d(x, w, padding="same"), rtol=1e-6)
    np.testing.assert_allclose(again, 2 * first, rtol=1e-6)
    # another option or dtype is another key, resolved on its own
    np.testing.assert_allclose(cl.conv2d(x, w, padding="valid"),
                               reference.conv2d(x, w, padding="valid"), rtol=1e-6)
    y64 = cl.conv2d(x.astype(np.float64), w.astype(np.float64), padding="same")
    assert y64.dtype == np.float64 and len(small_call._remembered) == 3


@pytest.mark.parametrize("call", [
    dict(x=np.ones((4, 4, 1), np.float32)),  # unbatched: a view, not the caller's array
    dict(w=np.ones((1, 1, 3, 3), np.float32), kernel_format="OIHW"),  # converted
    dict(x=np.ones((1, 4, 4, 1), np.float64)),  # promoted: w is converted
    dict(stride=[1, 1]),  # unhashable
])
def test_calls_needing_conversion_are_not_remembered(call):
    from convolab.ops import small_call

    small_call._remembered.clear()
    kw = dict(x=np.ones((1, 4, 4, 1), np.float32), w=np.ones((3, 3, 1, 1), np.float32),
              padding="same", **{k: v for k, v in call.items() if k not in ("x", "w")})
    x, w = call.get("x", kw.pop("x")), call.get("w", kw.pop("w"))
    kw.pop("x", None), kw.pop("w", None)
    want = cl.conv2d(x, w, algorithm="im2col", **kw)
    np.testing.assert_allclose(cl.conv2d(x, w, **kw), want, rtol=1e-6)
    np.testing.assert_allclose(cl.conv2d(x, w, **kw), want, rtol=1e-6)
    assert not small_call._remembered


# ---- NCHW depthwise and one-channel convs, read as they lie ----------------------------------

@pytest.mark.parametrize("isa", ISAS)
@settings(max_examples=examples(25))
@given(c=st.integers(1, 20), n=st.integers(1, 2), h=st.integers(12, 30), w=st.integers(12, 30),
       k=st.tuples(st.integers(1, 4), st.integers(1, 4)), sh=st.integers(1, 3),
       dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)), padding=paddings,
       mode=st.sampled_from(MODES), seed=st.integers(0, 2**31 - 1), f64=st.booleans())
def test_nchw_depthwise_runs_on_the_planes_and_matches_reference(isa, c, n, h, w, k, sh,
                                                                 dilation, padding, mode, seed,
                                                                 f64):
    """N*C one-channel images, each filtered by its channel's kernel (C = 1: one image each,
    its output channel's plane written as it lies): no transpose either way. (A depthwise
    image within L2 takes the fused transposes: here every size is read as planes.)"""
    from convolab.algorithms import direct_stencil
    from convolab.ops import layout_routes

    kw = dict(stride=(sh, 1), dilation=dilation, padding=padding, padding_mode=mode, groups=c)
    try:
        g = conv_geometry((h, w), k, stride=kw["stride"], padding=padding, dilation=dilation)
        check_padding_fits(g.in_shape, g.pads, mode)
    except ValueError:
        assume(False)
    x, wk, b = arrays((n, h, w, c), (*k, 1, c), seed, np.float64 if f64 else np.float32)
    want = reference.conv2d(x, wk, b, **kw).transpose(0, 3, 1, 2)
    calls = []
    real = direct_stencil.channels_first
    with _native.using(isa), pytest.MonkeyPatch.context() as mp:
        mp.setattr(direct_stencil, "channels_first",
                   lambda *a: calls.append(1) or real(*a))
        mp.setattr(layout_routes, "FUSED_DEPTHWISE_BYTES", 0)
        chosen = cl.plan(x, wk, **kw).algorithm
        got = cl.conv2d(np.ascontiguousarray(x.transpose(0, 3, 1, 2)), wk.transpose(3, 2, 0, 1),
                        b, data_format="NCHW", kernel_format="OIHW", **kw)
    assert bool(calls) == (chosen in ("direct_depthwise", "direct_stencil"))
    assert got.shape == want.shape and got.dtype == x.dtype
    mag = magnitudes(x, wk, b, **kw).transpose(0, 3, 1, 2)
    assert rel_err(got, want, mag) < (1e-12 if f64 else 1e-5)
