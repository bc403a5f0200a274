"""Learn the edge-detection kernel from data, as the book does (D2L 6.2.4).

The 6x8 image has a black stripe; ``Y = corr2d(X, [[1, -1]])`` marks its edges with 1 and -1.
A ``Conv2D(1, kernel_size=(1, 2), use_bias=False)`` starts from random weights and, trained
with the summed squared loss and plain gradient descent at learning rate 3e-2, recovers
``[[1, -1]]``. Run: ``python examples/learn_edge_kernel.py [--epochs 10] [--seed 0]``.
"""

from __future__ import annotations

import argparse

import numpy as np

from convolab import corr2d
from convolab.layers import Conv2D, fit


def main(argv: list[str] | None = None) -> np.ndarray:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=None, help="initializer seed")
    args = parser.parse_args(argv)

    X = np.ones((6, 8))
    X[:, 2:6] = 0
    K = np.array([[1.0, -1.0]])
    Y = corr2d(X, K)
    # (h, w) -> (1, h, w, 1): a batch of one single-channel image, NHWC as in the book
    X4, Y4 = X[None, :, :, None], Y[None, :, :, None]

    layer = Conv2D(1, kernel_size=(1, 2), use_bias=False, seed=args.seed)
    layer.build(X4.shape)
    print(f"initial kernel {layer.kernel[:, :, 0, 0].ravel()}")

    def report(epoch: int, loss: float, _layer: Conv2D) -> None:
        print(f"epoch {epoch}, loss {loss:.3f}")

    fit(layer, X4, Y4, epochs=args.epochs, learning_rate=3e-2, reduction="sum", callback=report)
    learned = layer.kernel[:, :, 0, 0]  # (kh, kw) = (1, 2)
    print(f"learned kernel {learned.ravel()} (target {K.ravel()})")
    return learned


if __name__ == "__main__":
    main()
