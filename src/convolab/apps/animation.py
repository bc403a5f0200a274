"""Animated GIFs of a kernel sliding over a padded input, in the spirit of Dumoulin & Visin's
"A guide to convolution arithmetic for deep learning" (2016).

One frame per output pixel: the input (padding cells shaded) with the dilated kernel's taps
lit, and the output grid with the pixel they produce lit. Any kernel size, padding, stride and
dilation that ``conv2d`` accepts.
"""

from __future__ import annotations

import os

import numpy as np

from convolab.apps.files import atomic_write
from convolab.apps.plots import OUTPUT, PADDING, WINDOW, new_figure
from convolab.shapes import conv_geometry, normalize_pair

MAX_FRAMES = 400


def conv_animation(path: str | os.PathLike, input_hw: object = (5, 5), kernel_size: object = 3,
                   *, stride: object = 1, padding: object = 0, dilation: object = 1,
                   frame_ms: int = 500, force: bool = False) -> int:
    """Write a GIF of the kernel's window moving over the padded input; return the frame count.

    Parameters
    ----------
    path : the .gif to write (atomically; an existing file only with ``force``)
    input_hw, kernel_size, stride, dilation : int or (vertical, horizontal)
    padding : as ``conv2d`` ("valid", "same", "full", int, pairs)

    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "conv.gif"
    >>> conv_animation(out, (4, 4), 3, padding=1, stride=2)  # a 2x2 output: four frames
    4
    """
    from PIL import Image

    in_hw = normalize_pair(input_hw, "input_hw")
    g = conv_geometry(in_hw, normalize_pair(kernel_size, "kernel_size"), stride=stride,
                      padding=padding, dilation=dilation)
    (ho, wo), (hp, wp) = g.out_shape, g.padded_shape
    if ho * wo > MAX_FRAMES:
        raise ValueError(f"input_hw: the {ho}x{wo} output would need {ho * wo} frames, more "
                         f"than {MAX_FRAMES}; use a smaller input or a larger stride")
    from matplotlib.patches import Rectangle

    fig = new_figure(max(1.0 + 0.42 * (wp + wo), 4.5), 1.4 + 0.42 * max(hp, ho))
    ax_in, ax_out = fig.subplots(1, 2, width_ratios=[wp, wo + 0.5])
    (top, _), (left, _) = g.pads
    inside = np.zeros((hp, wp), bool)
    inside[top : top + in_hw[0], left : left + in_hw[1]] = True
    cells_in = {}
    for r, c in np.ndindex(hp, wp):
        cells_in[r, c] = ax_in.add_patch(Rectangle(
            (c, r), 1, 1, edgecolor="#333333", lw=1, linestyle="-" if inside[r, c] else "--"))
    cells_out = {(r, c): ax_out.add_patch(Rectangle((c, r), 1, 1, edgecolor="#333333", lw=1))
                 for r, c in np.ndindex(ho, wo)}
    for ax, (h, w), name in ((ax_in, (hp, wp), "padded input"), (ax_out, (ho, wo), "output")):
        ax.set_xlim(-0.1, w + 0.1)
        ax.set_ylim(h + 0.1, -0.1)
        ax.set_aspect("equal")
        ax.axis("off")
        ax.set_title(f"{name} {h}x{w}", fontsize=10)
    fig.suptitle(
        f"input {in_hw[0]}x{in_hw[1]}, kernel {g.kernel_shape[0]}x{g.kernel_shape[1]}\n"
        f"padding {g.pads}, stride {g.stride}, dilation {g.dilation}", fontsize=9)
    base = {rc: PADDING if not inside[rc] else "white" for rc in cells_in}
    frames = []
    for i, j in np.ndindex(ho, wo):
        taps = {(i * g.stride[0] + a * g.dilation[0], j * g.stride[1] + b * g.dilation[1])
                for a, b in np.ndindex(*g.kernel_shape)}
        for rc, patch in cells_in.items():
            patch.set_facecolor(WINDOW if rc in taps else base[rc])
        for rc, patch in cells_out.items():
            done = rc[0] * wo + rc[1] < i * wo + j
            patch.set_facecolor(OUTPUT if rc == (i, j) else "#fde3c4" if done else "white")
        fig.canvas.draw()
        rgba = np.asarray(fig.canvas.buffer_rgba())  # (height, width, 4) uint8
        frames.append(Image.fromarray(rgba[..., :3].copy()).quantize(colors=32))
    with atomic_write(path, force=force) as tmp:
        frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:],
                       duration=frame_ms, loop=0)
    return len(frames)
