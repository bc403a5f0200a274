"""convolab: 2-D convolution from Dive into Deep Learning 6.1-6.3, in NumPy.

>>> import convolab as cl
>>> cl.corr2d([[0, 1, 2], [3, 4, 5], [6, 7, 8]], [[0, 1], [2, 3]])
array([[19., 25.],
       [37., 43.]])
"""

from convolab.config import get_workspace_limit, set_workspace_limit, workspace_limit
from convolab.ops import conv2d, convolve2d, corr2d
from convolab.shapes import explain_shape, output_shape

__version__ = "0.1.0"

__all__ = [
    "conv2d",
    "convolve2d",
    "corr2d",
    "explain_shape",
    "get_workspace_limit",
    "output_shape",
    "set_workspace_limit",
    "workspace_limit",
]
