"""Inf and NaN: keeping them in the outputs whose windows read them, as the definition does.

Some algorithms multiply values the definition never multiplies: the zeros of a banded matrix
(``toeplitz``, ``stencil``), a transform mixing a whole tile (``winograd``, ``fft``), a
zero-extended gradient (``phased``). With finite data those products are exact zeros; with an
Inf or NaN, ``0 * inf`` is NaN and it lands on outputs whose windows never read that value.
Conversely, a result with no Inf or NaN in it touched none, so it is the definition's to float
rounding. Those algorithms check their result, or their input where that suffices and costs
less (FFT: a transform costs more than the check; toeplitz's forward: a weight's Inf meets only
the pixels the definition multiplies it by, and LeNet's input is smaller than its output), and
if anything is not finite they recompute by im2col, which multiplies exactly the definition's
products.

What a result cannot show is a product that was never formed. ``stencil`` skips the zero padding
instead of multiplying by it, so a weight that meets only padding (forward), or a grad_y value
whose window reaches into the padding (weight gradient), would leave no trace where the
definition has ``0 * inf = NaN``. It checks those inputs before the work instead.
"""

from __future__ import annotations

import numpy as np


def all_finite(*arrays: np.ndarray) -> bool:
    """Whether every value of every array is finite (one summing pass over each).

    A sum that overflows reads as not finite too: the caller's fallback is then merely slower.

    >>> all_finite(np.ones(3), np.zeros(2)), all_finite(np.array([1.0, np.inf]))
    (True, False)
    """
    with np.errstate(over="ignore", invalid="ignore"):
        return all(bool(np.isfinite(a.sum())) for a in arrays)
