"""conv, corr and filter_store of signals (1-D) and volumes (3-D) on Dask arrays: same values as
in memory, lazily, through the one code path that images take.

Claim tested, as in ``test_chunked.py``: a lazy result equals the in-memory ``convolab.conv`` to
float rounding (float64: ``rtol = atol = 1e-12``), for any chunking (chunks of one pixel,
smaller than the halo, included), stride, dilation, padding form and mode, groups and layout.
Cheap cases use the synchronous scheduler; a small in-process ``LocalCluster`` filters a Zarr
volume through ``filter_store`` for real.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import pytest
import zarr
from distributed import Client, LocalCluster, get_task_stream
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import nd_configs

import convolab as cl
from convolab import chunked
from convolab.shapes import conv_geometry

TOL = dict(rtol=1e-12, atol=1e-12)
SEEDS = st.integers(0, 2**31 - 1)


def _cuts(n: int, draw) -> tuple[int, ...]:
    """Uneven chunk sizes summing to ``n``, often 1 (smaller than any halo)."""
    cuts = sorted(draw(st.sets(st.integers(1, n - 1), max_size=n - 1))) if n > 1 else []
    return tuple(int(c) for c in np.diff([0, *cuts, n]))


def _kernel_first(w: np.ndarray) -> np.ndarray:
    """(*kernel, Cg, O) -> (O, Cg, *kernel)."""
    r = w.ndim - 2
    return w.transpose(r + 1, r, *range(r))


@st.composite
def nd_dask_cases(draw, rank: int):
    """A random conv of ``rank`` with layouts, batched or not, uneven chunks and a chunks spec;
    returns the lazy call's function and arguments and the in-memory call's."""
    cfg = draw(nd_configs(rank, max_size=14 if rank == 1 else 6))
    x, w, b = cfg.arrays(draw(SEEDS))
    first = draw(st.booleans())
    kernel_first = draw(st.booleans())
    xs = np.moveaxis(x, -1, 1) if first else x  # (N, C, *spatial) or (N, *spatial, C)
    ws = _kernel_first(w) if kernel_first else w
    if draw(st.booleans()):
        xs = xs[0]  # one unbatched example
    chunks = tuple(_cuts(n, draw) for n in xs.shape)
    spec = draw(st.sampled_from([None, "auto", 1, 300, "2KiB"]))
    kwargs = dict(cfg.kwargs(), bias=draw(st.sampled_from([None, b])))
    if draw(st.booleans()):  # the named form, with its layout names
        names = {1: ("NWC", "NCW", "WIO", "OIW"), 3: ("NDHWC", "NCDHW", "DHWIO", "OIDHW")}[rank]
        kwargs.update(data_format=names[first], kernel_format=names[2 + kernel_first])
        lazy_fn, memory_fn = getattr(chunked, f"conv{rank}d"), getattr(cl, f"conv{rank}d")
    else:
        kwargs.update(data_format="channels_first" if first else "channels_last",
                      kernel_format="channels_first" if kernel_first else "channels_last")
        lazy_fn, memory_fn = chunked.conv, cl.conv
    return lazy_fn, memory_fn, xs, ws, chunks, spec, kwargs


def _check(case) -> None:
    lazy_fn, memory_fn, xs, ws, chunks, spec, kwargs = case
    lazy_x = da.from_array(xs, chunks=chunks)
    if spec is None:  # the public call, dispatched to convolab.chunked by the array's type
        y = memory_fn(lazy_x, ws, **kwargs)
    else:
        y = lazy_fn(lazy_x, ws, chunks=spec, **kwargs)
    expected = memory_fn(xs, ws, **kwargs)
    assert isinstance(y, da.Array) and y.shape == expected.shape and y.dtype == expected.dtype
    got = y.compute(scheduler="sync")
    assert got.shape == expected.shape and got.dtype == expected.dtype
    np.testing.assert_allclose(got, expected, **TOL)


@given(nd_dask_cases(1))
@settings(max_examples=80, deadline=None)
def test_random_1d_convs_on_dask_equal_in_memory(case):
    _check(case)


@given(nd_dask_cases(3))
@settings(max_examples=80, deadline=None)
def test_random_3d_convs_on_dask_equal_in_memory(case):
    _check(case)


@given(data=st.data(), seed=SEEDS)
@settings(max_examples=25, deadline=None)
def test_corr_and_convolve_of_any_rank_on_dask_equal_in_memory(data, seed):
    rank = data.draw(st.sampled_from([1, 2, 3]))
    cfg = data.draw(nd_configs(rank, max_size=9 if rank < 3 else 6))
    rng = np.random.default_rng(seed)
    X, K = rng.standard_normal(cfg.spatial), rng.standard_normal(cfg.kernel)
    kw = dict(padding=cfg.padding, stride=cfg.stride, dilation=cfg.dilation,
              padding_mode=cfg.padding_mode)
    lazy_X = da.from_array(X, chunks=tuple(_cuts(n, data.draw) for n in X.shape))
    for fn in (cl.corr, cl.convolve):
        y = fn(lazy_X, K, **kw)  # dispatched to convolab.chunked
        assert isinstance(y, da.Array)
        np.testing.assert_allclose(y.compute(scheduler="sync"), fn(X, K, **kw), **TOL)


def test_conv2d_is_conv_of_rank_2_with_the_same_graph():
    x = da.random.default_rng(0).standard_normal((2, 9, 11, 3), chunks=(1, 4, 5, 3))
    w = np.random.default_rng(1).standard_normal((3, 3, 3, 4))
    kw = dict(padding="same", stride=(2, 1), padding_mode="symmetric")
    a, b = chunked.conv2d(x, w, **kw), chunked.conv(x, w, **kw)
    assert a.name == b.name and a.chunks == b.chunks  # one task graph, not a copy of it
    np.testing.assert_array_equal(*dask.compute(a, b, scheduler="sync"))


def test_each_3d_block_reads_its_own_chunk_and_only_halo_slabs_of_its_neighbours():
    # 3x3x3 kernel, "same": a block needs its 8x8x8 chunk plus 1 voxel of each neighbour
    x = da.ones((1, 16, 16, 16, 1), chunks=(1, 8, 8, 8, 1))
    y = chunked.conv(x, np.ones((3, 3, 3, 1, 1)), padding="same")
    assert y.chunks == ((1,), (8, 8), (8, 8), (8, 8), (1,))
    slicing = [task for key, task in dict(y.__dask_graph__()).items()
               if isinstance(key, tuple) and "-halo-" in key[0]]
    # per block, per axis: its own chunk whole and a 1-voxel slab of one neighbour, so
    # 2**3 - 1 slicing tasks per block (the own chunk is used whole, without a task)
    assert len(slicing) == 8 * 7
    for _, _, index in slicing:
        sides = [s.stop - s.start for s in index[1:4]]
        assert min(sides) == 1 and set(sides) <= {1, 8}


def test_output_chunks_of_a_volume_follow_input_chunks_and_byte_targets():
    geom = conv_geometry((64, 96, 96), (5, 5, 5), padding="same")
    in_chunks = ((1,), (32, 32), (32,) * 3, (32,) * 3, (1,))
    assert chunked.output_chunks(None, in_chunks, geom, 1, out_itemsize=4) == in_chunks
    target = 64 << 10  # 16384 float32 voxels: blocks of 16x32x32, half an input chunk deep
    got = chunked.output_chunks(target, in_chunks, geom, 1, out_itemsize=4, in_itemsize=4)
    sides = [axis[0] for axis in got[1:4]]
    assert target / 8 < np.prod(sides) * 4 <= target
    assert all(32 % s == 0 or s % 32 == 0 for s in sides)  # cut at the input's boundaries


def test_explicit_chunks_of_a_3d_conv_are_given_in_the_output_layout():
    x = np.random.default_rng(2).standard_normal((2, 3, 6, 7, 8))  # NCDHW
    w = np.random.default_rng(3).standard_normal((4, 3, 3, 3, 3))  # OIDHW
    y = chunked.conv3d(da.from_array(x, chunks=(1, 3, 2, 3, 4)), w, padding=1,
                       data_format="NCDHW", kernel_format="OIDHW", chunks=(1, -1, 3, 4, 5))
    assert y.chunks == ((1, 1), (4,), (3, 3), (4, 3), (5, 3))
    np.testing.assert_allclose(
        y.compute(scheduler="sync"),
        cl.conv3d(x, w, padding=1, data_format="NCDHW", kernel_format="OIDHW"), **TOL)


def test_public_calls_on_dask_arrays_are_lazy_until_compute():
    reads = itertools.count()

    def counted(block):
        if block.size:  # map_blocks calls it on an empty array to learn the dtype: not a read
            next(reads)
        return block

    rng = np.random.default_rng(4)
    vol, sig = rng.standard_normal((1, 8, 9, 10, 2)), rng.standard_normal((1, 20, 2))
    lazy_vol = da.from_array(vol, chunks=(1, 4, 4, 4, 2)).map_blocks(counted, dtype=float)
    lazy_sig = da.from_array(sig, chunks=(1, 6, 2)).map_blocks(counted, dtype=float)
    w3, w1 = rng.standard_normal((3, 3, 3, 2, 2)), rng.standard_normal((3, 2, 2))
    kw = dict(padding="same", padding_mode="replicate")
    calls = [
        (cl.conv(lazy_vol, w3, **kw), cl.conv(vol, w3, **kw)),
        (cl.conv3d(lazy_vol, w3, **kw), cl.conv3d(vol, w3, **kw)),
        (cl.conv(lazy_sig, w1, **kw), cl.conv(sig, w1, **kw)),
        (cl.conv1d(lazy_sig, w1, **kw), cl.conv1d(sig, w1, **kw)),
        (cl.corr(lazy_vol[0, ..., 0], w3[..., 0, 0], **kw),
         cl.corr(vol[0, ..., 0], w3[..., 0, 0], **kw)),
        (cl.convolve(lazy_sig[0, :, 1], w1[:, 0, 0], **kw),
         cl.convolve(sig[0, :, 1], w1[:, 0, 0], **kw)),
    ]
    assert all(isinstance(y, da.Array) for y, _ in calls)
    assert next(reads) == 0  # building six graphs read nothing
    for y, expected in calls:
        np.testing.assert_allclose(y.compute(scheduler="sync"), expected, **TOL)
    assert next(reads) > 1


def test_an_empty_batch_or_axis_gives_what_memory_gives():
    w, b = np.ones((3, 3, 3, 1, 2)), np.array([1.5, -2.0])
    for shape, padding in [((0, 5, 5, 5, 1), "same"), ((1, 4, 0, 5, 1), "full")]:
        x = np.zeros(shape)
        y = chunked.conv(da.from_array(x, chunks=2), w, b, padding=padding)
        expected = cl.conv(x, w, b, padding=padding)  # an empty axis: the bias alone
        assert y.shape == expected.shape
        np.testing.assert_array_equal(y.compute(scheduler="sync"), expected)


def test_corr2d_of_a_dask_colour_image_filters_each_channel_as_in_memory():
    rng = np.random.default_rng(7)
    img, k = rng.standard_normal((13, 11, 3)), rng.standard_normal((3, 2))
    kw = dict(padding="same", stride=(1, 2), padding_mode="symmetric")
    for fn in (cl.corr2d, cl.convolve2d):
        y = fn(da.from_array(img, chunks=(4, 3, 2)), k, **kw)
        assert isinstance(y, da.Array) and y.shape == (13, 6, 3)
        np.testing.assert_allclose(y.compute(scheduler="sync"), fn(img, k, **kw), **TOL)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda x: cl.conv3d(x, np.ones((3, 3, 1, 1))), "w: expected a 5-D DHWIO"),
        (lambda x: cl.conv1d(x, np.ones((3, 1, 1))), "x: expected a 3-D NWC"),
        (lambda x: cl.corr(x[0, ..., 0], np.ones((3, 3))), "K: expected a kernel of the rank"),
        (lambda x: cl.conv(x, np.ones((3, 3, 3, 2, 1))), "C/groups=2"),
        (lambda x: cl.conv(x, np.ones((3, 3, 3, 1, 1)), padding="sam"), "padding"),
        (lambda x: cl.conv(x, np.ones((7, 3, 3, 1, 1))), "kernel_size"),
    ],
)
def test_bad_nd_calls_fail_at_call_time_with_the_in_memory_message(call, match):
    x = np.ones((1, 5, 6, 7, 1))
    with pytest.raises(ValueError, match=match) as eager:
        call(x)
    with pytest.raises(ValueError, match=match) as lazy:
        call(da.from_array(x, chunks=2))
    assert str(lazy.value) == str(eager.value)


# --- filter_store of a volume ----------------------------------------------------------------


def _same_box(src: zarr.Array, k: np.ndarray, box: tuple[slice, ...]) -> np.ndarray:
    """In-memory "same" (zeros) ``corr`` of the whole array, restricted to the outputs in
    ``box``: reads the box plus its halo, and zero-pads where the halo leaves the array."""
    before = [(n - 1) // 2 for n in k.shape]  # TensorFlow's split of k - 1
    lo = [max(s.start - b, 0) for s, b in zip(box, before)]
    hi = [min(s.stop + n - 1 - b, size) for s, n, b, size in zip(box, k.shape, before, src.shape)]
    window = src[tuple(slice(a, z) for a, z in zip(lo, hi))]
    pads = tuple((b - (s.start - a), (s.stop + n - 1 - b) - z)
                 for s, n, b, a, z in zip(box, k.shape, before, lo, hi))
    return cl.corr(window, k, padding=pads)


def _make_store(path: Path, data: np.ndarray, chunks: tuple[int, ...]) -> Path:
    zarr.create_array(path, data=data, chunks=chunks)
    return path


@pytest.fixture(scope="module")
def client():
    """Two in-process workers, one thread each: a real scheduler, without process start-up."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as cluster, \
            Client(cluster, set_as_default=False) as c:
        yield c


@given(case=nd_dask_cases(3))
@settings(max_examples=10, deadline=None)
def test_random_3d_convs_on_a_local_cluster_equal_in_memory(client, case):
    lazy_fn, memory_fn, xs, ws, chunks, spec, kwargs = case
    lazy = lazy_fn(da.from_array(xs, chunks=chunks), ws, chunks=spec, **kwargs)
    np.testing.assert_allclose(client.compute(lazy).result(), memory_fn(xs, ws, **kwargs), **TOL)


def test_filter_store_filters_a_zarr_volume_on_a_local_cluster(client, tmp_path):
    rng = np.random.default_rng(5)
    vol = rng.standard_normal((40, 36, 44)).astype(np.float32)
    k = rng.standard_normal((5, 3, 5)).astype(np.float32)  # asymmetric: a flip would show
    src = _make_store(tmp_path / "in.zarr", vol, (16, 16, 16))
    with client.as_current(), get_task_stream(client) as tasks:
        out = chunked.filter_store(src, tmp_path / "out.zarr", k, progress=False)
    # it ran on the cluster's two workers: halo slabs cut from the source chunks, and each of
    # the 27 output chunks (16**3 voxels) written by one task
    names = [t["key"][0] if isinstance(t["key"], tuple) else t["key"] for t in tasks.data]
    assert sum(n.startswith("conv3d-halo-") for n in names) > 27
    assert sum(n.startswith("_write_block-") for n in names) == 27
    assert len({t["worker"] for t in tasks.data}) == 2
    got = zarr.open_array(out)
    assert got.shape == vol.shape and got.dtype == np.float32 and got.chunks == (16, 16, 16)
    source = zarr.open_array(src)
    # corners, the centre and boxes straddling chunk edges and corners
    boxes = [
        (slice(0, 8), slice(0, 8), slice(0, 8)),
        (slice(32, 40), slice(28, 36), slice(36, 44)),
        (slice(12, 20), slice(12, 20), slice(12, 20)),
        (slice(30, 34), slice(14, 18), slice(0, 44)),
        (slice(0, 40), slice(15, 17), slice(31, 33)),
    ]
    for box in boxes:
        np.testing.assert_allclose(got[box], _same_box(source, k, box), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got[:], cl.corr(vol, k, padding="same"), rtol=1e-5, atol=1e-5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.zarr", "out.zarr"]


def test_filter_store_takes_a_volume_with_channels_and_any_padding_mode(tmp_path):
    rng = np.random.default_rng(6)
    vol = rng.standard_normal((13, 11, 12, 2))  # (D, H, W, C): a 3-D kernel, each channel alike
    k = rng.standard_normal((3, 3, 2))
    src = _make_store(tmp_path / "in.zarr", vol, (5, 4, 6, 1))
    kw = dict(padding="same", stride=(2, 1, 3), dilation=(1, 2, 1), padding_mode="reflect")
    got = zarr.open_array(chunked.filter_store(src, tmp_path / "out.zarr", k, progress=False,
                                               **kw))[:]
    expected = np.stack([cl.corr(vol[..., c], k, **kw) for c in range(2)], axis=-1)
    np.testing.assert_allclose(got, expected, **TOL)


def test_filter_store_takes_the_rank_from_the_kernel(tmp_path):
    src = _make_store(tmp_path / "in.zarr", np.ones((6, 7, 3)), (3, 3, 3))
    with pytest.raises(ValueError, match=r"kernel: expected a 3-D kernel \(or 2-D"):
        chunked.filter_store(src, tmp_path / "out.zarr", np.ones((3, 3, 3, 3)))
    with pytest.raises(ValueError, match=r"src: expected a 1-D \(length\) or 2-D"):
        chunked.filter_store(src, tmp_path / "out.zarr", np.ones(3))
    image = zarr.open_array(chunked.filter_store(src, tmp_path / "image.zarr", np.ones((3, 3)),
                                                 progress=False))
    volume = zarr.open_array(chunked.filter_store(src, tmp_path / "volume.zarr",
                                                  np.ones((3, 3, 3)), progress=False))
    # (H, W, C) with a 2-D kernel: a colour image; (D, H, W) with a 3-D kernel: a volume
    np.testing.assert_allclose(image[:], cl.corr2d(np.ones((6, 7, 3)), np.ones((3, 3)),
                                                   padding="same"), **TOL)
    np.testing.assert_allclose(volume[:], cl.corr(np.ones((6, 7, 3)), np.ones((3, 3, 3)),
                                                  padding="same"), **TOL)
