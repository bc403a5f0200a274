"""``SeparableConv2D``: a depthwise conv, then a 1x1 ("pointwise") conv, Keras's layer.

The depthwise step filters each input channel with ``depth_multiplier`` kernels (with the
layer's ``strides``, ``padding``, ``dilation_rate``); the pointwise step mixes the
``C * depth_multiplier`` channels into ``filters`` with a 1x1 kernel and adds the bias. The
layer is those two layers, :class:`~convolab.layers.depthwise.DepthwiseConv2D` (without bias)
and :class:`~convolab.layers.conv.Conv2D` (1x1), run one after the other; their weights are
the layer's, in Keras's order ``[depthwise_kernel, pointwise_kernel, bias]``.

>>> layer = SeparableConv2D(4, 3, depth_multiplier=2, padding="same", seed=0)
>>> y = layer(np.ones((1, 6, 6, 3)))
>>> y.shape, [w.shape for w in layer.get_weights()]
((1, 6, 6, 4), [(3, 3, 3, 2), (1, 1, 6, 4), (4,)])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from convolab.layers.base import Layer, check_dtype
from convolab.layers.conv import BaseConv, Conv2D
from convolab.layers.depthwise import BaseDepthwiseConv, DepthwiseConv2D


class BaseSeparableConv(Layer):
    """Depthwise-separable convolution with Keras's arguments; use :class:`SeparableConv2D`.

    Parameters
    ----------
    filters : int, output channels
    kernel_size : int or r ints, of the depthwise step
    strides, dilation_rate : int or r ints, of the depthwise step
    padding : as :class:`~convolab.layers.conv.BaseConv`, of the depthwise step
    data_format : "channels_last" or "channels_first"
    depth_multiplier : int, depthwise output channels per input channel
    activation : None, "linear", "relu", "sigmoid", "tanh" or "softmax", after the bias
    use_bias : bool
    depthwise_initializer, pointwise_initializer, bias_initializer : Keras name, number or
        callable
    padding_mode, seed, dtype, name : as :class:`~convolab.layers.conv.BaseConv`

    Attributes
    ----------
    depthwise_kernel : ndarray, shape (*kernel, C, depth_multiplier)
    pointwise_kernel : ndarray, shape (1, ..., 1, C * depth_multiplier, filters)
    bias : ndarray, shape (filters,), or None
    """

    rank: ClassVar[int]
    _depthwise_cls: ClassVar[type[BaseDepthwiseConv]]
    _pointwise_cls: ClassVar[type[BaseConv]]
    _weight_names = ("depthwise_kernel", "pointwise_kernel", "bias")
    _output_name = "forward conv"

    def __init__(
        self,
        filters: int,
        kernel_size: object,
        strides: object = 1,
        padding: object = "valid",
        data_format: str = "channels_last",
        dilation_rate: object = 1,
        depth_multiplier: int = 1,
        activation: str | None = None,
        use_bias: bool = True,
        depthwise_initializer: object = "glorot_uniform",
        pointwise_initializer: object = "glorot_uniform",
        bias_initializer: object = "zeros",
        padding_mode: str = "zeros",
        seed: int | None = None,
        dtype: object = "float32",
        name: str | None = None,
        **unknown: object,
    ) -> None:
        self._init_layer(unknown, activation, name)
        self.dtype = check_dtype(dtype)
        self.seed = seed
        # one seed, two independent streams (None stays None: fresh weights each time)
        dw_seed, pw_seed = (None, None) if seed is None else ([seed, 0], [seed, 1])
        self._depthwise = self._depthwise_cls(
            kernel_size, strides, padding, depth_multiplier, data_format, dilation_rate,
            use_bias=False, depthwise_initializer=depthwise_initializer,
            padding_mode=padding_mode, seed=dw_seed, dtype=dtype,
            name=f"{self.name}/depthwise")
        self._pointwise = self._pointwise_cls(
            filters, 1, data_format=data_format, use_bias=use_bias,
            kernel_initializer=pointwise_initializer, bias_initializer=bias_initializer,
            seed=pw_seed, dtype=dtype, name=f"{self.name}/pointwise")
        dw = self._depthwise  # its hyperparameters, checked, are the layer's
        self.kernel_size, self.strides, self.padding = dw.kernel_size, dw.strides, dw.padding
        self.data_format, self.dilation_rate = dw.data_format, dw.dilation_rate
        self.depth_multiplier, self.padding_mode = dw.depth_multiplier, dw.padding_mode
        self.depthwise_initializer = depthwise_initializer
        self.pointwise_initializer = pointwise_initializer
        self.bias_initializer = bias_initializer
        self.filters = self._pointwise.filters

    @property
    def depthwise_kernel(self) -> np.ndarray | None:
        return self._depthwise.kernel

    @property
    def pointwise_kernel(self) -> np.ndarray | None:
        return self._pointwise.kernel

    @property
    def bias(self) -> np.ndarray | None:
        return self._pointwise.bias

    @property
    def use_bias(self) -> bool:
        return self._pointwise.use_bias

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Create the depthwise and pointwise kernels and the bias."""
        self._depthwise.build(input_shape)
        self._pointwise.build(self._depthwise.compute_output_shape(input_shape))
        self.built = True

    def _check_input(self, shape: tuple[int, ...]) -> None:
        self._depthwise._channels(shape, "x", type(self).__name__)

    def call(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        return self._pointwise(self._depthwise(x))

    def _backward(self, g: np.ndarray) -> np.ndarray:
        gz = self._pointwise.backward(g)
        gx = self._depthwise.backward(gz)
        self.grads = {"depthwise_kernel": self._depthwise.grads["kernel"],
                      "pointwise_kernel": self._pointwise.grads["kernel"]}
        if self.use_bias:
            self.grads["bias"] = self._pointwise.grads["bias"]
        return gx

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, ...]:
        """Output shape for ``input_shape`` (batch included; it may be None).

        >>> SeparableConv2D(8, 3, strides=2, padding="same").compute_output_shape((None, 9, 9, 3))
        (None, 5, 5, 8)
        """
        self._depthwise._channels(input_shape, owner=type(self).__name__)
        return self._pointwise.compute_output_shape(
            self._depthwise.compute_output_shape(input_shape))


class SeparableConv2D(BaseSeparableConv):
    """Depthwise-separable conv of images: ``x`` (N, H, W, C) or (N, C, H, W). See
    :class:`BaseSeparableConv`."""

    rank = 2
    _depthwise_cls = DepthwiseConv2D
    _pointwise_cls = Conv2D
