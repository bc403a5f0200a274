"""``convolab train`` (issue 12 item 8): a short run writes every figure, the weights and an
index.html that a real headless browser draws completely."""

import re
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

from convolab.apps.explorer.browser import Browser, find_browser
from convolab.apps.train_report import FIGURES


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.srcs = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.srcs.append(dict(attrs)["src"])


def train(*args):
    return subprocess.run([sys.executable, "-m", "convolab", "train", *args],
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("train") / "run"
    proc = train("--epochs", "2", "--out", str(out))
    return out, proc


def test_train_exits_cleanly_and_prints_the_summary_and_each_epoch(run):
    _, proc = run
    assert proc.returncode == 0, proc.stderr
    assert "Total params: 61,706" in proc.stdout
    assert re.search(r"^epoch 2/2: loss [\d.]+, accuracy [\d.]+, val_loss", proc.stdout,
                     flags=re.MULTILINE)
    assert re.search(r"test accuracy \d+\.\d\d% \(\d+ of 359\)", proc.stdout)


def test_train_writes_every_figure_the_weights_and_an_index_linking_them(run):
    out, _ = run
    for name in FIGURES:
        with Image.open(out / name) as im:
            assert im.format == "PNG" and min(im.size) > 100, name
    with np.load(out / "weights.npz") as w:
        assert w["layers.0.0"].shape == (5, 5, 1, 6)
    parser = _Images()
    parser.feed((out / "index.html").read_text(encoding="utf-8"))
    assert parser.srcs == list(FIGURES)
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no temporary files


def test_train_refuses_to_overwrite_an_earlier_run_without_force(run):
    out, _ = run
    before = (out / "index.html").stat().st_mtime_ns
    proc = train("--epochs", "1", "--out", str(out))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "already exists (use --force" in proc.stderr
    assert (out / "index.html").stat().st_mtime_ns == before


def test_a_diverging_run_is_one_line_and_exit_status_2(tmp_path):
    # ReLUs pass the huge weights on until they overflow (sigmoids would saturate instead)
    proc = train("--model", "lenet5-modern", "--epochs", "1", "--optimizer", "sgd", "--lr",
                 "1e30", "--out", str(tmp_path / "t"))
    assert proc.returncode == 2
    assert proc.stderr.startswith("convolab: error: --lr: training diverged at epoch 1")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert not (tmp_path / "t" / "index.html").exists()


def test_a_bad_option_is_one_line(tmp_path):
    proc = train("--model", "alexnet", "--out", str(tmp_path / "t"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1


# Once the page has loaded: how many images it has, how many decoded with a non-zero size, and
# the sources of those that did not.
IMAGES = """(() => {
  const imgs = Array.from(document.images);
  const ok = imgs.filter((i) => i.complete && i.naturalWidth > 0 && i.naturalHeight > 0);
  return {images: imgs.length, loaded: ok.length,
          broken: imgs.filter((i) => !ok.includes(i)).map((i) => i.getAttribute("src"))};
})()"""


@pytest.mark.skipif(find_browser() is None, reason="no chromium binary installed")
def test_every_figure_loads_in_headless_chromium(run):
    out, _ = run
    with Browser() as browser:
        browser.navigate((out / "index.html").resolve().as_uri())
        got = browser.evaluate(IMAGES)
        assert browser.exceptions() == []
    assert got == {"images": len(FIGURES), "loaded": len(FIGURES), "broken": []}
