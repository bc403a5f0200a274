"""Small real data sets that ship with a package: nothing is downloaded.

:func:`digits` is scikit-learn's bundled copy of the UCI handwritten digits (1,797 images of
8x8 pixels, 16 grey levels, ten classes), laid out as MNIST's 28x28 images so that the book's
LeNet (D2L 6.6) runs on it unchanged. scikit-learn (the ``train`` extra) is imported on the
first call only. :func:`shifted` adds copies moved by a pixel (data augmentation).

>>> (x_train, y_train), (x_test, y_test) = digits()        # doctest: +SKIP
>>> x_train.shape, x_train.dtype, y_train[:5]               # doctest: +SKIP
((1438, 28, 28, 1), dtype('float32'), array([0, 1, 2, 3, 4]))
"""

from __future__ import annotations

import functools
import numbers

import numpy as np

Split = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
    """The ``(n_out, n_in)`` matrix of 1-D linear interpolation from ``n_in`` to ``n_out``
    samples, pixel centres aligned (OpenCV's ``INTER_LINEAR``, PyTorch's ``interpolate`` with
    ``align_corners=False``): output pixel ``i`` reads the input at ``(i + 0.5) * n_in / n_out
    - 0.5``, clamped to ``[0, n_in - 1]`` (the edge pixels repeat outwards).

    Rows sum to 1 and have at most two non-zero weights, so values stay in their range. An image
    ``x`` (h, w) resizes to ``A_h @ x @ A_w.T``: interpolation is separable.

    >>> bilinear_matrix(2, 4)
    array([[1.  , 0.  ],
           [0.75, 0.25],
           [0.25, 0.75],
           [0.  , 1.  ]])
    """
    src = np.clip((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0, n_in - 1)
    lo = np.floor(src).astype(np.intp)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = src - lo
    a = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    np.add.at(a, (rows, lo), 1 - frac)
    np.add.at(a, (rows, hi), frac)  # hi == lo at the last pixel: frac is 0 there
    return a


def stratified_split(labels: np.ndarray, test_size: float, seed: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, test)`` (each sorted) holding ``round(test_size * n_c)`` of each
    class's ``n_c`` examples out for testing, drawn with ``numpy.random.default_rng(seed)``.

    >>> labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    >>> train, test = stratified_split(labels, 0.5, seed=0)
    >>> len(train), len(test), labels[test].tolist()
    (4, 4, [0, 0, 1, 1])
    """
    rng = np.random.default_rng(seed)
    test = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        test.append(rng.permutation(members)[:round(test_size * len(members))])
    test_idx = np.sort(np.concatenate(test))
    return np.setdiff1d(np.arange(len(labels)), test_idx), test_idx


@functools.cache
def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits scaled to [0, 1] (N, 8, 8) float64, and the labels (N,) int64,
    read once per process (importing scikit-learn alone takes about a second); read-only."""
    from sklearn.datasets import load_digits  # the bundled CSV; no download

    data = load_digits()
    images = np.asarray(data.images, dtype=np.float64) / 16.0  # grey levels 0-16
    labels = np.asarray(data.target, dtype=np.int64)
    images.flags.writeable = labels.flags.writeable = False
    return images, labels


def digits(*, size: int = 28, margin: int = 4, test_size: float = 0.2, seed: int = 0) -> Split:
    """scikit-learn's 8x8 handwritten digits as 28x28 images, split into train and test.

    Each 8x8 image (grey levels 0-16) is scaled to [0, 1], resized bilinearly (pixel centres
    aligned, :func:`bilinear_matrix`) to ``size - 2 * margin`` pixels square and centred in a
    ``size`` x ``size`` frame of zeros: by default MNIST's layout, a 20x20 digit with 4 blank
    pixels around it, which is what LeNet was designed for (LeCun et al. 1998 centre MNIST's
    digits in 20x20 boxes) and which it generalises from better than from digits that touch
    the frame (``margin=0``; about half a point of test accuracy, in our runs). Bilinear, not
    cubic: the values stay in [0, 1], with no overshoot. The split is stratified:
    ``test_size`` of each class (rounded) is held out, the same examples for the same ``seed``
    on every machine and version of scikit-learn (the draw is NumPy's, not scikit-learn's).
    Examples keep the data set's order within each part.

    Parameters
    ----------
    size : int >= 1, the side of the images (28, MNIST's, by default)
    margin : int >= 0, blank pixels on each side, less than ``size / 2`` (4, MNIST's)
    test_size : float in (0, 1), the share of each class held out (0.2: 359 test images)
    seed : int, the split's seed

    Returns
    -------
    ``(x_train, y_train), (x_test, y_test)``, as ``keras.datasets.mnist.load_data()``:
    x : ndarray float32, shape (N, size, size, 1) (NHWC), values in [0, 1]
    y : ndarray int64, shape (N,), the digit 0-9

    Raises
    ------
    ImportError : scikit-learn is not installed (``pip install 'convolab[train]'``)
    """
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
        raise ValueError(f"size: expected an int >= 1, received size={size!r}")
    if isinstance(margin, bool) or not isinstance(margin, numbers.Integral) or margin < 0 \
            or 2 * margin >= size:
        raise ValueError(f"margin: expected an int >= 0 and < size / 2 = {size / 2:g}, "
                         f"received margin={margin!r}")
    if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real) \
            or not 0 < test_size < 1:
        raise ValueError(f"test_size: expected a number in (0, 1), received "
                         f"test_size={test_size!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed: expected an int, received seed={seed!r}")
    images, labels = _load_digits()
    inner = int(size) - 2 * int(margin)
    a = bilinear_matrix(images.shape[1], inner)  # (inner, 8)
    # (inner, 8) x (N, 8, 8) x (8, inner) -> (N, inner, inner): rows, then columns
    digit = np.clip(np.einsum("ij,njk,lk->nil", a, images, a), 0.0, 1.0)  # clip: rounding
    x = np.zeros((len(images), size, size, 1), np.float32)
    x[:, margin:margin + inner, margin:margin + inner, 0] = digit
    train, test = stratified_split(labels, float(test_size), int(seed))
    return (x[train], labels[train]), (x[test], labels[test])


def shifted(x: np.ndarray, y: np.ndarray, pixels: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Data augmentation by translation: ``x`` (N, H, W, C) followed by four copies moved
    ``pixels`` down, up, right and left (zeros fill what comes in), and ``y`` five times.

    A handwritten digit a pixel off is the same digit; training on the copies teaches the
    network that, and it generalises better (LeCun et al. 1998 distort MNIST likewise).

    >>> x, y = np.arange(9.0).reshape(1, 3, 3, 1), np.array([7])
    >>> xs, ys = shifted(x, y)
    >>> xs[1, :, :, 0], ys
    (array([[0., 0., 0.],
           [0., 1., 2.],
           [3., 4., 5.]]), array([7, 7, 7, 7, 7]))
    """
    if isinstance(pixels, bool) or not isinstance(pixels, numbers.Integral) or pixels < 1:
        raise ValueError(f"pixels: expected an int >= 1, received pixels={pixels!r}")
    p = int(pixels)
    h, w = x.shape[1:3]
    padded = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))  # (N, H + 2p, W + 2p, C)
    # the window at offset (p - dy, p - dx) is x moved by (dy, dx)
    moves = [(0, 0), (p, 0), (-p, 0), (0, p), (0, -p)]
    xs = np.concatenate([padded[:, p - dy:p - dy + h, p - dx:p - dx + w] for dy, dx in moves])
    return xs, np.tile(y, len(moves))
