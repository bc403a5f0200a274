"""``convolab filter`` on pictures (issue 13 item 10): float32 unless asked, colour channels
filtered as one image, files read and written in strips, the phases timed for the benchmark."""

import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
from PIL import Image

import convolab.cli.filter as filter_cli
from convolab import _native, corr2d
from convolab.apps.kernels import get_kernel
from convolab.cli.files import STRIP_BYTES, Source, read_input, write_output
from convolab.cli.filter import SCALES, display_scale, filter_image, scale_for_display
from convolab.cli.main import main

SAME3 = {"padding": ((1, 1), (1, 1)), "stride": 1, "dilation": 1}
REFLECT = {"padding_mode": "reflect", "padding_value": 0.0}


def convolab(*args, cwd):
    return subprocess.run([sys.executable, "-m", "convolab", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def peak_bytes(call) -> int:
    tracemalloc.start()
    tracemalloc.reset_peak()
    call()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


@pytest.fixture
def rgb_png(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (40, 50, 3)).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "in.png")
    return rgb


def test_picture_outputs_are_computed_in_float32_raw_outputs_in_float64(tmp_path, rgb_png):
    proc = convolab("filter", "in.png", "--kernel", "box", "-o", "out.png", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "output 40x50x3 float32" in proc.stdout
    proc = convolab("filter", "in.png", "--kernel", "box", "-o", "out.npy", cwd=tmp_path)
    assert "output 40x50x3 float64" in proc.stdout and "40x50x3 float64 array" in proc.stdout
    assert np.load(tmp_path / "out.npy").dtype == np.float64
    proc = convolab("filter", "in.png", "--kernel", "box", "--dtype", "float32", "-o", "f.npy",
                    cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    y32, y64 = np.load(tmp_path / "f.npy"), np.load(tmp_path / "out.npy")
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, y64, rtol=1e-6)


def test_a_float32_picture_is_the_float64_one_to_within_a_level_at_rounding_ties(tmp_path,
                                                                                   rgb_png):
    for dtype in ("float32", "float64"):
        proc = convolab("filter", "in.png", "--kernel", "gaussian", "--sigma", "1.5", "--dtype",
                        dtype, "-o", f"{dtype}.png", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    with Image.open(tmp_path / "float32.png") as a, Image.open(tmp_path / "float64.png") as b:
        diff = np.abs(np.asarray(a).astype(int) - np.asarray(b).astype(int))
    assert diff.max() <= 1 and np.count_nonzero(diff) <= diff.size // 1000


@pytest.mark.parametrize("name, channels, algorithm", [
    ("sobel_x", 1, "separable"),  # rank 1: the separable filter (one pass at 3x3)
    ("laplacian", 1, "auto"),  # rank 2, one channel: whatever auto picks (FFT when large)
    ("laplacian", 3, "separable"),  # colour: the channels as one interleaved image
])
def test_filter_image_asks_for_the_separable_filter_where_it_serves(monkeypatch, name, channels,
                                                                    algorithm):
    import convolab.ops

    asked = []
    real = convolab.ops.conv2d

    def spy(*args, **kwargs):
        asked.append(kwargs["algorithm"])
        return real(*args, **kwargs)

    monkeypatch.setattr(convolab.ops, "conv2d", spy)
    x = np.random.default_rng(1).random((12, 9, channels)).astype(np.float32)
    y = filter_image(x, get_kernel(name), SAME3, REFLECT)
    assert asked == [algorithm] and y.dtype == np.float32
    for c in range(channels):
        np.testing.assert_allclose(y[..., c], corr2d(x[..., c].astype(np.float64),
                                                     get_kernel(name), padding="same",
                                                     padding_mode="reflect"), rtol=1e-5,
                                   atol=1e-5)


@pytest.mark.skipif(not _native.available(),
                    reason="the one-image pass without copies is the compiled stencil's; "
                           f"the compiled core is off here: {_native.reason}")
@pytest.mark.parametrize("size", [7, 15])  # one pass, two passes
def test_colour_channels_are_filtered_without_copying_them(size, monkeypatch):
    from convolab.algorithms import separable

    monkeypatch.setattr(separable, "BAND_BYTES", 64 << 10)  # bands of ~21 rows
    x = np.random.default_rng(2).random((256, 256, 3)).astype(np.float32)  # 768 KiB
    k = get_kernel("gaussian", size=size, sigma=size / 6)
    pad = ((size // 2, size // 2), (size // 2, size // 2))
    conv = {"padding": pad, "stride": 1, "dilation": 1}
    filter_image(x, k, conv, REFLECT)  # warm up
    peak = peak_bytes(lambda: filter_image(x, k, conv, REFLECT))
    # the output, and for two passes a band of the intermediate a worker: no plane copied
    assert peak <= x.nbytes + 2 * (64 << 10) + (64 << 10)


def test_reading_a_picture_converts_it_in_strips(tmp_path):
    rgb = np.random.default_rng(3).integers(0, 256, (1024, 1024, 3)).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "big.png", compress_level=1)
    read_input(tmp_path / "big.png", "IMAGE", np.float32)  # warm up
    holder = {}
    peak = peak_bytes(lambda: holder.update(s=read_input(tmp_path / "big.png", "IMAGE",
                                                         np.float32)))
    values = holder["s"].values
    assert values.dtype == np.float32 and np.array_equal(values, rgb)
    assert peak <= values.nbytes + 2 * STRIP_BYTES  # not another copy of all the samples


def test_writing_a_picture_quantizes_it_in_bands(tmp_path):
    y = np.random.default_rng(4).random((1024, 1024, 3)).astype(np.float32) * 300
    source = Source(None, np.dtype(np.uint8), "RGB")
    display = display_scale(0.0, 300.0, "clip", kernel_sum=1.0, full=255.0)
    peak = peak_bytes(lambda: write_output(tmp_path / "out.png", y, display, source,
                                           force=False))
    assert peak <= y.size + 4 * STRIP_BYTES  # the uint8 pixels and a few bands
    with Image.open(tmp_path / "out.png") as im:
        np.testing.assert_array_equal(np.asarray(im), np.clip(np.round(y), 0, 255))


@pytest.mark.parametrize("how", SCALES)
def test_the_display_scale_band_by_band_is_the_whole_pictures(how):
    y = np.random.default_rng(5).normal(40, 100, (30, 20, 3))
    whole = scale_for_display(y, how, kernel_sum=1.0, full=255.0, in_range=True)
    scale = display_scale(float(y.min()), float(y.max()), how, kernel_sum=1.0, full=255.0)
    np.testing.assert_allclose(np.concatenate([scale(y[:7]), scale(y[7:])]), whole,
                               rtol=1e-15)


def test_the_phases_are_timed_when_asked(tmp_path, rgb_png, monkeypatch, capsys):
    monkeypatch.setattr(filter_cli, "TIMINGS", {})
    assert main(["filter", str(tmp_path / "in.png"), "-o", str(tmp_path / "o.png")]) == 0
    assert {"read", "stats", "filter", "write"} <= set(filter_cli.TIMINGS)
    assert all(v >= 0 for v in filter_cli.TIMINGS.values())
