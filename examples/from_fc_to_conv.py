"""D2L 6.1 in numbers: a fully-connected layer constrained into a convolution.

Builds the 4th-order weight tensor W of the fully-connected layer that computes a 3x3 conv,
checks the book's re-indexing V[i,j,a,b] = W[i,j,i+a,j+b] (the same kernel everywhere:
translation invariance; zero elsewhere: locality), and prints the parameter counts for a
1-megapixel image. Run: ``python examples/from_fc_to_conv.py``.
"""

from __future__ import annotations

import numpy as np

from convolab.apps.theory import (
    dense_weights,
    fully_connected,
    parameter_table,
    reindex,
)
from convolab.ops import corr2d


def main() -> float:
    rng = np.random.default_rng(0)
    x, k = rng.random((8, 8)), rng.standard_normal((3, 3))
    w = dense_weights(k, x.shape)  # (6, 6, 8, 8)
    err = float(np.abs(fully_connected(x, w) - corr2d(x, k)).max())
    v = reindex(w, k.shape)  # (6, 6, 3, 3)
    print(f"W {w.shape}: {np.count_nonzero(w)} nonzeros of {w.size}")
    print(f"max |fully_connected(X, W) - corr2d(X, K)| = {err:.1e}")
    print(f"V[i, j] equals K at every (i, j): {bool(np.all(v == k))}")
    print(parameter_table((1000, 1000), 3))
    return err


if __name__ == "__main__":
    main()
