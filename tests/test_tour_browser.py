"""The tour's index.html in a real headless browser: every figure must load and be drawn.

Skipped only when no Chromium/Chrome binary is installed (CI installs Debian's chromium).
"""

import re
import shutil
import subprocess

import pytest

from convolab.apps.tour import run_tour

BROWSER = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome",
                                          "chrome") if shutil.which(b)), None)

# Appended to a copy of index.html: once everything has loaded, record on <body> how many
# images there are, how many decoded with a non-zero size, and which did not.
CHECK = """<script>
window.addEventListener("load", () => {
  const imgs = Array.from(document.images);
  const ok = imgs.filter((i) => i.complete && i.naturalWidth > 0 && i.naturalHeight > 0);
  document.body.dataset.images = imgs.length;
  document.body.dataset.loaded = ok.length;
  document.body.dataset.broken = imgs.filter((i) => !ok.includes(i))
    .map((i) => i.getAttribute("src")).join(" ");
});
</script>
"""


@pytest.mark.skipif(BROWSER is None, reason="no chromium binary installed")
def test_every_figure_loads_in_headless_chromium(tmp_path):
    out = tmp_path / "tour"
    steps = run_tour(out, echo=lambda text: None)
    figures = [name for step in steps for name in step.figures]
    page = (out / "index.html").read_text(encoding="utf-8")
    (out / "check.html").write_text(page.replace("</body>", CHECK + "</body>"),
                                    encoding="utf-8")
    proc = subprocess.run(
        [BROWSER, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--virtual-time-budget=10000", "--dump-dom", (out / "check.html").as_uri()],
        capture_output=True, text=True, timeout=120)
    body = re.search(r"<body[^>]*>", proc.stdout)
    assert body, proc.stderr[-2000:]
    attrs = dict(re.findall(r'data-(\w+)="([^"]*)"', body.group(0)))
    assert attrs.get("broken") == "", attrs
    assert int(attrs["images"]) == int(attrs["loaded"]) == len(figures) > 0
