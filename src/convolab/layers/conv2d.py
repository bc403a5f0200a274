"""``Conv2D``: a convolutional layer with a learnable kernel and bias (6.2.2), Keras-style.

Life cycle as in Keras: ``__init__`` checks the hyperparameters, the first call builds the
weights from the input's channel count (``build``), every call computes ``conv2d`` and keeps the
input so that ``backward`` can return ``dL/dx`` and fill ``grads`` with ``dL/dkernel`` and
``dL/dbias``.

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
from typing import Any

import numpy as np

from convolab.layers import initializers
from convolab.ops.arguments import (
    as_2d,
    as_numeric,
    check_channels,
    check_groups,
    normalize_data_format,
    normalize_kernel_format,
)
from convolab.ops.backward import conv2d_backward
from convolab.ops.conv2d import conv2d
from convolab.shapes import normalize_padding_mode, normalize_pair, output_shape, resolve_padding

_KERAS_FORMATS = {"NHWC": "channels_last", "NCHW": "channels_first"}
# PyTorch's names for Conv2D's arguments, which difflib alone would not all find.
_TORCH_NAMES = {"stride": "strides", "dilation": "dilation_rate", "bias": "use_bias",
                "out_channels": "filters"}


def _unknown_arguments(unknown: dict[str, object], allowed: Sequence[str]) -> TypeError:
    """``Conv2D: unexpected keyword argument 'stride' (did you mean 'strides'?)``."""
    parts = []
    for name in unknown:
        close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
        guess = _TORCH_NAMES.get(name) or (close[0] if close else None)
        parts.append(f"{name!r}" + (f" (did you mean {guess!r}?)" if guess else ""))
    noun = "argument" if len(parts) == 1 else "arguments"
    return TypeError(f"Conv2D: unexpected keyword {noun} {', '.join(parts)}; "
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


class Conv2D:
    """2-D convolutional layer (cross-correlation plus bias), with Keras's arguments.

    Parameters
    ----------
    filters : int
        Output channels O.
    kernel_size : int or (kh, kw)
    strides, dilation_rate : int or (vertical, horizontal)
    padding : "valid", "same", "same_lower", "full", int, (ph, pw) or ((top, bottom), (left, right))
    data_format : "channels_last" (NHWC, Keras's) or "channels_first" (NCHW, PyTorch's)
    groups : int dividing the input channels and ``filters``
    use_bias : bool
    kernel_initializer, bias_initializer : Keras name, number or callable f(shape, dtype, rng)
    padding_mode : "zeros", "reflect", "replicate", "circular", "symmetric" (or aliases)
    seed : int or None; the same seed gives the same initial weights
    dtype : "float32" (default, as Keras), "float64" or "float16"

    Attributes
    ----------
    kernel : ndarray, shape (kh, kw, C // groups, filters) (HWIO), once built
    bias : ndarray, shape (filters,), or None
    grads : dict, "kernel" and "bias" gradients after ``backward``
    """

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
        if unknown:  # a misspelt or PyTorch-named argument: say which one was meant
            allowed = list(inspect.signature(Conv2D.__init__).parameters)[1:-1]
            raise _unknown_arguments(unknown, allowed)
        self.filters = _check_filters(filters)
        self.kernel_size = normalize_pair(kernel_size, "kernel_size")
        self.strides = normalize_pair(strides, "strides")
        self.dilation_rate = normalize_pair(dilation_rate, "dilation_rate")
        # resolve once on a dummy size only to reject bad padding now, not at the first call
        resolve_padding(padding, (1, 1), self.kernel_size, self.strides, self.dilation_rate)
        self.padding = padding
        self.data_format = _KERAS_FORMATS[normalize_data_format(data_format)]
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
        return dict(
            stride=self.strides, padding=self.padding, dilation=self.dilation_rate,
            groups=self.groups, data_format=self.data_format, padding_mode=self.padding_mode,
        )

    def _channels(self, input_shape: Sequence[int | None]) -> int:
        """Input channel count from an (N, H, W, C) / (N, C, H, W) or unbatched shape."""
        if len(input_shape) not in (3, 4):
            raise ValueError(
                "input_shape: expected (N, H, W, C) or (N, C, H, W) (or without N), "
                f"got {tuple(input_shape)}"
            )
        c = input_shape[-1 if self.data_format == "channels_last" else -3]
        if c is None:
            raise ValueError(f"input_shape: the channel count must be known, got {input_shape}")
        return int(c)

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Create ``kernel`` (HWIO) and ``bias`` for inputs of ``input_shape``."""
        c = self._channels(input_shape)
        kh, kw = self.kernel_size
        shape = (kh, kw, c // self.groups, self.filters)
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
        """Forward: ``conv2d(x, kernel, bias)``; ``x`` is cast to the layer's dtype.

        ``x``: (N, H, W, C) for channels_last or (N, C, H, W) for channels_first (or 3-D);
        returns (N, Ho, Wo, filters) or (N, filters, Ho, Wo). The layer keeps ``x`` (not a
        copy, as frameworks do) for ``backward``: changing it in place in between changes the
        gradients.
        """
        xa = as_numeric(x, "x").astype(self.dtype, copy=False)
        if not self.built:
            self.build(xa.shape)
        y = conv2d(xa, self.kernel, self.bias, **self._conv_kwargs())
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
        gx, gw, gb = conv2d_backward(
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

    def get_weights(self, kernel_format: str = "HWIO") -> list[np.ndarray]:
        """Copies of ``[kernel, bias]`` (Keras order; no bias without ``use_bias``).

        ``kernel_format="OIHW"`` gives the kernel in PyTorch's layout, ready for
        ``nn.Conv2d.weight``.
        """
        self._require_built("get_weights")
        kernel = self.kernel
        if normalize_kernel_format(kernel_format) == "OIHW":
            kernel = kernel.transpose(3, 2, 0, 1)
        weights = [np.array(kernel, copy=True, order="C")]
        if self.use_bias:
            weights.append(self.bias.copy())
        return weights

    def set_weights(self, weights: Sequence[object], kernel_format: str = "HWIO") -> None:
        """Set ``[kernel, bias]`` (Keras order), HWIO or, with ``kernel_format="OIHW"``, PyTorch's.

        Shapes must match the built layer's exactly; values are cast to the layer's dtype.
        """
        self._require_built("set_weights")
        kfmt = normalize_kernel_format(kernel_format)
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
                    f"({kfmt if name == 'kernel' else '(filters,)'}), got {got.shape}"
                )
        kernel = new[0].transpose(2, 3, 1, 0) if kfmt == "OIHW" else new[0]
        self.kernel[...] = kernel  # in place: optimizers and callers keep their references
        if self.use_bias:
            self.bias[...] = new[1]

    def count_params(self) -> int:
        """Number of weights: ``kh*kw*(C/groups)*filters (+ filters)``."""
        self._require_built("count_params")
        return sum(w.size for w in self.parameters().values())

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, ...]:
        """Output shape for ``input_shape`` (batch dimension included; it may be None).

        >>> Conv2D(4, 3, strides=2, padding="same").compute_output_shape((None, 8, 8, 3))
        (None, 4, 4, 4)
        """
        self._channels(input_shape)
        last = self.data_format == "channels_last"
        hw = tuple(input_shape[-3:-1] if last else input_shape[-2:])
        ho, wo = output_shape(hw, self.kernel_size, stride=self.strides, padding=self.padding,
                              dilation=self.dilation_rate)
        spatial = (ho, wo, self.filters) if last else (self.filters, ho, wo)
        return (*tuple(input_shape[:-3]), *spatial)

    def get_config(self) -> dict[str, Any]:
        """The constructor's arguments; ``Conv2D.from_config(layer.get_config())`` rebuilds it."""
        return dict(
            filters=self.filters, kernel_size=self.kernel_size, strides=self.strides,
            padding=self.padding, data_format=self.data_format,
            dilation_rate=self.dilation_rate, groups=self.groups, use_bias=self.use_bias,
            kernel_initializer=self.kernel_initializer, bias_initializer=self.bias_initializer,
            padding_mode=self.padding_mode, seed=self.seed, dtype=self.dtype.name,
        )

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Conv2D:
        return cls(**config)

    # -- PyTorch ------------------------------------------------------------------------------

    @classmethod
    def from_torch(cls, module: Any, data_format: str = "channels_first") -> Conv2D:
        """A built ``Conv2D`` with the hyperparameters and weights of a ``torch.nn.Conv2d``.

        PyTorch computes in NCHW, so the layer is channels_first unless ``data_format`` says
        otherwise; the weights are copied (OIHW -> HWIO), torch is not imported here. Any other
        module (``ConvTranspose2d``, ``Conv1d``, ``Linear``, ...) is a TypeError.
        """
        torch = sys.modules.get("torch")  # a torch module exists only if torch is imported
        if torch is None or not isinstance(module, torch.nn.Conv2d):
            kind = type(module)
            raise TypeError(
                "module: Conv2D.from_torch takes a torch.nn.Conv2d, got "
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
        layer.build((1, module.in_channels, 1, 1) if layer.data_format == "channels_first"
                    else (1, 1, 1, module.in_channels))
        weights = [weight] + ([module.bias.detach().cpu().numpy()] if has_bias else [])
        layer.set_weights(weights, kernel_format="OIHW")
        return layer

    def __repr__(self) -> str:
        return (
            f"Conv2D(filters={self.filters}, kernel_size={self.kernel_size}, "
            f"strides={self.strides}, padding={self.padding!r}, use_bias={self.use_bias})"
        )


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
    if layer.filters != 1:
        raise ValueError(
            f"layer: comp_conv2d returns one 2-D feature map, so it needs filters=1, "
            f"got filters={layer.filters}"
        )
    # (h, w) -> (1, h, w, 1) or (1, 1, h, w): a batch of one single-channel image
    y = layer(x[None, :, :, None] if layer.data_format == "channels_last" else x[None, None])
    return y[0, :, :, 0] if layer.data_format == "channels_last" else y[0, 0]
