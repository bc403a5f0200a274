"""Layers, Keras-style, and what training needs: losses, optimizers, initializers.

Layers: ``Conv1D``/``Conv2D``/``Conv3D``, ``Conv1DTranspose``/``Conv2DTranspose``/
``Conv3DTranspose``, ``DepthwiseConv2D``, ``SeparableConv2D``, the pooling layers, ``Dense``,
``Flatten``, ``Activation``, ``ReLU``, ``Dropout``, ``BatchNormalization``. Losses:
``mse_loss``, ``cross_entropy`` (each with its ``*_grad``). Optimizers: ``SGD``, ``Adam``.

The layer protocol
------------------
Every layer (what a model such as ``Sequential`` relies on) has:

``name``
    a str: the ``name=`` given, or Keras's default (``dense``, ``dense_1``, ``conv2d``, ...).
``build(input_shape)`` and ``built``
    ``build`` creates the weights for inputs of ``input_shape`` (batch axis included; it may
    be None); the first call builds the layer if it is not built.
``__call__(x, training=False) -> y``
    the forward pass, then the layer's ``activation=`` (None, "linear", "relu", "sigmoid",
    "tanh", "softmax"). ``training=True`` makes ``Dropout`` drop and ``BatchNormalization``
    use and update batch statistics; the other layers ignore it. The layer keeps what its
    backward pass needs from this last call (its input and output, not copies).
``backward(grad_y) -> grad_x``
    ``dL/dx`` for the last call given ``grad_y = dL/dy`` (the output's shape), back through
    the activation first; fills ``grads``.
``grads``
    a dict, weight name -> ``dL/dweight`` of the last ``backward``, for the trained weights,
    in the order of ``weights`` (empty for a layer without weights).
``parameters()`` and ``weights``
    the live trained weight arrays, by name (``parameters()``, the keys of ``grads``) and as
    a list in ``grads``' order (``weights``); optimizers update them in place. Not trained:
    ``non_trainable_weights`` (``BatchNormalization``'s moving statistics).
``get_weights()`` / ``set_weights(list)``
    copies of every weight, trained or not, in Keras's order (``[kernel, bias]``;
    ``[gamma, beta, moving_mean, moving_variance]``); ``set_weights`` checks the shapes,
    casts to the layer's dtype and writes in place. Conv-like layers also take
    ``kernel_format="channels_first"`` for PyTorch's weight layout.
``count_params()``
    the number of weight values, trained or not (Keras's count).
``compute_output_shape(input_shape)``
    the output shape, batch axis included (None stays None).
``get_config()`` / ``from_config(config)``
    exactly the constructor's arguments (``name`` and ``activation`` included), and the
    layer they make (unbuilt).

Layers with weights take ``seed=`` (the same seed gives the same initial weights) and
``dtype=`` ("float32" by default, as Keras; inputs are cast to it); layers without weights
compute in the input's float dtype. Most layers also have ``from_torch(module)``, the same
layer with the PyTorch module's hyperparameters and weights (``Dense`` from ``nn.Linear``,
``BatchNormalization`` from ``nn.BatchNorm{1,2,3}d``, the conv layers from ``nn.Conv{r}d`` and
``nn.ConvTranspose{r}d``, ``Flatten``, ``Dropout``, the pooling layers).
"""

from convolab.layers.activation_layers import Activation, ReLU
from convolab.layers.base import Layer
from convolab.layers.conv import BaseConv, Conv1D, Conv2D, Conv3D, comp_conv2d
from convolab.layers.conv_transpose import (
    BaseConvTranspose,
    Conv1DTranspose,
    Conv2DTranspose,
    Conv3DTranspose,
)
from convolab.layers.dense import Dense
from convolab.layers.depthwise import DepthwiseConv2D
from convolab.layers.dropout import Dropout
from convolab.layers.flatten import Flatten
from convolab.layers.losses import cross_entropy, cross_entropy_grad, mse_loss, mse_loss_grad
from convolab.layers.normalization import BatchNormalization
from convolab.layers.optimizers import SGD, Adam, Optimizer
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
from convolab.layers.separable import SeparableConv2D
from convolab.layers.sequential import Sequential
from convolab.layers.training import TrainingDivergedError, fit

__all__ = [
    "SGD",
    "Activation",
    "Adam",
    "AveragePooling1D",
    "AveragePooling2D",
    "AveragePooling3D",
    "BaseConv",
    "BaseConvTranspose",
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
    "Layer",
    "MaxPooling1D",
    "MaxPooling2D",
    "MaxPooling3D",
    "Optimizer",
    "ReLU",
    "SeparableConv2D",
    "Sequential",
    "TrainingDivergedError",
    "comp_conv2d",
    "cross_entropy",
    "cross_entropy_grad",
    "fit",
    "mse_loss",
    "mse_loss_grad",
]
