"""The native pool's regions (``_native/region.c``, ``native.region``): a conv kernel's range
of items run in chunks on several threads of the pool.

Chunks (direct's: guided shares) are taken in whatever order the threads get to them, so
these check that every item is computed exactly once and as one thread computes it (bit for
bit, for every chunk size and thread count), that the whole path still gives the
definition's result with many chunks on several workers, that two regions at once and a
forked child work, that a kernel's report (a Winograd output that is not finite) survives the
split, and that the entry points refuse what the pool cannot do.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import examples

import convolab as cl
from convolab import _native, reference
from convolab.algorithms import (
    direct,
    direct_depthwise,
    direct_stencil,
    native,
    scheduler,
    winograd_f4,
)
from convolab.plan import problem_of

pytestmark = pytest.mark.skipif(not _native.available(),
                                reason=f"the compiled core is not available: {_native.reason}")
BOUND = {"direct": direct, "direct_depthwise": direct_depthwise, "winograd_f4": winograd_f4}
KERNELS = (*BOUND, "direct_stencil")


@st.composite
def problems(draw, name: str):
    """``(x, w, bias, conv2d keywords)`` of a random conv that kernel ``name`` runs."""
    f64 = draw(st.booleans())
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    n, h, wd = draw(st.integers(1, 3)), draw(st.integers(3, 14)), draw(st.integers(3, 30))
    c = draw(st.integers(1, 12))
    o = (c if name == "direct_depthwise" else draw(st.integers(1, 8)) if name == "direct_stencil"
         else draw(st.integers(1, 40)))
    k = 3 if name == "winograd_f4" else draw(st.integers(1, 3))
    groups = c if name == "direct_depthwise" else 1
    stride = 1 if name in ("winograd_f4", "direct_stencil") else draw(st.integers(1, 2))
    kw = dict(padding=draw(st.sampled_from(["valid", "same"])), stride=stride, groups=groups)
    dt = np.float64 if f64 else np.float32
    x = rng.standard_normal((n, h, wd, c)).astype(dt)
    w = rng.standard_normal((k, k, c // groups, o)).astype(dt)
    return x, w, rng.standard_normal(o).astype(dt), kw


def many_chunks(mp: pytest.MonkeyPatch, workers: int, task_macs: int) -> None:
    """Make every conv split into many small tasks on ``workers`` workers."""
    mp.setattr(scheduler, "workers", lambda: workers)
    mp.setattr(native, "SERIAL_MACS", 0)
    mp.setattr(native, "TASK_MACS", task_macs)
    mp.setattr(native, "TASKS_PER_WORKER", 16)
    mp.setattr(direct_stencil, "MIN_ROWS", 1)


@pytest.mark.parametrize("name", KERNELS)
@settings(max_examples=examples(30), deadline=None)
@given(data=st.data(), workers=st.integers(2, 5), task_macs=st.sampled_from([1, 5000, 10**6]))
def test_many_chunks_on_several_threads_give_the_definitions_result(name, data, workers,
                                                                      task_macs):
    x, w, b, kw = data.draw(problems(name))
    with pytest.MonkeyPatch.context() as mp:
        many_chunks(mp, workers, task_macs)
        y = cl.conv2d(x, w, b, algorithm=name, **kw)
    want = reference.conv2d(x, w, b, **kw)
    scale = max(float(np.max(np.abs(want), initial=0)), 1e-30)
    assert float(np.max(np.abs(y - want), initial=0)) / scale < (
        1e-12 if x.dtype == np.float64 else 2e-5)


@pytest.mark.parametrize("name", list(BOUND))
@settings(max_examples=examples(30), deadline=None)
@given(data=st.data(), workers=st.integers(2, 6), chunk=st.integers(0, 400))
def test_a_region_computes_what_one_thread_computes_bit_for_bit(name, data, workers, chunk):
    """Every chunk size (one item, a remainder, past the range) on every thread count."""
    x, w, b, kw = data.draw(problems(name))
    p = problem_of(x, w, **kw)
    kernel = BOUND[name].bind(w, p, b)
    n = x.shape[0]
    items = n * kernel.items
    alone, split = np.full(p.y_shape, np.nan, x.dtype), np.full(p.y_shape, np.nan, x.dtype)
    assert kernel.run(x, alone, n, 0, items, chunk, 1)
    assert kernel.run(x, split, n, 0, items, chunk, workers)
    np.testing.assert_array_equal(split, alone)
    assert not np.isnan(split).any()  # every item written


@settings(max_examples=examples(10), deadline=None)
@given(seed=st.integers(0, 2**31 - 1), workers=st.integers(2, 4), n=st.integers(1, 3),
       width=st.integers(2000, 9000), f64=st.booleans())
def test_guided_claims_over_many_grains_compute_every_pixel_once(seed, workers, n, width, f64):
    """Direct's regions claim guided shares (``region.h``): long runs of CL_CHUNK pixels
    first, one at the end. Over a range of tens of grains, on every thread count, the split
    result is the one thread's bit for bit, every pixel written."""
    rng = np.random.default_rng(seed)
    dt = np.float64 if f64 else np.float32
    x = rng.standard_normal((n, 1, width, 3)).astype(dt)
    w = rng.standard_normal((1, 7, 3, 20)).astype(dt)
    p = problem_of(x, w, stride=(1, 2), padding="same")
    kernel = direct.bind(w, p, rng.standard_normal(20).astype(dt))
    items = n * kernel.items
    alone, split = np.full(p.y_shape, np.nan, dt), np.full(p.y_shape, np.nan, dt)
    assert kernel.run(x, alone, n, 0, items, 192, 1)
    assert kernel.run(x, split, n, 0, items, 192, workers)
    np.testing.assert_array_equal(split, alone)
    assert not np.isnan(split).any()


def test_two_regions_at_once_each_give_their_result():
    """A region that finds the pool busy runs on its own thread: both are right."""
    rng = np.random.default_rng(3)
    xs = [rng.standard_normal((4, 24, 24, 16)).astype(np.float32) for _ in range(2)]
    w = rng.standard_normal((3, 3, 16, 32)).astype(np.float32)
    p = problem_of(xs[0], w, padding="same")
    kernel = direct.bind(w, p)
    items = 4 * kernel.items
    wanted = [reference.conv2d(x, w, padding="same") for x in xs]
    errors: list[str] = []

    def call(i: int) -> None:
        for _ in range(30):
            y = np.empty(p.y_shape, np.float32)
            kernel.run(xs[i], y, 4, 0, items, 64, 2)
            if not np.allclose(y, wanted[i], rtol=1e-4, atol=1e-4):
                errors.append(f"thread {i}")

    threads = [threading.Thread(target=call, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_runs_regions_on_a_pool_of_its_own():
    """The child has none of the parent's helper threads (and the parent may hold the pool's
    locks when it forks): its first region starts helpers anew."""
    code = """
import os, sys
import numpy as np
from convolab import reference
from convolab.algorithms import direct
from convolab.plan import problem_of
x = np.random.default_rng(0).standard_normal((4, 20, 20, 8)).astype(np.float32)
w = np.ones((3, 3, 8, 16), np.float32)
p = problem_of(x, w)
kernel = direct.bind(w, p)
def region():
    y = np.empty(p.y_shape, np.float32)
    kernel.run(x, y, 4, 0, 4 * kernel.items, 32, 2)
    return np.allclose(y, reference.conv2d(x, w), rtol=1e-4, atol=1e-4)
assert region()  # the parent's helpers exist now
pid = os.fork()
if pid == 0:
    os._exit(0 if region() and region() else 1)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status), region())
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["0", "True"]


def test_a_winograd_output_that_is_not_finite_is_reported_through_a_split():
    """One chunk's report (an Inf spread by a transform) is the region's."""
    x = np.random.default_rng(1).standard_normal((2, 20, 20, 8)).astype(np.float32)
    w = np.ones((3, 3, 8, 8), np.float32)
    p = problem_of(x, w, padding="same")
    kernel = winograd_f4.bind(w, p)
    items = 2 * kernel.items
    y = np.empty(p.y_shape, np.float32)
    assert kernel.run(x, y, 2, 0, items, 3, 3)
    x[1, 17, 3, 5] = np.inf  # in the second image: a chunk near the end
    assert not kernel.run(x, y, 2, 0, items, 3, 3)
    # and the whole forward falls back to direct, which gives the definition's Inf and NaN
    with pytest.MonkeyPatch.context() as mp:
        many_chunks(mp, 3, 1)
        y = cl.conv2d(x, w, padding="same", algorithm="winograd_f4")
    np.testing.assert_array_equal(np.isinf(y), np.isinf(reference.conv2d(x, w, padding="same")))


@pytest.mark.parametrize("chunk, workers, match", [
    (-1, 2, "chunk = -1"),
    (8, 0, "workers = 0"),
    (8, 65, "workers = 65"),
])
def test_the_entry_points_refuse_a_region_they_cannot_run(chunk, workers, match):
    x = np.ones((1, 6, 6, 2), np.float32)
    w = np.ones((3, 3, 2, 4), np.float32)
    p = problem_of(x, w)
    kernel = direct.bind(w, p)
    with pytest.raises(ValueError, match=match):
        kernel.run(x, np.empty(p.y_shape, np.float32), 1, 0, kernel.items, chunk, workers)


def test_a_weight_gradient_runs_on_one_thread_only():
    """Its chunks add into the same grad_w: a split would race."""
    x = np.ones((1, 6, 6, 2), np.float32)
    gy = np.ones((1, 4, 4, 4), np.float32)
    p = problem_of(x, np.ones((3, 3, 2, 4), np.float32))
    nv, _ = direct.tile(p, dot=False)
    lanes = _native.core.lanes(4)
    gw = native.aligned_zeros((1, -(-4 // (nv * lanes)), 3, 3, 2, nv * lanes), np.float32)
    rows, cols = native.maps(p)
    with pytest.raises(ValueError, match="one thread"):
        _native.core.wgrad(x, gw, None, gy, rows, cols, native.geometry(p), nv, 0, 16, None,
                           4, 2)


@pytest.mark.parametrize("name", list(BOUND))
@settings(max_examples=examples(25), deadline=None)
@given(data=st.data(), workers=st.integers(1, 4), group=st.integers(0, 4))
def test_a_planar_region_is_the_channels_last_result_transposed_bit_for_bit(name, data,
                                                                             workers, group):
    """Channels-first input and output, chunks of whole images through the thread's NHWC
    scratch (``_native/planar.c``): each image is what the kernel computes on it in NHWC."""
    x, w, b, kw = data.draw(problems(name))
    p = problem_of(x, w, **kw)
    kernel = BOUND[name].bind(w, p, b)
    n = x.shape[0]
    nhwc = np.empty(p.y_shape, x.dtype)
    assert kernel.run(x, nhwc, n, 0, n * kernel.items)
    x_first = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    y = np.full((n, p.y_shape[-1], *p.y_shape[1:3]), np.nan, x.dtype)
    assert kernel.run(x_first, y, n, 0, n, group, workers, True)
    np.testing.assert_array_equal(y, nhwc.transpose(0, 3, 1, 2))


def test_planar_calls_are_refused_where_they_cannot_run():
    """A kernel that reads only channels-last input (the stencil), a weight gradient, a range
    past the batch's images."""
    x = np.ones((2, 6, 6, 1), np.float32)
    w = np.ones((3, 3, 1, 2), np.float32)
    p = problem_of(x, w)
    rows, cols = native.maps(p)
    y = np.empty(p.y_shape, np.float32)
    with pytest.raises(ValueError, match="channels-last input only"):
        _native.core.stencil(x, w, None, y, rows, cols, native.geometry(p), 0, 0, 0, None, 1, 1,
                             True)
    kernel = direct.bind(w, p)
    with pytest.raises(ValueError, match=r"images \[0, 3\) are outside \[0, 2\)"):
        kernel.run(x, y, 2, 0, 3, 1, 1, True)
    gw = native.aligned_zeros((1, 1, 3, 3, 1, 16), np.float32)
    with pytest.raises(ValueError, match="forward conv of images only"):
        _native.core.wgrad(x, gw, None, y, rows, cols, native.geometry(p), 1, 0, 2, None, 1, 1,
                           True)
