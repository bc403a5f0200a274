"""The tour's interactive explorer: ``explorer.html``, one self-contained page.

The page is this package's ``explorer.html`` template with ``explorer.css`` and the scripts in
``js/`` (plain JavaScript, no library, no build step) written into it, so it opens from the file
system and needs no network. The scripts are, in order:

``state.js``     the page's state in the URL fragment (shared by every view)
``grid.js``      a 2-D array drawn as a grid of cells (shared by every view)
``convolab.js``  convolab's shape arithmetic, padding modes, corr2d and error messages
``views.js``     the registry of views, each one tab of the page
``conv_view.js`` the convolution view (the one view so far)
``app.js``       starts the views and routes the fragment to them

:func:`fragment` writes the URL fragment of a configuration, the form the page reads.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from urllib.parse import quote

import numpy as np

from convolab.apps.files import atomic_write

SCRIPTS = ("state.js", "grid.js", "convolab.js", "views.js", "conv_view.js", "app.js")
PAGE = "explorer.html"


def _asset(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


def render_explorer() -> str:
    """The page: the template with its stylesheet and scripts inlined."""
    scripts = []
    for name in SCRIPTS:
        code = _asset(f"js/{name}")
        if "</script" in code.lower() or "<!--" in code:  # would end or confuse the element
            raise ValueError(f"js/{name}: a script must not contain '</script' or '<!--'")
        scripts.append(f"<script>\n// ---- js/{name} ----\n{code}</script>")
    page = _asset(PAGE)
    return page.replace("/*CSS*/\n", _asset("explorer.css")).replace(
        "<!--SCRIPTS-->", "\n".join(scripts))


def write_explorer(out_dir: str | os.PathLike, *, force: bool = False) -> Path:
    """Write ``explorer.html`` into ``out_dir``; its path. Refuses an existing one unless
    ``force``."""
    path = Path(out_dir) / PAGE
    with atomic_write(path, force=force) as tmp:
        tmp.write_text(render_explorer(), encoding="utf-8")
    return path


def _number(v: object) -> str:
    """A number as text JavaScript's ``Number()`` reads back to the same double."""
    f = float(v)  # type: ignore[arg-type]
    return str(int(f)) if f.is_integer() else repr(f)


def _matrix(a: object) -> str:
    m = np.asarray(a, dtype=np.float64)
    if m.ndim != 2 or 0 in m.shape:
        raise ValueError(f"expected a non-empty 2-D array, got shape {m.shape}")
    return ";".join(",".join(map(_number, row)) for row in m)


def _value(v: object) -> str:
    """A Python argument as the page reads it: 1, (2, 1) -> "2,1", ((1, 2), (0, 1)) ->
    "1,2,0,1", a str as it is."""
    if isinstance(v, str):
        return v
    flat = np.ravel(np.asarray(v, dtype=object))
    return ",".join(str(int(x)) for x in flat)


def fragment(x: object, k: object, *, padding: object = "valid", padding_mode: str = "zeros",
             stride: object = 1, dilation: object = 1, op: str = "corr",
             t: int | None = None) -> str:
    """The URL fragment that shows ``cl.corr2d(x, k, ...)`` (``op="conv"``: ``convolve2d``).

    ``t`` is the output position shown (row-major); the page starts at 0 without it.

    >>> fragment([[0, 1], [2, 3]], [[1, -1]], padding=(1, 2), stride=2, t=1)
    '#view=conv&x=0,1;2,3&k=1,-1&padding=1,2&mode=zeros&stride=2&dilation=1&op=corr&t=1'
    """
    entries = [("view", "conv"), ("x", _matrix(x)), ("k", _matrix(k)),
               ("padding", _value(padding)), ("mode", padding_mode), ("stride", _value(stride)),
               ("dilation", _value(dilation)), ("op", op)]
    if t is not None:
        entries.append(("t", str(t)))
    return "#" + "&".join(f"{key}={quote(value, safe=',;')}" for key, value in entries)


# The README's three pictures (paths in the tour folder -> what they show, the state): a window
# of the chapter's first example, a strided and dilated window on a reflected border (with the
# dropped-row note), and a configuration convolab refuses. They go in a folder of their own: the
# tour's top level holds the chapter's numbered figures only.
SCREENSHOTS: dict[str, tuple[str, str]] = {
    "explorer/corr2d.png": ("the chapter's first example, second window", fragment(
        np.arange(9).reshape(3, 3), [[0, 1], [2, 3]], t=1)),
    "explorer/stride_dilation.png": ("stride 2, dilation 2, a reflected border", fragment(
        np.arange(64).reshape(8, 8) % 10, [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], padding=1,
        padding_mode="reflect", stride=2, dilation=2, t=4)),
    "explorer/refused.png": ("a border reflect cannot make", fragment(
        np.arange(9).reshape(3, 3), np.ones((3, 3)), padding=3, padding_mode="reflect")),
}

# Sets the page's fragment and resolves once the page has drawn it (at once if unchanged), with
# the value of the expression that follows.
SHOW = """new Promise((resolve) => {
  const before = location.href, done = () => resolve(true);
  window.addEventListener("hashchange", done, {once: true});
  location.hash = %s;
  if (location.href === before) { window.removeEventListener("hashchange", done); done(); }
}).then(() => %s)"""


def show(browser: object, hash_: str, then: str = "true") -> object:
    """Point the explorer open in ``browser`` (a :class:`browser.Browser`) at ``hash_``; the
    value of the JavaScript expression ``then``, evaluated once the page has drawn it."""
    import json

    return browser.evaluate(SHOW % (json.dumps(hash_), then))  # type: ignore[attr-defined]


def write_screenshots(out_dir: str | os.PathLike, *, force: bool = False,
                      states: dict[str, str] | None = None,
                      echo: Callable[[str], None] = print) -> list[str]:
    """Screenshots of ``out_dir/explorer.html`` in ``states`` (path in ``out_dir`` -> fragment;
    default: :data:`SCREENSHOTS`), taken with headless Chromium; the paths written. Without a
    browser, or if it fails, nothing is written and ``echo`` says why."""
    from convolab.apps.explorer.browser import Browser, BrowserError, find_browser

    if states is None:
        states = {name: hash_ for name, (_, hash_) in SCREENSHOTS.items()}
    out = Path(out_dir)
    if find_browser() is None:
        echo("explorer screenshots skipped: no Chromium or Chrome found (set CONVOLAB_BROWSER)")
        return []
    written: list[str] = []
    try:
        with Browser(width=1200, height=800) as browser:
            browser.navigate((out / PAGE).resolve().as_uri())
            for name, hash_ in states.items():
                show(browser, hash_)
                with atomic_write(out / name, force=force) as tmp:
                    browser.screenshot(tmp)
                written.append(name)
    except (BrowserError, OSError) as exc:
        echo(f"explorer screenshots skipped: {exc}")
        for name in written:  # all three or none: the index links what exists
            (out / name).unlink(missing_ok=True)
        return []
    return written
