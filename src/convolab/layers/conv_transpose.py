"""``Conv1DTranspose``, ``Conv2DTranspose``, ``Conv3DTranspose``: learnable transposed
convolutions (upsampling), Keras's layers on :func:`convolab.conv_transpose`.

A transposed conv is the input gradient of a conv: each input pixel stamps the kernel, scaled
by its value, onto the output at stride ``s``. Its kernel is the kernel of the conv being
transposed, in Keras's layout ``(*kernel, filters, C_in)`` (PyTorch's ``ConvTranspose``
weight, ``(C_in, filters, *kernel)``, is the "channels_first" ``kernel_format`` of
``get_weights``/``set_weights``).

Output size per axis, Keras's rules (``span = dilation * (kernel - 1) + 1``):

- ``padding="same"``: ``n * stride``; ``"valid"``: ``n * stride + max(span - stride, 0)``;
- with ``output_padding`` given: ``(n - 1) * stride + span - 2 * (span // 2 if "same" else
  0) + output_padding``;
- PyTorch's explicit padding (an int, one per axis or (before, after) pairs, removed from the
  full output) is accepted too: ``(n - 1) * stride - before - after + span + output_padding``.

The backward pass is two convolutions with the same kernel and geometry: ``dL/dx`` is the
forward conv of ``dL/dy`` and ``dL/dkernel`` that conv's weight gradient for the output
gradient ``x``.

>>> layer = Conv2DTranspose(1, (1, 3), strides=(1, 2), use_bias=False)
>>> layer.build((1, 1, 2, 1))
>>> layer.set_weights([np.array([1.0, 2.0, 3.0]).reshape(1, 3, 1, 1)])
>>> layer(np.array([1.0, 10.0]).reshape(1, 1, 2, 1))[0, :, :, 0]
array([[ 1.,  2., 13., 20., 30.]], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from convolab.layers.base import torch_array, torch_module
from convolab.layers.conv import BaseConv
from convolab.ops.arguments import LAST
from convolab.ops.backward import conv_backward
from convolab.ops.conv import conv
from convolab.ops.transpose import _output_size, conv_transpose
from convolab.shapes import axis_names, normalize_tuple, resolve_padding


class BaseConvTranspose(BaseConv):
    """Transposed convolution of ``rank`` spatial axes with Keras's arguments; use
    ``Conv1DTranspose``, ``Conv2DTranspose`` or ``Conv3DTranspose``, which fix ``rank``.

    Parameters
    ----------
    filters : int, output channels
    kernel_size : int or r ints
    strides, dilation_rate : int or r ints
    padding : "valid" or "same" (Keras's), or PyTorch's explicit padding (see the module)
    output_padding : None (Keras's default size) or int or r ints, each smaller than the stride
        or the dilation of its axis
    data_format : "channels_last" or "channels_first" (or the rank's names)
    activation : None, "linear", "relu", "sigmoid", "tanh" or "softmax", after the bias
    use_bias : bool
    kernel_initializer, bias_initializer : Keras name, number or callable
    groups : int dividing the input channels and ``filters`` (PyTorch's option)
    seed, dtype, name : as :class:`BaseConv`

    Attributes
    ----------
    kernel : ndarray, shape (*kernel, filters // groups, C_in), once built
    bias : ndarray, shape (filters,), or None
    """

    def __init__(
        self,
        filters: int,
        kernel_size: object,
        strides: object = 1,
        padding: object = "valid",
        output_padding: object = None,
        data_format: str = "channels_last",
        dilation_rate: object = 1,
        activation: str | None = None,
        use_bias: bool = True,
        kernel_initializer: object = "glorot_uniform",
        bias_initializer: object = "zeros",
        groups: int = 1,
        seed: int | None = None,
        dtype: object = "float32",
        name: str | None = None,
        **unknown: object,
    ) -> None:
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate,
                         groups, use_bias, kernel_initializer, bias_initializer, "zeros", seed,
                         dtype, activation, name, **unknown)
        if output_padding is None:
            self.output_padding = None
        else:
            self.output_padding = normalize_tuple(output_padding, "output_padding", self.rank,
                                                  minimum=0)
            for o, s, d, axis in zip(self.output_padding, self.strides, self.dilation_rate,
                                     axis_names(self.rank)):
                if o >= max(s, d):
                    raise ValueError(
                        "output_padding: must be smaller than the stride or the dilation of "
                        f"each axis, got {o} for the {axis} (stride {s}, dilation {d})"
                    )

    def _check_padding(self, padding: object) -> None:
        if isinstance(padding, str):
            if padding.lower() not in ("same", "valid"):
                raise ValueError(
                    f"padding: {type(self).__name__} takes 'same', 'valid', an int, one int "
                    f"per axis or one (before, after) pair per axis; got {padding!r}"
                )
        else:  # explicit: the same pairs for every input size
            self._pairs = resolve_padding(padding, (1,) * self.rank, self.kernel_size,
                                          self.strides, self.dilation_rate)

    def _kernel_shape(self, c: int) -> tuple[int, ...]:
        if c % self.groups:
            raise ValueError(
                f"groups: must divide the input channels C={c}, received groups={self.groups}"
            )
        return (*self.kernel_size, self.filters // self.groups, c)

    # -- geometry: Keras's output sizes, then the padding of the conv being transposed ----------

    def _geometry(self, spatial: tuple[int, ...], axes: Sequence[int] | None = None
                  ) -> tuple[tuple[int, ...], tuple]:
        """``(out, pads)`` of the spatial ``axes`` (all by default) of sizes ``spatial``: the
        output size, and the (before, after) padding of the forward conv from ``out`` back to
        ``spatial`` (what the op computes, from its one function for it)."""
        axes = range(self.rank) if axes is None else axes

        def pick(t: Sequence) -> tuple:
            return tuple(t[a] for a in axes)

        padding = self.padding if isinstance(self.padding, str) else pick(self._pairs)
        op = None if self.output_padding is None else pick(self.output_padding)
        return _output_size(spatial, pick(self.kernel_size), pick(self.strides),
                            pick(self.dilation_rate), padding, op)

    def _kwargs(self, pads: tuple) -> dict[str, Any]:
        return dict(stride=self.strides, padding=pads, dilation=self.dilation_rate,
                    groups=self.groups, data_format=self.data_format, kernel_format=LAST)

    def call(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """``conv_transpose(x, kernel, bias)``: (N, *spatial, C_in) -> (N, *out, filters)
        (or channels first, or without N)."""
        spatial = self._split(x.shape)[1]
        out, pads = self._geometry(spatial)
        # the extra size beyond what the padding gives, which conv_transpose calls
        # output_padding: out = (n - 1) * s - before - after + span + extra
        extra = tuple(
            o - ((n - 1) * s - before - after + d * (k - 1) + 1)
            for o, n, s, (before, after), d, k in zip(out, spatial, self.strides, pads,
                                                      self.dilation_rate, self.kernel_size)
        )
        self._pads = pads
        return conv_transpose(x, self.kernel, self.bias, output_padding=extra,
                              **self._kwargs(pads))

    def _backward(self, g: np.ndarray) -> np.ndarray:
        # y = conv_transpose(x, w) is dL/dz of the conv z -> x with kernel w for dL/dx = x, so
        # <conv(z, w), x> = <z, y> for every z: then dL/dx = conv(dL/dy, w), and dL/dw is the
        # weight gradient of conv(dL/dy, w) for the output gradient x.
        x, kw, r = self._x, self._kwargs(self._pads), self.rank
        first = x.ndim - r - (self.data_format == LAST)  # the first spatial axis of x
        sp = slice(first, first + r)
        gx = conv(g, self.kernel, **kw)
        if gx.shape != x.shape:
            # the windows output_padding added past x's last pixels: they feed no pixel of x,
            # and they are zeros of conv's output gradient for dL/dw
            pad = [(0, m - n) for m, n in zip(gx.shape[sp], x.shape[sp])]
            gx = gx[(slice(None),) * first + tuple(slice(0, n) for n in x.shape[sp])]
            x = np.pad(x, [(0, 0)] * first + pad + [(0, 0)] * (x.ndim - first - r))
        _, gw, _ = conv_backward(x, g, self.kernel, bias=False, **kw)
        channel = g.ndim - 1 if self.data_format == LAST else g.ndim - r - 1
        gb = g.sum(axis=tuple(i for i in range(g.ndim) if i != channel))
        self._set_grads(gw, gb if self.use_bias else None)
        return gx.astype(self.dtype, copy=False)

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, ...]:
        """Output shape for ``input_shape`` (batch included; it and spatial sizes may be None).

        >>> Conv2DTranspose(8, 3, strides=2, padding="same").compute_output_shape((None, 7, 7, 4))
        (None, 14, 14, 8)
        >>> Conv1DTranspose(2, 4, strides=2, padding="valid").compute_output_shape((1, 5, 3))
        (1, 12, 2)
        """
        self._channels(input_shape)
        batch, spatial = self._split(input_shape)
        # each axis's size depends on that axis alone: an unknown one stays unknown
        out = tuple(None if n is None else self._geometry((n,), (a,))[0][0]
                    for a, n in enumerate(spatial))
        return self._join(batch, out, self.filters)

    @classmethod
    def from_torch(cls, module: Any, data_format: str = "channels_first") -> BaseConvTranspose:
        """A built layer equal to a ``torch.nn.ConvTranspose{r}d`` of the layer's rank: its
        padding (removed from each side), output_padding, stride, dilation, groups, weight
        ``(C_in, filters // groups, *kernel)`` and bias; channels_first unless
        ``data_format`` says otherwise."""
        torch_module(cls, module, f"ConvTranspose{cls.rank}d")
        if module.padding_mode != "zeros":
            raise ValueError(f"module: ConvTranspose takes padding_mode='zeros' only, got "
                             f"{module.padding_mode!r}")
        layer = cls(
            module.out_channels, module.kernel_size, strides=module.stride,
            padding=module.padding, output_padding=module.output_padding,
            data_format=data_format, dilation_rate=module.dilation,
            use_bias=module.bias is not None, groups=module.groups,
            dtype=torch_array(module.weight).dtype,
        )
        return layer._with_torch_weights(module, module.in_channels)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(filters={self.filters}, kernel_size={self.kernel_size}, "
            f"strides={self.strides}, padding={self.padding!r}, "
            f"output_padding={self.output_padding}, use_bias={self.use_bias})"
        )


class Conv1DTranspose(BaseConvTranspose):
    """Transposed conv of signals: ``x`` (N, L, C_in) or (N, C_in, L), ``kernel``
    (k, filters // groups, C_in). See :class:`BaseConvTranspose`.

    >>> Conv1DTranspose(2, 3, strides=2, padding="same")(np.ones((1, 5, 4))).shape
    (1, 10, 2)
    """

    rank = 1


class Conv2DTranspose(BaseConvTranspose):
    """Transposed conv of images: ``x`` (N, H, W, C_in) or (N, C_in, H, W), ``kernel``
    (kh, kw, filters // groups, C_in). See :class:`BaseConvTranspose`.

    >>> Conv2DTranspose(2, 3, strides=2)(np.ones((1, 4, 4, 3))).shape   # 4*2 + (3 - 2)
    (1, 9, 9, 2)
    """

    rank = 2


class Conv3DTranspose(BaseConvTranspose):
    """Transposed conv of volumes: ``x`` (N, D, H, W, C_in) or (N, C_in, D, H, W), ``kernel``
    (kd, kh, kw, filters // groups, C_in). See :class:`BaseConvTranspose`."""

    rank = 3
