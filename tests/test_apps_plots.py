"""Figures and animations: the arithmetic they print, their frame counts, safe writing, and
that Matplotlib stays out of the core's imports."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from convolab.apps import plots
from convolab.apps.animation import conv_animation


def figure_texts(fig):
    return [t.get_text() for t in fig.texts] + [
        t.get_text() for ax in fig.axes for t in ax.texts]


def test_conv_step_figure_shows_the_books_arithmetic():
    x, k = np.arange(9.0).reshape(3, 3), np.arange(4.0).reshape(2, 2)
    texts = figure_texts(plots.conv_step_figure(x, k, (0, 0)))
    assert "0×0 + 1×1 + 3×2 + 4×3 = 19" in texts


def test_conv_step_figure_with_padding_and_stride_shows_the_books_stride_example():
    x, k = np.arange(9.0).reshape(3, 3), np.arange(4.0).reshape(2, 2)
    texts = figure_texts(plots.conv_step_figure(x, k, (0, 1), padding=1, stride=(3, 2)))
    assert "0×0 + 0×1 + 1×2 + 2×3 = 8" in texts
    texts = figure_texts(plots.conv_step_figure(x, k, (1, 0), padding=1, stride=(3, 2)))
    assert "0×0 + 6×1 + 0×2 + 0×3 = 6" in texts


def test_conv_step_figure_rejects_a_position_outside_the_output():
    with pytest.raises(ValueError, match="position"):
        plots.conv_step_figure(np.zeros((3, 3)), np.ones((2, 2)), (2, 0))


@pytest.mark.parametrize("input_hw, kernel, kwargs, frames", [
    ((5, 5), 3, {}, 9),
    ((5, 5), 3, {"padding": 1, "stride": 2}, 9),
    ((7, 7), 3, {"dilation": 2}, 9),
    ((4, 6), (2, 3), {"padding": "same", "stride": (1, 2)}, 12),
])
def test_animation_has_one_frame_per_output_pixel(tmp_path, input_hw, kernel, kwargs, frames):
    n = conv_animation(tmp_path / "a.gif", input_hw, kernel, frame_ms=100, **kwargs)
    assert n == frames
    with Image.open(tmp_path / "a.gif") as im:
        assert im.format == "GIF" and im.n_frames == frames


def test_animation_with_too_many_frames_is_an_error_and_writes_nothing(tmp_path):
    with pytest.raises(ValueError, match="frames"):
        conv_animation(tmp_path / "big.gif", (64, 64), 3)
    assert list(tmp_path.iterdir()) == []


def test_learned_kernel_figure_never_shows_negative_zero():
    fig = plots.learned_kernel_figure([[-0.001, 0.004], [0.999, -1.003]], [[0.0, 0.0], [1, -1]],
                                      [1.0, 0.5])
    # learned [[-0.001, 0.004], [0.999, -1.003]] to 2 decimals, then the true kernel
    assert figure_texts(fig) == ["0", "0", "1", "-1", "0", "0", "1", "-1"]


def test_match_figure_marks_the_best_match_on_the_score_map():
    rng = np.random.default_rng(0)
    image, template = rng.random((30, 40)), rng.random((5, 6))
    image[12:17, 25:31] = template
    scores = np.zeros((26, 35))
    fig = plots.match_figure(image, template, [(12, 25, 1.0), (3, 4, 0.5)], scores)
    heat = fig.axes[2]
    marks = [tuple(line.get_xydata()[0]) for line in heat.lines]
    assert marks[0] == (25, 12)  # (x, y) = (col, row) of the best match's score
    assert heat.lines[0].get_markeredgecolor() == "red" and len(marks) == 2


def test_arrays_figure_wraps_panels_into_a_grid():
    panels = [(f"p{i}", np.full((8, 8), i / 10)) for i in range(7)]
    fig = plots.arrays_figure(panels, columns=3)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 7
    rows = sorted({round(ax.get_position().y0, 3) for ax in shown})
    cols = sorted({round(ax.get_position().x0, 3) for ax in shown})
    assert len(rows) == 3 and len(cols) == 3
    width, height = fig.get_size_inches()
    assert height > width / 2  # a grid, not a strip


def test_save_figure_refuses_an_existing_file_without_force(tmp_path):
    out = tmp_path / "f.png"
    out.write_bytes(b"old")
    fig = plots.loss_figure([3.0, 2.0, 1.0])
    with pytest.raises(FileExistsError, match="--force"):
        plots.save_figure(fig, out)
    assert out.read_bytes() == b"old"
    plots.save_figure(fig, out, force=True)
    with Image.open(out) as im:
        assert im.format == "PNG"
    assert [p.name for p in tmp_path.iterdir()] == ["f.png"]  # no temporary left behind


def test_importing_the_library_and_the_cli_does_not_import_matplotlib():
    code = ("import sys, convolab, convolab.cli, convolab.apps.matching, convolab.apps.theory; "
            "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.strip() == "False", out.stderr
