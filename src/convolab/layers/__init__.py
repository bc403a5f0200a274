"""Layers and the little that training needs: ``Conv1D``, ``Conv2D``, ``Conv3D``,
initializers, SGD, squared loss."""

from convolab.layers.conv import BaseConv, Conv1D, Conv2D, Conv3D, comp_conv2d
from convolab.layers.losses import mse_loss, mse_loss_grad
from convolab.layers.optimizers import SGD
from convolab.layers.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    AveragePooling3D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalAveragePooling3D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    GlobalMaxPooling3D,
    MaxPooling1D,
    MaxPooling2D,
    MaxPooling3D,
)
from convolab.layers.training import TrainingDivergedError, fit

__all__ = [
    "SGD",
    "AveragePooling1D",
    "AveragePooling2D",
    "AveragePooling3D",
    "BaseConv",
    "Conv1D",
    "Conv2D",
    "Conv3D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalAveragePooling3D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "GlobalMaxPooling3D",
    "MaxPooling1D",
    "MaxPooling2D",
    "MaxPooling3D",
    "TrainingDivergedError",
    "comp_conv2d",
    "fit",
    "mse_loss",
    "mse_loss_grad",
]
