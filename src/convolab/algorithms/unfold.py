"""Every receptive field of a padded band as one strided view: the unfold behind im2col.

For output pixel ``(i, j)`` and kernel tap ``(a, b)``, the input pixel read is
``band[:, i*sh + a*dh, j*sw + b*dw, :]``: linear in ``i, j, a, b``, so all of them form a view
with strides (no copy). Copying the view into a columns buffer is one NumPy call whose inner
loop runs over ``kw * Cg`` contiguous values at stride 1; filling the same buffer tap by tap
takes ``kh * kw`` calls with inner loops of ``Cg`` values, 2-7x slower here (4x on LeNet's
one-channel input, where the inner loop is a single value).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from convolab.algorithms.problem import ConvProblem


def windows(band: np.ndarray, p: ConvProblem, rows: int) -> np.ndarray:
    """Read-only view ``(G, b, rows, Wo, kh, kw, Cg)`` of ``band`` ``(b, rows_in, Wp, C)``.

    ``[g, n, i, j, a, c, k]`` is ``band[n, i*sh + a*dh, j*sw + c*dw, g*Cg + k]``: the receptive
    field of output ``(i, j)`` of the band, for each group.

    >>> from convolab.shapes import conv_geometry
    >>> geom = conv_geometry((3, 4), (2, 2))  # "valid", stride 1: output 2x3
    >>> p = ConvProblem((1, 3, 4, 1), (2, 2, 1, 1), geom, 1, "zeros", np.dtype("f8"))
    >>> band = np.arange(12.0).reshape(1, 3, 4, 1)
    >>> windows(band, p, 2)[0, 0, 1, 2, :, :, 0]  # output (1, 2) reads rows 1-2, columns 2-3
    array([[ 6.,  7.],
           [10., 11.]])
    """
    (sh, sw), (dh, dw) = p.geom.stride, p.geom.dilation
    kh, kw, cg, _ = p.w_shape
    s0, s1, s2, s3 = band.strides
    shape = (p.groups, band.shape[0], rows, p.geom.out_shape[1], kh, kw, cg)
    strides = (cg * s3, s0, sh * s1, sw * s2, dh * s1, dw * s2, s3)
    return as_strided(band, shape, strides, writeable=False)
