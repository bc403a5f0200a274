"""The chapter tour: D2L 6.1-6.3 run step by step, each step printed, drawn and explained.

:func:`run_tour` runs every step in :data:`STEPS` on built-in data, writes one or more figures
per step into an output directory, then ``explorer.html`` (the interactive explorer, with
screenshots of it when a Chromium is installed), and finally ``index.html``, which shows every
figure in order with its explanation and printed result and links the explorer (relative links:
the directory can be moved or zipped).
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from convolab.apps import animation, explorer, plots, receptive_plot
from convolab.apps.files import atomic_write, check_output
from convolab.apps.images import edge_image, sample_image, to_gray, waldo_scene
from convolab.apps.kernels import get_kernel
from convolab.apps.matching import find_template, match_template
from convolab.apps.receptive import receptive_field
from convolab.apps.theory import (
    dense_matrix,
    dense_weights,
    fully_connected,
    locally_connected,
    parameter_counts,
    parameter_table,
    reindex,
    translation_equivariance_error,
)
from convolab.ops import conv2d, convolve2d, corr2d
from convolab.shapes import explain_shape


@dataclass
class Step:
    """One step of the tour: what it shows, what it printed, and the figures it wrote."""

    section: str
    title: str
    explanation: str
    result: str = ""
    figures: list[str] = field(default_factory=list)


class _Writer:
    """Saves a step's figures into the tour directory under numbered names."""

    def __init__(self, out: Path, index: int, force: bool) -> None:
        self.out, self.index, self.force = out, index, force
        self.names: list[str] = []

    def figure(self, fig: object, name: str) -> None:
        filename = f"{self.index:02d}_{name}.png"
        plots.save_figure(fig, self.out / filename, force=self.force)  # type: ignore[arg-type]
        self.names.append(filename)

    def animation(self, name: str, *args: object, **kwargs: object) -> None:
        filename = f"{self.index:02d}_{name}.gif"
        animation.conv_animation(self.out / filename, *args, force=self.force, **kwargs)  # type: ignore[arg-type]
        self.names.append(filename)


def _mat(a: np.ndarray) -> str:
    return np.array2string(np.asarray(a), precision=3, suppress_small=True)


def step_parameters(w: _Writer) -> Step:
    counts = parameter_counts((1000, 1000), 3)  # "same": a hidden map the image's size
    w.figure(plots.bars_figure(
        {"fully connected": counts.fully_connected, "locally connected": counts.locally_connected,
         "convolution 3x3": counts.convolutional},
        title="parameters (weights + biases) for a 1000x1000 image -> 1000x1000 hidden map",
        ylabel="parameters",
    ), "parameter_counts")
    return Step("6.1", "Fully-connected layers vs convolutions", (
        "A fully-connected layer from a 1-megapixel image to a hidden map of the same size "
        "needs one weight per (input pixel, hidden unit) pair: 10^12, plus one bias per hidden "
        "unit (the U of 6.1.2): 10^6 more, 1,000,001,000,000 in all. Requiring locality (each "
        "hidden unit sees only a 3x3 window) leaves 9 weights and a bias per hidden unit; "
        "requiring translation invariance as well (every unit shares the same 9 and the same "
        "bias) leaves 9 weights and one bias: a convolution."),
        parameter_table((1000, 1000), 3), w.names)


def step_constrained_mlp(w: _Writer) -> Step:
    rng = np.random.default_rng(0)
    x, k = rng.random((6, 6)), rng.standard_normal((3, 3))
    big_w = dense_weights(k, x.shape)  # (4, 4, 6, 6): the 4th-order W of 6.1.2
    h_fc, h_conv = fully_connected(x, big_w), corr2d(x, k)
    v = reindex(big_w, k.shape)  # (4, 4, 3, 3): V[i, j, a, b] = W[i, j, i+a, j+b]
    outside = np.count_nonzero(big_w) - np.count_nonzero(v)
    # Both layers on the input padded circularly by 1 ("same" size, no border effects).
    v_local = rng.standard_normal((6, 6, 3, 3))  # locally connected: a kernel per place
    conv_layer = lambda z: corr2d(np.pad(z, 1, mode="wrap"), k)  # noqa: E731
    local_layer = lambda z: locally_connected(np.pad(z, 1, mode="wrap"), v_local)  # noqa: E731
    err_conv = translation_equivariance_error(conv_layer, x, (1, 2))
    err_local = translation_equivariance_error(local_layer, x, (1, 2))
    w.figure(plots.matrix_figure(
        dense_matrix(k, x.shape),
        title="the 3x3 conv on a 6x6 image as a 16x36 fully-connected matrix"), "dense_matrix")
    return Step("6.1.2", "Constraining the MLP, checked numerically", (
        "Write the conv as a fully-connected layer H[i,j] = sum_kl W[i,j,k,l] X[k,l]: the "
        "4th-order W is zero except on each output's window (locality), and re-indexed as "
        "V[i,j,a,b] = W[i,j,i+a,j+b] it is the same kernel at every (i,j) (translation "
        "invariance). As a matrix it is banded and mostly zeros. A locally-connected layer "
        "(its own V at every place) is local but not translation-equivariant; the conv is."), (
        f"max |fully_connected(X, W) - corr2d(X, K)| = {np.abs(h_fc - h_conv).max():.2e}\n"
        f"max over (i, j) of |V[i, j] - K|          = {np.abs(v - k).max():.2e}\n"
        f"nonzeros of W outside the windows         = {outside}\n"
        f"shift-then-layer vs layer-then-shift: conv {err_conv:.2e}, "
        f"locally connected {err_local:.2f}"), w.names)


def step_convolution(w: _Writer) -> Step:
    x, k = np.arange(9.0).reshape(3, 3), np.arange(4.0).reshape(2, 2)
    conv, corr_flipped = convolve2d(x, k), corr2d(x, k[::-1, ::-1])
    w.figure(plots.arrays_figure(
        [("X", x), ("K", k), ("K flipped", k[::-1, ::-1]), ("corr2d(X, K)", corr2d(x, k)),
         ("convolve2d(X, K)", conv)], numbers=True), "convolution_vs_correlation")
    return Step("6.1.3", "Convolution vs cross-correlation", (
        "Mathematical convolution (f*g)(i,j) = sum_ab f(a,b) g(i-a,j-b) runs the kernel "
        "backwards; what deep-learning layers compute (and call convolution) is "
        "cross-correlation, with no flip. The two differ only by flipping the kernel, and since "
        "kernels are learned, a layer can use either."), (
        f"convolve2d(X, K) =\n{_mat(conv)}\ncorr2d(X, K[::-1, ::-1]) =\n{_mat(corr_flipped)}"),
        w.names)


def step_corr2d(w: _Writer) -> Step:
    x, k = np.arange(9.0).reshape(3, 3), np.arange(4.0).reshape(2, 2)
    y = corr2d(x, k)
    w.figure(plots.conv_step_figure(x, k, (0, 0), title="6.2.1: the first output pixel"), "corr2d")
    w.animation("corr2d_sliding", (3, 3), 2)
    lines = [" + ".join(f"{x[i + a, j + b]:g}x{k[a, b]:g}" for a in range(2) for b in range(2))
             + f" = {y[i, j]:g}" for i in range(2) for j in range(2)]
    return Step("6.2.1", "The cross-correlation operation", (
        "The 2x2 kernel slides over the 3x3 input; each output pixel is the sum of the window "
        "times the kernel, element by element. A 3x3 input and a 2x2 kernel give a "
        "(3-2+1) x (3-2+1) = 2x2 output."),
        "corr2d(X, K) =\n" + _mat(y) + "\n" + "\n".join(lines), w.names)


def step_edges(w: _Writer) -> Step:
    x, k = edge_image(), get_kernel("vertical_edge")
    y, yt = corr2d(x, k), corr2d(x.T, k)
    w.figure(plots.arrays_figure(
        [("X", x), ("Y = corr2d(X, K)", y), ("X.T", x.T), ("corr2d(X.T, K)", yt)],
        signed=[False, True, False, True]), "edge_detection")
    return Step("6.2.3", "Object edge detection", (
        "K = [[1, -1]] subtracts each pixel's right neighbour from it: 1 where white turns "
        "black, -1 where black turns white, 0 on flat regions. It sees only vertical edges: on "
        "the transposed image (horizontal edges) the output is all zeros."),
        f"K = {k.tolist()}\nY =\n{_mat(y)}\ncorr2d(X.T, K) is all zero: {not yt.any()}", w.names)


def learn_kernel(true_kernel: np.ndarray, x: np.ndarray, *, epochs: int, learning_rate: float,
                 seed: int | None = 0, momentum: float = 0.0, reduction: str = "sum",
                 callback: Callable[[int, float], None] | None = None,
                 ) -> tuple[np.ndarray, list[float]]:
    """Train a bias-free ``Conv2D`` on ``(x, corr2d(x, true_kernel))``; return kernel, losses.

    ``x`` : (N, H, W) batch of images; the learned kernel is (kh, kw) like ``true_kernel``.
    """
    from convolab.layers import Conv2D, fit

    x4 = x[..., None]  # (N, H, W) -> (N, H, W, 1)
    y4 = conv2d(x4, true_kernel[:, :, None, None])  # (N, Ho, Wo, 1)
    layer = Conv2D(1, kernel_size=true_kernel.shape, use_bias=False, seed=seed)
    layer.build(x4.shape)  # weights exist even for epochs=0
    report = None if callback is None else lambda e, loss, _layer: callback(e, loss)
    losses = fit(layer, x4, y4, epochs=epochs, learning_rate=learning_rate, momentum=momentum,
                 reduction=reduction, callback=report)
    return np.asarray(layer.kernel[:, :, 0, 0], np.float64), losses


def step_learning(w: _Writer) -> Step:
    k = get_kernel("vertical_edge")
    learned, losses = learn_kernel(k, edge_image()[None], epochs=10, learning_rate=3e-2)
    w.figure(plots.learned_kernel_figure(learned, k, losses), "learned_kernel")
    return Step("6.2.4", "Learning a kernel", (
        "Instead of designing K, learn it: a Conv2D layer with a random 1x2 kernel is trained "
        "by gradient descent (learning rate 3e-2, 10 epochs, squared loss) to map X to Y. It "
        "recovers [[1, -1]]."),
        "\n".join(f"epoch {e}, loss {loss:.3f}" for e, loss in enumerate(losses, 1))
        + f"\nlearned kernel {_mat(learned)}", w.names)


def step_receptive_field(w: _Writer) -> Step:
    layers = [dict(kernel_size=3), dict(kernel_size=3, strides=2), dict(kernel_size=3)]
    rf = receptive_field(layers, input_shape=(13, 13))
    w.figure(receptive_plot.receptive_field_figure(layers, (13, 13)), "receptive_field")
    return Step("6.2.6", "Feature map and receptive field", (
        "A conv layer's output is a feature map; the receptive field of one of its units is "
        "every input pixel that can change it. One 3x3 conv sees 3x3; a second sees 3x3 units "
        "of the first, each 3x3 pixels and one pixel apart: 5x5. A stride spreads a map's units "
        "apart (the jump between neighbours, in input pixels), and every later layer adds (k-1) "
        "times the jump: after the stride-2 conv, a 3x3 conv adds 4 pixels, not 2, and the "
        "three convs see 9x9. Per axis: jump j = j*s, field r = r + d*(k-1)*j, and unit 0's "
        "field starts at start - before*j (Araujo, Norris & Sim, Distill 2019)."),
        f"{rf.table()}\n\n{rf.explain()}", w.names)


def step_channels(w: _Writer) -> Step:
    rgb = sample_image(96, rgb=True)  # (96, 96, 3)
    luma = np.array([0.299, 0.587, 0.114])
    # (3, 3, C=3, O=2) HWIO: each output channel sums a kernel over all three input channels.
    kernel = np.stack([get_kernel("sobel_x"), get_kernel("sobel_y")], -1)[:, :, None, :]
    kernel = kernel * luma[None, None, :, None]
    y = conv2d(rgb[None], kernel)[0]  # (94, 94, 2)
    gray = to_gray(rgb)
    err = max(np.abs(y[..., 0] - corr2d(gray, get_kernel("sobel_x"))).max(),
              np.abs(y[..., 1] - corr2d(gray, get_kernel("sobel_y"))).max())
    w.figure(plots.arrays_figure(
        [("input (3 channels)", rgb), ("output channel 0: d/dx", y[..., 0]),
         ("output channel 1: d/dy", y[..., 1])], numbers=False), "channels")
    return Step("6.1.5", "Channels", (
        "Images have channels (red, green, blue), so the input is H x W x C and the kernel "
        "kh x kw x C x O: each of the O output channels sums a kh x kw kernel over all C input "
        "channels. Here the two output channels are Sobel filters of the image's luma."), (
        f"x {rgb.shape} (H, W, C), w {kernel.shape} (kh, kw, C, O) -> y {y.shape} (Ho, Wo, O)\n"
        f"max |y - sobel on the gray image| = {err:.2e}"), w.names)


def step_padding(w: _Writer) -> Step:
    x, k = np.arange(9.0).reshape(3, 3), np.arange(4.0).reshape(2, 2)
    w.figure(plots.conv_step_figure(x, k, (0, 0), padding=1,
                                    title="6.3.1: zero padding, the first output pixel"),
             "padding")
    w.animation("padding_sliding", (5, 5), 3, padding=1)
    cases = [(3, "same"), ((5, 3), (2, 1)), ((5, 3), "valid")]
    text = "\n\n".join(explain_shape((8, 8), kk, padding=p) for kk, p in cases)
    return Step("6.3.1", "Padding", (
        "Each conv shrinks the image by k-1 pixels per axis; padding adds rows and columns "
        "(zeros here) around the input to keep the size. With a 3x3 kernel, one pixel on every "
        "side ('same') keeps 8x8 at 8x8; a 5x3 kernel needs 2 rows and 1 column on each side. "
        "The animation shows a 3x3 kernel on a 5x5 input padded by 1."), text, w.names)


def step_stride(w: _Writer) -> Step:
    x, k = np.arange(9.0).reshape(3, 3), np.arange(4.0).reshape(2, 2)
    y = corr2d(x, k, padding=1, stride=(3, 2))
    w.figure(plots.conv_step_figure(x, k, (0, 1), padding=1, stride=(3, 2),
                                    title="6.3.2: stride 3 down, 2 across"), "stride")
    w.animation("stride_sliding", (5, 5), 3, padding=1, stride=2)
    w.animation("dilation_sliding", (7, 7), 3, dilation=2)
    text = (f"corr2d(X, K, padding=1, stride=(3, 2)) =\n{_mat(y)}\n\n"
            + explain_shape((8, 8), 3, padding="same", stride=2) + "\n\n"
            + explain_shape((8, 8), (3, 5), padding=(0, 1), stride=(3, 4)))
    return Step("6.3.2", "Stride", (
        "Stride moves the window several pixels at a time, dividing the output size by about "
        "the stride. The book's example pads the 3x3 input by 1 and strides 3 down and 2 across:"
        " the windows give 0 and 8, then 6 and 8. The animations show stride 2 and, beyond the "
        "chapter, a dilated kernel (taps 2 apart). Next, LeNet: convolab train."), text, w.names)


def step_waldo(w: _Writer) -> Step:
    scene = waldo_scene()
    matches = find_template(scene.image, scene.template, k=3)
    w.figure(plots.match_figure(scene.image, scene.template, matches,
                                match_template(scene.image, scene.template)), "wheres_waldo")
    best = matches[0]
    return Step("6.1.4", "Where's Waldo", (
        "A detector for a pattern is a cross-correlation with the pattern as the kernel. "
        "Normalising each window by its mean and contrast (normalised cross-correlation) "
        "makes the score 1 for a perfect match whatever the lighting. The scene hides Waldo "
        "among look-alikes with other stripe widths and colours."), (
        f"planted at {scene.location}, found at {(best.row, best.col)} with score "
        f"{best.score:.3f}; runners-up "
        + ", ".join(f"{(m.row, m.col)}: {m.score:.3f}" for m in matches[1:])), w.names)


# In the chapter's order (6.1, 6.1.2, ..., 6.3.2): each step's section is at least the last's.
STEPS: list[Callable[[_Writer], Step]] = [
    step_parameters, step_constrained_mlp, step_convolution, step_waldo, step_channels,
    step_corr2d, step_edges, step_learning, step_receptive_field, step_padding, step_stride,
]

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>convolab tour: D2L 6.1-6.3</title>
<style>
body {{ font-family: sans-serif; max-width: 60em; margin: 2em auto; padding: 0 1em;
        line-height: 1.45; color: #222; }}
section {{ border-top: 1px solid #ccc; padding-top: 1em; margin-top: 2em; }}
pre {{ background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }}
img {{ max-width: 100%; display: block; margin: 0.8em 0; }}
</style>
</head>
<body>
<h1>convolab tour: <i>Dive into Deep Learning</i> 6.1-6.3</h1>
<p>Every result below was computed by convolab when this page was written.</p>
{explorer}<ol>
{toc}
</ol>
{sections}
</body>
</html>
"""


_EXPLORER = """<div id="explorer">
<p><b><a href="explorer.html">Open the explorer</a></b>: change the input, the kernel, the padding
and its mode, the stride and the dilation, and watch the window slide, the products add up, the
output fill in and the shape arithmetic change (it runs in this browser, offline; every state has
its own link).{shots}</p>
</div>
"""


def render_index(steps: Iterable[Step], explorer_figures: Sequence[str] | None = None) -> str:
    """The tour's ``index.html``: every step in order, figures linked relatively; with
    ``explorer_figures`` (a list, maybe empty), first a link to ``explorer.html`` and to those
    screenshots of it (linked, not shown: the page's pictures are the chapter's figures)."""
    toc, sections = [], []
    for n, s in enumerate(steps, 1):
        title = html.escape(f"{s.section} {s.title}")
        toc.append(f'<li><a href="#step{n}">{title}</a></li>')
        figures = "\n".join(
            f'<img src="{html.escape(name)}" alt="{html.escape(s.title)}: {html.escape(name)}">'
            for name in s.figures)
        sections.append(
            f'<section id="step{n}">\n<h2>{n}. {title}</h2>\n<p>{html.escape(s.explanation)}</p>'
            f"\n<pre>{html.escape(s.result)}</pre>\n{figures}\n</section>")
    shots = [f'<a href="{html.escape(name)}">'
             f'{html.escape(explorer.SCREENSHOTS.get(name, (name,))[0])}</a>'
             for name in explorer_figures or ()]
    block = "" if explorer_figures is None else _EXPLORER.format(
        shots=f" Screenshots: {', '.join(shots)}." if shots else "")
    return _PAGE.format(toc="\n".join(toc), sections="\n".join(sections), explorer=block)


def run_tour(out_dir: str | os.PathLike = "tour", *, force: bool = False,
             echo: Callable[[str], None] = print,
             progress: Callable[[Iterable], Iterable] = iter) -> list[Step]:
    """Run every step, print its result with ``echo``, write figures, ``explorer.html`` (and
    its screenshots where a Chromium is installed) and ``index.html``.

    ``progress`` wraps the step sequence (e.g. ``tqdm``). Without ``force``, an existing
    ``index.html`` or ``explorer.html`` (or figure) in ``out_dir`` is an error and nothing is
    overwritten.
    """
    out = Path(out_dir)
    check_output(out / "index.html", force=force)
    check_output(out / explorer.PAGE, force=force)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out: {out} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    steps = []
    for index, make in enumerate(progress(STEPS), 1):
        step = make(_Writer(out, index, force))
        echo(f"\n== {index}. {step.section} {step.title} ==\n{step.result}")
        steps.append(step)
    explorer.write_explorer(out, force=force)
    shots = explorer.write_screenshots(out, force=force, echo=echo)
    with atomic_write(out / "index.html", force=force) as tmp:
        tmp.write_text(render_index(steps, shots), encoding="utf-8")
    echo(f"\nwrote {sum(len(s.figures) for s in steps)} figures, {out / explorer.PAGE}"
         f"{f' with {len(shots)} screenshots' if shots else ''} and {out / 'index.html'}")
    return steps
