"""``Conv1D``, ``Conv2D``, ``Conv3D``: convolutional layers with a learnable kernel and bias
(6.2.2), Keras-style, for signals, images and volumes.

One implementation, :class:`BaseConv`, parametrised by the number of spatial axes ``rank``; the
three layers only fix it. Life cycle as in Keras: ``__init__`` checks the hyperparameters, the
first call builds the weights from the input's channel count (``build``), every call computes
``convolab.conv`` and keeps the input so that ``backward`` can return ``dL/dx`` and fill
``grads`` with ``dL/dkernel`` and ``dL/dbias``.

>>> layer = Conv2D(1, kernel_size=(1, 2), use_bias=False, kernel_initializer="ones")
>>> x = np.array([[1.0, 1.0, 0.0]])[None, :, :, None]   # (N, H, W, C) = (1, 1, 3, 1)
>>> layer(x)[0, :, :, 0]
array([[2., 1.]], dtype=float32)
>>> layer.backward(np.ones((1, 1, 2, 1)))[0, :, :, 0]    # dL/dx for L = sum(y)
array([[1., 2., 1.]], dtype=float32)
>>> layer.grads["kernel"][:, :, 0, 0]                       # dL/dkernel
array([[2., 1.]], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from convolab.layers import initializers
from convolab.layers.base import (
    Layer,
    check_dtype,
    check_positive_int,
    input_shapes,
    torch_array,
    torch_module,
)
from convolab.ops.arguments import (
    FIRST,
    LAST,
    as_2d,
    check_channels,
    check_groups,
    from_kernel_last,
    layout_names,
    normalize_data_format,
    normalize_kernel_format,
    to_kernel_last,
)
from convolab.ops.backward import conv_backward
from convolab.ops.conv import conv
from convolab.shapes import normalize_padding_mode, normalize_tuple, output_shape, resolve_padding


class BaseConv(Layer):
    """Convolutional layer of ``rank`` spatial axes (cross-correlation plus bias), with Keras's
    arguments. Use :class:`Conv1D`, :class:`Conv2D` or :class:`Conv3D`, which fix ``rank``.

    Below, r is the rank and ``(*kernel)`` the r kernel sizes: ``(k,)`` for ``Conv1D``,
    ``(kh, kw)`` for ``Conv2D``, ``(kd, kh, kw)`` for ``Conv3D``.

    Parameters
    ----------
    filters : int
        Output channels O.
    kernel_size : int or r ints
    strides, dilation_rate : int or r ints, one per spatial axis
    padding : "valid", "same", "same_lower", "full", an int, r ints (each side of that axis) or
        r (before, after) pairs
    data_format : "channels_last" (Keras's: (N, *spatial, C)) or "channels_first" (PyTorch's:
        (N, C, *spatial)); the rank's names ("NWC"/"NCW", "NHWC"/"NCHW", "NDHWC"/"NCDHW") too
    groups : int dividing the input channels and ``filters``
    use_bias : bool
    kernel_initializer, bias_initializer : Keras name, number or callable f(shape, dtype, rng)
    padding_mode : "zeros", "reflect", "replicate", "circular", "symmetric" (or aliases)
    seed : int or None; the same seed gives the same initial weights
    dtype : "float32" (default, as Keras), "float64" or "float16"
    activation : None, "linear", "relu", "sigmoid", "tanh" or "softmax", applied after the
        bias (Keras's argument; here after ``dtype``, so that the order above, fixed before it,
        still holds for positional calls)
    name : str or None (then Keras's: ``conv2d``, ``conv2d_1``, ...)

    Attributes
    ----------
    kernel : ndarray, shape (*kernel, C // groups, filters) (Keras's layout: WIO, HWIO, DHWIO),
        once built
    bias : ndarray, shape (filters,), or None
    grads : dict, "kernel" and "bias" gradients after ``backward``
    """

    rank: ClassVar[int]  # the number of spatial axes, fixed by each subclass
    _weight_names = ("kernel", "bias")
    _output_name = "forward conv"

    def __init__(
        self,
        filters: int,
        kernel_size: object,
        strides: object = 1,
        padding: object = "valid",
        data_format: str = "channels_last",
        dilation_rate: object = 1,
        groups: int = 1,
        use_bias: bool = True,
        kernel_initializer: object = "glorot_uniform",
        bias_initializer: object = "zeros",
        padding_mode: str = "zeros",
        seed: int | None = None,
        dtype: object = "float32",
        activation: str | None = None,
        name: str | None = None,
        **unknown: object,
    ) -> None:
        self._init_conv(unknown, kernel_size, strides, padding, data_format, dilation_rate,
                        use_bias, bias_initializer, seed, dtype, activation, name)
        self.filters = check_positive_int(filters, "filters")
        self.groups = check_groups(groups)
        if self.filters % self.groups:
            raise ValueError(
                f"groups: must divide filters={self.filters}, received groups={groups}"
            )
        self.kernel_initializer = kernel_initializer
        self._init_kernel = initializers.get(kernel_initializer, "kernel_initializer")
        self.padding_mode = normalize_padding_mode(padding_mode)

    def _init_conv(self, unknown: dict[str, object], kernel_size: object, strides: object,
                   padding: object, data_format: object, dilation_rate: object,
                   use_bias: object, bias_initializer: object, seed: int | None,
                   dtype: object, activation: object, name: object) -> None:
        """Check and set what every conv-like layer has (its kernel is its own)."""
        cls = type(self)
        if not isinstance(getattr(cls, "rank", None), int):
            ranked = [c.__name__ for c in cls.__subclasses__()
                      if isinstance(c.__dict__.get("rank"), int)]
            uses = " or ".join(filter(None, (", ".join(ranked[:-1]), ranked[-1])))
            raise TypeError(f"{cls.__name__} has no rank: use {uses}")
        self._init_layer(unknown, activation, name)
        r = self.rank
        self.kernel_size = normalize_tuple(kernel_size, "kernel_size", r)
        self.strides = normalize_tuple(strides, "strides", r)
        self.dilation_rate = normalize_tuple(dilation_rate, "dilation_rate", r)
        self._check_padding(padding)
        self.padding = padding
        self.data_format = normalize_data_format(data_format, r)
        self.use_bias = bool(use_bias)
        self.bias_initializer = bias_initializer
        self._init_bias = initializers.get(bias_initializer, "bias_initializer")
        self.seed = seed
        self.dtype = check_dtype(dtype)
        self.kernel: np.ndarray | None = None
        self.bias: np.ndarray | None = None

    def _check_padding(self, padding: object) -> None:
        # resolve once on a dummy size only to reject bad padding now, not at the first call
        resolve_padding(padding, (1,) * self.rank, self.kernel_size, self.strides,
                        self.dilation_rate)

    # -- what differs between conv-like layers ------------------------------------------------

    def _kernel_shape(self, c: int) -> tuple[int, ...]:
        """The shape of ``kernel`` for ``c`` input channels: (*kernel, C // groups, O)."""
        check_channels(c, (*self.kernel_size, c // self.groups, self.filters), self.groups,
                       None, x_name="input")
        return (*self.kernel_size, c // self.groups, self.filters)

    def _out_channels(self, c: int | None) -> int | None:
        return self.filters

    def _groups(self) -> int:
        return self.groups

    def _conv_kernel(self) -> np.ndarray:
        """``kernel`` as the op takes it, (*kernel, C // groups, O) (a view)."""
        return self.kernel

    def _from_conv_kernel(self, w: np.ndarray) -> np.ndarray:
        """An array of :meth:`_conv_kernel`'s shape in ``kernel``'s shape (a view)."""
        return w

    # -- life cycle ---------------------------------------------------------------------------

    def _conv_kwargs(self) -> dict[str, Any]:
        # the kernel is always kept channels-last, whatever the layout of x
        return dict(
            stride=self.strides, padding=self.padding, dilation=self.dilation_rate,
            groups=self._groups(), data_format=self.data_format, kernel_format=LAST,
            padding_mode=self.padding_mode,
        )

    def _channels(self, input_shape: Sequence[int | None], name: str = "input_shape",
                  owner: str | None = None) -> int:
        """Input channel count from an (N, *spatial, C) / (N, C, *spatial) or unbatched shape
        (``owner``: the layer to name in the error, if not this one)."""
        r = self.rank
        if len(input_shape) not in (r + 1, r + 2):
            raise ValueError(
                f"{name}: expected {input_shapes(r)} (or without N) for "
                f"{owner or type(self).__name__}, got {tuple(input_shape)}"
            )
        c = input_shape[-1 if self.data_format == LAST else -(r + 1)]
        if c is None:
            raise ValueError(f"{name}: the channel count must be known, got {input_shape}")
        return int(c)

    def _check_input(self, shape: tuple[int, ...]) -> None:
        self._channels(shape, "x")  # an x of the wrong rank is named as x

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Create ``kernel`` ``(*kernel, C // groups, filters)`` and ``bias`` for inputs of
        ``input_shape``."""
        c = self._channels(input_shape)
        self._make_weights([
            ("kernel", self._kernel_shape(c), self._init_kernel),
            ("bias", (self._out_channels(c),) if self.use_bias else None, self._init_bias),
        ], self.seed)

    def call(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """Forward: ``conv(x, kernel, bias)``; ``x`` (cast to the layer's dtype) is
        (N, *spatial, C) for channels_last or (N, C, *spatial) for channels_first (or without
        N); returns (N, *out, filters) or (N, filters, *out)."""
        return conv(x, self._conv_kernel(), self.bias, **self._conv_kwargs())

    def _backward(self, g: np.ndarray) -> np.ndarray | None:
        gx, gw, gb = conv_backward(
            g, self._x, self._conv_kernel(), bias=self.use_bias,
            input_gradient=self._input_gradient, **self._conv_kwargs()
        )
        self._set_grads(gw, gb)
        return None if gx is None else gx.astype(self.dtype, copy=False)

    def _set_grads(self, gw: np.ndarray, gb: np.ndarray | None) -> None:
        """``grads`` from the op's kernel and bias gradients, in the weights' shapes and dtype."""
        self.grads = {"kernel": self._from_conv_kernel(gw).astype(self.dtype, copy=False)}
        if gb is not None:
            self.grads["bias"] = gb.astype(self.dtype, copy=False)

    # -- Keras's weight API, with PyTorch's kernel layout as an option ------------------------

    def _kernel_layout(self, kernel_format: object) -> tuple[str, str]:
        """``(canonical, the rank's name)``: ``("channels_first", "OIHW")`` for a Conv2D."""
        kfmt = normalize_kernel_format(kernel_format, self.rank)
        names = layout_names(self.rank)
        return kfmt, names[2] if kfmt == LAST else names[3]

    def get_weights(self, kernel_format: str = "channels_last") -> list[np.ndarray]:
        """Copies of ``[kernel, bias]`` (Keras order; no bias without ``use_bias``).

        ``kernel_format`` is the layer's own "channels_last" (``kernel`` as it is; for a
        Conv layer ``(*kernel, C // groups, O)``: "WIO", "HWIO", "DHWIO") or "channels_first"
        (PyTorch's weight: ``(O, C // groups, *kernel)``: "OIW", "OIHW", "OIDHW", ready for
        ``nn.Conv{1,2,3}d.weight``).
        """
        self._require_built("get_weights")
        kfmt, _ = self._kernel_layout(kernel_format)
        kernel = self.kernel if kfmt == LAST else from_kernel_last(self._conv_kernel(), FIRST)
        weights = [np.array(kernel, copy=True, order="C")]
        if self.use_bias:
            weights.append(self.bias.copy())
        return weights

    def set_weights(self, weights: Sequence[object],
                    kernel_format: str = "channels_last") -> None:
        """Set ``[kernel, bias]`` (Keras order), the kernel in ``kernel_format`` (as
        :meth:`get_weights`: channels_last, or channels_first for PyTorch's layout).

        Shapes must match the built layer's exactly; values are cast to the layer's dtype.
        """
        self._require_built("set_weights")
        kfmt, kname = self._kernel_layout(kernel_format)
        current = self.get_weights(kfmt)
        expected = [("kernel", current[0].shape, f" ({kname})")]
        if self.use_bias:
            expected.append(("bias", current[1].shape, " (filters,)"))
        new = self._checked_weights(weights, expected)
        # in place: optimizers and callers keep their references to the arrays
        self.kernel[...] = (new[0] if kfmt == LAST else
                            self._from_conv_kernel(to_kernel_last(new[0], FIRST, self.rank)))
        if self.use_bias:
            self.bias[...] = new[1]

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, ...]:
        """Output shape for ``input_shape`` (batch dimension included; it may be None).

        >>> Conv2D(4, 3, strides=2, padding="same").compute_output_shape((None, 8, 8, 3))
        (None, 4, 4, 4)
        >>> Conv1D(4, 5, data_format="channels_first").compute_output_shape((2, 3, 16))
        (2, 4, 12)
        """
        c = self._channels(input_shape)
        batch, spatial = self._split(input_shape)
        out = output_shape(spatial, self.kernel_size, stride=self.strides, padding=self.padding,
                           dilation=self.dilation_rate)
        return self._join(batch, out, self._out_channels(c))

    def _split(self, shape: Sequence[int | None]) -> tuple[tuple, tuple]:
        """``(batch, spatial)`` of an input shape whose rank :meth:`_channels` checked."""
        r = self.rank
        last = self.data_format == LAST
        return tuple(shape[:-(r + 1)]), tuple(shape[-(r + 1):-1] if last else shape[-r:])

    def _join(self, batch: tuple, spatial: tuple, c: int | None) -> tuple[int | None, ...]:
        return (*batch, *spatial, c) if self.data_format == LAST else (*batch, c, *spatial)

    # -- PyTorch ------------------------------------------------------------------------------

    @classmethod
    def from_torch(cls, module: Any, data_format: str = "channels_first") -> BaseConv:
        """A built layer with the hyperparameters and weights of a ``torch.nn.Conv{r}d`` of the
        layer's rank (``Conv1D.from_torch`` takes an ``nn.Conv1d``, and so on).

        PyTorch computes channels-first, so the layer is channels_first unless ``data_format``
        says otherwise; the weights are copied (``(O, C // groups, *kernel)`` -> the layer's
        ``(*kernel, C // groups, O)``); the module's ``padding`` (ints or "same"/"valid") and
        ``padding_mode`` are taken as they are. torch is not imported here. Any other module
        (another rank, ``ConvTranspose{r}d``, ``Linear``, ...) is a TypeError.
        """
        torch_module(cls, module, f"Conv{cls.rank}d")
        layer = cls(
            module.out_channels, module.kernel_size, strides=module.stride,
            padding=module.padding, data_format=data_format, dilation_rate=module.dilation,
            groups=module.groups, use_bias=module.bias is not None,
            padding_mode=module.padding_mode, dtype=torch_array(module.weight).dtype,
        )
        return layer._with_torch_weights(module, module.in_channels)

    def _with_torch_weights(self, module: Any, in_channels: int) -> BaseConv:
        """This layer built for ``in_channels`` with ``module``'s weight and bias."""
        self.build(self._join((1,), (1,) * self.rank, in_channels))
        weights = [torch_array(module.weight)]
        if module.bias is not None:
            weights.append(torch_array(module.bias))
        self.set_weights(weights, kernel_format=FIRST)
        return self

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(filters={self.filters}, kernel_size={self.kernel_size}, "
            f"strides={self.strides}, padding={self.padding!r}, use_bias={self.use_bias})"
        )


class Conv1D(BaseConv):
    """1-D convolutional layer (signals, sequences): ``x`` (N, L, C) or (N, C, L), ``kernel``
    (k, C // groups, filters). Arguments as :class:`BaseConv` (per axis: an int or a 1-tuple).

    >>> Conv1D(2, 3, padding="same")(np.ones((1, 10, 4))).shape
    (1, 10, 2)
    """

    rank = 1


class Conv2D(BaseConv):
    """2-D convolutional layer (images): ``x`` (N, H, W, C) or (N, C, H, W), ``kernel``
    (kh, kw, C // groups, filters) (HWIO). Arguments as :class:`BaseConv`: ``kernel_size``,
    ``strides``, ``dilation_rate`` an int or (vertical, horizontal); ``padding`` also
    (ph, pw) or ((top, bottom), (left, right)).

    >>> Conv2D(2, 3, strides=2)(np.ones((1, 9, 9, 4))).shape
    (1, 4, 4, 2)
    """

    rank = 2


class Conv3D(BaseConv):
    """3-D convolutional layer (volumes, video): ``x`` (N, D, H, W, C) or (N, C, D, H, W),
    ``kernel`` (kd, kh, kw, C // groups, filters). Arguments as :class:`BaseConv`.

    >>> Conv3D(2, 3, data_format="channels_first")(np.ones((1, 4, 5, 5, 5))).shape
    (1, 2, 3, 3, 3)
    """

    rank = 3


def comp_conv2d(layer: Conv2D, X: object) -> np.ndarray:
    """The seed's helper (6.3.1): run ``layer`` on one 2-D, one-channel image ``X``.

    Adds the batch and channel axes, calls the layer, drops them again: ``(h, w) -> (Ho, Wo)``.

    >>> X = np.random.default_rng(0).uniform(size=(8, 8))
    >>> comp_conv2d(Conv2D(1, kernel_size=3, padding="same"), X).shape
    (8, 8)
    >>> comp_conv2d(Conv2D(1, kernel_size=(5, 3), padding="valid"), X).shape
    (4, 6)
    >>> comp_conv2d(Conv2D(1, kernel_size=(5, 3), padding=(2, 1)), X).shape
    (8, 8)
    >>> comp_conv2d(Conv2D(1, kernel_size=3, padding="same", strides=2), X).shape
    (4, 4)
    """
    x = as_2d(X, "X")
    if getattr(layer, "rank", None) != 2:
        raise TypeError(f"layer: comp_conv2d takes a Conv2D, got {type(layer).__name__}")
    if layer.filters != 1:
        raise ValueError(
            f"layer: comp_conv2d returns one 2-D feature map, so it needs filters=1, "
            f"got filters={layer.filters}"
        )
    # (h, w) -> (1, h, w, 1) or (1, 1, h, w): a batch of one single-channel image
    y = layer(x[None, :, :, None] if layer.data_format == LAST else x[None, None])
    return y[0, :, :, 0] if layer.data_format == LAST else y[0, 0]
