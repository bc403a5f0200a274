"""A headless Chromium driven over the DevTools protocol on a pipe (standard library only).

Chromium's ``--remote-debugging-pipe`` reads protocol commands on file descriptor 3 and writes
replies and events on descriptor 4, each message JSON ended by a NUL byte: no WebDriver, no
WebSocket library, no port. The explorer's screenshots (``convolab tour``) and its browser tests
use this one small client.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-extensions",
    "--disable-default-apps", "--no-first-run", "--no-default-browser-check",
    "--hide-scrollbars", "--mute-audio", "--remote-debugging-pipe",
    # Chromium ignores a page's URL changes past 200 in 10 s ("Throttling navigation"); a test
    # that shows hundreds of states by their fragment needs them all
    "--disable-ipc-flooding-protection",
)


# argv: the two descriptors, then the browser's command line
_WIRE = ("import os, sys; r, w = map(int, sys.argv[1:3]); os.dup2(r, 3); os.dup2(w, 4); "
         "os.close(r); os.close(w); os.execv(sys.argv[3], sys.argv[3:])")


class BrowserError(RuntimeError):
    """The browser could not be started, or a protocol command failed or timed out."""


def find_browser(names: tuple[str, ...] = BROWSERS) -> str | None:
    """The Chromium/Chrome binary to use: ``$CONVOLAB_BROWSER``, else the first of ``names`` on
    the PATH, else None."""
    given = os.environ.get("CONVOLAB_BROWSER")
    if given:
        return shutil.which(given) or (given if Path(given).is_file() else None)
    return next((found for found in map(shutil.which, names) if found), None)


def _high_fd(fd: int) -> int:
    """A duplicate of ``fd`` numbered 10 or more (clear of 3 and 4), ``fd`` closed."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


class Browser:
    """One headless Chromium and one page (tab) in it.

    >>> with Browser() as b:  # doctest: +SKIP
    ...     b.navigate("file:///tmp/page.html")
    ...     b.evaluate("document.title")
    """

    def __init__(self, binary: str | None = None, *, width: int = 1280, height: int = 900,
                 timeout: float = 30.0) -> None:
        binary = binary or find_browser()
        if binary is None:
            raise BrowserError("no Chromium or Chrome binary found (set CONVOLAB_BROWSER)")
        self.timeout = timeout
        self._profile = tempfile.TemporaryDirectory(prefix="convolab-browser-")
        self._log = open(Path(self._profile.name) / "stderr.log", "w+b")  # noqa: SIM115
        to_browser_r, to_browser_w = os.pipe()
        from_browser_r, from_browser_w = os.pipe()
        child_in, child_out = _high_fd(to_browser_r), _high_fd(from_browser_w)

        # A small Python puts the protocol's descriptors in place as 3 and 4, then becomes the
        # browser (not preexec_fn, which is unsafe in a process with threads; not the shell,
        # whose dash takes no descriptor above 9).
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _WIRE, str(child_in), str(child_out), binary, *FLAGS,
                 f"--user-data-dir={self._profile.name}", f"--window-size={width},{height}",
                 "about:blank"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._log,
                pass_fds=(child_in, child_out))
        except OSError as exc:
            self._log.close()
            self._profile.cleanup()
            raise BrowserError(f"cannot start {binary}: {exc}") from None
        finally:
            os.close(child_in)
            os.close(child_out)
        self._out, self._in = to_browser_w, from_browser_r
        self._buffer, self._events, self._next_id = b"", [], 0
        self.session: str | None = None
        try:
            page = next(t for t in self.send("Target.getTargets")["targetInfos"]
                        if t["type"] == "page")
            self.session = self.send("Target.attachToTarget", targetId=page["targetId"],
                                     flatten=True, session=False)["sessionId"]
            self.send("Page.enable")
            self.send("Runtime.enable")
            self.resize(width, height)
        except BaseException:
            self.close()
            raise

    # -- the protocol ------------------------------------------------------------------------
    def send(self, method: str, session: bool = True, **params: object) -> dict:
        """Run one protocol command (on the page unless ``session=False``); its result."""
        self._next_id += 1
        message: dict = {"id": self._next_id, "method": method, "params": params}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        reply = self._wait(lambda m: m.get("id") == self._next_id, method)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error'].get('message')}")
        return reply.get("result", {})

    def wait_event(self, method: str) -> dict:
        """The parameters of the next event ``method`` (one already received counts)."""
        for i, event in enumerate(self._events):
            if event.get("method") == method:
                del self._events[i]
                return event.get("params", {})
        return self._wait(lambda m: m.get("method") == method, method).get("params", {})

    def _wait(self, match, what: str) -> dict:
        deadline = time.monotonic() + self.timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                message = json.loads(raw)
                if match(message):
                    return message
                if "method" in message:
                    self._events.append(message)
                    del self._events[:-200]  # keep the recent ones only
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"{what}: no answer from the browser in {self.timeout} s")
            ready, _, _ = select.select([self._in], [], [], left)
            if ready:
                chunk = os.read(self._in, 1 << 20)
                if not chunk:
                    raise BrowserError(f"{what}: the browser exited: {self._stderr()}")
                self._buffer += chunk

    def _stderr(self) -> str:
        """The end of what the browser wrote on stderr."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=5)
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-1000:]

    # -- what the tests and the tour use -----------------------------------------------------
    def resize(self, width: int, height: int) -> None:
        """Set the page's viewport to ``width`` x ``height`` CSS pixels."""
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)

    def navigate(self, url: str) -> None:
        """Load ``url`` and wait for its load event (none comes, and none is waited for, when
        only the fragment changes: the document stays)."""
        self._events = [e for e in self._events if e.get("method") != "Page.loadEventFired"]
        reply = self.send("Page.navigate", url=url)
        if reply.get("errorText"):
            raise BrowserError(f"navigate {url}: {reply['errorText']}")
        if reply.get("loaderId"):  # omitted for a same-document navigation
            self.wait_event("Page.loadEventFired")

    def evaluate(self, expression: str) -> object:
        """The value of a JavaScript expression in the page (promises awaited, JSON-valued)."""
        reply = self.send("Runtime.evaluate", expression=expression, returnByValue=True,
                          awaitPromise=True)
        if "exceptionDetails" in reply:
            details = reply["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"JavaScript error: {text}")
        return reply["result"].get("value")

    def exceptions(self) -> list[str]:
        """The page's uncaught JavaScript exceptions since the last call (and forget them)."""
        found = [e for e in self._events if e.get("method") == "Runtime.exceptionThrown"]
        self._events = [e for e in self._events if e not in found]
        return [(e["params"]["exceptionDetails"].get("exception", {}).get("description")
                 or e["params"]["exceptionDetails"].get("text", "")) for e in found]

    def click(self, selector: str) -> None:
        """A real mouse click (press and release) at the centre of the element ``selector``."""
        box = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " if (!e) return null; e.scrollIntoView({block: 'center'});"
            " const r = e.getBoundingClientRect();"
            " return [r.left + r.width / 2, r.top + r.height / 2]; })()")
        if box is None:
            raise BrowserError(f"click: no element matches {selector!r}")
        x, y = box
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left",
                      clickCount=0 if kind == "mouseMoved" else 1)

    def type_into(self, selector: str, text: str) -> None:
        """Focus the field ``selector``, select its content and type ``text`` over it."""
        self.click(selector)
        self.evaluate(f"document.querySelector({json.dumps(selector)}).select()")
        self.send("Input.insertText", text=text)

    def screenshot(self, path: str | os.PathLike) -> None:
        """Write a PNG of the whole page (beyond the viewport when it is longer)."""
        size = self.evaluate("[document.documentElement.scrollWidth,"
                             " document.documentElement.scrollHeight]")
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                         clip={"x": 0, "y": 0, "width": size[0], "height": size[1],
                               "scale": 1})["data"]
        Path(path).write_bytes(base64.b64decode(data))

    def close(self) -> None:
        """End the browser (politely, then by force) and remove its profile."""
        if self._proc.poll() is None:
            with contextlib.suppress(BrowserError, OSError):
                self.send("Browser.close", session=False)
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        for fd in (self._out, self._in):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._log.close()
        self._profile.cleanup()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
