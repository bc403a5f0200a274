"""``convolab filter``'s border and anchor (issue 13 items 6 and 7), run as a user runs it.

The command defaults to OpenCV's border (reflect, BORDER_REFLECT_101) and OpenCV's anchor (the
kernel's centre, ``(kw//2, kh//2)``), so by default it computes what ``cv2.filter2D(img, -1, k)``
computes; the library keeps the chapter's zeros. The peers are the oracles: OpenCV where it is
installed, ``scipy.ndimage`` always.
"""

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage
from test_cli import assert_one_line_error, convolab

from convolab import corr2d
from convolab.cli import main
from convolab.shapes import PADDING_MODES

REFLECT = "border reflect (dcb|abcd|cba)"


@pytest.fixture
def x(tmp_path):
    """A 13x11 float64 image saved as x.npy in ``tmp_path``."""
    a = np.random.default_rng(13).random((13, 11))
    np.save(tmp_path / "x.npy", a)
    return a


def run(tmp_path, *args, out="y.npy"):
    """``convolab filter x.npy ARGS -o OUT``; the result and the summary line."""
    proc = convolab("filter", "x.npy", *args, "-o", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = [line for line in proc.stdout.splitlines() if line.startswith("kernel ")]
    assert len(summary) == 1, proc.stdout
    return np.load(tmp_path / out), summary[0]


def ramp(shape):
    """A kernel whose every tap differs, so a misplaced tap shows."""
    return (np.arange(np.prod(shape), dtype=np.float64).reshape(shape) + 1) ** 1.5


# -- the default border: reflect, printed ------------------------------------------------------

def test_default_border_is_opencvs_reflect_and_is_printed(tmp_path, x):
    y, summary = run(tmp_path, "--kernel", "box", "--size", "5")
    assert "kernel box 5x5, anchor x=2 y=2, " + REFLECT in summary
    k = np.full((5, 5), 1 / 25)
    np.testing.assert_allclose(y, corr2d(x, k, padding="same", padding_mode="reflect"),
                               atol=1e-12)
    np.testing.assert_allclose(y, ndimage.correlate(x, k, mode="mirror"), atol=1e-12)
    assert not np.allclose(y, corr2d(x, k, padding="same"))  # not the library's zeros


def test_default_border_equals_cv2_filter2d(tmp_path, x):
    cv2 = pytest.importorskip("cv2")
    k = ramp((3, 5))
    np.save(tmp_path / "k.npy", k)
    y, _ = run(tmp_path, "--kernel-file", "k.npy")
    np.testing.assert_allclose(y, cv2.filter2D(x, -1, k), rtol=1e-12)


def test_a_blurred_picture_keeps_its_brightness_at_the_border(tmp_path):
    """The complaint behind the change: zeros darkened a blurred photo's edges."""
    Image.fromarray(np.full((16, 20, 3), 200, np.uint8)).save(tmp_path / "in.png")
    proc = convolab("filter", "in.png", "--kernel", "gaussian", "--sigma", "2", "-o", "out.png",
                    cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    with Image.open(tmp_path / "out.png") as im:
        assert (np.asarray(im) == 200).all()


@pytest.mark.parametrize("name", sorted(PADDING_MODES))
def test_every_padding_mode_name_is_a_border(tmp_path, capsys, name):
    """Every NumPy/SciPy/OpenCV name the library takes, with its behaviour printed."""
    rng = np.random.default_rng(1)
    x = rng.random((9, 8))
    np.save(tmp_path / "x.npy", x)
    status = main(["filter", str(tmp_path / "x.npy"), "--kernel", "[[1, 2, 3], [4, 5, 6]]",
                   "--border", name.upper(), "-o", str(tmp_path / "y.npy"), "--quiet"])
    out = capsys.readouterr().out
    assert status == 0
    mode = PADDING_MODES[name]
    assert (f"border {mode} (" in out) if mode != "zeros" else ("border constant 0:" in out)
    k = np.arange(1.0, 7.0).reshape(2, 3)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"),
                               corr2d(x, k, padding="same_lower", padding_mode=name), atol=1e-12)


def test_padding_mode_is_still_the_borders_other_name(tmp_path, x):
    y, summary = run(tmp_path, "--kernel", "box", "--padding-mode", "border_reflect")
    assert "border symmetric (cba|abcd|dcb)" in summary
    np.testing.assert_allclose(y, ndimage.correlate(x, np.full((3, 3), 1 / 9), mode="reflect"),
                               atol=1e-12)  # SciPy's "reflect" is our symmetric


def test_zeros_gives_the_librarys_answer(tmp_path, x):
    y, summary = run(tmp_path, "--kernel", "box", "--border", "zeros")
    assert "border constant 0:" in summary
    np.testing.assert_allclose(y, corr2d(x, np.full((3, 3), 1 / 9), padding="same"), atol=1e-12)


def test_valid_padding_says_no_border(tmp_path, x):
    _, summary = run(tmp_path, "--kernel", "box", "--padding", "valid")
    assert "kernel box 3x3, no border: output 11x9" in summary
    assert "anchor" not in summary


# -- a constant border of a chosen value -------------------------------------------------------

@pytest.mark.parametrize("name", ["constant", "grid-constant", "border_constant", "zeros"])
def test_constant_border_with_value_equals_scipys_cval(tmp_path, x, name):
    y, summary = run(tmp_path, "--kernel", "box", "--size", "5", "--border", name,
                     "--border-value", "0.75")
    assert "border constant 0.75:" in summary
    k = np.full((5, 5), 1 / 25)
    np.testing.assert_allclose(y, ndimage.correlate(x, k, mode="constant", cval=0.75),
                               atol=1e-12)
    np.testing.assert_allclose(y, corr2d(x, k, padding="same", padding_mode="constant",
                                         padding_value=0.75), atol=1e-12)


def test_constant_border_with_value_and_anchor_equals_cv2_on_a_bordered_copy(tmp_path, x):
    """cv2.filter2D has no borderValue: copyMakeBorder with the value, then no border."""
    cv2 = pytest.importorskip("cv2")
    k = ramp((3, 4))
    np.save(tmp_path / "k.npy", k)
    y, _ = run(tmp_path, "--kernel-file", "k.npy", "--anchor", "3,0", "--border", "constant",
               "--border-value", "-2")
    padded = cv2.copyMakeBorder(x, 0, 2, 3, 0, cv2.BORDER_CONSTANT, value=-2.0)  # t, b, l, r
    expected = cv2.filter2D(padded, -1, k, anchor=(0, 0))[: x.shape[0], : x.shape[1]]
    np.testing.assert_allclose(y, expected, rtol=1e-12)


def test_white_border_on_an_8_bit_picture(tmp_path):
    Image.fromarray(np.full((10, 12), 255, np.uint8)).save(tmp_path / "in.png")
    proc = convolab("filter", "in.png", "--kernel", "box", "--border", "constant",
                    "--border-value", "255", "-o", "out.png", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    with Image.open(tmp_path / "out.png") as im:
        assert (np.asarray(im) == 255).all()


# -- the anchor ---------------------------------------------------------------------------------

@pytest.mark.parametrize("anchor", [(0, 0), (3, 2), (1, 0), (2, 1), (0, 2)])
def test_anchor_equals_cv2_filter2d_and_ndimage_origin(tmp_path, x, anchor):
    ax, ay = anchor
    k = ramp((3, 4))  # kh=3, kw=4
    np.save(tmp_path / "k.npy", k)
    y, summary = run(tmp_path, "--kernel-file", "k.npy", "--anchor", f"{ax},{ay}")
    assert f"anchor x={ax} y={ay}" in summary
    assert y.shape == x.shape
    # SciPy's origin is the anchor's offset from its centre (size // 2), per axis (row, col)
    np.testing.assert_allclose(
        y, ndimage.correlate(x, k, mode="mirror", origin=(ay - 3 // 2, ax - 4 // 2)), rtol=1e-12)
    np.testing.assert_allclose(
        y, corr2d(x, k, padding=((ay, 3 - 1 - ay), (ax, 4 - 1 - ax)), padding_mode="reflect"),
        rtol=1e-12)
    cv2 = pytest.importorskip("cv2")
    np.testing.assert_allclose(y, cv2.filter2D(x, -1, k, anchor=(ax, ay)), rtol=1e-12)


@pytest.mark.parametrize("shape", [(2, 2), (4, 4), (1, 2), (2, 5)])
def test_default_anchor_of_an_even_kernel_is_opencvs_same_lower(tmp_path, x, shape):
    k = ramp(shape)
    np.save(tmp_path / "k.npy", k)
    y, summary = run(tmp_path, "--kernel-file", "k.npy")
    assert f"anchor x={shape[1] // 2} y={shape[0] // 2}" in summary
    np.testing.assert_allclose(y, corr2d(x, k, padding="same_lower", padding_mode="reflect"),
                               rtol=1e-12)
    np.testing.assert_allclose(y, ndimage.correlate(x, k, mode="mirror"), rtol=1e-12)
    minus_one, _ = run(tmp_path, "--kernel-file", "k.npy", "--anchor=-1,-1", out="m.npy")
    np.testing.assert_array_equal(minus_one, y)  # OpenCV's spelling of the centre
    cv2 = pytest.importorskip("cv2")
    np.testing.assert_allclose(y, cv2.filter2D(x, -1, k), rtol=1e-12)


def test_explicit_padding_same_keeps_its_tensorflow_meaning(tmp_path, x):
    k = ramp((2, 2))
    np.save(tmp_path / "k.npy", k)
    y, summary = run(tmp_path, "--kernel-file", "k.npy", "--padding", "same")
    assert "anchor" not in summary
    np.testing.assert_allclose(y, corr2d(x, k, padding="same", padding_mode="reflect"),
                               rtol=1e-12)


def test_flip_default_anchor_equals_ndimage_convolve_and_opencvs_recipe(tmp_path, x):
    k = ramp((4, 4))
    np.save(tmp_path / "k.npy", k)
    y, summary = run(tmp_path, "--kernel-file", "k.npy", "--flip")
    assert "anchor x=2 y=2" in summary  # a pixel of the kernel as given
    np.testing.assert_allclose(y, ndimage.convolve(x, k, mode="mirror"), rtol=1e-12)
    cv2 = pytest.importorskip("cv2")
    flipped = cv2.flip(k, -1)
    np.testing.assert_allclose(y, cv2.filter2D(x, -1, flipped, anchor=(4 - 1 - 2, 4 - 1 - 2)),
                               rtol=1e-12)


@pytest.mark.parametrize("anchor", [(0, 0), (2, 1), (3, 2)])
def test_flip_anchor_names_a_pixel_of_the_kernel_as_given(tmp_path, x, anchor):
    """y[i, j] = sum k[m, n] x[i - (m - Y), j - (n - X)]: k[Y, X] sits on the output pixel."""
    ax, ay = anchor
    k = ramp((3, 4))
    np.save(tmp_path / "k.npy", k)
    y, _ = run(tmp_path, "--kernel-file", "k.npy", "--flip", "--anchor", f"{ax},{ay}",
               "--border", "zeros")
    xp = np.pad(x, ((2, 2), (3, 3)))  # zeros, enough for any anchor
    expected = np.zeros_like(x)
    for m in range(3):
        for n in range(4):
            r, c = 2 - (m - ay), 3 - (n - ax)  # x[i - (m - Y)] is xp[i + r]
            expected += k[m, n] * xp[r : r + 13, c : c + 11]
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    cv2 = pytest.importorskip("cv2")  # OpenCV's recipe: flip, anchor (kw-1-X, kh-1-Y)
    np.testing.assert_allclose(
        y, cv2.filter2D(x, -1, cv2.flip(k, -1), anchor=(3 - ax, 2 - ay),
                        borderType=cv2.BORDER_CONSTANT), rtol=1e-12)


def test_anchor_with_stride_and_dilation_puts_input_pixel_i_s_under_output_pixel_i(tmp_path, x):
    k = np.zeros((3, 4))
    k[2, 1] = 1.0  # a delta at the anchor: each output pixel is the input pixel under it
    np.save(tmp_path / "k.npy", k)
    y, _ = run(tmp_path, "--kernel-file", "k.npy", "--anchor", "1,2", "--stride", "2x3",
               "--dilation", "2")
    np.testing.assert_array_equal(y, x[::2, ::3])


@pytest.mark.parametrize("anchor", ["0,0", "1,1", "-1,-1"])
def test_passed_through_alpha_is_the_inputs_own_whatever_the_anchor(tmp_path, anchor):
    rgba = np.random.default_rng(8).integers(0, 256, (9, 10, 4)).astype(np.uint8)
    Image.fromarray(rgba).save(tmp_path / "in.png")
    proc = convolab("filter", "in.png", "--kernel", "[[1, 2], [3, 4]]", f"--anchor={anchor}",
                    "-o", "out.npy", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy")[..., 3], rgba[..., 3])


def test_zarr_input_takes_the_same_border_and_anchor(tmp_path):
    zarr = pytest.importorskip("zarr")
    x = np.random.default_rng(2).random((20, 18))
    zarr.create_array(tmp_path / "in.zarr", data=x, chunks=(8, 8))
    k = ramp((2, 4))
    np.save(tmp_path / "k.npy", k)
    proc = convolab("filter", "in.zarr", "--kernel-file", "k.npy", "--anchor", "0,1",
                    "-o", "out.zarr", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert REFLECT in proc.stdout
    np.testing.assert_allclose(zarr.open_array(tmp_path / "out.zarr")[:],
                               ndimage.correlate(x, k, mode="mirror", origin=(0, -2)),
                               rtol=1e-12)


# -- errors: one line, exit status 2, nothing written ------------------------------------------

@pytest.mark.parametrize("args, fragments", [
    (["--border-value", "3"], ["--border-value: a constant border needs --border constant",
                               "--border reflect"]),
    (["--border", "nearest", "--border-value", "-1"], ["--border-value", "--border nearest"]),
    (["--border", "mirrr"], ["--border (padding_mode)", "did you mean 'mirror'"]),
    (["--border-value", "x"], ["--border-value"]),
    (["--kernel", "[[1, 2, 3], [4, 5, 6]]", "--anchor", "3,0"],
     ["--anchor: expected X,Y with 0 <= X < 3 and 0 <= Y < 2", "got '3,0'"]),
    (["--anchor", "0,-2"], ["--anchor", "0 <= Y < 1"]),
    (["--anchor", "1"], ["--anchor: expected X,Y"]),
    (["--anchor", "1x0"], ["--anchor: expected X,Y"]),
    (["--anchor", "1,0", "--padding", "same"], ["--anchor", "not both"]),
])
def test_bad_border_or_anchor_is_one_line_and_writes_nothing(tmp_path, x, args, fragments):
    before = set(tmp_path.iterdir())
    proc = convolab("filter", "x.npy", *args, "-o", "y.npy", cwd=tmp_path)
    assert_one_line_error(proc, *fragments)
    assert set(tmp_path.iterdir()) == before


def test_zarr_input_refuses_a_nonzero_constant_in_one_line(tmp_path):
    zarr = pytest.importorskip("zarr")
    zarr.create_array(tmp_path / "in.zarr", data=np.ones((6, 6)), chunks=(4, 4))
    proc = convolab("filter", "in.zarr", "--kernel", "box", "--border", "constant",
                    "--border-value", "1", "-o", "out.zarr", cwd=tmp_path)
    assert_one_line_error(proc, "--border-value", ".zarr")
    assert not (tmp_path / "out.zarr").exists()
