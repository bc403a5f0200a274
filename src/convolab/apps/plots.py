"""Figures a learner wants for 6.1-6.3 (Matplotlib, drawn off-screen with the Agg canvas).

Each function returns a ``matplotlib.figure.Figure``; :func:`save_figure` writes one to disk
atomically. Matplotlib is imported here only, and ``pyplot`` not at all, so no GUI backend or
global state is involved and importing ``convolab`` never imports Matplotlib.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from convolab.apps.files import atomic_write
from convolab.ops import conv2d
from convolab.padding import pad
from convolab.shapes import conv_geometry, normalize_padding_mode

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

WINDOW = "#4c9be8"  # the kernel's window on the input
OUTPUT = "#f5a142"  # the output cell it produces
PADDING = "#e6e6e6"  # padding cells


def new_figure(width: float, height: float) -> Figure:
    """A Figure on an Agg canvas (no pyplot, no display needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike, *, force: bool = False) -> None:
    """Write ``fig`` to ``path`` (format from the suffix) atomically."""
    with atomic_write(path, force=force) as tmp:
        fig.savefig(tmp)


def fmt_number(v: float) -> str:
    """Short label for a cell: rounded to 2 decimals, trailing zeros (and ".") dropped, so
    values that round to an integer show as one, and to zero as "0", never "-0".

    >>> fmt_number(3.0), fmt_number(-0.5), fmt_number(0.123456)
    ('3', '-0.5', '0.12')
    >>> fmt_number(-0.001), fmt_number(-0.0), fmt_number(0.999), fmt_number(-1.004)
    ('0', '0', '1', '-1')
    """
    r = round(float(v), 2) + 0.0  # + 0.0 turns -0.0 into 0.0
    if r.is_integer():
        return str(int(r))
    return f"{r:.2f}".rstrip("0")


def draw_grid(ax: Axes, values: np.ndarray, *, title: str = "", shade: np.ndarray | None = None,
              highlight: Sequence[tuple[int, int]] = (), color: str = WINDOW,
              numbers: bool = True, rows: int | None = None) -> None:
    """Draw a 2-D array as a grid of labelled cells (row 0 at the top), like the book's figures.

    ``shade`` : bool (h, w), cells drawn as padding; ``highlight`` : cells to fill with ``color``;
    ``rows`` : height of the drawing area in cells (>= h), so grids side by side in one figure
    get cells of one size when their axes' widths are in proportion to their columns.
    """
    from matplotlib.patches import Rectangle

    h, w = values.shape
    lit = set(map(tuple, highlight))
    for r in range(h):
        for c in range(w):
            padded = shade is not None and shade[r, c]
            face = color if (r, c) in lit else PADDING if padded else "white"
            ax.add_patch(Rectangle((c, r), 1, 1, facecolor=face, edgecolor="#333333", lw=1))
            if numbers:
                ax.text(c + 0.5, r + 0.5, fmt_number(values[r, c]), ha="center", va="center",
                        fontsize=11 if max(h, w) <= 8 else 7)
    ax.set_xlim(-0.05, w + 0.05)
    ax.set_ylim(max(h, rows or h) + 0.05, -0.05)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=11)


def conv_step_figure(x: object, k: object, position: tuple[int, int], *, stride: object = 1,
                     padding: object = 0, dilation: object = 1, padding_mode: str = "zeros",
                     title: str = "") -> Figure:
    """One step of cross-correlation: the window on the (padded) input, the kernel, the output
    cell it makes, and the arithmetic (as the book's ``0x0 + 1x1 + 3x2 + 4x3 = 19``).

    ``x`` : (H, W); ``k`` : (kh, kw); ``position`` : (i, j) in the output.
    """
    xa, ka = np.asarray(x, np.float64), np.asarray(k, np.float64)
    g = conv_geometry(xa.shape, ka.shape, stride=stride, padding=padding, dilation=dilation)
    xp = pad(xa[None, :, :, None], g.pads, normalize_padding_mode(padding_mode))[0, :, :, 0]
    (top, _), (left, _) = g.pads
    shade = np.ones(xp.shape, bool)
    shade[top : top + xa.shape[0], left : left + xa.shape[1]] = False
    y = conv2d(xa[None, :, :, None], ka[:, :, None, None], stride=stride, padding=padding,
               dilation=dilation, padding_mode=padding_mode)[0, :, :, 0]  # (Ho, Wo)
    i, j = position
    if not (0 <= i < y.shape[0] and 0 <= j < y.shape[1]):
        raise ValueError(
            f"position: expected a pixel of the {y.shape} output, got position={position}"
        )
    taps = [(a, b) for a in range(ka.shape[0]) for b in range(ka.shape[1])]
    cells = [(i * g.stride[0] + a * g.dilation[0], j * g.stride[1] + b * g.dilation[1])
             for a, b in taps]
    terms = " + ".join(f"{fmt_number(xp[r, c])}×{fmt_number(ka[a, b])}"
                       for (r, c), (a, b) in zip(cells, taps))
    fig = new_figure(2.2 + 0.55 * (xp.shape[1] + ka.shape[1] + y.shape[1]),
                     1.4 + 0.5 * max(xp.shape[0], 3))
    axes = fig.subplots(1, 3, width_ratios=[xp.shape[1], ka.shape[1], y.shape[1]])
    pad_note = f"\npadded by {g.pads}" if any(map(any, g.pads)) else ""
    rows = max(xp.shape[0], ka.shape[0], y.shape[0])
    draw_grid(axes[0], xp, title=f"input{pad_note}", shade=shade, highlight=cells, rows=rows)
    draw_grid(axes[1], ka, title="kernel", highlight=taps, rows=rows)
    draw_grid(axes[2], y, title="output", highlight=[(i, j)], color=OUTPUT, rows=rows)
    fig.suptitle(title or "cross-correlation, one output pixel", fontsize=12)
    fig.text(0.5, 0.01, f"{terms} = {fmt_number(y[i, j])}", ha="center", va="bottom",
             fontsize=10 if len(terms) < 90 else 7)
    fig.get_layout_engine().set(rect=(0, 0.08, 1, 0.92))
    return fig


def arrays_figure(panels: Sequence[tuple[str, object]], *, numbers: bool | None = None,
                  signed: Sequence[bool] | None = None, suptitle: str = "",
                  columns: int | None = None) -> Figure:
    """Arrays side by side: small ones as labelled grids, large ones as images.

    Signed panels (by default: those with negative values; or as ``signed`` says, one flag per
    panel) use a diverging colour map centred on zero (edges: +1 red, -1 blue, 0 white).
    ``columns`` : panels per row (default: all in one row); more panels wrap onto new rows.
    """
    arrays = [np.asarray(a, np.float64) for _, a in panels]
    small = all(max(a.shape[:2]) <= 12 for a in arrays) if numbers is None else numbers
    cols = len(panels) if columns is None else max(1, min(int(columns), len(panels)))
    rows = -(-len(panels) // cols)  # ceil
    fig = new_figure(1.0 + 3.0 * cols, 3.2 * rows)
    grid = np.atleast_1d(fig.subplots(rows, cols)).ravel()  # row by row
    for ax in grid[len(panels):]:
        ax.axis("off")  # the last row's empty places
    axes = grid[: len(panels)]
    flags = [a.ndim == 2 and a.min() < 0 for a in arrays] if signed is None else signed
    for ax, (title, _), a, diverging in zip(axes, panels, arrays, flags):
        lim = max(float(np.abs(a).max()), 1.0)
        if diverging:
            ax.imshow(a, cmap="RdBu_r", vmin=-lim, vmax=lim)
        else:
            # Pictures (mostly in [0, 1], like a sharpened image) are clipped to [0, 1] as a
            # display would; other data (e.g. 0..43) are stretched to their own range.
            low, high = np.percentile(a, [5, 95])
            picture = low >= 0.0 and high <= 1.0
            lim = 1.0 if picture else float(a.max()) or 1.0
            ax.imshow(np.clip(a, 0, lim), cmap="gray", vmin=0, vmax=lim)
        if small and a.ndim == 2:
            for (r, c), v in np.ndenumerate(a):
                # Dark cells (gray near 0, or strongly signed) get white text.
                dark = abs(v) > 0.5 * lim if diverging else v < 0.5 * lim
                ax.text(c, r, fmt_number(v), ha="center", va="center", fontsize=8,
                        color="white" if dark else "black")
        ax.set_title(f"{title}\n{'x'.join(map(str, a.shape))}", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    if suptitle:
        fig.suptitle(suptitle, fontsize=12)
    return fig


def plot_losses(ax: Axes, losses: Sequence[float], *, title: str = "loss per epoch") -> None:
    """Loss per epoch on ``ax``, log scale when every loss is positive."""
    ax.plot(np.arange(1, len(losses) + 1), losses, "o-", color=WINDOW)
    if len(losses) and min(losses) > 0:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=11)


def loss_figure(losses: Sequence[float], *, title: str = "training loss") -> Figure:
    """Loss per epoch, log scale."""
    fig = new_figure(5.0, 3.2)
    plot_losses(fig.subplots(), losses, title=title)
    return fig


def learned_kernel_figure(learned: object, true: object, losses: Sequence[float]) -> Figure:
    """Learned vs true kernel (as grids) and the loss curve."""
    la, ta = np.asarray(learned, np.float64), np.asarray(true, np.float64)
    fig = new_figure(4.0 + 1.2 * (la.shape[1] + ta.shape[1]), 3.2)
    axes = fig.subplots(1, 3, width_ratios=[la.shape[1], ta.shape[1], 4])
    draw_grid(axes[0], la, title="learned kernel", highlight=np.ndindex(la.shape))
    draw_grid(axes[1], ta, title="true kernel", highlight=np.ndindex(ta.shape), color="#9ad29a")
    plot_losses(axes[2], losses)
    return fig


def bars_figure(values: dict[str, float], *, title: str, ylabel: str) -> Figure:
    """A log-scale bar chart with each value written on its bar (e.g. parameter counts)."""
    fig = new_figure(6.0, 3.6)
    ax = fig.subplots()
    names = list(values)
    ax.bar(names, [values[n] for n in names], color=[OUTPUT, "#9ad29a", WINDOW][: len(names)])
    ax.set_yscale("log")
    for n, v in values.items():
        ax.text(n, v, f"{v:,.0f}", ha="center", va="bottom", fontsize=9)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=11)
    ax.set_ylim(top=max(values.values()) * 30)
    return fig


def matrix_figure(m: object, *, title: str) -> Figure:
    """A (sparse, banded) matrix as an image: zeros white, signed values in colour."""
    ma = np.asarray(m, np.float64)
    fig = new_figure(6.0, 1.2 + 6.0 * ma.shape[0] / ma.shape[1])
    ax = fig.subplots()
    lim = float(np.abs(ma).max()) or 1.0
    ax.imshow(ma, cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("input pixel k*W + l")
    ax.set_ylabel("output pixel i*Wo + j")
    return fig


def match_figure(image: object, template: object, boxes: Sequence[tuple[int, int, float]],
                 scores: object | None = None) -> Figure:
    """The scene with a box on each match (best in red), the template and the score map."""
    from matplotlib.patches import Rectangle

    img, tpl = np.asarray(image, np.float64), np.asarray(template, np.float64)
    panels = 3 if scores is not None else 2
    fig = new_figure(3.0 + 4.0 * (panels - 1), 4.0)
    axes = fig.subplots(1, panels, width_ratios=[img.shape[1], img.shape[1] / 4,
                                                 img.shape[1]][:panels])
    axes[0].imshow(img, cmap="gray", vmin=0, vmax=1)
    th, tw = tpl.shape
    for n, (r, c, s) in enumerate(boxes):
        color = "red" if n == 0 else "yellow"
        axes[0].add_patch(Rectangle((c - 0.5, r - 0.5), tw, th, fill=False, lw=2, edgecolor=color))
        axes[0].text(c, r - 2, f"{s:.3f}", color=color, fontsize=8, va="bottom")
    axes[0].set_title("scene: best match in red, runners-up in yellow", fontsize=10)
    axes[1].imshow(tpl, cmap="gray", vmin=0, vmax=1)
    axes[1].set_title("template", fontsize=10)
    if scores is not None:
        im = axes[2].imshow(np.asarray(scores), cmap="magma", vmin=-1, vmax=1)
        # score (r, c) belongs to the window with top-left (r, c): ring the matches there
        for n, (r, c, _) in enumerate(boxes):
            axes[2].plot(c, r, "o", ms=14 if n == 0 else 10, mfc="none", mew=2,
                         mec="red" if n == 0 else "yellow")
        axes[2].set_title("normalised cross-correlation\n(circles: the matches' scores)",
                          fontsize=10)
        fig.colorbar(im, ax=axes[2], shrink=0.8)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig
