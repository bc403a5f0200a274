"""``conv2d``: the convolutional layer's operation (6.1.5, 6.2.2, 6.3) on NumPy arrays."""

from __future__ import annotations

import numpy as np

from convolab.algorithms import REGISTRY, scheduler
from convolab.ops.arguments import from_nhwc, is_dask_array, prepare
from convolab.select import choose

# Output bytes per block of the parallel bias add: of 256 KiB, 1 MiB and 4 MiB, 1-4 MiB measured
# best on y (16, 56, 56, 64) float32 (2 cores); 256 KiB blocks pay the hand-out per block.
_BIAS_BLOCK_BYTES = 1 << 20
# Below this many output values the bias is a plain broadcast add: building the tiled row costs
# ~3 us, more than the short inner loop loses (measured crossover ~4000 values at O = 6).
_TILE_FROM = 2048


def conv2d(
    x: object,
    w: object,
    bias: object = None,
    *,
    stride: object = 1,
    padding: object = "valid",
    dilation: object = 1,
    groups: object = 1,
    data_format: str = "NHWC",
    kernel_format: str = "HWIO",
    padding_mode: str = "zeros",
    algorithm: str = "auto",
) -> np.ndarray:
    """2-D cross-correlation of a batch with a bank of kernels, plus bias (a conv layer).

    As in Keras/TensorFlow and PyTorch, this is cross-correlation (no kernel flip)::

        y[n, i, j, o] = bias[o] + sum_{a, b, c} xp[n, i*sh + a*dh, j*sw + b*dw, c] * w[a, b, c, o]

    over the ``C / groups`` input channels of ``o``'s group, ``xp`` being ``x`` padded.

    Parameters
    ----------
    x : array, shape (N, H, W, C) for "NHWC" or (N, C, H, W) for "NCHW"; 3-D is one example
    w : array, shape (kh, kw, C // groups, O) for "HWIO" or (O, C // groups, kh, kw) for "OIHW"
    bias : array, shape (O,), or None
    stride, dilation : int or (vertical, horizontal)
    padding : "valid", "same" (TensorFlow's split), "same_lower", "full", int, (ph, pw) or
        ((top, bottom), (left, right))
    groups : int, dividing C and O; ``groups == C`` is depthwise
    padding_mode : "zeros", "reflect", "replicate", "circular", "symmetric" (or aliases)
    algorithm : "auto" or the name of an algorithm in ``convolab.algorithms.REGISTRY``

    Returns
    -------
    ndarray, shape (N, Ho, Wo, O) or (N, O, Ho, Wo) (3-D for 3-D ``x``), dtype by promotion

    Examples
    --------
    >>> x = np.arange(9.0).reshape(1, 3, 3, 1)
    >>> w = np.arange(4.0).reshape(2, 2, 1, 1)
    >>> conv2d(x, w, padding=1, stride=(3, 2))[0, :, :, 0]
    array([[0., 8.],
           [6., 8.]])
    """
    if is_dask_array(x):
        from convolab.chunked import conv2d as chunked_conv2d

        return chunked_conv2d(
            x, w, bias, stride=stride, padding=padding, dilation=dilation, groups=groups,
            data_format=data_format, kernel_format=kernel_format, padding_mode=padding_mode,
            algorithm=algorithm,
        )
    prep = prepare(
        x, w, bias, stride=stride, padding=padding, dilation=dilation, groups=groups,
        data_format=data_format, kernel_format=kernel_format, padding_mode=padding_mode,
    )
    p = prep.problem
    name = choose(p, algorithm)
    if p.x_shape[0] == 0:
        y = np.zeros(p.y_shape, p.dtype)
    else:
        y = REGISTRY[name].forward(prep.x, prep.w, p)
    if prep.bias is not None:
        _add_bias(y, prep.bias)
    return from_nhwc(y, prep.data_format, prep.unbatched).astype(prep.out_dtype, copy=False)


def _add_bias(y: np.ndarray, bias: np.ndarray) -> None:
    """``y += bias`` over the channels: y (N, Ho, Wo, O), bias (O,).

    NumPy's broadcast add loops innermost over O; with few channels (LeNet's 6) that loop is too
    short to be fast, so a contiguous ``y`` gets a row of Wo copies of the bias added to each of
    its (N*Ho, Wo*O) rows instead (5x faster for O = 6, 1.2x for O = 64; not worth it below
    ``_TILE_FROM`` values). From ``PARALLEL_BYTES`` of output up, blocks of rows are added on
    every worker: the pass is memory-bound, yet two cores move more than one (y (16, 56, 56, 64)
    float32 on 2 cores: 0.65-0.75 ms -> 0.53-0.63). Below it, handing blocks to threads costs
    more than it saves (y (16, 28, 28, 64), 3 MiB: 0.17 ms either way at best).
    """
    n, ho, wo, o = y.shape
    if y.size < _TILE_FROM or not y.flags.c_contiguous:
        y += bias
        return
    rows = y.reshape(n * ho, wo * o)  # a view: contiguous
    line = np.tile(bias, wo)  # (Wo*O,): the bias for every pixel of a row
    n_workers = 1 if y.nbytes < scheduler.PARALLEL_BYTES else scheduler.workers()
    if n_workers == 1:
        rows += line
        return
    step = max(1, _BIAS_BLOCK_BYTES // rows[0].nbytes)  # rows per block
    blocks = [(r0, min(r0 + step, len(rows))) for r0 in range(0, len(rows), step)]

    def work(block: tuple[int, int], _worker: int) -> None:
        block_rows = rows[block[0] : block[1]]  # (rows, Wo*O), a view
        block_rows += line

    scheduler.run(blocks, work, n_workers)
