"""``DepthwiseConv2D``: each input channel filtered by its own ``depth_multiplier`` kernels,
Keras's layer.

Keras's kernel is ``(kh, kw, C, depth_multiplier)``; output channel ``c * depth_multiplier + m``
is channel ``c`` filtered by ``kernel[:, :, c, m]``. That is a grouped conv with ``groups = C``
whose HWIO kernel ``(kh, kw, 1, C * depth_multiplier)`` is the same array reshaped (a view), so
the layer is a :class:`~convolab.layers.conv.BaseConv` that only says how its kernel is laid
out; PyTorch's equivalent is ``nn.Conv2d(C, C * depth_multiplier, k, groups=C)``, whose weight
``(C * depth_multiplier, 1, kh, kw)`` is the "channels_first" ``kernel_format``.

>>> layer = DepthwiseConv2D(1, depth_multiplier=2, use_bias=False)
>>> layer.build((1, 1, 1, 2))
>>> layer.set_weights([np.array([[[[1.0, 10.0], [2.0, 20.0]]]])])   # (1, 1, C=2, M=2)
>>> layer(np.array([3.0, 5.0]).reshape(1, 1, 1, 2))[0, 0, 0]           # 3*(1, 10), 5*(2, 20)
array([  3.,  30.,  10., 100.], dtype=float32)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from convolab.layers import initializers
from convolab.layers.base import check_positive_int, torch_array, torch_module
from convolab.layers.conv import BaseConv
from convolab.shapes import normalize_padding_mode


class BaseDepthwiseConv(BaseConv):
    """Depthwise convolution of ``rank`` spatial axes with Keras's arguments; use
    :class:`DepthwiseConv2D`.

    Parameters
    ----------
    kernel_size : int or r ints
    strides, dilation_rate : int or r ints
    padding : as :class:`BaseConv` ("valid", "same", explicit, ...)
    depth_multiplier : int, output channels per input channel
    data_format : "channels_last" or "channels_first"
    activation : None, "linear", "relu", "sigmoid", "tanh" or "softmax", after the bias
    use_bias : bool
    depthwise_initializer, bias_initializer : Keras name, number or callable
    padding_mode, seed, dtype, name : as :class:`BaseConv`

    Attributes
    ----------
    kernel : ndarray, shape (*kernel, C, depth_multiplier) (Keras's), once built
    bias : ndarray, shape (C * depth_multiplier,), or None
    """

    def __init__(
        self,
        kernel_size: object,
        strides: object = 1,
        padding: object = "valid",
        depth_multiplier: int = 1,
        data_format: str = "channels_last",
        dilation_rate: object = 1,
        activation: str | None = None,
        use_bias: bool = True,
        depthwise_initializer: object = "glorot_uniform",
        bias_initializer: object = "zeros",
        padding_mode: str = "zeros",
        seed: int | None = None,
        dtype: object = "float32",
        name: str | None = None,
        **unknown: object,
    ) -> None:
        self._init_conv(unknown, kernel_size, strides, padding, data_format, dilation_rate,
                        use_bias, bias_initializer, seed, dtype, activation, name)
        self.depth_multiplier = check_positive_int(depth_multiplier, "depth_multiplier")
        self.depthwise_initializer = depthwise_initializer
        self._init_kernel = initializers.get(depthwise_initializer, "depthwise_initializer")
        self.padding_mode = normalize_padding_mode(padding_mode)

    def _kernel_shape(self, c: int) -> tuple[int, ...]:
        return (*self.kernel_size, c, self.depth_multiplier)

    def _out_channels(self, c: int | None) -> int | None:
        return None if c is None else c * self.depth_multiplier

    def _groups(self) -> int:
        return self.kernel.shape[-2]

    def _conv_kernel(self) -> np.ndarray:
        # (*kernel, C, M) -> (*kernel, 1, C * M): output c * M + m reads channel c alone
        return self.kernel.reshape(*self.kernel_size, 1, -1)

    def _from_conv_kernel(self, w: np.ndarray) -> np.ndarray:
        return w.reshape(*self.kernel_size, -1, self.depth_multiplier)

    @classmethod
    def from_torch(cls, module: Any, data_format: str = "channels_first") -> BaseDepthwiseConv:
        """A built layer equal to a depthwise ``torch.nn.Conv{r}d`` of the layer's rank
        (``groups == in_channels``, ``out_channels = in_channels * depth_multiplier``)."""
        torch_module(cls, module, f"Conv{cls.rank}d")
        c = module.in_channels
        if module.groups != c:
            raise ValueError(f"module: a depthwise conv has groups == in_channels, got "
                             f"groups={module.groups}, in_channels={c}")
        layer = cls(
            module.kernel_size, strides=module.stride, padding=module.padding,
            depth_multiplier=module.out_channels // c, data_format=data_format,
            dilation_rate=module.dilation, use_bias=module.bias is not None,
            padding_mode=module.padding_mode, dtype=torch_array(module.weight).dtype,
        )
        return layer._with_torch_weights(module, c)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(kernel_size={self.kernel_size}, strides={self.strides}, "
            f"padding={self.padding!r}, depth_multiplier={self.depth_multiplier}, "
            f"use_bias={self.use_bias})"
        )


class DepthwiseConv2D(BaseDepthwiseConv):
    """Depthwise conv of images: ``x`` (N, H, W, C) or (N, C, H, W), ``kernel``
    (kh, kw, C, depth_multiplier). See :class:`BaseDepthwiseConv`.

    >>> DepthwiseConv2D(3, depth_multiplier=2, padding="same")(np.ones((1, 5, 5, 4))).shape
    (1, 5, 5, 8)
    """

    rank = 2
