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

import difflib
import inspect
import sys
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from convolab.layers import initializers
from convolab.ops.arguments import (
    FIRST,
    LAST,
    as_2d,
    as_numeric,
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

# PyTorch's names for the layers' arguments, which difflib alone would not all find.
_TORCH_NAMES = {"stride": "strides", "dilation": "dilation_rate", "bias": "use_bias",
                "out_channels": "filters"}
# the letters of the spatial axes in shapes of the error messages, by rank
_AXES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


def _unknown_arguments(layer: str, unknown: dict[str, object],
                       allowed: Sequence[str]) -> TypeError:
    """``Conv2D: unexpected keyword argument 'stride' (did you mean 'strides'?)``."""
    parts = []
    for name in unknown:
        close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
        guess = _TORCH_NAMES.get(name) or (close[0] if close else None)
        parts.append(f"{name!r}" + (f" (did you mean {guess!r}?)" if guess else ""))
    noun = "argument" if len(parts) == 1 else "arguments"
    return TypeError(f"{layer}: unexpected keyword {noun} {', '.join(parts)}; "
                     f"takes {', '.join(allowed)}")


def _check_filters(filters: object) -> int:
    if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters < 1:
        raise ValueError(f"filters: expected a positive int, received filters={filters!r}")
    return int(filters)


def _check_dtype(dtype: object) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.type not in (np.float16, np.float32, np.float64):
        raise TypeError(f"dtype: expected 'float16', 'float32' or 'float64', got {dtype!r}")
    return dt


def _input_shapes(rank: int) -> str:
    """``"(N, H, W, C) or (N, C, H, W)"`` for rank 2, and so on."""
    sp = ", ".join(_AXES.get(rank) or ("*spatial",))
    return f"(N, {sp}, C) or (N, C, {sp})"


class BaseConv:
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

    Attributes
    ----------
    kernel : ndarray, shape (*kernel, C // groups, filters) (Keras's layout: WIO, HWIO, DHWIO),
        once built
    bias : ndarray, shape (filters,), or None
    grads : dict, "kernel" and "bias" gradients after ``backward``
    """

    rank: ClassVar[int]  # the number of spatial axes, fixed by each subclass

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
        **unknown: object,
    ) -> None:
        if not isinstance(getattr(type(self), "rank", None), int):
            raise TypeError("BaseConv has no rank: use Conv1D, Conv2D or Conv3D")
        if unknown:  # a misspelt or PyTorch-named argument: say which one was meant
            allowed = list(inspect.signature(BaseConv.__init__).parameters)[1:-1]
            raise _unknown_arguments(type(self).__name__, unknown, allowed)
        r = self.rank
        self.filters = _check_filters(filters)
        self.kernel_size = normalize_tuple(kernel_size, "kernel_size", r)
        self.strides = normalize_tuple(strides, "strides", r)
        self.dilation_rate = normalize_tuple(dilation_rate, "dilation_rate", r)
        # resolve once on a dummy size only to reject bad padding now, not at the first call
        resolve_padding(padding, (1,) * r, self.kernel_size, self.strides, self.dilation_rate)
        self.padding = padding
        self.data_format = normalize_data_format(data_format, r)
        self.groups = check_groups(groups)
        if self.filters % self.groups:
            raise ValueError(
                f"groups: must divide filters={self.filters}, received groups={groups}"
            )
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self._init_kernel = initializers.get(kernel_initializer, "kernel_initializer")
        self._init_bias = initializers.get(bias_initializer, "bias_initializer")
        self.padding_mode = normalize_padding_mode(padding_mode)
        self.seed = seed
        self.dtype = _check_dtype(dtype)
        self.kernel: np.ndarray | None = None
        self.bias: np.ndarray | None = None
        self.grads: dict[str, np.ndarray] = {}
        self._x: np.ndarray | None = None  # the last input, kept for backward

    # -- life cycle ---------------------------------------------------------------------------

    @property
    def built(self) -> bool:
        return self.kernel is not None

    def _conv_kwargs(self) -> dict[str, Any]:
        # the kernel is always kept channels-last, whatever the layout of x
        return dict(
            stride=self.strides, padding=self.padding, dilation=self.dilation_rate,
            groups=self.groups, data_format=self.data_format, kernel_format=LAST,
            padding_mode=self.padding_mode,
        )

    def _channels(self, input_shape: Sequence[int | None], name: str = "input_shape") -> int:
        """Input channel count from an (N, *spatial, C) / (N, C, *spatial) or unbatched shape."""
        r = self.rank
        if len(input_shape) not in (r + 1, r + 2):
            raise ValueError(
                f"{name}: expected {_input_shapes(r)} (or without N) for {type(self).__name__}, "
                f"got {tuple(input_shape)}"
            )
        c = input_shape[-1 if self.data_format == LAST else -(r + 1)]
        if c is None:
            raise ValueError(f"{name}: the channel count must be known, got {input_shape}")
        return int(c)

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Create ``kernel`` ``(*kernel, C // groups, filters)`` and ``bias`` for inputs of
        ``input_shape``."""
        c = self._channels(input_shape)
        shape = (*self.kernel_size, c // self.groups, self.filters)
        check_channels(c, shape, self.groups, None, x_name="input")
        kernel_seed, bias_seed = np.random.SeedSequence(self.seed).spawn(2)
        self.kernel = np.ascontiguousarray(
            self._init_kernel(shape, self.dtype, np.random.default_rng(kernel_seed)),
            dtype=self.dtype,
        )
        self.bias = (
            np.ascontiguousarray(
                self._init_bias((self.filters,), self.dtype, np.random.default_rng(bias_seed)),
                dtype=self.dtype,
            )
            if self.use_bias
            else None
        )

    def __call__(self, x: object) -> np.ndarray:
        """Forward: ``conv(x, kernel, bias)``; ``x`` is cast to the layer's dtype.

        ``x``: (N, *spatial, C) for channels_last or (N, C, *spatial) for channels_first (or
        without N); returns (N, *out, filters) or (N, filters, *out). The layer keeps ``x`` (not
        a copy, as frameworks do) for ``backward``: changing it in place in between changes the
        gradients.
        """
        xa = as_numeric(x, "x").astype(self.dtype, copy=False)
        if not self.built:
            self._channels(xa.shape, "x")  # an x of the wrong rank is named as x
            self.build(xa.shape)
        y = conv(xa, self.kernel, self.bias, **self._conv_kwargs())
        self._x = xa
        return y

    def backward(self, grad_y: object) -> np.ndarray:
        """Gradients for the last call: returns ``dL/dx``, fills ``grads``.

        ``grad_y`` is ``dL/dy`` with the shape of the last output.
        """
        if self._x is None:
            raise ValueError(
                "backward: call the layer on an input first; backward needs the input of the "
                "forward pass"
            )
        gx, gw, gb = conv_backward(
            grad_y, self._x, self.kernel, bias=self.use_bias, **self._conv_kwargs()
        )
        self.grads = {"kernel": gw.astype(self.dtype, copy=False)}
        if gb is not None:
            self.grads["bias"] = gb.astype(self.dtype, copy=False)
        return gx.astype(self.dtype, copy=False)

    def parameters(self) -> dict[str, np.ndarray]:
        """The live weight arrays by name ("kernel", "bias"), which optimizers update in place."""
        self._require_built("parameters")
        params = {"kernel": self.kernel}
        if self.use_bias:
            params["bias"] = self.bias
        return params

    # -- Keras's weight API -------------------------------------------------------------------

    def _require_built(self, what: str) -> None:
        if not self.built:
            raise ValueError(
                f"{what}: the layer has no weights yet; call it on an input or call "
                "build(input_shape) first"
            )

    def _kernel_layout(self, kernel_format: object) -> tuple[str, str]:
        """``(canonical, the rank's name)``: ``("channels_first", "OIHW")`` for a Conv2D."""
        kfmt = normalize_kernel_format(kernel_format, self.rank)
        names = layout_names(self.rank)
        return kfmt, names[2] if kfmt == LAST else names[3]

    def get_weights(self, kernel_format: str = "channels_last") -> list[np.ndarray]:
        """Copies of ``[kernel, bias]`` (Keras order; no bias without ``use_bias``).

        ``kernel_format`` is the layer's own "channels_last" (``(*kernel, C // groups, O)``:
        "WIO", "HWIO", "DHWIO") or "channels_first" (PyTorch's ``(O, C // groups, *kernel)``:
        "OIW", "OIHW", "OIDHW"), ready for ``nn.Conv{1,2,3}d.weight``.
        """
        self._require_built("get_weights")
        kfmt, _ = self._kernel_layout(kernel_format)
        weights = [np.array(from_kernel_last(self.kernel, kfmt), copy=True, order="C")]
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
        if len(weights) != len(current):
            names = "[kernel, bias]" if self.use_bias else "[kernel]"
            raise ValueError(
                f"set_weights: expected {len(current)} arrays {names}, got {len(weights)}"
            )
        new = [as_numeric(w, "weights") for w in weights]
        for name, got, want in zip(("kernel", "bias"), new, current):
            if got.shape != want.shape:
                raise ValueError(
                    f"set_weights: {name} must have shape {want.shape} "
                    f"({kname if name == 'kernel' else '(filters,)'}), got {got.shape}"
                )
        # in place: optimizers and callers keep their references to the arrays
        self.kernel[...] = to_kernel_last(new[0], kfmt, self.rank)
        if self.use_bias:
            self.bias[...] = new[1]

    def count_params(self) -> int:
        """Number of weights: ``prod(kernel_size) * (C / groups) * filters (+ filters)``."""
        self._require_built("count_params")
        return sum(w.size for w in self.parameters().values())

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, ...]:
        """Output shape for ``input_shape`` (batch dimension included; it may be None).

        >>> Conv2D(4, 3, strides=2, padding="same").compute_output_shape((None, 8, 8, 3))
        (None, 4, 4, 4)
        >>> Conv1D(4, 5, data_format="channels_first").compute_output_shape((2, 3, 16))
        (2, 4, 12)
        """
        self._channels(input_shape)
        r, last = self.rank, self.data_format == LAST
        spatial = tuple(input_shape[-(r + 1):-1] if last else input_shape[-r:])
        out = output_shape(spatial, self.kernel_size, stride=self.strides, padding=self.padding,
                           dilation=self.dilation_rate)
        batch = tuple(input_shape[:-(r + 1)])
        return (*batch, *out, self.filters) if last else (*batch, self.filters, *out)

    def get_config(self) -> dict[str, Any]:
        """The constructor's arguments; ``type(layer).from_config(layer.get_config())``
        rebuilds the layer."""
        return dict(
            filters=self.filters, kernel_size=self.kernel_size, strides=self.strides,
            padding=self.padding, data_format=self.data_format,
            dilation_rate=self.dilation_rate, groups=self.groups, use_bias=self.use_bias,
            kernel_initializer=self.kernel_initializer, bias_initializer=self.bias_initializer,
            padding_mode=self.padding_mode, seed=self.seed, dtype=self.dtype.name,
        )

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BaseConv:
        return cls(**config)

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
        torch_name = f"Conv{cls.rank}d"
        torch = sys.modules.get("torch")  # a torch module exists only if torch is imported
        if torch is None or not isinstance(module, getattr(torch.nn, torch_name)):
            kind = type(module)
            raise TypeError(
                f"module: {cls.__name__}.from_torch takes a torch.nn.{torch_name}, got "
                f"{kind.__module__}.{kind.__qualname__}"
            )
        weight = module.weight.detach().cpu().numpy()
        has_bias = module.bias is not None
        layer = cls(
            module.out_channels, module.kernel_size, strides=module.stride,
            padding=module.padding, data_format=data_format, dilation_rate=module.dilation,
            groups=module.groups, use_bias=has_bias, padding_mode=module.padding_mode,
            dtype=weight.dtype,
        )
        ones = (1,) * cls.rank
        layer.build((1, module.in_channels, *ones) if layer.data_format == FIRST
                    else (1, *ones, module.in_channels))
        weights = [weight] + ([module.bias.detach().cpu().numpy()] if has_bias else [])
        layer.set_weights(weights, kernel_format=FIRST)
        return layer

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
