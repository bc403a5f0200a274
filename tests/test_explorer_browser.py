"""The explorer (explorer.html) in a real headless Chromium, against convolab itself.

One browser for the whole module, driven over the DevTools protocol on a pipe
(``convolab.apps.explorer.browser``): each configuration is given to the page by its URL
fragment (the page redraws on ``hashchange``), and the output grid, the explanation, the error
and the products are read back from the DOM and compared with ``cl.corr2d`` /
``cl.convolve2d`` / ``cl.conv2d``, ``cl.explain_shape`` and convolab's error messages.

Skipped only when no Chromium/Chrome binary is installed (CI installs Debian's chromium).
"""

import json
import random

import numpy as np
import pytest

import convolab as cl
from convolab.apps import explorer
from convolab.apps.explorer.browser import Browser, find_browser
from convolab.apps.plots import fmt_number

pytestmark = pytest.mark.skipif(find_browser() is None, reason="no chromium binary installed")

# Everything a test compares, read from the page's DOM in one round trip.
READ = """(() => {
  const $ = (id) => document.getElementById(id);
  const grid = (id) => Array.from($(id).querySelectorAll(".grid .cell"));
  const cells = grid("conv-output");
  const rows = cells.length ? Math.max(...cells.map((c) => +c.dataset.r)) + 1 : 0;
  const out = Array.from({length: rows}, () => []);
  const text = Array.from({length: rows}, () => []);
  for (const c of cells) {
    out[+c.dataset.r][+c.dataset.c] = Number(c.dataset.value);
    text[+c.dataset.r][+c.dataset.c] = c.textContent;
  }
  const current = $("conv-output").querySelector(".current");
  const sum = $("conv-sum-value");
  return {
    error: $("conv-error").hidden ? "" : $("conv-error").textContent,
    explain: $("conv-explain").textContent,
    call: $("conv-call").textContent,
    notice: $("conv-notice").hidden ? "" : $("conv-notice").textContent,
    out, text,
    filled: cells.filter((c) => c.classList.contains("filled")).length,
    current: current ? [+current.dataset.r, +current.dataset.c] : null,
    sum: sum ? Number(sum.dataset.value) : null,
    products: grid("conv-products").map((c) => Number(c.dataset.value)),
    taps: grid("conv-input").filter((c) => c.classList.contains("tap"))
      .map((c) => [+c.dataset.r, +c.dataset.c]),
    padded: grid("conv-input").length,
    hash: location.hash,
  };
})()"""


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """A browser with the explorer open; returns (browser, file URL)."""
    out = tmp_path_factory.mktemp("explorer")
    url = explorer.write_explorer(out).resolve().as_uri()
    with Browser() as browser:
        browser.navigate(url)
        yield browser, url


def show(browser, hash_):
    """Give the page a configuration by its URL fragment; what it then shows."""
    got = explorer.show(browser, hash_, READ)
    errors = browser.exceptions()
    assert not errors, f"{hash_}: {errors[0]}"
    return got


def convolab_result(x, k, *, padding, padding_mode, stride, dilation, op):
    """What convolab says: (output or None, error message or "", explanation or "")."""
    fn = cl.convolve2d if op == "conv" else cl.corr2d
    try:
        y, error = fn(x, k, padding=padding, stride=stride, dilation=dilation,
                      padding_mode=padding_mode), ""
    except (ValueError, TypeError) as exc:
        y, error = None, str(exc)
    try:
        text = cl.explain_shape(x.shape, k.shape, stride=stride, padding=padding,
                                dilation=dilation)
    except (ValueError, TypeError):
        text = ""
    return y, error, text


# -- random configurations --------------------------------------------------------------------
KERNELS = {
    "sobel_x": lambda kh, kw, rng: np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], float),
    "edge": lambda kh, kw, rng: np.array([[1.0, -1.0]]),
    "book": lambda kh, kw, rng: np.array([[0.0, 1.0], [2.0, 3.0]]),
    "box": lambda kh, kw, rng: np.full((kh, kw), 1 / (kh * kw)),
    "ints": lambda kh, kw, rng: np.array([[rng.randint(-3, 3) for _ in range(kw)]
                                          for _ in range(kh)], float),
    "floats": lambda kh, kw, rng: np.array([[round(rng.uniform(-2, 2), rng.choice([1, 3, 17]))
                                             for _ in range(kw)] for _ in range(kh)]),
}
PAD_TYPOS = ["sam", "vaild", "Full", "SAME", "same-lower", "fulll", "bogus", "", "valid "]
MODE_TYPOS = ["reflekt", "Zeros", "mirror", "wrap", "edge", "nearest", "constant", "circ",
              "symetric", "foo", "REFLECT_101", "grid-wrap"]


def random_config(rng):
    """One configuration, mostly valid, some refused, a few from a hand-edited URL."""
    small = rng.random() < 0.5  # small inputs make "kernel too large" and mode limits likely
    h, w = (rng.randint(1, 5), rng.randint(1, 5)) if small else (rng.randint(1, 16),
                                                                   rng.randint(1, 16))
    kh, kw = rng.randint(1, 4 if small else 7), rng.randint(1, 4 if small else 7)
    kind = rng.choice(list(KERNELS))
    k = KERNELS[kind](kh, kw, rng)
    if rng.random() < 0.8:
        x = np.array([[rng.randint(-5, 9) for _ in range(w)] for _ in range(h)], float)
    else:
        x = np.array([[rng.choice([0.5, 0.1, -2.25, 1 / 3, 7.0]) for _ in range(w)]
                      for _ in range(h)])
    u = rng.random()
    if u < 0.4:
        padding = rng.choice(["valid", "same", "same_lower", "full"])
    elif u < 0.55:
        padding = rng.randint(0, 3)
    elif u < 0.7:
        padding = (rng.randint(0, 3), rng.randint(0, 3))
    elif u < 0.92:
        padding = tuple((rng.randint(0, 4), rng.randint(0, 4)) for _ in range(2))
    elif u < 0.97:
        padding = rng.choice(PAD_TYPOS)
    else:
        padding = rng.choice([((1, -1), (0, 0)), -1, (1, 2, 3)])

    def step():
        v = rng.random()
        if v < 0.03:
            return rng.choice([0, (1, 0), (-1, 2), (1, 2, 3)])
        return rng.randint(1, 4) if v < 0.4 else (rng.randint(1, 4), rng.randint(1, 4))

    stride, dilation = step(), step()
    if rng.random() < 0.5:
        dilation = 1
    v = rng.random()
    mode = (rng.choice(["zeros", "reflect", "replicate", "circular", "symmetric"]) if v < 0.9
            else rng.choice(MODE_TYPOS))
    config = dict(padding=padding, padding_mode=mode, stride=stride, dilation=dilation,
                  op=rng.choice(["corr", "conv"]))
    t = rng.choice([None, 0, rng.randint(0, 40)])
    return x, k, config, t


def expected_call(config):
    fn = "convolve2d" if config["op"] == "conv" else "corr2d"
    return (f"cl.{fn}(X, K, padding={config['padding']!r}, stride={config['stride']!r}, "
            f"dilation={config['dilation']!r}, padding_mode={config['padding_mode']!r})")


def check_against_convolab(browser, x, k, config, t):
    """Mismatches between the page and convolab for one configuration (a list of strings)."""
    page = show(browser, explorer.fragment(x, k, t=t, **config))
    y, error, text = convolab_result(x, k, **config)
    problems = []

    def expect(what, got, want):
        if got != want:
            problems.append(f"{what}: page {got!r} != convolab {want!r}")

    expect("error", page["error"], error)
    expect("explanation", page["explain"], text)
    expect("call", page["call"], expected_call(config))
    expect("notice", page["notice"], "")
    if y is None:
        expect("output when refused", page["out"], [])
        return problems
    out = np.array(page["out"])
    if out.shape != y.shape:
        return [*problems, f"output shape: page {out.shape} != convolab {y.shape}"]
    if np.array_equal(x, np.round(x)) and np.array_equal(k, np.round(k)):
        if not np.array_equal(out, y):  # integers: exact, whatever the order of the sum
            problems.append(f"output: page {out.tolist()} != convolab {y.tolist()}")
    elif not np.allclose(out, y, rtol=1e-12, atol=1e-12):
        problems.append(f"output: page {out.tolist()} != convolab {y.tolist()}")
    if config["op"] == "corr" and config["padding_mode"] in cl.shapes.PADDING_MODES:
        y4 = cl.conv2d(x[None, :, :, None], k[:, :, None, None], padding=config["padding"],
                       stride=config["stride"], dilation=config["dilation"],
                       padding_mode=config["padding_mode"])[0, :, :, 0]
        if not np.allclose(out, y4, rtol=1e-12, atol=1e-12):
            problems.append(f"conv2d: page {out.tolist()} != {y4.tolist()}")
    now = min(t or 0, y.size - 1)
    i, j = divmod(now, y.shape[1])
    expect("current output", page["current"], [i, j])
    expect("filled cells", page["filled"], now + 1)
    shown = [[fmt_number(v) if r * y.shape[1] + c <= now else "" for c, v in enumerate(row)]
             for r, row in enumerate(out)]
    expect("output text", page["text"], shown)
    expect("number of products", len(page["products"]), k.size)
    if not np.isclose(page["sum"], y[i, j], rtol=1e-12, atol=1e-12):
        problems.append(f"sum of the products {page['sum']} != output {y[i, j]}")
    if not np.isclose(sum(page["products"]), page["sum"], rtol=1e-12, atol=1e-12):
        problems.append("the products do not add up to the sum")
    return problems


def test_page_equals_convolab_on_240_random_configurations(page):
    browser, _ = page
    rng = random.Random(15)
    failures, refused, dropped, kinds = [], 0, 0, set()
    for n in range(240):
        x, k, config, t = random_config(rng)
        problems = check_against_convolab(browser, x, k, config, t)
        if problems:
            failures.append(f"#{n} {explorer.fragment(x, k, t=t, **config)}\n  "
                            + "\n  ".join(problems))
        _, error, text = convolab_result(x, k, **config)
        refused += bool(error)
        dropped += "note: stride" in text
        kinds.add(error.split(":")[0] + (" (did you mean)" if "did you mean" in error else ""))
    assert not failures, f"{len(failures)} of 240 differ:\n" + "\n".join(failures[:8])
    # the draw reaches what it should: refusals of several kinds, dropped rows
    assert refused >= 25 and dropped >= 25, (refused, dropped)
    assert {"kernel_size", "padding", "padding_mode", "stride"} <= kinds, kinds


# -- the refusals, one by one -------------------------------------------------------------
X3, K2, K3 = np.arange(9.0).reshape(3, 3), np.array([[0.0, 1], [2, 3]]), np.ones((3, 3))
REFUSED = [
    # (x, k, config, convolab's message)
    (X3, np.ones((5, 1)), {}, "kernel_size: the dilated kernel height 5 (= 1*(5-1)+1) is larger "
     "than the padded input height 3 (= 3 + padding (0, 0)); it must be at most that"),
    (X3, K2, dict(dilation=(1, 3)), "kernel_size: the dilated kernel width 4 (= 3*(2-1)+1) is "
     "larger than the padded input width 3 (= 3 + padding (0, 0)); it must be at most that"),
    (X3, K3, dict(padding=3, padding_mode="reflect"), "padding: padding_mode='reflect' needs "
     "padding less than the input height 3 on each side, got (3, 3)"),
    (X3, K3, dict(padding=((0, 0), (4, 1)), padding_mode="symmetric"), "padding: "
     "padding_mode='symmetric' needs padding at most the input width 3 on each side, got (4, 1)"),
    (X3, K3, dict(padding="full", dilation=2, padding_mode="wrap"), "padding: "
     "padding_mode='circular' needs padding at most the input height 3 on each side, got (4, 4)"),
    (X3, K2, dict(padding=((1, -1), (0, 0))),
     "padding: expected amounts >= 0, got padding=((1, -1), (0, 0))"),
    (X3, K2, dict(padding=(1, 2, 3)), "padding: expected 'valid', 'same', 'same_lower', 'full', "
     "an int p, (ph, pw) or ((top, bottom), (left, right)) of ints; got (1, 2, 3)"),
    (X3, K2, dict(padding="sam"), "padding: expected 'valid', 'same', 'same_lower', 'full', an "
     "int or pairs; got 'sam' (did you mean 'same'?)"),
    (X3, K2, dict(padding="bogus"), "padding: expected 'valid', 'same', 'same_lower', 'full', "
     "an int or pairs; got 'bogus'"),
    (X3, K2, dict(stride=0), "stride: expected a positive int or a pair of them, received "
     "stride=0"),
    (X3, K2, dict(dilation=(1, 0)), "dilation: expected a positive int or a pair of them, "
     "received dilation=(1, 0)"),
    (X3, K2, dict(padding_mode="reflec"), "padding_mode: expected one of 'zeros', 'reflect', "
     "'replicate', 'circular', 'symmetric' (or a NumPy/SciPy/OpenCV alias), got 'reflec' (did "
     "you mean 'reflect'?)"),
    (X3, K2, dict(padding_mode="it's"), None),  # repr with double quotes
    (X3, K2, dict(padding_mode="zero pad", stride=0), None),  # the mode is checked first
]


@pytest.mark.parametrize("x, k, options, message", REFUSED)
def test_refused_configuration_shows_convolabs_own_message(page, x, k, options, message):
    browser, _ = page
    config = dict(dict(padding="valid", padding_mode="zeros", stride=1, dilation=1, op="corr"),
                  **options)
    y, error, _ = convolab_result(x, k, **config)
    assert y is None and error
    if message is not None:
        assert error == message  # the message this test pins is convolab's today
    got = show(browser, explorer.fragment(x, k, **config))
    assert got["error"] == error
    assert got["out"] == [] and got["products"] == []


def test_suggestions_follow_difflib_on_many_misspellings(page):
    """The page's "(did you mean ...?)" is difflib.get_close_matches over convolab's names."""
    browser, _ = page
    from convolab.shapes import PADDING_MODES, PADDING_STRINGS, _suggest

    words = ["sam", "SAME_LOWR", "fulll", "vlid", "s", "same_lowe", "reflekt", "mirrror",
             "replicat", "border_reflct_101", "grid_wrap", "cicular", "symmetrc", "zeross",
             "nearst", "x" * 250, "ab" * 120 + "reflect", "refl" * 60, "éd"]
    got = browser.evaluate(
        f"{json.dumps(words)}.map((w) => [Convolab.conv.suggest(w, {json.dumps(PADDING_STRINGS)}),"
        f" Convolab.conv.suggest(w, {json.dumps(list(PADDING_MODES))})])")
    assert got == [[_suggest(w, PADDING_STRINGS), _suggest(w, list(PADDING_MODES))]
                   for w in words]


def test_number_labels_follow_fmt_number(page):
    browser, _ = page
    values = [0.125, -0.125, 0.375, 2.675, 1.005, -0.004, -0.0, 0.999, 1 / 3, 12.5, 0.625,
              -1.875, 1e-9, 123.456, 0.1 + 0.2, -2.345, 7.0]
    got = browser.evaluate(f"{json.dumps(values)}.map(Convolab.fmtNumber)")
    assert got == [fmt_number(v) for v in values]


def test_page_opened_with_a_fragment_shows_that_state(page):
    browser, url = page
    hash_ = explorer.fragment(np.arange(9).reshape(3, 3), K2, padding="same", t=3)
    browser.navigate("about:blank")
    browser.navigate(url + hash_)  # a fresh load, not a hashchange
    got = browser.evaluate(READ)
    assert got["explain"] == cl.explain_shape((3, 3), (2, 2), padding="same")
    assert got["out"] == cl.corr2d(X3, K2, padding="same").tolist()
    assert got["current"] == [1, 0] and got["filled"] == 4


def test_malformed_url_values_are_ignored_and_said(page):
    browser, _ = page
    got = show(browser, "#view=conv&x=1,2;3&stride=two&op=xcorr")
    assert got["error"] == ""
    assert "ignored x=1,2;3" in got["notice"] and "ignored stride=two" in got["notice"]
    assert "ignored op=xcorr" in got["notice"]
    assert got["out"] == cl.corr2d(X3, K2).tolist()  # the defaults: the book's 6.2.1 example


def test_controls_change_stride_and_step_the_window(page):
    """Real input events: type a stride, click step, play and pause, click an output cell."""
    browser, _ = page
    x = np.arange(36.0).reshape(6, 6)
    got = show(browser, explorer.fragment(x, K3))
    assert got["out"] == cl.corr2d(x, K3).tolist() and got["current"] == [0, 0]

    browser.type_into("#conv-stride-0", "2")
    got = browser.evaluate(READ)
    want = cl.corr2d(x, K3, stride=(2, 1))
    assert got["out"] == want.tolist()
    assert got["explain"] == cl.explain_shape((6, 6), (3, 3), stride=(2, 1))
    assert "stride=2,1" in got["hash"] and got["call"].startswith(
        "cl.corr2d(X, K, padding='valid', stride=(2, 1)")
    assert sorted(got["taps"]) == [[r, c] for r in range(3) for c in range(3)]

    browser.click("#conv-step")
    got = browser.evaluate(READ)
    assert got["current"] == [0, 1] and got["filled"] == 2
    assert sorted(got["taps"]) == [[r, c] for r in range(3) for c in range(1, 4)]
    assert got["sum"] == want[0, 1] and "t=1" in got["hash"]

    browser.click("#conv-play")
    browser.evaluate("new Promise((r) => setTimeout(r, 1600))")
    browser.click("#conv-play")  # pause
    t = browser.evaluate(READ)["filled"]
    assert t >= 3
    browser.evaluate("new Promise((r) => setTimeout(r, 900))")
    assert browser.evaluate(READ)["filled"] == t  # paused: nothing moves

    browser.click("#conv-output .grid .cell:last-child")
    got = browser.evaluate(READ)
    assert got["current"] == [1, 3] and got["filled"] == want.size
    assert got["sum"] == want[1, 3]

    browser.evaluate("(() => { const s = document.getElementById('conv-scrub'); s.value = 2;"
                     " s.dispatchEvent(new Event('input')); })()")
    assert browser.evaluate(READ)["current"] == [0, 2]


def test_convolution_slides_the_flipped_kernel(page):
    browser, _ = page
    got = show(browser, explorer.fragment(X3, K2, op="conv", t=0))
    assert got["out"] == cl.convolve2d(X3, K2).tolist()
    # the products at the first position are the window times K flipped: 0*3 + 1*2 + 3*1 + 4*0
    assert got["products"] == [0.0, 2.0, 3.0, 0.0] and got["sum"] == 5.0
    flipped = browser.evaluate("Array.from(document.querySelectorAll('#conv-flipped .cell'))"
                               ".map((c) => Number(c.dataset.value))")
    assert flipped == K2[::-1, ::-1].ravel().tolist()


def test_screenshot_states_show_what_their_captions_say(page):
    browser, _ = page
    shots = {name: show(browser, hash_) for name, (_, hash_) in explorer.SCREENSHOTS.items()}
    first = shots["explorer/corr2d.png"]
    assert first["error"] == "" and first["current"] == [0, 1] and first["sum"] == 25  # 6.2.1
    strided = shots["explorer/stride_dilation.png"]
    assert strided["error"] == "" and "note: stride 2 does not tile" in strided["explain"]
    assert shots["explorer/refused.png"]["error"].startswith("padding: padding_mode='reflect'")
