"""Where's Waldo (D2L 6.1.4): find a planted template in a cluttered scene.

Normalised cross-correlation (``convolab.apps.matching.match_template``, the numbers of
scikit-image's ``match_template`` and OpenCV's ``TM_CCOEFF_NORMED``) scores every window; the
best three non-overlapping windows are boxed. Run:
``python examples/wheres_waldo.py [--seed 0] [--out examples/out/waldo.png]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from convolab.apps.images import waldo_scene
from convolab.apps.matching import find_template, match_template
from convolab.apps.plots import match_figure, save_figure

OUT = Path(__file__).parent / "out"  # ignored by git (.gitignore)


def main(argv: list[str] | None = None) -> list:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="which scene")
    parser.add_argument("--out", default=str(OUT / "waldo.png"),
                        help="figure to write (default: examples/out/waldo.png)")
    parser.add_argument("--force", action="store_true", help="overwrite --out")
    args = parser.parse_args(argv)

    scene = waldo_scene(seed=args.seed)
    matches = find_template(scene.image, scene.template, k=3)
    print(f"Waldo planted at {scene.location}")
    for m in matches:
        print(f"  match at ({m.row}, {m.col}), score {m.score:.3f}")
    scores = match_template(scene.image, scene.template)
    save_figure(match_figure(scene.image, scene.template, matches, scores), args.out,
                force=args.force)
    print(f"wrote {args.out}")
    return matches


if __name__ == "__main__":
    main()
