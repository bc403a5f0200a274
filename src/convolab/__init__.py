"""convolab: convolution from Dive into Deep Learning 6.1-6.3, in NumPy, for every rank.

>>> import convolab as cl
>>> cl.corr2d([[0, 1, 2], [3, 4, 5], [6, 7, 8]], [[0, 1], [2, 3]])
array([[19., 25.],
       [37., 43.]])
"""

from convolab import theory
from convolab.apps import datasets, models
from convolab.apps.kernels import KERNELS, get_kernel
from convolab.apps.matching import find_template, match_template
from convolab.apps.receptive import receptive_field
from convolab.config import get_workspace_limit, set_workspace_limit, workspace_limit
from convolab.layers import (
    SGD,
    Activation,
    Adam,
    AveragePooling1D,
    AveragePooling2D,
    AveragePooling3D,
    BatchNormalization,
    Conv1D,
    Conv1DTranspose,
    Conv2D,
    Conv2DTranspose,
    Conv3D,
    Conv3DTranspose,
    Dense,
    DepthwiseConv2D,
    Dropout,
    Flatten,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalAveragePooling3D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    GlobalMaxPooling3D,
    MaxPooling1D,
    MaxPooling2D,
    MaxPooling3D,
    ReLU,
    SeparableConv2D,
    Sequential,
    TrainingDivergedError,
    comp_conv2d,
    cross_entropy,
    cross_entropy_grad,
    fit,
    mse_loss,
    mse_loss_grad,
)
from convolab.layers.sequential import register_receptive_field as _register_field
from convolab.ops import (
    avg_pool,
    avg_pool_backward,
    conv,
    conv1d,
    conv1d_backward,
    conv2d,
    conv2d_backward,
    conv3d,
    conv3d_backward,
    conv_backward,
    conv_transpose,
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose3d,
    convolve,
    convolve2d,
    corr,
    corr2d,
    max_pool,
    max_pool_backward,
)
from convolab.ops.backends import register as _register_backend
from convolab.plan import Plan, plan
from convolab.shapes import explain_shape, output_shape

__version__ = "0.1.0"

# Dask arrays are computed chunk by chunk by convolab.chunked, imported on first use
_register_backend("dask", "convolab.chunked")
# Sequential.summary's receptive fields (layers sits below apps and never imports it)
_register_field(receptive_field)


def __getattr__(name: str) -> object:
    # ``cl.chunked`` (Dask) on first use: importing convolab never imports dask.
    if name == "chunked":
        import importlib

        return importlib.import_module("convolab.chunked")
    raise AttributeError(f"module 'convolab' has no attribute {name!r}")


__all__ = [
    "KERNELS",
    "SGD",
    "Activation",
    "Adam",
    "AveragePooling1D",
    "AveragePooling2D",
    "AveragePooling3D",
    "BatchNormalization",
    "Conv1D",
    "Conv1DTranspose",
    "Conv2D",
    "Conv2DTranspose",
    "Conv3D",
    "Conv3DTranspose",
    "Dense",
    "DepthwiseConv2D",
    "Dropout",
    "Flatten",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalAveragePooling3D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "GlobalMaxPooling3D",
    "MaxPooling1D",
    "MaxPooling2D",
    "MaxPooling3D",
    "Plan",
    "ReLU",
    "SeparableConv2D",
    "Sequential",
    "TrainingDivergedError",
    "avg_pool",
    "avg_pool_backward",
    "comp_conv2d",
    "conv",
    "conv1d",
    "conv1d_backward",
    "conv2d",
    "conv2d_backward",
    "conv3d",
    "conv3d_backward",
    "conv_backward",
    "conv_transpose",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "convolve",
    "convolve2d",
    "corr",
    "corr2d",
    "cross_entropy",
    "cross_entropy_grad",
    "datasets",
    "explain_shape",
    "find_template",
    "fit",
    "get_kernel",
    "get_workspace_limit",
    "match_template",
    "max_pool",
    "max_pool_backward",
    "models",
    "mse_loss",
    "mse_loss_grad",
    "output_shape",
    "plan",
    "receptive_field",
    "set_workspace_limit",
    "theory",
    "workspace_limit",
]
