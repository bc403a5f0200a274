"""The public operations: validate, resolve, dispatch."""

from convolab.ops.conv2d import conv2d
from convolab.ops.primitives import convolve2d, corr2d

__all__ = ["conv2d", "convolve2d", "corr2d"]
