"""The public operations: validate, resolve, dispatch (every rank through ``ops/lowering.py``)."""

from convolab.ops.backward import conv1d_backward, conv2d_backward, conv3d_backward, conv_backward
from convolab.ops.conv import conv, conv1d, conv2d, conv3d
from convolab.ops.pooling import avg_pool, avg_pool_backward, max_pool, max_pool_backward
from convolab.ops.primitives import convolve, convolve2d, corr, corr2d
from convolab.ops.transpose import (
    conv_transpose,
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose3d,
)

__all__ = ["avg_pool", "avg_pool_backward",
           "conv", "conv1d", "conv1d_backward", "conv2d", "conv2d_backward", "conv3d",
           "conv3d_backward", "conv_backward", "conv_transpose", "conv_transpose1d",
           "conv_transpose2d", "conv_transpose3d", "convolve", "convolve2d", "corr", "corr2d",
           "max_pool", "max_pool_backward"]
