"""``convolab tour``: every step prints, every figure exists, index.html links them all."""

import re
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

from convolab.apps import tour


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.srcs, self.sections = [], 0

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.srcs.append(dict(attrs)["src"])
        if tag == "section":
            self.sections += 1


@pytest.fixture(scope="module")
def tour_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("tour")
    proc = subprocess.run([sys.executable, "-m", "convolab", "tour", "--out", out / "t"],
                          capture_output=True, text=True, timeout=300)
    return out / "t", proc


def test_tour_exits_cleanly_and_prints_every_step(tour_run):
    _, proc = tour_run
    assert proc.returncode == 0, proc.stderr
    for n, make in enumerate(tour.STEPS, 1):
        assert f"== {n}. " in proc.stdout, make.__name__
    # The chapter's numbers, as printed.
    assert "0x0 + 1x1 + 3x2 + 4x3 = 19" in proc.stdout
    assert "-> output 4x6" in proc.stdout and "-> output 4x4" in proc.stdout
    assert "corr2d(X.T, K) is all zero: True" in proc.stdout
    assert re.search(r"epoch 10, loss \d", proc.stdout)
    assert "1,000,001,000,000" in proc.stdout


def test_receptive_field_step_prints_the_growth_3_5_9(tour_run):
    out, proc = tour_run
    assert ("receptive field of 3 layers on a 13x13 input -> output 3x3: field 9x9, jump 2x2"
            in proc.stdout)
    assert [line.split()[-5] for line in proc.stdout.splitlines()
            if re.match(r"[123] conv 3", line)] == ["3x3", "5x5", "9x9"]
    assert any("receptive_field" in p.name for p in out.iterdir())


def test_steps_follow_the_chapters_order(tour_run):
    _, proc = tour_run
    sections = re.findall(r"^== \d+\. ([\d.]+) ", proc.stdout, flags=re.MULTILINE)
    assert len(sections) == len(tour.STEPS)
    numbers = [tuple(map(int, s.split("."))) for s in sections]  # "6.1.5" -> (6, 1, 5)
    assert numbers == sorted(numbers), sections


def test_parameter_counts_say_what_the_extra_million_is_and_match_the_library(tour_run):
    from convolab.theory import parameter_table

    out, proc = tour_run
    assert "1,000,000,000,000 weights + 1,000,000 biases" in proc.stdout
    assert "one bias per hidden unit" in (out / "index.html").read_text(encoding="utf-8")
    assert parameter_table((1000, 1000), (3, 3)) in proc.stdout  # the README's call, as printed


def test_index_html_shows_every_figure_in_order_and_each_exists(tour_run):
    out, _ = tour_run
    parser = _Images()
    parser.feed((out / "index.html").read_text(encoding="utf-8"))
    assert parser.sections == len(tour.STEPS)
    written = sorted(p.name for p in out.iterdir() if p.suffix in (".png", ".gif"))
    assert sorted(parser.srcs) == written  # every figure linked, nothing linked is missing
    steps = [int(src[:2]) for src in parser.srcs]  # figures are numbered by step
    assert steps == sorted(steps) and set(steps) == set(range(1, len(tour.STEPS) + 1))
    for src in parser.srcs:
        with Image.open(out / src) as im:
            im.verify()


def test_animations_have_one_frame_per_output_pixel(tour_run):
    out, _ = tour_run
    with Image.open(out / next(p.name for p in out.iterdir() if "padding_sliding" in p.name)) as im:
        assert im.n_frames == 25  # 5x5 input, 3x3 kernel, padding 1: a 5x5 output


def test_tour_refuses_to_overwrite_an_existing_tour(tour_run):
    out, _ = tour_run
    before = (out / "index.html").read_bytes()
    proc = subprocess.run([sys.executable, "-m", "convolab", "tour", "--out", out],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"convolab: error: {out / 'index.html'} already exists (use --force to overwrite it)"]
    assert (out / "index.html").read_bytes() == before


def test_learn_kernel_recovers_the_books_edge_kernel():
    x = np.ones((1, 6, 8))
    x[:, :, 2:6] = 0
    learned, losses = tour.learn_kernel(np.array([[1.0, -1.0]]), x, epochs=20,
                                        learning_rate=3e-2)
    assert len(losses) == 20 and losses[-1] < 0.01 * losses[0]
    np.testing.assert_allclose(learned, [[1.0, -1.0]], atol=0.02)
