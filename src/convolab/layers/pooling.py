"""Pooling layers (D2L 6.5), Keras-style, for signals, images and volumes:
``MaxPooling{1,2,3}D``, ``AveragePooling{1,2,3}D``, ``GlobalMaxPooling{1,2,3}D`` and
``GlobalAveragePooling{1,2,3}D``.

One implementation per kind, parametrised by the number of spatial axes ``rank``; each layer
only fixes it. The windowed layers call :func:`convolab.max_pool` / :func:`convolab.avg_pool`
(whose docstrings give the semantics: Keras's "valid"/"same", and PyTorch's explicit padding,
``ceil_mode``, ``dilation``, ``count_include_pad`` as keyword-only extras). Every layer is a
:class:`~convolab.layers.base.Layer` and follows the protocol of ``convolab.layers`` (``training=``
is ignored); as Keras's, it has no weights (``weights``, ``grads`` and ``get_weights()`` are
empty, ``count_params()`` is 0) and takes no ``activation=``.

>>> pool = MaxPooling2D()                               # 2x2 windows, stride 2
>>> x = np.arange(16.0).reshape(1, 4, 4, 1)              # (N, H, W, C)
>>> pool(x)[0, :, :, 0]
array([[ 5.,  7.],
       [13., 15.]])
>>> pool.backward(np.ones((1, 2, 2, 1)))[0, :, :, 0]    # the gradient goes to each maximum
array([[0., 0., 0., 0.],
       [0., 1., 0., 1.],
       [0., 0., 0., 0.],
       [0., 1., 0., 1.]])
>>> GlobalAveragePooling2D()(x)                          # (N, C)
array([[7.5]])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from convolab.layers.base import Layer, check_bool, input_shapes, torch_module
from convolab.ops.arguments import LAST
from convolab.ops.pooling import (
    avg_pool,
    avg_pool_backward,
    max_pool,
    max_pool_backward,
    pool_data_format,
    pool_geometry,
)
from convolab.shapes import normalize_tuple, resolve_padding


class _Pooling(Layer):
    """What every pooling layer shares beyond :class:`Layer`: a rank, a layout, no weights and
    no ``activation=`` (Keras's pooling layers take none: the base's is None, the identity)."""

    rank: ClassVar[int]
    _output_name = "forward pool"  # "grad_y: must have the shape of the forward pool's output"

    def _init_pooling(self, unknown: dict[str, object], data_format: object,
                      name: object) -> None:
        """Check the rank and the arguments every pooling layer has; set the state."""
        if not isinstance(getattr(type(self), "rank", None), int):
            raise TypeError(f"{type(self).__name__} has no rank: use one of its 1D, 2D or 3D "
                            "layers")
        self._init_layer(unknown, None, name)
        self.data_format = pool_data_format(data_format, self.rank)

    def _split(self, input_shape: Sequence[int | None], name: str = "input_shape"
               ) -> tuple[tuple, tuple, int | None]:
        """``(batch, spatial, channels)`` of an (N, *spatial, C) / (N, C, *spatial) shape or
        of one without N (``batch`` is then ``()``)."""
        r = self.rank
        shape = tuple(input_shape)
        if len(shape) not in (r + 1, r + 2):
            raise ValueError(
                f"{name}: expected {input_shapes(r)} (or without N) for "
                f"{type(self).__name__}, got {shape}"
            )
        batch = shape[:-(r + 1)]
        rest = shape[len(batch):]
        if self.data_format == LAST:
            return batch, rest[:-1], rest[-1]
        return batch, rest[1:], rest[0]

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Check ``input_shape``'s rank; there is nothing to create (the window's fit is the
        op's to check, on every call)."""
        self._split(input_shape)
        self.built = True

    def _check_input(self, shape: tuple[int, ...]) -> None:
        self._split(shape, "x")  # an x of the wrong rank is named as x


class BasePooling(_Pooling):
    """A windowed pooling layer of ``rank`` spatial axes with Keras's arguments; use
    ``MaxPooling{1,2,3}D`` or ``AveragePooling{1,2,3}D``, which fix the rank and the kind.

    Parameters
    ----------
    pool_size : int or r ints (default 2 on every axis, as Keras)
    strides : int, r ints, or None for ``pool_size``
    padding : "valid" or "same" (Keras's), or PyTorch's explicit padding: an int, r ints (each
        side of that axis) or r (before, after) pairs
    data_format : "channels_last" (Keras's: (N, *spatial, C)) or "channels_first" (PyTorch's:
        (N, C, *spatial)); the rank's names ("NWC"/"NCW", "NHWC"/"NCHW", ...) too; None is
        channels_last
    name : str or None (then Keras's: ``max_pooling2d``, ``max_pooling2d_1``, ...)
    ceil_mode : bool, keyword only: PyTorch's (see :func:`convolab.max_pool`)
    """

    _kind: ClassVar[str]  # "max" or "avg"

    def _init_window(self, unknown: dict[str, object], pool_size: object, strides: object,
                     padding: object, data_format: object, name: object, ceil_mode: object,
                     dilation: object = 1) -> None:
        """Check and set what every windowed pooling layer has (the kind's options are its
        own)."""
        self._init_pooling(unknown, data_format, name)
        r = self.rank
        self.pool_size = normalize_tuple(pool_size, "pool_size", r)
        self.strides = self.pool_size if strides is None else normalize_tuple(strides,
                                                                              "strides", r)
        self.dilation = normalize_tuple(dilation, "dilation", r)
        # resolve on a dummy size only to reject a bad padding now, not at the first call
        resolve_padding(padding, (1,) * r, self.pool_size, self.strides, self.dilation)
        self.padding = padding
        self.ceil_mode = check_bool(ceil_mode, "ceil_mode")

    def _options(self) -> dict[str, Any]:
        """The op's keyword arguments beyond the window's."""
        return dict(data_format=self.data_format, ceil_mode=self.ceil_mode, rank=self.rank)

    def compute_output_shape(self, input_shape: Sequence[int | None]
                             ) -> tuple[int | None, ...]:
        """Output shape for ``input_shape`` (batch included; it and spatial sizes may be None).

        >>> MaxPooling2D(2).compute_output_shape((None, 28, 28, 6))
        (None, 14, 14, 6)
        >>> AveragePooling1D(3, 2, padding="same", data_format="channels_first"
        ...                  ).compute_output_shape((8, 4, 9))
        (8, 4, 5)
        """
        batch, spatial, c = self._split(input_shape)
        pads = (None if isinstance(self.padding, str) else
                resolve_padding(self.padding, (1,) * self.rank, self.pool_size, self.strides,
                                self.dilation))
        out = tuple(
            None if n is None else pool_geometry(
                (n,), self.pool_size[a], self.strides[a],
                self.padding if pads is None else (pads[a],),
                dilation=self.dilation[a], ceil_mode=self.ceil_mode,
            ).out_shape[0]
            for a, n in enumerate(spatial)
        )
        return (*batch, *out, c) if self.data_format == LAST else (*batch, c, *out)

    @classmethod
    def from_torch(cls, module: Any, data_format: str = "channels_first") -> BasePooling:
        """The layer equal to a ``torch.nn.MaxPool{r}d`` (for ``MaxPooling{r}D``) or
        ``torch.nn.AvgPool{r}d`` (for ``AveragePooling{r}D``) of the layer's rank.

        PyTorch computes channels-first, so the layer is channels_first unless
        ``data_format`` says otherwise; ``padding`` (each side), ``ceil_mode`` and the kind's
        options are taken as they are. torch is not imported here.
        """
        torch_name = f"{'MaxPool' if cls._kind == 'max' else 'AvgPool'}{cls.rank}d"
        torch_module(cls, module, torch_name)
        extras: dict[str, Any] = {}
        if cls._kind == "max":
            if module.return_indices:
                raise ValueError(
                    f"module: {cls.__name__} returns the maxima only, got a {torch_name} with "
                    "return_indices=True"
                )
            extras["dilation"] = module.dilation
        else:
            extras["count_include_pad"] = bool(module.count_include_pad)
            extras["divisor_override"] = getattr(module, "divisor_override", None)
        stride = module.stride if module.stride not in (None, (), []) else module.kernel_size
        return cls(module.kernel_size, stride, module.padding, data_format,
                   ceil_mode=bool(module.ceil_mode), **extras)


class BaseMaxPooling(BasePooling):
    """Max pooling of ``rank`` spatial axes (:func:`convolab.max_pool`): arguments as
    :class:`BasePooling`, and ``dilation`` (int or r ints, keyword only, PyTorch's). The
    gradient of each window goes to its first maximum (PyTorch's rule)."""

    _kind = "max"

    def __init__(self, pool_size: object = 2, strides: object = None,
                 padding: object = "valid", data_format: str | None = "channels_last",
                 name: str | None = None, *, dilation: object = 1, ceil_mode: bool = False,
                 **unknown: object) -> None:
        self._init_window(unknown, pool_size, strides, padding, data_format, name, ceil_mode,
                          dilation)

    def call(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """(N, *spatial, C) or (N, C, *spatial) (or without N) to (N, *out, C) or
        (N, C, *out)."""
        return max_pool(x, self.pool_size, self.strides, self.padding, dilation=self.dilation,
                        **self._options())

    def _backward(self, g: np.ndarray) -> np.ndarray:
        gx = max_pool_backward(g, self._x, self.pool_size, self.strides, self.padding,
                               dilation=self.dilation, **self._options())
        return gx.astype(self._x.dtype, copy=False)


class BaseAveragePooling(BasePooling):
    """Average pooling of ``rank`` spatial axes (:func:`convolab.avg_pool`): arguments as
    :class:`BasePooling`, and keyword only PyTorch's ``count_include_pad`` (None: False for
    "same", Keras's; True for explicit padding, PyTorch's default) and ``divisor_override``."""

    _kind = "avg"

    def __init__(self, pool_size: object = 2, strides: object = None,
                 padding: object = "valid", data_format: str | None = "channels_last",
                 name: str | None = None, *, ceil_mode: bool = False,
                 count_include_pad: bool | None = None, divisor_override: int | None = None,
                 **unknown: object) -> None:
        self._init_window(unknown, pool_size, strides, padding, data_format, name, ceil_mode)
        if count_include_pad is not None and not isinstance(count_include_pad,
                                                            (bool, np.bool_)):
            raise TypeError(
                f"count_include_pad: expected True, False or None, got {count_include_pad!r}"
            )
        self.count_include_pad = None if count_include_pad is None else bool(count_include_pad)
        if divisor_override is not None and (
            isinstance(divisor_override, (bool, np.bool_))
            or not isinstance(divisor_override, (int, np.integer)) or divisor_override == 0
        ):
            raise ValueError(
                f"divisor_override: expected a non-zero int or None, got {divisor_override!r}"
            )
        self.divisor_override = None if divisor_override is None else int(divisor_override)

    def _avg_options(self) -> dict[str, Any]:
        return dict(count_include_pad=self.count_include_pad,
                    divisor_override=self.divisor_override, **self._options())

    def call(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """(N, *spatial, C) or (N, C, *spatial) (or without N) to (N, *out, C) or
        (N, C, *out)."""
        return avg_pool(x, self.pool_size, self.strides, self.padding, **self._avg_options())

    def _backward(self, g: np.ndarray) -> np.ndarray:
        gx = avg_pool_backward(g, self._x, self.pool_size, self.strides, self.padding,
                               **self._avg_options())
        return gx.astype(self._x.dtype, copy=False)


class MaxPooling1D(BaseMaxPooling):
    """Max pooling of signals: (N, L, C) or (N, C, L). See :class:`BasePooling`.

    >>> MaxPooling1D(2)(np.array([[1.0], [3.0], [2.0], [0.0], [4.0]])[None])[0, :, 0]
    array([3., 2.])
    """

    rank = 1


class MaxPooling2D(BaseMaxPooling):
    """Max pooling of images: (N, H, W, C) or (N, C, H, W). See :class:`BasePooling`.

    >>> MaxPooling2D(3, strides=2, padding="same")(np.ones((1, 7, 7, 2))).shape
    (1, 4, 4, 2)
    """

    rank = 2


class MaxPooling3D(BaseMaxPooling):
    """Max pooling of volumes and video: (N, D, H, W, C) or (N, C, D, H, W). See
    :class:`BasePooling`."""

    rank = 3


class AveragePooling1D(BaseAveragePooling):
    """Average pooling of signals: (N, L, C) or (N, C, L). See :class:`BaseAveragePooling`.

    >>> AveragePooling1D(2, padding="same")(np.array([[1.0], [3.0], [5.0]])[None])[0, :, 0]
    array([2., 5.])
    """

    rank = 1


class AveragePooling2D(BaseAveragePooling):
    """Average pooling of images: (N, H, W, C) or (N, C, H, W). See
    :class:`BaseAveragePooling`. LeNet's 2x2 pooling with stride 2 is ``AveragePooling2D()``.
    """

    rank = 2


class AveragePooling3D(BaseAveragePooling):
    """Average pooling of volumes and video: (N, D, H, W, C) or (N, C, D, H, W). See
    :class:`BaseAveragePooling`."""

    rank = 3


# -- global pooling ----------------------------------------------------------------------------


class BaseGlobalPooling(_Pooling):
    """The maximum or mean of every channel over all spatial positions; use
    ``GlobalMaxPooling{1,2,3}D`` or ``GlobalAveragePooling{1,2,3}D``.

    Parameters
    ----------
    data_format : "channels_last" or "channels_first" (or the rank's names; None is
        channels_last)
    keepdims : bool: keep the spatial axes with size 1 ((N, 1, 1, C) for an image) instead of
        returning (N, C)
    name : str or None
    """

    _kind: ClassVar[str]

    def __init__(self, data_format: str | None = "channels_last", keepdims: bool = False,
                 name: str | None = None, **unknown: object) -> None:
        self._init_pooling(unknown, data_format, name)
        self.keepdims = check_bool(keepdims, "keepdims")

    def _flat(self, a: np.ndarray) -> tuple[np.ndarray, int]:
        """``a`` as (N, S, C) or (N, C, S) (S the spatial positions) and the axis of S."""
        a = a if a.ndim == self.rank + 2 else a[None]
        if self.data_format == LAST:
            return a.reshape(a.shape[0], -1, a.shape[-1]), 1
        return a.reshape(a.shape[0], a.shape[1], -1), 2

    def _out(self, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        """(N, C) reduced values as the caller's output: (N, C), or with the spatial axes."""
        if self.keepdims:
            ones = (1,) * self.rank
            y = y.reshape((y.shape[0], *ones, y.shape[1]) if self.data_format == LAST
                          else (*y.shape, *ones))
        return y if x.ndim == self.rank + 2 else y[0]

    def call(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """(N, *spatial, C) or (N, C, *spatial) (or without N) to (N, C), or with
        ``keepdims`` to (N, 1, ..., C) or (N, C, 1, ...)."""
        _, spatial, _ = self._split(x.shape, "x")
        if 0 in spatial:
            raise ValueError(
                f"x: {type(self).__name__} needs at least one position per spatial axis, got "
                f"shape {x.shape}"
            )
        flat, axis = self._flat(x)
        y = flat.max(axis=axis) if self._kind == "max" else flat.mean(axis=axis)
        return self._out(y, x)

    def _backward(self, g: np.ndarray) -> np.ndarray:
        """The mean's gradient spreads evenly over the positions; the maximum's goes to the
        first maximal position in row-major order (the last NaN if any: PyTorch's rule for max
        pooling, which TensorFlow's ``reduce_max`` does not follow: it splits the gradient
        among tied maxima)."""
        x = self._x
        flat, axis = self._flat(x)  # (N, S, C) or (N, C, S)
        g = np.expand_dims(g.reshape(flat.shape[0], -1).astype(x.dtype, copy=False), axis)
        if self._kind == "avg":
            gx = np.broadcast_to(g / flat.shape[axis], flat.shape)
        else:
            first = np.argmax(flat, axis=axis)  # the first maximum, or the first NaN
            nan = np.isnan(flat)
            if nan.any():  # PyTorch's scan keeps the last NaN
                last = flat.shape[axis] - 1 - np.argmax(np.flip(nan, axis), axis=axis)
                first = np.where(nan.any(axis=axis), last, first)
            gx = np.zeros(flat.shape, dtype=x.dtype)
            np.put_along_axis(gx, np.expand_dims(first, axis), g, axis=axis)
        return np.ascontiguousarray(gx).reshape(x.shape)

    def compute_output_shape(self, input_shape: Sequence[int | None]
                             ) -> tuple[int | None, ...]:
        """Output shape for ``input_shape`` (batch included; it may be None).

        >>> GlobalMaxPooling2D().compute_output_shape((None, 7, 7, 64))
        (None, 64)
        >>> GlobalAveragePooling1D(keepdims=True).compute_output_shape((2, 16, 8))
        (2, 1, 8)
        """
        batch, _, c = self._split(input_shape)
        if not self.keepdims:
            return (*batch, c)
        ones = (1,) * self.rank
        return (*batch, *ones, c) if self.data_format == LAST else (*batch, c, *ones)


class GlobalMaxPooling1D(BaseGlobalPooling):
    """The maximum of each channel over a signal: (N, L, C) or (N, C, L) to (N, C)."""

    rank, _kind = 1, "max"


class GlobalMaxPooling2D(BaseGlobalPooling):
    """The maximum of each channel over an image: (N, H, W, C) or (N, C, H, W) to (N, C)."""

    rank, _kind = 2, "max"


class GlobalMaxPooling3D(BaseGlobalPooling):
    """The maximum of each channel over a volume: (N, D, H, W, C) or (N, C, D, H, W) to
    (N, C)."""

    rank, _kind = 3, "max"


class GlobalAveragePooling1D(BaseGlobalPooling):
    """The mean of each channel over a signal: (N, L, C) or (N, C, L) to (N, C)."""

    rank, _kind = 1, "avg"


class GlobalAveragePooling2D(BaseGlobalPooling):
    """The mean of each channel over an image: (N, H, W, C) or (N, C, H, W) to (N, C).

    >>> GlobalAveragePooling2D(data_format="channels_first")(np.ones((2, 3, 4, 4))).shape
    (2, 3)
    """

    rank, _kind = 2, "avg"


class GlobalAveragePooling3D(BaseGlobalPooling):
    """The mean of each channel over a volume: (N, D, H, W, C) or (N, C, D, H, W) to
    (N, C)."""

    rank, _kind = 3, "avg"


__all__ = [
    "AveragePooling1D", "AveragePooling2D", "AveragePooling3D", "BaseAveragePooling",
    "BaseGlobalPooling", "BaseMaxPooling", "BasePooling", "GlobalAveragePooling1D",
    "GlobalAveragePooling2D", "GlobalAveragePooling3D", "GlobalMaxPooling1D",
    "GlobalMaxPooling2D", "GlobalMaxPooling3D", "MaxPooling1D", "MaxPooling2D",
    "MaxPooling3D",
]
