"""Template matching by normalised cross-correlation ("Where's Waldo", 6.1.4).

A conv layer that looks for a pattern is a cross-correlation with the pattern as its kernel;
normalising each window by its mean and energy makes the score independent of local brightness
and contrast. For a template ``t`` (``th x tw``, ``n = th*tw`` pixels) and the image window
``x_w`` at ``(i, j)``::

    score(i, j) = sum((x_w - mean(x_w)) * (t - mean(t)))
                  / sqrt(sum((x_w - mean(x_w))^2) * sum((t - mean(t))^2))

which is scikit-image's ``match_template`` (``pad_input=False``) and OpenCV's
``TM_CCOEFF_NORMED``. The numerator is one ``corr2d`` of the image with the zero-mean template
(the library's conv); the window energies come from running sums (summed-area tables), so the
cost beyond the conv is O(H*W) whatever the template size.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np

from convolab.ops import corr2d
from convolab.ops.arguments import as_2d


def window_sums(x: np.ndarray, window: tuple[int, int]) -> np.ndarray:
    """Sum of every ``window``-sized block of 2-D ``x`` ("valid"), from a summed-area table.

    ``x`` : (H, W) -> (H - wh + 1, W - ww + 1), in O(H*W) for any window size.

    >>> window_sums(np.arange(9.0).reshape(3, 3), (2, 2))
    array([[ 8., 12.],
           [20., 24.]])
    """
    wh, ww = window
    # sat[i, j] = sum of x[:i, :j]; a leading row/column of zeros makes every window a
    # difference of four corners.
    sat = np.zeros((x.shape[0] + 1, x.shape[1] + 1))
    np.cumsum(x, axis=0, out=sat[1:, 1:])
    np.cumsum(sat[1:, 1:], axis=1, out=sat[1:, 1:])
    return sat[wh:, ww:] - sat[:-wh, ww:] - sat[wh:, :-ww] + sat[:-wh, :-ww]


def _as_gray_2d(value: object, name: str) -> np.ndarray:
    a = as_2d(value, name)
    if not np.isfinite(a).all():
        raise ValueError(f"{name}: contains NaN or infinite values")
    return a.astype(np.float64)


def match_template(image: object, template: object) -> np.ndarray:
    """Normalised cross-correlation of ``template`` at every "valid" position of ``image``.

    Parameters
    ----------
    image : array, shape (H, W)
    template : array, shape (th, tw), at most the image's size

    Returns
    -------
    ndarray, shape (H - th + 1, W - tw + 1), float64 in [-1, 1]; 1 where a window is the
    template up to brightness and contrast, 0 where the window (or template) is constant.
    A flat (constant) or 1x1 template scores 0 everywhere, with a warning: it has no contrast
    to correlate (one pixel: no window has any either).

    Examples
    --------
    >>> image = np.zeros((5, 6)); image[1:3, 2:5] = [[1, 2, 3], [4, 5, 6]]
    >>> scores = match_template(image, [[1, 2, 3], [4, 5, 6]])
    >>> scores.shape, np.unravel_index(scores.argmax(), scores.shape)
    ((4, 4), (np.int64(1), np.int64(2)))
    """
    x = _as_gray_2d(image, "image")
    t = _as_gray_2d(template, "template")
    if t.size == 0 or t.shape[0] > x.shape[0] or t.shape[1] > x.shape[1]:
        raise ValueError(
            f"template: expected a non-empty array no larger than the image {x.shape}, "
            f"got shape {t.shape}"
        )
    n = t.size
    flat = n == 1 or t.min() == t.max()
    if flat:
        what = "a 1x1 template" if n == 1 else f"a flat template (every pixel {t.flat[0]:g})"
        warnings.warn(f"template: {what} has no contrast to correlate with: every score is 0",
                      UserWarning, stacklevel=2)
    # Shifting the image by a constant changes no score but keeps the running sums small,
    # which keeps sum(x^2) - sum(x)^2 / n from cancelling catastrophically.
    x = x - x.mean()
    # (th, tw), zero mean: corr2d(x, tz) is already sum((x_w - mean) * tz). A flat template's
    # t - t.mean() is rounding noise, not zero, which large windows would turn into scores.
    tz = np.zeros_like(t) if flat else t - t.mean()
    numerator = corr2d(x, tz)  # (Ho, Wo)
    s1 = window_sums(x, t.shape)  # (Ho, Wo) sum of each window
    s2 = window_sums(x * x, t.shape)  # (Ho, Wo) sum of squares of each window
    energy = np.maximum(s2 - s1 * s1 / n, 0.0) * np.sum(tz * tz)
    denominator = np.sqrt(energy)
    scores = np.zeros_like(numerator)
    # As scikit-image: a constant window (or template) has no defined correlation; score 0.
    ok = denominator > np.finfo(np.float64).eps
    np.divide(numerator, denominator, out=scores, where=ok)
    return np.clip(scores, -1.0, 1.0, out=scores)


class Match(NamedTuple):
    """One match: top-left corner ``(row, col)`` of the window and its ``score``."""

    row: int
    col: int
    score: float


def find_template(image: object, template: object, *, k: int = 1) -> list[Match]:
    """The ``k`` best, non-overlapping matches of ``template`` in ``image``, best first.

    After taking the best-scoring window, every window overlapping it is excluded, so the
    results are ``k`` distinct objects rather than one object's neighbours.

    >>> image = np.zeros((6, 9)); image[1:3, 5:8] = [[1, 2, 3], [4, 5, 6]]
    >>> find_template(image, [[1, 2, 3], [4, 5, 6]])
    [Match(row=1, col=5, score=1.0)]
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k: expected a positive int, got k={k!r}")
    scores = match_template(image, template)
    th, tw = np.subtract(np.shape(image), scores.shape) + 1  # template validated by now
    free = np.ones(scores.shape, dtype=bool)
    matches: list[Match] = []
    while len(matches) < k and free.any():
        masked = np.where(free, scores, -np.inf)
        r, c = np.unravel_index(int(np.argmax(masked)), scores.shape)
        matches.append(Match(int(r), int(c), float(scores[r, c])))
        # Windows overlapping (r, c) start less than a template size away in both axes.
        free[max(r - th + 1, 0) : r + th, max(c - tw + 1, 0) : c + tw] = False
    return matches
