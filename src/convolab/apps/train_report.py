"""Training LeNet on the digits, and what a learner wants to see of it (``convolab train``).

:func:`run_training` trains :func:`convolab.models.lenet5` on :func:`convolab.datasets.digits`
and writes, into one directory, the learning curves, the confusion matrix on the test set, the
first layer's learned kernels and the feature maps of one test digit after every layer (PNG,
Matplotlib's Agg canvas, no pyplot), then ``index.html`` showing them with the model's summary
and the numbers. Every file is written atomically; nothing existing is overwritten without
``force``.
"""

from __future__ import annotations

import html
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from convolab.apps import plots
from convolab.apps.files import atomic_write, check_output

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MODELS = ("lenet5", "lenet5-modern")
FIGURES = ("learning_curves.png", "confusion_matrix.png", "kernels.png", "feature_maps.png")


# --- figures -------------------------------------------------------------------------------

def learning_curves_figure(history: dict[str, Sequence[float]]) -> Figure:
    """Loss and accuracy per epoch, training (during the epoch) and validation (after it)."""
    fig = plots.new_figure(9.0, 3.4)
    axes = fig.subplots(1, 2)
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for key, label, style in ((metric, "training", "o-"), (f"val_{metric}", "test", "s--")):
            values = history.get(key) or []
            ax.plot(np.arange(1, len(values) + 1), values, style, label=label, ms=3)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=9)
        ax.set_title(metric, fontsize=11)
    if all(v > 0 for v in history.get("loss") or [0]) and history.get("loss"):
        axes[0].set_yscale("log")
    return fig


def confusion_matrix(y_true: object, y_pred: object, n_classes: int) -> np.ndarray:
    """``(n_classes, n_classes)`` counts: row ``i``, column ``j`` is how many examples of class
    ``i`` were predicted as ``j``.

    >>> confusion_matrix([0, 1, 1, 2], [0, 2, 1, 2], 3)
    array([[1, 0, 0],
           [0, 1, 1],
           [0, 0, 1]])
    """
    t, p = np.asarray(y_true, np.intp), np.asarray(y_pred, np.intp)
    return np.bincount(t * n_classes + p, minlength=n_classes * n_classes).reshape(
        n_classes, n_classes)


def confusion_figure(matrix: np.ndarray) -> Figure:
    """The confusion matrix as a grid of counts (the diagonal is what was right)."""
    n = matrix.shape[0]
    fig = plots.new_figure(5.2, 4.6)
    ax = fig.subplots()
    im = ax.imshow(matrix, cmap="Blues")
    for (i, j), v in np.ndenumerate(matrix):
        if v:
            ax.text(j, i, str(v), ha="center", va="center", fontsize=8,
                    color="white" if v > 0.5 * matrix.max() else "black")
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    right = int(np.trace(matrix))
    ax.set_title(f"test set: {right} of {int(matrix.sum())} right", fontsize=11)
    fig.colorbar(im, ax=ax, shrink=0.8)
    return fig


def kernels_figure(kernel: np.ndarray, *, title: str = "") -> Figure:
    """Every ``(kh, kw)`` kernel of a ``(kh, kw, C, O)`` (HWIO) weight: one row per input
    channel, one column per output channel, on one diverging colour scale (0 is white)."""
    k = np.asarray(kernel, np.float64)
    kh, kw, c, o = k.shape
    lim = float(np.abs(k).max()) or 1.0
    fig = plots.new_figure(1.0 + 1.3 * o, 0.9 + 1.3 * c)
    axes = np.asarray(fig.subplots(c, o, squeeze=False))
    for (i, j), ax in np.ndenumerate(axes):
        im = ax.imshow(k[:, :, i, j], cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_xticks([])
        ax.set_yticks([])
        if i == 0:
            ax.set_title(f"filter {j}", fontsize=9)
    fig.colorbar(im, ax=axes, shrink=0.8)
    fig.suptitle(title or f"first layer's {kh}x{kw} kernels", fontsize=11)
    return fig


def _montage(maps: np.ndarray, limit: int) -> np.ndarray:
    """``(H, W, C)`` -> one ``(H, C' * (W + 1) - 1)`` image, the first ``limit`` channels side
    by side with a NaN column (drawn blank) between them."""
    h, w, c = maps.shape
    c = min(c, limit)
    out = np.full((h, c * (w + 1) - 1), np.nan)
    for j in range(c):
        out[:, j * (w + 1):j * (w + 1) + w] = maps[:, :, j]
    return out


def feature_maps_figure(stages: Sequence[tuple[str, np.ndarray]], *, label: int,
                        predicted: int, limit: int = 16) -> Figure:
    """What one example looks like after every layer: ``stages`` is ``(name, output)`` pairs,
    the input first, each output one example's: ``(H, W, C)`` maps (at most ``limit`` channels
    drawn, side by side) or ``(n,)`` vectors (a strip of n cells). Each row has its own colour
    scale; the last row (the logits) is written out under its strip."""
    import matplotlib

    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="white")
    images = []
    for _, out in stages:
        a = np.asarray(out, np.float64)
        images.append(_montage(a, limit) if a.ndim == 3 else a.reshape(1, -1))
    width = max(img.shape[1] for img in images)
    # rows in proportion to their pixel heights, vectors a fixed strip
    heights = [max(img.shape[0] / width * 9.0, 0.35) for img in images]
    fig = plots.new_figure(10.0, 1.0 + sum(heights) + 0.35 * len(images))
    axes = np.atleast_1d(fig.subplots(len(images), 1, height_ratios=heights))
    for ax, (name, out), img in zip(axes, stages, images):
        finite = img[np.isfinite(img)]
        ax.imshow(img, cmap=cmap, vmin=float(finite.min()), vmax=float(finite.max()),
                  aspect="equal" if np.ndim(out) == 3 else "auto", interpolation="nearest")
        shape = "x".join(map(str, np.shape(out)))
        shown = (f", first {limit} channels" if np.ndim(out) == 3 and np.shape(out)[-1] > limit
                 else "")
        ax.set_title(f"{name}: {shape}{shown}", fontsize=9, loc="left")
        ax.set_xlim(-0.5, (img.shape[1] if np.ndim(out) != 3 else width) - 0.5)
        ax.set_xticks([])
        ax.set_yticks([])
    logits = np.asarray(stages[-1][1], np.float64).ravel()
    if logits.size <= 12:
        ax = axes[-1]
        for j in range(logits.size):
            ax.text(j, 0, f"{j}", ha="center", va="center", fontsize=8,
                    color="red" if j == predicted else "white")
    fig.suptitle(f"one test digit (a {label}) through the network: predicted {predicted}",
                 fontsize=11)
    return fig


def layer_outputs(model: Any, x: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """``[("input", x[0]), (layer name, its output for x[0]), ...]`` for a batch of one ``x``,
    in inference mode."""
    stages = [("input", np.asarray(x)[0])]
    y = x
    for layer in model.layers:
        y = layer(y, training=False)
        stages.append((f"{layer.name} ({type(layer).__name__})", y[0]))
    return stages


# --- the run ---------------------------------------------------------------------------------

# What each model trains with by default (Adam; measured on the digits, benchmarks/lenet.py):
# the sigmoid LeNet needs more epochs than the ReLU one to get its saturated units moving.
DEFAULTS = {
    "lenet5": dict(epochs=30, learning_rate=3e-3, batch_size=32),
    "lenet5-modern": dict(epochs=20, learning_rate=3e-3, batch_size=32),
}


@dataclass
class TrainingRun:
    """What :func:`run_training` did: the trained model, its history (``Sequential.fit``'s),
    the test set's accuracy and confusion matrix, the training time, the files written."""

    model: Any
    history: dict[str, list[float]]
    test_accuracy: float
    confusion: np.ndarray
    seconds: float
    settings: dict[str, Any]
    summary: str
    files: list[str] = field(default_factory=list)


def run_training(out_dir: str | os.PathLike = "train", *, model: str = "lenet5",
                 epochs: int | None = None, learning_rate: float | None = None,
                 batch_size: int | None = None, optimizer: str = "adam", seed: int = 0,
                 augment: bool = False, force: bool = False, verbose: int = 1,
                 echo: Callable[[str], None] = print) -> TrainingRun:
    """Train ``model`` ("lenet5" or "lenet5-modern") on the digits; write figures and
    ``index.html`` (and the weights, ``weights.npz``) into ``out_dir``.

    ``epochs``, ``learning_rate`` and ``batch_size`` default to :data:`DEFAULTS` for the model;
    ``optimizer`` is "adam" or "sgd"; ``seed`` fixes the initial weights and the order of the
    batches; ``augment`` trains on the digits and their copies moved by a pixel
    (:func:`~convolab.apps.datasets.shifted`: five times the examples per epoch).
    ``verbose`` is ``Sequential.fit``'s (progress bars). Without ``force``, existing
    outputs are an error, found before any training. A run that diverges raises
    :class:`~convolab.layers.TrainingDivergedError` and writes nothing.
    """
    from convolab.apps.datasets import digits, shifted
    from convolab.apps.models import lenet5
    from convolab.layers import SGD, Adam

    if model not in MODELS:
        raise ValueError(f"model: expected one of {', '.join(MODELS)}, got {model!r}")
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer: expected 'adam' or 'sgd', got {optimizer!r}")
    settings = dict(DEFAULTS[model])
    for key, value in (("epochs", epochs), ("learning_rate", learning_rate),
                       ("batch_size", batch_size)):
        if value is not None:
            settings[key] = value
    settings.update(optimizer=optimizer, seed=seed, augment=bool(augment))
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out: {out} exists and is not a directory")
    names = (*FIGURES, "weights.npz", "index.html")
    for name in names:
        check_output(out / name, force=force)  # fail now, not after the training

    (x, y), (x_test, y_test) = digits()
    if augment:
        x, y = shifted(x, y)
    net = lenet5(modern=model == "lenet5-modern", seed=seed)
    lines: list[str] = []
    net.summary(print_fn=lines.append)
    summary = "\n".join(lines)
    opt = (Adam if optimizer == "adam" else SGD)(settings["learning_rate"])
    copies = " (and their copies moved by a pixel)" if augment else ""
    echo(f"{summary}\n\ntraining {model} on {len(x)} digits{copies} "
         f"({x.shape[1]}x{x.shape[2]}), testing on {len(x_test)}: {_epochs(settings['epochs'])}, "
         f"{optimizer} with learning rate {settings['learning_rate']:g}, batches of "
         f"{settings['batch_size']}")
    start = time.perf_counter()
    history = net.fit(x, y, epochs=settings["epochs"], batch_size=settings["batch_size"],
                      optimizer=opt, loss="cross_entropy", validation_data=(x_test, y_test),
                      seed=seed, verbose=verbose)
    seconds = time.perf_counter() - start
    predicted = np.argmax(net.predict(x_test, batch_size=256), axis=-1)
    matrix = confusion_matrix(y_test, predicted, 10)
    accuracy = float(np.trace(matrix) / len(y_test))
    echo(f"trained in {seconds:.1f} s: test accuracy {accuracy:.2%} "
         f"({int(np.trace(matrix))} of {len(y_test)})")

    run = TrainingRun(net, history, accuracy, matrix, seconds, settings, summary)
    out.mkdir(parents=True, exist_ok=True)
    first = next(layer for layer in net.layers if getattr(layer, "kernel", None) is not None)
    stages = layer_outputs(net, x_test[:1])
    figures = [
        learning_curves_figure(history),
        confusion_figure(matrix),
        kernels_figure(first.kernel, title=f"{first.name}'s learned 5x5 kernels"),
        feature_maps_figure(stages, label=int(y_test[0]), predicted=int(predicted[0])),
    ]
    for name, fig in zip(FIGURES, figures):
        plots.save_figure(fig, out / name, force=force)
        run.files.append(name)
    with atomic_write(out / "weights.npz", force=force) as tmp:
        net.save_weights(tmp)
    run.files.append("weights.npz")
    with atomic_write(out / "index.html", force=force) as tmp:
        tmp.write_text(render_index(run, model), encoding="utf-8")
    run.files.append("index.html")
    echo(f"wrote {', '.join(run.files)} in {out}")
    return run


def _epochs(n: int) -> str:
    return f"{n} epoch" + ("" if n == 1 else "s")


_CAPTIONS = {
    "learning_curves.png": (
        "Learning curves", "The loss (softmax cross-entropy) and accuracy per epoch: training "
        "values are the mean over the epoch's batches, each measured before its update; test "
        "values are measured after the epoch. A test curve that turns up while the training "
        "curve keeps falling is overfitting."),
    "confusion_matrix.png": (
        "Confusion matrix", "Row i, column j counts the test digits of class i that the "
        "network called j: the diagonal is what it got right, everything off it a mistake "
        "(which digits look alike to it?)."),
    "kernels.png": (
        "The first layer's kernels", "The six 5x5 kernels the first convolution learned, red "
        "positive and blue negative on one scale: each is a small pattern detector, often an "
        "edge or stroke of some orientation (6.2.3)."),
    "feature_maps.png": (
        "Feature maps of one test digit", "One test digit after every layer: each conv makes "
        "one map per filter (6.2.6), each pooling halves the maps' size, Flatten lines the 16 "
        "5x5 maps up into 400 numbers, and the dense layers narrow them to the ten logits "
        "(the red digit is the prediction)."),
}

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>convolab train: {title}</title>
<style>
body {{ font-family: sans-serif; max-width: 60em; margin: 2em auto; padding: 0 1em;
        line-height: 1.45; color: #222; }}
section {{ border-top: 1px solid #ccc; padding-top: 1em; margin-top: 2em; }}
pre {{ background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }}
img {{ max-width: 100%; display: block; margin: 0.8em 0; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
td, th {{ padding: 0.15em 0.8em; text-align: right; }}
</style>
</head>
<body>
<h1>convolab train: {title} on handwritten digits</h1>
<p>{intro}</p>
<section id="model">
<h2>The model</h2>
<pre>{summary}</pre>
</section>
<section id="history">
<h2>Training</h2>
<p>{setup}</p>
<table>
<tr>{header}</tr>
{rows}
</table>
</section>
{sections}
</body>
</html>
"""


def render_index(run: TrainingRun, model: str) -> str:
    """``index.html`` for a :class:`TrainingRun`: the summary, the history, every figure."""
    s = run.settings
    modern = model == "lenet5-modern"
    intro = (f"LeNet-5 (D2L 6.6{', with ReLU and max pooling' if modern else ''}) trained "
             "with convolab on scikit-learn's 8x8 handwritten digits, resized to 20x20 and "
             "centred in 28x28 frames as MNIST's are (convolab.datasets.digits). Every number "
             "and figure below was computed when this page was written.")
    copies = (", on the training digits and their copies moved by a pixel" if s["augment"]
              else "")
    setup = (f"{_epochs(s['epochs'])} of {s['optimizer']} (learning rate {s['learning_rate']:g},"
             f" batches of {s['batch_size']}, seed {s['seed']}{copies}) in {run.seconds:.1f} s: "
             f"test accuracy {run.test_accuracy:.2%} ({int(np.trace(run.confusion))} of "
             f"{int(run.confusion.sum())}).")
    keys = list(run.history)
    header = "<th>epoch</th>" + "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    rows = "\n".join(
        f"<tr><td>{e + 1}</td>" + "".join(f"<td>{run.history[k][e]:.4f}</td>" for k in keys)
        + "</tr>" for e in range(len(run.history["loss"])))
    sections = []
    for name in FIGURES:
        title, text = _CAPTIONS[name]
        sections.append(f'<section id="{name.split(".")[0]}">\n<h2>{html.escape(title)}</h2>\n'
                        f"<p>{html.escape(text)}</p>\n"
                        f'<img src="{html.escape(name)}" alt="{html.escape(title)}">\n'
                        "</section>")
    return _PAGE.format(title=html.escape(model), intro=html.escape(intro),
                        summary=html.escape(run.summary), setup=html.escape(setup),
                        header=header, rows=rows, sections="\n".join(sections))
