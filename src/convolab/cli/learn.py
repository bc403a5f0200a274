"""``convolab learn``: learn a kernel from input/output pairs by gradient descent (6.2.4)."""

from __future__ import annotations

import argparse

import numpy as np

from convolab.apps.kernels import KERNELS, get_kernel, parse_kernel
from convolab.cli.common import warn
from convolab.layers import TrainingDivergedError

HELP = "learn a kernel from data with a Conv2D layer; show the loss and learned vs true kernel"
BOOK = ("vertical_edge", "horizontal_edge")


def register(subparsers: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "learn", help=HELP, parents=[parent],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            HELP[0].upper() + HELP[1:] + ".\n\nThe book's edge kernels (vertical_edge, the "
            "default, and horizontal_edge) are learned from its 6x8 image, with the summed "
            "squared loss and learning rate 3e-2 as in D2L 6.2.4. Any other kernel is learned "
            "from four 16x16 white-noise images (mean squared loss, momentum 0.5)."),
        epilog="kernels: " + ", ".join(KERNELS))
    p.add_argument("--kernel", default="vertical_edge",
                   help='the true kernel: a name or numbers like "[[1, -1]]" '
                        "(default: vertical_edge)")
    p.add_argument("--epochs", type=int, help="epochs (default: 10 for the book's, else 100)")
    p.add_argument("--lr", type=float, help="learning rate (default: 3e-2 for the book's "
                                            "kernels, else 0.3)")
    p.add_argument("--seed", type=int, default=0, help="initializer and data seed (default 0)")
    p.add_argument("--plot", help="also write a figure: learned vs true kernel and the loss")
    p.add_argument("--force", action="store_true", help="overwrite an existing --plot file")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from convolab.apps.tour import learn_kernel

    if args.plot is not None:
        from convolab.apps.files import check_output

        check_output(args.plot, force=args.force)  # fail before training, not after
    if args.kernel.lstrip().startswith("["):
        true, name = parse_kernel(args.kernel), "custom"
    else:
        true, name = get_kernel(args.kernel), args.kernel.lower().replace("-", "_")
    if name in BOOK:
        from convolab.apps.images import edge_image

        x = edge_image() if name == "vertical_edge" else edge_image().T
        data = f"the book's {x.shape[0]}x{x.shape[1]} edge image"
        options = {"epochs": 10, "learning_rate": 3e-2, "reduction": "sum"}
        x = x[None]  # (1, H, W)
    else:
        x = np.random.default_rng(args.seed).standard_normal((4, 16, 16))  # (N, H, W)
        data = "four 16x16 white-noise images"
        options = {"epochs": 100, "learning_rate": 0.3, "momentum": 0.5, "reduction": "mean"}
    if args.epochs is not None:
        options["epochs"] = args.epochs
    if args.lr is not None:
        options["learning_rate"] = args.lr
    print(f"learning {name} {true.shape[0]}x{true.shape[1]} from {data}: "
          f"{options['epochs']} epochs, learning rate {options['learning_rate']:g}")
    every = max(1, options["epochs"] // 20)  # at most ~20 loss lines

    def report(epoch: int, loss: float) -> None:
        if epoch % every == 0 or epoch == options["epochs"]:
            print(f"epoch {epoch}, loss {loss:.6g}")

    try:
        learned, losses = learn_kernel(true, x, seed=args.seed, callback=report, **options)
    except TrainingDivergedError as exc:  # one line and exit status 2, as any bad argument
        lr = options["learning_rate"]
        raise ValueError(f"--lr: training diverged at epoch {exc.epoch} ({exc.detail}) with "
                         f"learning rate {lr:g}; try a smaller one, e.g. --lr {lr / 10:g}"
                         ) from None
    if len(losses) > 1 and not losses[-1] < losses[0]:
        warn(f"the loss grew from {losses[0]:.3g} to {losses[-1]:.3g}: the learning rate "
             f"{options['learning_rate']:g} is probably too large")
    show = lambda k: np.array2string(k, precision=4, suppress_small=True)  # noqa: E731
    print(f"learned kernel:\n{show(learned)}\ntrue kernel:\n{show(true)}\n"
          f"max |learned - true| = {np.abs(learned - true).max():.3g}")
    if args.plot is not None:
        from convolab.apps.plots import learned_kernel_figure, save_figure

        save_figure(learned_kernel_figure(learned, true, losses), args.plot, force=args.force)
        print(f"wrote {args.plot}")
    return 0
