"""Figure for 6.2.6: how the receptive field grows through a stack of convs.

Kept apart from :mod:`convolab.apps.plots` (which it uses for the canvas and the grids) so that
the figure and the arithmetic it draws, :mod:`convolab.apps.receptive`, sit side by side.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from convolab.apps.plots import OUTPUT, WINDOW, draw_grid, new_figure
from convolab.apps.receptive import LayerField, receptive_field

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _central_unit(lay: LayerField, input_shape: Sequence[int]) -> tuple[int, ...]:
    """The unit of a layer whose field's centre is nearest the input's centre, per axis."""
    assert lay.out_shape is not None  # receptive_field was given the input shape
    return tuple(min(max(round(((n - 1) / 2 - c) / j), 0), out - 1)
                 for n, c, j, out in zip(input_shape, lay.centre, lay.jump, lay.out_shape))


def receptive_field_figure(layers: object, input_shape: Sequence[int], *,
                           title: str = "") -> Figure:
    """The input once per layer, with the field of one unit of that layer shaded.

    ``layers`` : what :func:`convolab.receptive_field` takes, a 2-D stack; ``input_shape`` :
    (H, W), small enough to draw cell by cell (up to ~30). In each panel the unit is the one
    whose field is centred nearest the input's centre; the previous layer's field is outlined,
    the centre marked; pixels a field skips (holes) stay white. A last panel plots the field
    size and the jump (along the height) against depth.
    """
    from matplotlib.patches import Rectangle

    rf = receptive_field(layers, input_shape)
    if rf.rank != 2 or not rf.layers:
        raise ValueError(f"layers: expected a non-empty 2-D stack to draw, got rank {rf.rank} "
                         f"with {len(rf.layers)} layers")
    h, w = rf.input_shape  # type: ignore[misc]
    count = len(rf.layers)
    fig = new_figure(1.0 + 2.6 * count + 3.2, 3.6)
    axes = fig.subplots(1, count + 1, width_ratios=[w] * count + [max(h, w) * 1.2])
    previous = None
    for n, (ax, lay) in enumerate(zip(axes, rf.layers), 1):
        unit = _central_unit(lay, (h, w))
        first = [s + i * j for s, i, j in zip(lay.start, unit, lay.jump)]
        rows = [first[0] + t for t in lay.offsets[0] if 0 <= first[0] + t < h]
        cols = [first[1] + t for t in lay.offsets[1] if 0 <= first[1] + t < w]
        draw_grid(ax, np.zeros((h, w)), numbers=False, highlight=[(r, c) for r in rows
                                                                  for c in cols],
                  title=f"layer {n}: {lay.label}\nfield {lay.size[0]}x{lay.size[1]}, "
                        f"jump {lay.jump[0]}x{lay.jump[1]}")
        if previous is not None:
            (top, left), (bottom, right) = previous
            ax.add_patch(Rectangle((left, top), right - left + 1, bottom - top + 1, fill=False,
                                   edgecolor=OUTPUT, lw=2.5))
        centre = [f + (r - 1) / 2 for f, r in zip(first, lay.size)]
        ax.plot(centre[1] + 0.5, centre[0] + 0.5, "x", color="black", ms=8, mew=2)
        previous = (tuple(first), tuple(f + r - 1 for f, r in zip(first, lay.size)))
    depth = np.arange(count + 1)
    ax = axes[-1]
    ax.plot(depth, [1] + [lay.size[0] for lay in rf.layers], "o-", color=WINDOW,
            label="field (pixels)")
    ax.plot(depth, [1] + [lay.jump[0] for lay in rf.layers], "s--", color=OUTPUT,
            label="jump (pixels)")
    ax.set_xticks(depth, ["input", *(str(n) for n in depth[1:])])
    ax.set_xlabel("layer")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title("growth along the height", fontsize=11)
    fig.suptitle(title or f"receptive fields on a {h}x{w} input: blue = the pixels one unit "
                          "sees (x: the field's centre), orange = the layer before's",
                 fontsize=11)
    return fig
