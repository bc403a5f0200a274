"""The public operations: validate, resolve, dispatch."""

from convolab.ops.backward import conv2d_backward
from convolab.ops.conv2d import conv2d
from convolab.ops.primitives import convolve2d, corr2d
from convolab.ops.transpose import conv_transpose2d

__all__ = ["conv2d", "conv2d_backward", "conv_transpose2d", "convolve2d", "corr2d"]
