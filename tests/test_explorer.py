"""The explorer page as written (no browser needed but for the screenshots): self-contained,
shipped as package data, written and linked by the tour, its URL fragment in every form."""

import html
import re
import sys
from fnmatch import fnmatch
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convolab.apps import explorer, tour
from convolab.apps.explorer.browser import find_browser

ROOT = Path(__file__).resolve().parents[1]
ASSETS = sorted(str(p.relative_to(resources.files(explorer)))
                for p in Path(str(resources.files(explorer))).rglob("*")
                if p.is_file() and p.suffix in (".html", ".css", ".js"))


def test_page_inlines_every_script_and_the_stylesheet():
    page = explorer.render_explorer()
    assert [f"js/{name}" for name in explorer.SCRIPTS] == re.findall(r"// ---- (js/\S+) ----",
                                                                     page)
    for name in explorer.SCRIPTS:
        assert (resources.files(explorer) / "js" / name).read_text(encoding="utf-8") in page
    assert (resources.files(explorer) / "explorer.css").read_text(encoding="utf-8") in page
    assert "/*CSS*/" not in page and "<!--SCRIPTS-->" not in page
    assert sorted(f"js/{name}" for name in explorer.SCRIPTS) == sorted(
        a for a in ASSETS if a.startswith("js/"))  # no script left out


def test_page_loads_nothing_from_anywhere():
    page = explorer.render_explorer()
    assert not re.search(r"\bsrc\s*=|<link|https?:|//cdn|@import|url\(", page, re.I)
    for call in ("fetch(", "XMLHttpRequest", "import(", "WebSocket", "localStorage"):
        assert call not in page
    assert re.findall(r'href="([^"#][^"]*)"', page) == ["index.html"]  # back to the tour


def test_assets_are_package_data_and_in_the_sdist():
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    globs = config["tool"]["setuptools"]["package-data"]["convolab.apps.explorer"]
    assert ASSETS and all(any(fnmatch(a, g) for g in globs) for a in ASSETS), (ASSETS, globs)
    manifest = (ROOT / "MANIFEST.in").read_text(encoding="utf-8")
    assert "recursive-include src/convolab/apps/explorer *.html *.css *.js" in manifest


@pytest.mark.parametrize("options, want", [
    (dict(), "padding=valid&mode=zeros&stride=1&dilation=1&op=corr"),
    (dict(padding=2, stride=(1, 3)), "padding=2&mode=zeros&stride=1,3&dilation=1&op=corr"),
    (dict(padding=(2, 1), dilation=2), "padding=2,1&mode=zeros&stride=1&dilation=2&op=corr"),
    (dict(padding=((1, 2), (0, 3)), padding_mode="mirror", op="conv", t=4),
     "padding=1,2,0,3&mode=mirror&stride=1&dilation=1&op=conv&t=4"),
    (dict(padding="same lower?"), "padding=same%20lower%3F&mode=zeros"),
])
def test_fragment_writes_each_python_form(options, want):
    got = explorer.fragment([[1, 0.5], [1 / 3, -2]], np.array([[1.0]]), **options)
    assert got.startswith("#view=conv&x=1,0.5;0.3333333333333333,-2&k=1&")
    assert want in got


def test_write_explorer_refuses_an_existing_page_without_force(tmp_path):
    path = explorer.write_explorer(tmp_path)
    path.write_text("mine", encoding="utf-8")
    with pytest.raises(FileExistsError, match="explorer.html already exists"):
        explorer.write_explorer(tmp_path)
    assert path.read_text(encoding="utf-8") == "mine"
    explorer.write_explorer(tmp_path, force=True)
    assert path.read_text(encoding="utf-8") == explorer.render_explorer()


def test_find_browser_takes_convolab_browser(monkeypatch):
    monkeypatch.setenv("CONVOLAB_BROWSER", sys.executable)
    assert find_browser() == sys.executable
    monkeypatch.setenv("CONVOLAB_BROWSER", "/no/such/browser")
    assert find_browser() is None


def _tour_without_steps(monkeypatch, out):
    monkeypatch.setattr(tour, "STEPS", [])
    said = []
    tour.run_tour(out, echo=said.append)
    return "\n".join(said), (out / "index.html").read_text(encoding="utf-8")


def test_tour_writes_the_explorer_and_links_it_without_a_browser(monkeypatch, tmp_path):
    monkeypatch.setenv("CONVOLAB_BROWSER", "/no/such/browser")
    said, index = _tour_without_steps(monkeypatch, tmp_path / "t")
    assert (tmp_path / "t" / "explorer.html").read_text(encoding="utf-8") == (
        explorer.render_explorer())
    assert '<a href="explorer.html">' in index and "Screenshots" not in index
    assert "explorer screenshots skipped: no Chromium" in said
    assert not (tmp_path / "t" / "explorer").exists()


def test_tour_refuses_an_existing_explorer_before_running(monkeypatch, tmp_path):
    (tmp_path / "explorer.html").write_text("mine", encoding="utf-8")
    monkeypatch.setattr(tour, "STEPS", [])
    with pytest.raises(FileExistsError, match="explorer.html"):
        tour.run_tour(tmp_path, echo=lambda text: None)
    assert not (tmp_path / "index.html").exists()


@pytest.mark.skipif(find_browser() is None, reason="no chromium binary installed")
def test_tour_writes_three_screenshots_and_links_them(monkeypatch, tmp_path):
    said, index = _tour_without_steps(monkeypatch, tmp_path)
    assert list(explorer.SCREENSHOTS) == ["explorer/corr2d.png", "explorer/stride_dilation.png",
                                          "explorer/refused.png"]  # the README shows these
    for name, (caption, _) in explorer.SCREENSHOTS.items():
        assert f'<a href="{name}">{html.escape(caption)}</a>' in index
        with Image.open(tmp_path / name) as im:
            assert im.format == "PNG" and im.width >= 1000 and im.height >= 600
            # not blank: the page's colours are there (the window's blue, the error's red)
            assert len(im.convert("RGB").getcolors(1 << 16) or range(1 << 16)) > 50
    assert "with 3 screenshots" in said
    # the tour's top level keeps only the chapter's numbered figures
    assert not list(tmp_path.glob("*.png"))
