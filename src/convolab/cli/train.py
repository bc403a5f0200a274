"""``convolab train``: train LeNet on handwritten digits; write figures and index.html."""

from __future__ import annotations

import argparse
import sys

from convolab.layers import TrainingDivergedError

HELP = "train LeNet on handwritten digits; write learning curves, kernels, feature maps"


def register(subparsers: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    from convolab.apps.train_report import DEFAULTS, MODELS

    p = subparsers.add_parser(
        "train", help=HELP, parents=[parent],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            HELP[0].upper() + HELP[1:] + ".\n\n"
            "LeNet-5 (D2L 6.6) learns scikit-learn's 8x8 digits, laid out as MNIST's 28x28\n"
            "images (1438 to train on, 359 to test on; nothing is downloaded). OUT/index.html\n"
            "shows the model, the learning curves, the confusion matrix, the first layer's\n"
            "kernels and one digit's feature maps after every layer; OUT/weights.npz holds the\n"
            "trained weights (Sequential.load_weights)."),
        epilog="defaults: " + "; ".join(
            f"{name}: {d['epochs']} epochs, learning rate {d['learning_rate']:g}, batches of "
            f"{d['batch_size']}" for name, d in DEFAULTS.items()))
    p.add_argument("--model", choices=MODELS, default="lenet5",
                   help="lenet5 (the book's: sigmoid, average pooling) or lenet5-modern (ReLU, "
                        "max pooling) (default: lenet5)")
    p.add_argument("--epochs", type=int, help="epochs (default: per model, see below)")
    p.add_argument("--lr", type=float, help="learning rate (default: per model)")
    p.add_argument("--batch-size", type=int, help="examples per step (default: 32)")
    p.add_argument("--optimizer", choices=("adam", "sgd"), default="adam",
                   help="adam or sgd (default: adam)")
    p.add_argument("--augment", action="store_true",
                   help="also train on copies of the digits moved by a pixel (5x the examples "
                        "per epoch; better test accuracy)")
    p.add_argument("--seed", type=int, default=0,
                   help="initial weights and batch order (default: 0)")
    p.add_argument("--out", default="train", help="directory for the figures, weights and "
                                                   "index.html (default: ./train)")
    p.add_argument("--force", action="store_true", help="overwrite an earlier run in --out")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from convolab.apps.train_report import run_training

    # a bar per epoch on a terminal, one line per epoch otherwise, nothing with --quiet
    verbose = 0 if args.quiet else 1 if sys.stderr.isatty() else 2
    try:
        run_training(args.out, model=args.model, epochs=args.epochs, learning_rate=args.lr,
                     batch_size=args.batch_size, optimizer=args.optimizer, seed=args.seed,
                     augment=args.augment, force=args.force, verbose=verbose)
    except TrainingDivergedError as exc:  # one line and exit status 2, as any bad argument
        raise ValueError(f"--lr: training diverged at epoch {exc.epoch} ({exc.detail}) with "
                         f"learning rate {exc.learning_rate:g}; try a smaller one, e.g. --lr "
                         f"{exc.learning_rate / 10:g}") from None
    return 0
