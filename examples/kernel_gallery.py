"""Every named kernel on the built-in test picture, side by side.

Run: ``python examples/kernel_gallery.py [--out examples/out/gallery.png]``. Signed results
(edges) are shown with 0 as white, positive red and negative blue; smoothing results in gray.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from convolab.apps.images import sample_image
from convolab.apps.kernels import KERNELS, get_kernel
from convolab.apps.plots import arrays_figure, save_figure
from convolab.ops import conv2d

OUT = Path(__file__).parent / "out"  # ignored by git (.gitignore)
COLUMNS = 5


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128, help="picture size in pixels")
    parser.add_argument("--out", default=str(OUT / "gallery.png"),
                        help="figure to write (default: examples/out/gallery.png)")
    parser.add_argument("--force", action="store_true", help="overwrite --out")
    args = parser.parse_args(argv)

    x = sample_image(args.size)  # (size, size) gray in [0, 1]
    # (size, size) -> (1, size, size, 1) NHWC; "replicate" keeps the border from darkening.
    results = {name: conv2d(x[None, :, :, None], get_kernel(name)[:, :, None, None],
                            padding="same", padding_mode="replicate")[0, :, :, 0]
               for name in KERNELS}
    fig = arrays_figure([("input", x), *results.items()], numbers=False, columns=COLUMNS,
                        signed=[False] + [abs(get_kernel(n).sum()) < 1e-9 for n in results])
    rows = -(-(len(results) + 1) // COLUMNS)
    fig.set_size_inches(2.4 * COLUMNS, 2.6 * rows)
    save_figure(fig, args.out, force=args.force)
    print(f"wrote {args.out}: {', '.join(results)}")
    return results


if __name__ == "__main__":
    main()
