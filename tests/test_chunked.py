"""conv2d, corr2d, convolve2d and filter_store on Dask arrays: same values as in memory.

Claim tested: a lazy result equals the in-memory ``convolab.conv2d`` to float rounding (float64:
``rtol = atol = 1e-12``), not bit for bit: each block runs the same algorithm on the same numbers,
but its GEMMs have other sizes, so BLAS may sum in another order (about 40% of random float64
cases differ in the last bit). Cheap cases use the synchronous scheduler; a module-scoped
``LocalCluster`` with two worker processes runs a batch of random configurations for real.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import threading
import time

import dask.array as da
import dask.bag as db
import numpy as np
import pytest
import zarr
from distributed import CancelledError, Client, LocalCluster
from distributed.comm.core import CommClosedError
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import configs

import convolab as cl
from convolab import reference
from convolab.chunked import (
    DEFAULT_TARGET_BYTES,
    conv2d,
    filter_store,
    output_chunks,
    store_status,
)
from convolab.chunked import corr2d as chunked_corr2d
from convolab.chunked.halo import axis_window
from convolab.padding import index_map
from convolab.shapes import conv_geometry

TOL = dict(rtol=1e-12, atol=1e-12)


def _cuts(n: int, draw) -> tuple[int, ...]:
    """Uneven chunk sizes summing to ``n``, often 1 (smaller than any halo)."""
    cuts = sorted(draw(st.sets(st.integers(1, n - 1), max_size=n - 1))) if n > 1 else []
    return tuple(int(c) for c in np.diff([0, *cuts, n]))


def _small_cuts(n: int, start: int) -> tuple[int, ...]:
    """Chunk sizes 1, 2, 3, 1, 2, ... (from ``start``) summing to ``n``."""
    sizes: list[int] = []
    for j in itertools.count(start):
        if sum(sizes) == n:
            return tuple(sizes)
        sizes.append(min(j % 3 + 1, n - sum(sizes)))
    raise AssertionError  # unreachable: count() is endless


@st.composite
def dask_cases(draw):
    """A random config, a layout, batched or not, uneven input chunks and a chunks spec."""
    cfg = draw(configs(max_hw=9))
    x, w, b = cfg.arrays(draw(st.integers(0, 2**16)))
    fmt = draw(st.sampled_from(["NHWC", "NCHW"]))
    xs = x.transpose(0, 3, 1, 2) if fmt == "NCHW" else x
    if draw(st.booleans()):
        xs = xs[0]  # one unbatched example
    chunks = tuple(_cuts(n, draw) for n in xs.shape)
    spec = draw(st.sampled_from([None, "auto", 1, 300, "1KiB"]))
    kwargs = dict(cfg.kwargs(), data_format=fmt, bias=draw(st.sampled_from([None, b])))
    return cfg, xs, w, chunks, spec, kwargs


@given(dask_cases())
@settings(max_examples=40, deadline=None)
def test_random_configs_equal_in_memory_and_reference(case):
    cfg, xs, w, chunks, spec, kwargs = case
    y = conv2d(da.from_array(xs, chunks=chunks), w, chunks=spec, **kwargs)
    expected = cl.conv2d(xs, w, **kwargs)
    assert isinstance(y, da.Array) and y.shape == expected.shape and y.dtype == expected.dtype
    got = y.compute(scheduler="sync")
    np.testing.assert_allclose(got, expected, **TOL)
    # and the oracle, in canonical layout
    x4 = xs if xs.ndim == 4 else xs[None]
    x4 = x4.transpose(0, 2, 3, 1) if kwargs["data_format"] == "NCHW" else x4
    g4 = got if got.ndim == 4 else got[None]
    g4 = g4.transpose(0, 2, 3, 1) if kwargs["data_format"] == "NCHW" else g4
    np.testing.assert_allclose(g4, reference.conv2d(x4, w, kwargs["bias"], **cfg.kwargs()),
                               rtol=1e-10, atol=1e-10)


@given(st.data())
@settings(max_examples=60, deadline=None)
def test_window_pieces_and_local_map_rebuild_the_padded_rows(data):
    n = data.draw(st.integers(1, 12))
    mode = data.draw(st.sampled_from(["zeros", "reflect", "replicate", "circular", "symmetric"]))
    limit = {"reflect": n - 1, "symmetric": n, "circular": n}.get(mode, 6)
    before = data.draw(st.integers(0, min(limit, 6)))
    after = data.draw(st.integers(0, min(limit, 6)))
    src = index_map(n, before, after, mode)
    stride, span = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 5))
    assume_out = (len(src) - span) // stride + 1
    if assume_out < 1:
        return
    r0 = data.draw(st.integers(0, assume_out - 1))
    r1 = data.draw(st.integers(r0 + 1, assume_out))
    in_chunks = _cuts(n, data.draw)
    win = axis_window(src, r0, r1, stride=stride, span=span, in_chunks=in_chunks)
    x = np.arange(n) + 100
    offsets = np.r_[0, np.cumsum(in_chunks)]
    fetched = np.concatenate([x[offsets[k]:offsets[k + 1]][s] for k, s in win.pieces])
    rebuilt = np.where(win.local_map >= 0, fetched[win.local_map], -1)
    window = src[r0 * stride : (r1 - 1) * stride + span]
    np.testing.assert_array_equal(rebuilt, np.where(window >= 0, x[window], -1))
    assert win.rows_read == len(fetched) <= n


def test_circular_border_block_fetches_rows_from_the_far_side():
    win = axis_window(index_map(10, 2, 2, "circular"), 0, 3, stride=1, span=5,
                      in_chunks=(4, 3, 3))
    # padded rows 0..6 are input rows 8, 9, 0, 1, 2, 3, 4: chunk 0, chunk 1 (row 4), chunk 2
    assert win.pieces == ((0, slice(0, 4)), (1, slice(0, 1)), (2, slice(1, 3)))


def test_output_chunks_follow_input_chunks_for_same_padding():
    geom = conv_geometry((20, 30), (5, 3), padding="same")
    got = output_chunks(None, ((2,), (8, 8, 4), (10, 10, 10), (3,)), geom, 4, out_itemsize=4)
    assert got == ((2,), (8, 8, 4), (10, 10, 10), (4,))


@pytest.mark.parametrize("in_rows", [(1000,), (100,) * 10, (64,) * 15 + (40,)])
def test_output_chunks_for_a_byte_target_stay_under_it_and_follow_input_cuts(in_rows):
    geom = conv_geometry((1000, 1000), (3, 3), padding="same")
    target = 1 << 20
    got = output_chunks(target, ((1,), in_rows, in_rows, (4,)), geom, 8, out_itemsize=4,
                        in_itemsize=4)
    rows, cols = got[1][0], got[2][0]
    assert target / 4 < rows * cols * 8 * 4 <= target
    assert all(len(set(axis[:-1])) <= 1 and axis[-1] <= axis[0] for axis in got)  # regular
    unit = in_rows[0]
    if rows >= unit:  # whole input chunks per block
        assert rows % unit == 0
    else:  # one input chunk split evenly: k blocks overshoot it by less than k rows
        k = -(-unit // rows)
        assert 0 <= k * rows - unit < k
    assert output_chunks("auto", ((1,), (1000,), (1000,), (4,)), geom, 8,
                         out_itemsize=4) == ((1,), (1000,), (1000,), (8,))
    assert DEFAULT_TARGET_BYTES == 64 << 20


def test_explicit_chunks_are_given_in_the_output_layout():
    x = da.ones((2, 3, 12, 10), chunks=(1, 3, 5, 5))  # NCHW
    y = conv2d(x, np.ones((4, 3, 3, 3)), padding=1, kernel_format="OIHW", data_format="NCHW",
               chunks=(2, -1, 4, 5))
    assert y.chunks == ((2,), (4,), (4, 4, 4), (5, 5))
    np.testing.assert_allclose(
        y.compute(scheduler="sync"),
        cl.conv2d(np.ones((2, 3, 12, 10)), np.ones((4, 3, 3, 3)), padding=1,
                  kernel_format="OIHW", data_format="NCHW"), **TOL)


@pytest.mark.parametrize(
    "dtypes, out",
    [(("float32", "float32"), "float32"), (("int64", "float32"), "float64"),
     (("float16", "float16"), "float16"), (("float32", "float64"), "float64")],
)
def test_output_dtype_follows_the_in_memory_rules(dtypes, out):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((1, 9, 9, 2)) * 4).astype(dtypes[0])
    w = rng.standard_normal((3, 3, 2, 3)).astype(dtypes[1])
    y = conv2d(da.from_array(x, chunks=(1, 4, 4, 1)), w, padding="same")
    assert y.dtype == out
    got = y.compute(scheduler="sync")
    assert got.dtype == out
    # blocks may round differently from the whole call (another algorithm, other GEMM sizes):
    # allow a few units in the last place of the output dtype (values here are ~20)
    rtol, atol = {"float16": (2e-3, 2e-2), "float32": (1e-5, 1e-4), "float64": (1e-12, 1e-12)}[out]
    np.testing.assert_allclose(got, cl.conv2d(x, w, padding="same"), rtol=rtol, atol=atol)


def test_public_functions_dispatch_dask_arrays_here():
    rng = np.random.default_rng(2)
    img = rng.standard_normal((11, 13))
    k = rng.standard_normal((3, 2))
    X = da.from_array(img, chunks=(4, 5))
    for fn in (cl.corr2d, cl.convolve2d):
        y = fn(X, k, padding=(1, 2), stride=2)
        assert isinstance(y, da.Array)
        np.testing.assert_allclose(y.compute(scheduler="sync"),
                                   fn(img, k, padding=(1, 2), stride=2), **TOL)
    y = cl.conv2d(X[None, :, :, None], k[:, :, None, None], padding="full")
    assert isinstance(y, da.Array)
    np.testing.assert_allclose(y.compute(scheduler="sync"),
                               cl.conv2d(img[None, :, :, None], k[:, :, None, None],
                                         padding="full"), **TOL)


def test_corr2d_takes_explicit_chunks_of_its_2d_output():
    X = da.ones((10, 12), chunks=3)
    assert chunked_corr2d(X, np.ones((3, 3)), chunks=(4, 5)).chunks == ((4, 4), (5, 5))
    assert chunked_corr2d(X, np.ones((3, 3)), chunks={-1: 2}).chunks == ((8,), (2,) * 5)


def test_the_core_never_imports_dask_or_zarr():
    code = (
        "import sys, numpy as np, convolab as cl\n"
        "cl.conv2d(np.ones((1, 4, 4, 2)), np.ones((3, 3, 2, 1)), padding='same')\n"
        "cl.convolve2d(np.ones((4, 4)), np.ones((2, 2)))\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'dask', 'distributed', 'zarr'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_empty_batch_gives_an_empty_batch():
    y = conv2d(da.zeros((0, 5, 5, 2), chunks=(1, 2, 2, 2)), np.ones((3, 3, 2, 4)))
    assert y.shape == (0, 3, 3, 4)
    assert y.compute(scheduler="sync").shape == (0, 3, 3, 4)


def test_building_the_graph_reads_nothing():
    def boom(block):
        raise RuntimeError("computed too early")

    x = da.ones((1, 8, 8, 1), chunks=4).map_blocks(boom, dtype=float)
    y = conv2d(x, np.ones((3, 3, 1, 1)), padding="same", padding_mode="reflect")
    with pytest.raises(RuntimeError, match="too early"):
        y.compute(scheduler="sync")


def test_each_block_reads_its_own_chunk_and_only_halo_strips_of_its_neighbours():
    # 5x5 kernel, "same": a block needs its 8x8 chunk plus 2 rows/columns of each neighbour
    x = da.ones((1, 32, 32, 1), chunks=(1, 8, 8, 1))
    y = conv2d(x, np.ones((5, 5, 1, 1)), padding="same")
    slicing = [task for key, task in dict(y.__dask_graph__()).items()
               if isinstance(key, tuple) and "-halo-" in key[0]]
    # one slicing task per (block, neighbour chunk): (2+3+3+2)**2 pairs minus 16 own chunks,
    # which are used whole, without a task
    assert len(slicing) == 84
    for _, _, index in slicing:
        rows, cols = sorted(s.stop - s.start for s in index[1:3])
        assert rows == 2 and cols in (2, 8)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(padding="sam"), "padding"),
        (dict(groups=2), "groups"),
        (dict(padding_mode="mirrorr"), "padding_mode"),
        (dict(algorithm="fastest"), "algorithm"),
        (dict(chunks=(1, 5, 5, 2)), "output-channel axis must be one chunk"),
        (dict(chunks=((1,), (4, 4), (9,), (4,))), "do not fit"),
        (dict(chunks=-5), "positive number of bytes"),
        (dict(chunks="lots"), "positive number of bytes"),
    ],
)
def test_bad_arguments_fail_at_call_time_with_the_in_memory_message(kwargs, match):
    x = da.ones((1, 9, 9, 3), chunks=3)
    with pytest.raises(ValueError, match=match):
        conv2d(x, np.ones((3, 3, 3, 4)), **kwargs)


def test_other_dask_collections_are_refused():
    bag = db.from_sequence([1, 2, 3])
    with pytest.raises(TypeError, match="x: expected a dask.array.Array"):
        conv2d(bag, np.ones((1, 1, 1, 1)))


def test_chunks_too_small_for_a_task_graph_are_refused():
    x = da.ones((1, 2000, 2000, 1), chunks=(1, 1000, 1000, 1))
    with pytest.raises(ValueError, match="blocks, more than"):
        conv2d(x, np.ones((3, 3, 1, 1)), chunks=1)


def test_following_tiny_input_chunks_of_a_big_image_points_to_auto():
    geom = conv_geometry((1000, 1000), (3, 3), padding="same")
    with pytest.raises(ValueError, match="chunks='auto'"):
        output_chunks(None, ((1,), (2,) * 500, (2,) * 500, (1,)), geom, 1, out_itemsize=8)


def test_unknown_chunk_sizes_are_refused():
    x = da.ones((1, 8, 8, 1), chunks=4)
    batch = x[x[:, :, :, 0].sum(axis=(1, 2)) > 0]  # boolean mask: batch sizes become nan
    rows = x[:, x[0, :, 0, 0] > 0]  # height becomes nan
    for masked in (batch, rows):
        with pytest.raises(ValueError, match="compute_chunk_sizes"):
            conv2d(masked, np.ones((3, 3, 1, 1)))


def test_same_errors_as_in_memory_for_a_kernel_larger_than_the_input():
    with pytest.raises(ValueError, match="kernel_size") as lazy:
        conv2d(da.ones((1, 4, 4, 1)), np.ones((5, 5, 1, 1)))
    with pytest.raises(ValueError, match="kernel_size") as eager:
        cl.conv2d(np.ones((1, 4, 4, 1)), np.ones((5, 5, 1, 1)))
    assert str(lazy.value) == str(eager.value)


# --- filter_store (local scheduler) ---------------------------------------------------------


def _make_store(path, data, chunks):
    zarr.create_array(path, data=data, chunks=chunks)
    return path


@pytest.mark.parametrize("shape", [(37, 29), (23, 31, 3)])
def test_filter_store_equals_in_memory_per_channel(tmp_path, shape, capsys):
    rng = np.random.default_rng(3)
    img = rng.standard_normal(shape).astype(np.float32)
    k = rng.standard_normal((5, 4)).astype(np.float32)
    src = _make_store(tmp_path / "in.zarr", img, (8, 8, 2)[: len(shape)])
    out = filter_store(src, tmp_path / "out.zarr", k, padding="same", stride=(2, 1),
                       padding_mode="reflect")
    got = zarr.open_array(out)[:]
    assert got.dtype == np.float32
    channels = img[..., None] if img.ndim == 2 else img
    expected = np.stack(
        [cl.conv2d(channels[None, :, :, c:c + 1], k[:, :, None, None], padding="same",
                   stride=(2, 1), padding_mode="reflect")[0, :, :, 0]
         for c in range(channels.shape[2])], axis=-1)
    np.testing.assert_allclose(got, expected[..., 0] if img.ndim == 2 else expected,
                               rtol=1e-5, atol=1e-4)
    assert "chunk" in capsys.readouterr().err  # the progress bar
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.zarr", "out.zarr"]


def test_filter_store_reads_a_huge_source_chunk_in_pieces(tmp_path, monkeypatch):
    monkeypatch.setattr("convolab.chunked.store.DEFAULT_TARGET_BYTES", 8 * 16 * 16)
    img = np.random.default_rng(7).standard_normal((64, 48))
    src = _make_store(tmp_path / "in.zarr", img, (64, 48))  # one chunk of 24 KiB: too big
    out = zarr.open_array(filter_store(src, tmp_path / "out.zarr", np.ones((3, 3)),
                                       progress=False))
    assert out.chunks[0] * out.chunks[1] <= 16 * 16
    expected = cl.corr2d(img, np.ones((3, 3)), padding="same")
    np.testing.assert_allclose(out[:], expected, **TOL)


def test_filter_store_refuses_to_overwrite_its_input_or_an_existing_output(tmp_path):
    src = _make_store(tmp_path / "in.zarr", np.ones((8, 8)), (4, 4))
    with pytest.raises(ValueError, match="overwrite the input"):
        filter_store(src, src, np.ones((3, 3)), progress=False)
    with pytest.raises(ValueError, match="overwrite the input"):
        filter_store(src, src / "inside.zarr", np.ones((3, 3)), progress=False)
    out = filter_store(src, tmp_path / "out.zarr", np.ones((3, 3)), progress=False)
    with pytest.raises(ValueError, match="already exists"):
        filter_store(src, out, np.ones((3, 3)), progress=False)
    filter_store(src, out, 2 * np.ones((1, 1)), progress=False, overwrite=True)
    np.testing.assert_array_equal(zarr.open_array(out)[:], 2 * np.ones((8, 8)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.zarr", "out.zarr"]


def test_filter_store_rejects_what_is_not_an_image_store(tmp_path):
    with pytest.raises(ValueError, match="src: cannot open"):
        filter_store(tmp_path / "missing.zarr", tmp_path / "out.zarr", np.ones((3, 3)))
    src = _make_store(tmp_path / "in.zarr", np.ones((2, 4, 4, 1)), (1, 2, 2, 1))
    with pytest.raises(ValueError, match="src: expected a 2-D"):
        filter_store(src, tmp_path / "out.zarr", np.ones((3, 3)))
    src = _make_store(tmp_path / "flat.zarr", np.ones((4, 4)), (2, 2))
    with pytest.raises(ValueError, match="kernel: expected a 2-D"):
        filter_store(src, tmp_path / "out.zarr", np.ones((3, 3, 1)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flat.zarr", "in.zarr"]


# --- a real cluster: two worker processes ----------------------------------------------------


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, \
            Client(cluster, set_as_default=False) as c:
        yield c


@given(case=dask_cases())
@settings(max_examples=15, deadline=None)
def test_random_configs_on_a_local_cluster_equal_in_memory(client, case):
    _, xs, w, chunks, spec, kwargs = case
    lazy = conv2d(da.from_array(xs, chunks=chunks), w, chunks=spec, **kwargs)
    np.testing.assert_allclose(client.compute(lazy).result(), cl.conv2d(xs, w, **kwargs), **TOL)


def test_every_padding_form_and_mode_on_a_local_cluster(client):
    # stride, dilation and groups on; spatial input chunks of 1 to 3 pixels, smaller than the
    # halo of a 3x3 kernel dilated by 2 (4 columns); NCHW and unbatched cases among them.
    # Every form and every mode appears (cycled together; hypothesis above mixes them freely).
    rng = np.random.default_rng(6)
    forms = ["valid", "same", "same_lower", "full", 2, (1, 3), ((2, 0), (1, 3))]
    modes = ["zeros", "reflect", "replicate", "circular", "symmetric"]
    cases = []
    for i in range(10):
        padding, mode = forms[i % len(forms)], modes[i % len(modes)]
        fmt = "NCHW" if i % 2 else "NHWC"
        x = rng.standard_normal((2, 4, 9, 8) if fmt == "NCHW" else (2, 9, 8, 4))
        x = x[0] if i % 4 == 3 else x
        kw = dict(stride=(2, 1), dilation=(1, 2), groups=2, padding=padding, padding_mode=mode,
                  data_format=fmt)
        w, b = rng.standard_normal((3, 3, 2, 6)), rng.standard_normal(6)
        spatial = (2, 3) if fmt == "NCHW" else (1, 2)
        spatial = tuple(a - 1 for a in spatial) if x.ndim == 3 else spatial
        chunks = tuple(_small_cuts(n, i) if a in spatial else -1 for a, n in enumerate(x.shape))
        # output blocks of 3 rows/columns (same axes as the input's H, W): few tasks, each
        # reading many tiny chunks
        spec = dict.fromkeys(spatial, 3)
        cases.append((x, w, b, kw, conv2d(da.from_array(x, chunks=chunks), w, b, chunks=spec,
                                          **kw)))
    lazy = [y for *_, y in cases]
    for (x, w, b, kw, _), got in zip(cases, client.gather(client.compute(lazy))):
        np.testing.assert_allclose(got, cl.conv2d(x, w, b, **kw), **TOL)


def test_filter_store_on_a_local_cluster(client, tmp_path):
    img = np.random.default_rng(4).standard_normal((40, 50))
    src = _make_store(tmp_path / "in.zarr", img, (16, 16))
    with client.as_current():
        out = filter_store(src, tmp_path / "out.zarr", np.ones((3, 3)), padding_mode="circular",
                           progress=False)
    expected = cl.conv2d(img[None, :, :, None], np.ones((3, 3, 1, 1)), padding="same",
                         padding_mode="circular")[0, :, :, 0]
    np.testing.assert_allclose(zarr.open_array(out)[:], expected, **TOL)


def test_a_cluster_going_away_surfaces_dask_error_and_leaves_dst_marked_incomplete(tmp_path):
    img = np.random.default_rng(5).standard_normal((2048, 2048))
    src = _make_store(tmp_path / "in.zarr", img, (128, 128))
    failure: list[BaseException] = []

    def run():
        try:
            filter_store(src, tmp_path / "out.zarr", np.ones((15, 15)), progress=False)
        except BaseException as exc:  # handed to the test's thread
            failure.append(exc)

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster):
        worker = threading.Thread(target=run)
        worker.start()
        deadline = time.monotonic() + 60
        # wait until the first output chunk is on disk, then pull the cluster away
        while not (tmp_path / "out.zarr" / "c").exists():
            assert time.monotonic() < deadline and worker.is_alive()
            time.sleep(0.01)
        cluster.close()
        worker.join(60)
    assert not worker.is_alive()
    # Which error distributed raises depends on what the client sees first: the scheduler
    # cancelling the futures, or the connection to a closing worker dropping mid-gather.
    # Either is Dask's own error, surfaced unchanged.
    assert failure and isinstance(failure[0], (CancelledError, CommClosedError)), failure
    if sys.version_info >= (3, 11):
        assert "stays marked incomplete" in failure[0].__notes__[-1]
    # what was written stays, never looking finished (resume=True would finish it)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.zarr", "out.zarr"]
    assert not store_status(tmp_path / "out.zarr").complete
