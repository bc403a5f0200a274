"""The ``convolab`` command, run as a user runs it: in a subprocess, checking files and exits."""

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convolab import conv2d, corr2d
from convolab.apps.images import sample_image, waldo_scene


def convolab(*args, cwd):
    """Run ``python -m convolab ARGS`` in ``cwd``; return the completed process."""
    return subprocess.run([sys.executable, "-m", "convolab", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def assert_one_line_error(proc, *fragments):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert lines[0].startswith("convolab")
    for fragment in fragments:
        assert fragment in lines[0]


def digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.mark.parametrize("command", ["tour", "filter", "shape", "learn", "match"])
def test_every_subcommand_has_help(tmp_path, command):
    proc = convolab(command, "--help", cwd=tmp_path)
    assert proc.returncode == 0
    assert proc.stdout.startswith(f"usage: convolab {command}")


def test_console_script_is_installed_next_to_python():
    script = Path(sys.executable).parent / "convolab"
    proc = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("convolab ")


def test_shape_with_no_arguments_takes_the_books_8x8_input_and_a_3x3_kernel(tmp_path):
    proc = convolab("shape", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "input 8x8, kernel 3x3" in proc.stdout and "-> output 6x6" in proc.stdout


def test_shape_prints_the_books_arithmetic(tmp_path):
    proc = convolab("shape", "--input", "8x8", "--kernel", "5x3", cwd=tmp_path)
    assert proc.returncode == 0
    assert "-> output 4x6" in proc.stdout
    assert "floor((8 + 0 + 0 - 1*(5-1) - 1) / 1) + 1 = 4" in proc.stdout
    proc = convolab("shape", "--input", "8", "--kernel", "3", "--padding", "same",
                    "--stride", "2", cwd=tmp_path)
    assert "-> output 4x4" in proc.stdout


@pytest.mark.parametrize("args, fragment", [
    (["--input", "8x8", "--kernel", "9x3"], "kernel_size"),
    (["--input", "8x8", "--kernel", "3", "--padding", "sam"], "padding"),
    (["--input", "8y8", "--kernel", "3"], "--input"),
    (["--input", "8x8", "--kernel", "3", "--stride", "0"], "stride"),
])
def test_shape_impossible_or_malformed_gives_one_line(tmp_path, args, fragment):
    assert_one_line_error(convolab("shape", *args, cwd=tmp_path), fragment)


def test_filter_npy_input_gives_the_librarys_numbers_and_leaves_the_input_alone(tmp_path):
    x = np.random.default_rng(0).random((12, 10))
    np.save(tmp_path / "x.npy", x)
    before = digest(tmp_path / "x.npy")
    proc = convolab("filter", "x.npy", "--kernel", "[[1, -1]]", "--padding", "valid",
                    "--stride", "1x2", "-o", "y.npy", "-o", "y.png", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"),
                               corr2d(x, [[1.0, -1.0]], stride=(1, 2)), atol=1e-12)
    with Image.open(tmp_path / "y.png") as im:
        assert im.size == (5, 12)
    assert digest(tmp_path / "x.npy") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy", "y.npy", "y.png"]


def test_filter_rgb_png_is_filtered_per_channel(tmp_path):
    rgb = np.round(sample_image(32, rgb=True) * 255).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "in.png")
    proc = convolab("filter", "in.png", "--kernel", "gaussian", "--size", "5", "--sigma", "1",
                    "--padding-mode", "reflect", "-o", "out.npy", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    from convolab.apps.kernels import get_kernel

    k = get_kernel("gaussian", size=5, sigma=1.0)
    y = np.load(tmp_path / "out.npy")
    for c in range(3):  # the pixels' own values, 0..255 (issue 13: as a uint8 .npy reads)
        expected = conv2d(rgb[None, :, :, c : c + 1], k[:, :, None, None],
                          padding="same", padding_mode="reflect")[0, :, :, 0]
        np.testing.assert_allclose(y[:, :, c], expected, atol=1e-12)


def test_filter_without_image_uses_the_built_in_picture(tmp_path):
    proc = convolab("filter", "--kernel", "sobel_x", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    with Image.open(tmp_path / "filtered.png") as im:
        assert im.size == (256, 256) and im.mode == "RGB"
        pixels = np.asarray(im)
    assert pixels.std() > 1  # edges, not a blank picture


def test_filter_refuses_to_overwrite_without_force(tmp_path):
    out = tmp_path / "out.png"
    out.write_bytes(b"keep me")
    proc = convolab("filter", "--kernel", "box", "-o", "out.png", cwd=tmp_path)
    assert_one_line_error(proc, "already exists", "--force")
    assert out.read_bytes() == b"keep me"
    proc = convolab("filter", "--kernel", "box", "-o", "out.png", "--force", cwd=tmp_path)
    assert proc.returncode == 0
    with Image.open(out) as im:
        assert im.size == (256, 256)


def test_filter_never_writes_over_its_input_even_with_force(tmp_path):
    np.save(tmp_path / "x.npy", np.ones((5, 5)))
    before = digest(tmp_path / "x.npy")
    proc = convolab("filter", "x.npy", "--kernel", "box", "-o", "x.npy", "--force",
                    cwd=tmp_path)
    assert_one_line_error(proc, "also an input")
    assert digest(tmp_path / "x.npy") == before


@pytest.mark.parametrize("args, fragment", [
    (["missing.png", "--kernel", "box"], "no such file"),
    (["notimage.png", "--kernel", "box"], "not an image"),
    (["--kernel", "[[1, -1]"], "kernel: expected a 2-D list"),
    (["--kernel", "sobelx"], "did you mean 'sobel_x'"),
    (["--kernel", "sobel_x", "--sigma", "2"], "takes no parameters"),
    (["small.npy", "--kernel", "box", "--size", "5", "--padding", "valid"], "kernel_size"),
    (["--kernel", "box", "-o", "out.txt"], "--output"),
    (["--kernel", "box", "--padding", "1,2,3"], "--padding"),
    (["--kernel", "box", "--padding-mode", "mirrr"], "padding_mode"),
    (["--kernel", "box", "--kernel-file", "k.npy"], "not allowed with"),
    (["two.npy", "--kernel", "box", "-o", "two.png"], "1, 3 or 4 channels"),
    (["--size", "3"], "give --kernel"),
    (["text.npy", "--kernel", "box"], "text.npy is not a NumPy file"),
    (["--kernel-file", "text.npy"], "--kernel-file: text.npy is not a NumPy file"),
])
def test_filter_bad_arguments_give_one_line_and_no_output(tmp_path, args, fragment):
    (tmp_path / "notimage.png").write_text("this is text")
    np.save(tmp_path / "small.npy", np.ones((3, 3)))
    np.save(tmp_path / "two.npy", np.ones((6, 6, 2)))
    (tmp_path / "text.npy").write_text("1 2 3\n4 5 6\n")
    before = set(tmp_path.iterdir())
    proc = convolab("filter", *args, cwd=tmp_path)
    assert_one_line_error(proc, fragment)
    assert "pickle" not in proc.stderr
    assert set(tmp_path.iterdir()) == before  # nothing written, no temporary left behind


def test_filter_gaussian_size_follows_sigma(tmp_path):
    x = np.random.default_rng(3).random((40, 36))
    np.save(tmp_path / "x.npy", x)
    proc = convolab("filter", "x.npy", "--kernel", "gaussian", "--sigma", "5", "-o", "y.npy",
                    cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "kernel gaussian 31x31" in proc.stdout  # 2*ceil(3*5) + 1
    assert proc.stderr == ""
    r = np.arange(31) - 15.0
    g = np.exp(-(r**2) / (2 * 5.0**2))
    k = np.outer(g, g) / np.outer(g, g).sum()
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"),  # the command's border: reflect
                               corr2d(x, k, padding="same", padding_mode="reflect"), atol=1e-12)


def test_filter_gaussian_too_small_for_sigma_says_so_in_one_line_and_goes_on(tmp_path):
    proc = convolab("filter", "--kernel", "gaussian", "--sigma", "5", "--size", "5",
                    "-o", "y.npy", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "kernel gaussian 5x5" in proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("convolab: warning: gaussian: size=5"), lines
    assert "size >= 21" in lines[0]


def test_filter_with_no_arguments_uses_the_books_kernel_on_the_built_in_picture(tmp_path):
    proc = convolab("filter", "-o", "y.npy", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "kernel vertical_edge" in proc.stdout and "[[1, -1]]" in proc.stdout
    assert "input: built-in test picture 256x256 RGB uint8" in proc.stdout
    x = np.round(sample_image(256, rgb=True) * 255)  # an 8-bit picture's own values, 0..255
    # the command's defaults: OpenCV's reflect border and anchor (x=1 for a 1x2 kernel: one
    # column before, none after; cv2.filter2D's place, "same_lower")
    expected = np.stack([corr2d(x[:, :, c], [[1.0, -1.0]], padding="same_lower",
                                padding_mode="reflect") for c in range(3)], axis=-1)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, atol=1e-12)
    # nothing at all: the default output, which a second run does not overwrite
    assert convolab("filter", "--quiet", cwd=tmp_path).returncode == 0
    before = digest(tmp_path / "filtered.png")
    with Image.open(tmp_path / "filtered.png") as im:
        assert im.size == (256, 256) and im.mode == "RGB"
    assert_one_line_error(convolab("filter", cwd=tmp_path), "filtered.png already exists")
    assert digest(tmp_path / "filtered.png") == before


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
@pytest.mark.parametrize("args, output", [
    (["filter", "--kernel", "box", "-o", "/proc/nope.png"], "/proc/nope.png"),
    (["match", "-o", "/proc/nope.png"], "/proc/nope.png"),
    (["learn", "--epochs", "2", "--plot", "/proc/nope.png"], "/proc/nope.png"),
    (["tour", "--quiet", "--out", "/proc"], "/proc/"),  # /proc/<its first figure>
], ids=["filter", "match", "learn-plot", "tour"])
def test_an_unwritable_output_is_named_as_given_not_by_its_temporary_file(tmp_path, args,
                                                                          output):
    """Outputs are written to a hidden temporary file beside them, then moved into place; an
    error on that file (/proc takes no new files) names the output, never ``.nope.x1y2.png``."""
    proc = convolab(*args, cwd=tmp_path)
    assert_one_line_error(proc, output, ": cannot be written (")
    assert re.search(r"error: /proc/\w[^/\s]*: cannot be written", proc.stderr), proc.stderr
    assert "/proc/." not in proc.stderr
    assert not list(tmp_path.iterdir())


def test_filter_kernel_file(tmp_path):
    np.save(tmp_path / "k.npy", np.array([[0.0, 1.0], [2.0, 3.0]]))
    np.save(tmp_path / "x.npy", np.arange(9.0).reshape(3, 3))
    proc = convolab("filter", "x.npy", "--kernel-file", "k.npy", "--padding", "valid",
                    "-o", "y.npy", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), [[19, 25], [37, 43]])


def test_filter_zarr_store_goes_through_dask(tmp_path):
    zarr = pytest.importorskip("zarr")
    x = np.random.default_rng(1).random((20, 18))
    zarr.create_array(tmp_path / "in.zarr", data=x, chunks=(8, 8))
    proc = convolab("filter", "in.zarr", "--kernel", "laplacian", "-o", "out.zarr", "--quiet",
                    cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_allclose(zarr.open_array(tmp_path / "out.zarr")[:],
                               corr2d(x, [[0, 1, 0], [1, -4, 1], [0, 1, 0]], padding="same",
                                      padding_mode="reflect"), atol=1e-12)


def test_learn_recovers_the_books_edge_kernel_and_plots(tmp_path):
    proc = convolab("learn", "--epochs", "20", "--plot", "learn.png", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "epoch 1, loss" in proc.stdout and "epoch 20, loss" in proc.stdout
    error = float(proc.stdout.split("max |learned - true| = ")[1].split()[0])
    assert error < 0.02
    assert (tmp_path / "learn.png").stat().st_size > 0


def test_learn_other_kernel_by_name(tmp_path):
    proc = convolab("learn", "--kernel", "sobel_y", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert float(proc.stdout.split("max |learned - true| = ")[1].split()[0]) < 1e-3


def test_learn_that_diverges_stops_with_one_line_naming_the_epoch_and_lr(tmp_path):
    proc = convolab("learn", "--lr", "10", "--epochs", "30", "--plot", "l.png", cwd=tmp_path)
    assert_one_line_error(proc, "diverged at epoch", "--lr")
    assert "RuntimeWarning" not in proc.stderr
    epoch = int(proc.stderr.split("diverged at epoch ")[1].split()[0])
    printed = [line for line in proc.stdout.splitlines() if line.startswith("epoch ")]
    assert printed[-1].startswith(f"epoch {epoch - 1}, loss")  # stopped there
    assert not (tmp_path / "l.png").exists()


def test_learn_whose_loss_grows_without_overflow_warns(tmp_path):
    proc = convolab("learn", "--lr", "10", "--epochs", "3", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("\n") == 1 and "warning: the loss grew" in proc.stderr


def test_match_built_in_scene_finds_waldo(tmp_path):
    proc = convolab("match", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    r, c = waldo_scene().location
    assert f"match 1: top-left (row {r}, col {c})" in proc.stdout
    with Image.open(tmp_path / "match.png") as im:
        boxed = np.asarray(im.convert("RGB"))
    assert (boxed[r - 1, c + 2] == [255, 0, 0]).all()  # the red box's top edge


def test_match_files_and_k(tmp_path):
    rng = np.random.default_rng(2)
    scene, template = rng.random((40, 50)), rng.random((5, 4))
    scene[30:35, 7:11] = template
    np.save(tmp_path / "scene.npy", scene)
    Image.fromarray(np.round(template * 255).astype(np.uint8)).save(tmp_path / "t.png")
    proc = convolab("match", "scene.npy", "t.png", "-k", "2", "-o", "boxes.png", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "match 1: top-left (row 30, col 7)" in proc.stdout
    assert "match 2:" in proc.stdout
    assert (tmp_path / "boxes.png").exists()


def test_match_flat_template_warns_that_every_score_is_0(tmp_path):
    np.save(tmp_path / "scene.npy", np.random.default_rng(4).random((30, 30)))
    np.save(tmp_path / "flat.npy", np.full((4, 4), 0.5))
    proc = convolab("match", "scene.npy", "flat.npy", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "convolab: warning: template: a flat template (every pixel 0.5) has no contrast to "
        "correlate with: every score is 0"]
    assert "score 0.0000" in proc.stdout


def test_match_says_a_text_file_named_npy_is_not_a_numpy_file(tmp_path):
    np.save(tmp_path / "scene.npy", np.zeros((8, 8)))
    (tmp_path / "waldo.npy").write_text("1 2\n3 4\n")
    proc = convolab("match", "scene.npy", "waldo.npy", cwd=tmp_path)
    assert_one_line_error(proc, "TEMPLATE: waldo.npy is not a NumPy file")
    assert "pickle" not in proc.stderr


def test_match_needs_both_or_neither(tmp_path):
    np.save(tmp_path / "scene.npy", np.zeros((5, 5)))
    assert_one_line_error(convolab("match", "scene.npy", cwd=tmp_path), "both")


def test_a_missing_optional_dependency_is_one_line_not_a_traceback(tmp_path, monkeypatch, capsys):
    import sys

    from convolab.cli import main

    np.save(tmp_path / "a.npy", np.ones((6, 6)))
    monkeypatch.setitem(sys.modules, "tqdm", None)  # as if tqdm were not installed
    status = main(["filter", str(tmp_path / "a.npy"), "--kernel", "box", "-o",
                   str(tmp_path / "o.npy")])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "tqdm is not installed" in err


def convolab_umask(*args, cwd, umask):
    """``convolab`` run as a shell with ``umask`` would run it."""
    return subprocess.run([sys.executable, "-m", "convolab", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120, umask=umask)


def file_modes(directory):
    return {p.name: p.stat().st_mode & 0o777 for p in Path(directory).iterdir() if p.is_file()}


@pytest.mark.parametrize("umask", [0o022, 0o002], ids=["umask022", "umask002"])
def test_written_files_get_the_modes_open_would_give_not_mkstemps_0600(tmp_path, umask):
    np.save(tmp_path / "x.npy", np.ones((8, 8)))
    out = tmp_path / "out"
    out.mkdir()
    for args in (["filter", "x.npy", "--kernel", "box", "-o", "out/f.png", "-o", "out/f.npy",
                  "-o", "out/f.tif"],
                 ["match", "-o", "out/m.png"],
                 ["learn", "--epochs", "2", "--plot", "out/l.png"]):
        proc = convolab_umask(*args, cwd=tmp_path, umask=umask)
        assert proc.returncode == 0, proc.stderr
    expected = 0o666 & ~umask
    assert file_modes(out) == dict.fromkeys(["f.png", "f.npy", "f.tif", "m.png", "l.png"],
                                            expected)


@pytest.mark.parametrize("umask", [0o022, 0o002], ids=["umask022", "umask002"])
def test_tour_figures_and_index_are_readable_as_the_umask_allows(tmp_path, umask):
    proc = convolab_umask("tour", "--out", "tour", "--quiet", cwd=tmp_path, umask=umask)
    assert proc.returncode == 0, proc.stderr
    modes = file_modes(tmp_path / "tour")
    assert "index.html" in modes and len(modes) > 5
    assert set(modes.values()) == {0o666 & ~umask}, modes


def test_force_keeps_the_mode_of_the_file_it_replaces_as_open_does(tmp_path):
    np.save(tmp_path / "x.npy", np.ones((8, 8)))
    (tmp_path / "y.npy").write_bytes(b"old")
    (tmp_path / "y.npy").chmod(0o640)
    proc = convolab_umask("filter", "x.npy", "--kernel", "box", "-o", "y.npy", "--force",
                          cwd=tmp_path, umask=0o022)
    assert proc.returncode == 0, proc.stderr
    assert np.load(tmp_path / "y.npy").shape == (8, 8)
    assert (tmp_path / "y.npy").stat().st_mode & 0o777 == 0o640


# -- Issue 13: pictures read in their own depth and channels, one value rule with .npy ----------

BOX = np.full((3, 3), 1 / 9)


def same(x, k=BOX):
    """The library's answer for one channel, "same" padding with the command's default border,
    reflect (OpenCV's)."""
    return corr2d(np.asarray(x, np.float64), k, padding="same", padding_mode="reflect")


def test_float32_tiff_keeps_its_values_and_says_what_was_read(tmp_path):
    x = np.random.default_rng(3).uniform(-500, 500, (64, 64)).astype(np.float32)
    Image.fromarray(x).save(tmp_path / "in.tif")
    proc = convolab("filter", "in.tif", "--kernel", "box", "-o", "out.npy", "-o", "out.tif",
                    cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "read in.tif: 64x64 gray float32" in proc.stdout
    y = np.load(tmp_path / "out.npy")
    assert y.shape == (64, 64)
    np.testing.assert_allclose(y, same(x), atol=1e-9)
    with Image.open(tmp_path / "out.tif") as im:  # a float TIFF holds the values, as .npy
        assert im.mode == "F"
        np.testing.assert_array_equal(np.asarray(im), y.astype(np.float32))
    assert proc.stderr == ""  # nothing lost


@pytest.mark.parametrize("mode, dtype, channels", [
    ("1", bool, "gray 1-bit"), ("L", np.uint8, "gray uint8"), ("LA", np.uint8, "gray+alpha uint8"),
    ("RGB", np.uint8, "RGB uint8"), ("RGBA", np.uint8, "RGBA uint8"),
    ("I;16", np.uint16, "gray uint16"), ("F", np.float32, "gray float32"),
])
def test_pictures_are_read_in_their_own_depth_and_channels(tmp_path, mode, dtype, channels):
    from convolab.cli.files import read_input

    rng = np.random.default_rng(4)
    depth = {"1": 2, "I;16": 65536, "F": 0}.get(mode, 256)
    c = {"LA": 2, "RGB": 3, "RGBA": 4}.get(mode)
    shape = (6, 7) if c is None else (6, 7, c)
    pixels = (rng.integers(0, depth, shape) if depth else rng.normal(0, 100, shape)).astype(dtype)
    Image.fromarray(pixels).save(tmp_path / "in.tif")
    source = read_input(tmp_path / "in.tif", "IMAGE")
    assert source.values.dtype == np.float64
    np.testing.assert_array_equal(source.values, pixels.astype(np.float64))
    assert source.describe() == f"6x7 {channels}"


@pytest.mark.parametrize("dtype, mode", [(np.uint8, "RGB"), (np.uint8, "L"), (bool, "1")])
def test_a_picture_and_an_npy_of_the_same_pixels_give_identical_arrays(tmp_path, dtype, mode):
    """One value rule: integer samples keep their integer values, in pictures and in .npy."""
    from convolab.cli.files import read_input

    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 2 if dtype is bool else 256, (9, 11, 3)[: 3 if mode == "RGB" else 2])
    pixels = pixels.astype(dtype)
    Image.fromarray(pixels).save(tmp_path / "in.png")
    np.save(tmp_path / "in.npy", pixels)
    a, b = read_input(tmp_path / "in.png", "IMAGE"), read_input(tmp_path / "in.npy", "IMAGE")
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.values, pixels.astype(np.float64))  # 0..255, not 0..1
    for name in ("in.png", "in.npy"):
        proc = convolab("filter", name, "--kernel", "gaussian", "-o", f"{name}.out.npy",
                        "-o", f"{name}.out.png", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "in.png.out.npy"),
                                  np.load(tmp_path / "in.npy.out.npy"))
    with Image.open(tmp_path / "in.png.out.png") as p, Image.open(tmp_path / "in.npy.out.png") as q:
        np.testing.assert_array_equal(np.asarray(p), np.asarray(q))


def test_uint8_written_back_to_png_rounds_and_warns_only_when_it_clips(tmp_path):
    x = np.random.default_rng(6).integers(0, 256, (16, 16)).astype(np.uint8)
    Image.fromarray(x).save(tmp_path / "in.png")
    proc = convolab("filter", "in.png", "--kernel", "box", "-o", "box.png", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    with Image.open(tmp_path / "box.png") as im:
        assert im.mode == "L"
        np.testing.assert_array_equal(np.asarray(im), np.round(same(x)))
    proc = convolab("filter", "in.png", "--kernel", "sharpen", "-o", "sharp.png", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    y = same(x, np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]))
    clipped = int(((np.round(y) < 0) | (np.round(y) > 255)).sum())
    assert clipped > 0
    assert proc.stderr.count("\n") == 1
    assert f"warning: sharp.png: {clipped} of 256 values outside [0, 255] clipped" in proc.stderr
    with Image.open(tmp_path / "sharp.png") as im:
        np.testing.assert_array_equal(np.asarray(im), np.clip(np.round(y), 0, 255))


def test_float_input_to_an_8_bit_picture_says_so(tmp_path):
    np.save(tmp_path / "x.npy", np.random.default_rng(7).random((8, 8)))
    proc = convolab("filter", "x.npy", "--kernel", "box", "-o", "y.png", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("\n") == 1 and "float values reduced to 8 bits" in proc.stderr


def rgba_picture(tmp_path):
    rng = np.random.default_rng(8)
    rgba = rng.integers(0, 256, (12, 14, 4)).astype(np.uint8)
    Image.fromarray(rgba).save(tmp_path / "in.png")
    return rgba


def test_rgba_alpha_is_passed_through_unfiltered(tmp_path):
    rgba = rgba_picture(tmp_path)
    proc = convolab("filter", "in.png", "--kernel", "box", "-o", "out.png", "-o", "out.npy",
                    cwd=tmp_path)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert "read in.png: 12x14 RGBA uint8" in proc.stdout
    assert "wrote out.png: 12x14 RGBA uint8" in proc.stdout
    y = np.load(tmp_path / "out.npy")
    assert y.shape == (12, 14, 4)
    np.testing.assert_array_equal(y[..., 3], rgba[..., 3])
    for c in range(3):
        np.testing.assert_allclose(y[..., c], same(rgba[..., c]), atol=1e-9)
    with Image.open(tmp_path / "out.png") as im:
        assert im.mode == "RGBA"
        np.testing.assert_array_equal(np.asarray(im)[..., 3], rgba[..., 3])


def test_passed_through_alpha_follows_stride_and_valid_padding_at_window_centres(tmp_path):
    rgba = rgba_picture(tmp_path)
    proc = convolab("filter", "in.png", "--kernel", "box", "--padding", "valid", "--stride", "2",
                    "-o", "out.npy", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    y = np.load(tmp_path / "out.npy")
    assert y.shape == (5, 6, 4)
    np.testing.assert_array_equal(y[..., 3], rgba[1:-1:2, 1:-1:2, 3])  # 3x3 windows' centres


@pytest.mark.parametrize("args", [
    ["--kernel", "[[1, -1]]", "--padding", "same"],
    ["--kernel", "[[1, -1], [2, 0]]", "--padding", "same_lower"],
    ["--kernel", "box", "--dilation", "2", "--padding", "same"],
    ["--kernel", "[[1, 1]]", "--dilation", "1x3", "--padding", "same"],
])
def test_passed_through_alpha_is_unchanged_whenever_the_output_keeps_the_input_size(tmp_path,
                                                                                     args):
    rgba = rgba_picture(tmp_path)
    proc = convolab("filter", "in.png", *args, "-o", "out.npy", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy")[..., 3], rgba[..., 3])


def test_filter_alpha_filters_it_like_the_colours(tmp_path):
    rgba = rgba_picture(tmp_path)
    proc = convolab("filter", "in.png", "--kernel", "box", "--filter-alpha", "-o", "out.npy",
                    cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    y = np.load(tmp_path / "out.npy")
    np.testing.assert_allclose(y[..., 3], same(rgba[..., 3]), atol=1e-9)
    assert not np.array_equal(y[..., 3], rgba[..., 3])


def test_jpeg_output_of_an_rgba_input_says_alpha_was_dropped(tmp_path):
    rgba_picture(tmp_path)
    proc = convolab("filter", "in.png", "--kernel", "box", "-o", "out.jpg", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("\n") == 1 and "alpha dropped" in proc.stderr
    with Image.open(tmp_path / "out.jpg") as im:
        assert im.mode == "RGB"


def test_16_bit_gray_png_comes_out_16_bit(tmp_path):
    x = np.random.default_rng(9).integers(0, 65536, (10, 12)).astype(np.uint16)
    Image.fromarray(x).save(tmp_path / "in.png")
    proc = convolab("filter", "in.png", "--kernel", "identity", "-o", "out.png", "-o", "out.tif",
                    cwd=tmp_path)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert "read in.png: 10x12 gray uint16" in proc.stdout
    for name in ("out.png", "out.tif"):
        with Image.open(tmp_path / name) as im:
            assert im.mode.startswith("I;16")
            np.testing.assert_array_equal(np.asarray(im), x)  # every bit kept
    proc = convolab("filter", "in.png", "--kernel", "box", "-o", "box.png", "-o", "box.jpg",
                    cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    with Image.open(tmp_path / "box.png") as im:
        np.testing.assert_array_equal(np.asarray(im), np.round(same(x)))
    assert proc.stderr.count("\n") == 1
    assert "box.jpg: 16-bit values reduced to 8 bits" in proc.stderr


def test_16_bit_rgb_png_which_pillow_reads_as_8_bit_is_said(tmp_path):
    cv2 = pytest.importorskip("cv2")
    cv2.imwrite(str(tmp_path / "in.png"), np.full((4, 5, 3), 1000, np.uint16))
    proc = convolab("filter", "in.png", "--kernel", "box", "-o", "out.npy", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("\n") == 1 and "16-bit RGB" in proc.stderr
    assert "RGB uint8 (from 16-bit)" in proc.stdout
