"""``convolab match``: find a template in an image ("Where's Waldo", 6.1.4) and box it."""

from __future__ import annotations

import argparse

import numpy as np

from convolab.apps.files import atomic_write, check_output
from convolab.cli.files import IMAGE_OUTPUTS, check_suffix, read_input

HELP = "find a template in an image (normalised cross-correlation) and draw a box around it"


def register(subparsers: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "match", help=HELP, parents=[parent],
        description=(HELP[0].upper() + HELP[1:] + ". With no SCENE and TEMPLATE, a built-in "
                     "cluttered scene with a planted Waldo is used. Color images are matched "
                     "on their luma."))
    p.add_argument("scene", nargs="?", help="image or .npy to search")
    p.add_argument("template", nargs="?", help="image or .npy to look for")
    p.add_argument("-o", "--output", default="match.png",
                   help="picture of the scene with the match(es) boxed (default: match.png)")
    p.add_argument("-k", type=int, default=1, help="how many non-overlapping matches (default 1)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    p.set_defaults(run=run)


def _gray(a: np.ndarray) -> np.ndarray:
    from convolab.apps.images import to_gray

    return to_gray(a) if a.ndim == 3 and a.shape[2] >= 3 else a[..., 0] if a.ndim == 3 else a


def run(args: argparse.Namespace) -> int:
    from PIL import Image, ImageDraw

    from convolab.apps.matching import find_template

    if (args.scene is None) != (args.template is None):
        raise ValueError("match: give both SCENE and TEMPLATE, or neither (built-in scene)")
    check_suffix(args.output, "--output", IMAGE_OUTPUTS)
    check_output(args.output, force=args.force,
                 inputs=tuple(p for p in (args.scene, args.template) if p is not None))
    if args.scene is None:
        from convolab.apps.images import waldo_scene

        scene = waldo_scene()
        image, template, inputs = scene.image, scene.template, ()
        print(f"built-in scene {image.shape[0]}x{image.shape[1]}, Waldo planted at "
              f"{scene.location}")
    else:
        image = _gray(read_input(args.scene, "SCENE").values)
        template = _gray(read_input(args.template, "TEMPLATE").values)
        inputs = (args.scene, args.template)
    matches = find_template(image, template, k=args.k)
    th, tw = template.shape
    for n, m in enumerate(matches, 1):
        print(f"match {n}: top-left (row {m.row}, col {m.col}), {th}x{tw}, score {m.score:.4f}")
    # Boxes on the scene, scaled to [0, 1] for display.
    lo, hi = float(image.min()), float(image.max())
    shown = np.round((image - lo) / ((hi - lo) or 1.0) * 255).astype(np.uint8)
    picture = Image.fromarray(shown).convert("RGB")
    draw = ImageDraw.Draw(picture)
    for n, m in enumerate(matches):
        draw.rectangle((m.col - 1, m.row - 1, m.col + tw, m.row + th),
                       outline=(255, 0, 0) if n == 0 else (255, 255, 0), width=2)
    with atomic_write(args.output, force=args.force, inputs=inputs) as tmp:
        picture.save(tmp)
    print(f"wrote {args.output}")
    return 0
