"""``BatchNormalization``: normalise each channel by batch statistics, Keras's layer.

For the channel axis ``axis`` (Keras's default -1, the channels of channels_last data; 1 for
channels_first), with the mean ``mu`` and the biased variance ``var`` of each channel over all
other axes (the batch and the spatial axes)::

    training:   y = gamma * (x - mu) / sqrt(var + epsilon) + beta
                moving_mean     = momentum * moving_mean     + (1 - momentum) * mu
                moving_variance = momentum * moving_variance + (1 - momentum) * var
    inference:  y = gamma * (x - moving_mean) / sqrt(moving_variance + epsilon) + beta

Keras's defaults: ``momentum=0.99``, ``epsilon=1e-3``. PyTorch's ``BatchNorm{1,2,3}d`` is the
same layer with ``momentum = 1 - torch_momentum`` (0.9 for its default 0.1), ``eps=1e-5``,
``axis=1`` and one difference, an option here: it moves ``moving_variance`` towards the
*unbiased* batch variance (``var * M / (M - 1)``, M values per channel), which
``unbiased_moving_variance=True`` selects (``from_torch`` sets it).

``backward`` differentiates what the last call computed: in training the batch statistics
depend on ``x`` (the full normalisation gradient), at inference they are constants.

>>> layer = BatchNormalization(dtype="float64")
>>> x = np.array([[1.0], [3.0]])                       # (N, C) = (2, 1): mean 2, var 1
>>> layer(x, training=True).round(4).ravel().tolist()  # (x - 2) / sqrt(1 + 1e-3)
[-0.9995, 0.9995]
>>> layer.moving_mean, layer.moving_variance           # 0.99 * (0, 1) + 0.01 * (2, 1)
(array([0.02]), array([1.]))
>>> layer(x).round(4).ravel().tolist()                 # inference: the moving statistics
[0.9795, 2.9785]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from convolab.algorithms import channels
from convolab.layers import initializers
from convolab.layers.base import (
    Layer,
    check_bool,
    check_dtype,
    check_real,
    torch_array,
    torch_module,
)
from convolab.ops.arguments import compute_dtype


class BatchNormalization(Layer):
    """Batch normalisation over the channel axis ``axis``, Keras's ``BatchNormalization``.

    Parameters
    ----------
    axis : int, the channel axis (-1: channels_last; 1: channels_first)
    momentum : float in [0, 1], of the moving statistics (Keras's 0.99)
    epsilon : float > 0, added to the variance (Keras's 1e-3)
    center, scale : bool, whether there is a ``beta`` / a ``gamma``
    beta_initializer, gamma_initializer, moving_mean_initializer,
    moving_variance_initializer : Keras name, number or callable f(shape, dtype, rng)
    unbiased_moving_variance : bool, keyword only: PyTorch's rule for the moving variance
    seed : int or None, for random initializers
    dtype : "float32" (default, as Keras), "float64" or "float16"; inputs are cast to it
    activation, name : as every layer (the activation applies after ``beta``)

    Attributes
    ----------
    gamma, beta : ndarray, shape (C,), or None without ``scale`` / ``center``; trained
    moving_mean, moving_variance : ndarray, shape (C,); not trained (updated by training
        calls), so ``weights`` and ``grads`` hold ``gamma`` and ``beta`` only, while
        ``get_weights()`` returns all four (Keras's order)
    """

    _weight_names = ("gamma", "beta", "moving_mean", "moving_variance")
    _trainable = ("gamma", "beta")

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True, beta_initializer: object = "zeros",
                 gamma_initializer: object = "ones", moving_mean_initializer: object = "zeros",
                 moving_variance_initializer: object = "ones", *,
                 unbiased_moving_variance: bool = False, seed: int | None = None,
                 dtype: object = "float32", activation: str | None = None,
                 name: str | None = None, **unknown: object) -> None:
        self._init_layer(unknown, activation, name)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"axis: expected an int (the channel axis), got {axis!r}")
        self.axis = int(axis)
        self.momentum = check_real(momentum, "momentum", minimum=0.0, below=1.0,
                                   inclusive=True)
        self.epsilon = check_real(epsilon, "epsilon", minimum=0.0)
        if self.epsilon == 0:
            raise ValueError("epsilon: expected a real number > 0, received epsilon=0")
        self.center = check_bool(center, "center")
        self.scale = check_bool(scale, "scale")
        self.unbiased_moving_variance = check_bool(unbiased_moving_variance,
                                                   "unbiased_moving_variance")
        self.beta_initializer = beta_initializer
        self.gamma_initializer = gamma_initializer
        self.moving_mean_initializer = moving_mean_initializer
        self.moving_variance_initializer = moving_variance_initializer
        self._inits = [initializers.get(init, arg) for init, arg in (
            (gamma_initializer, "gamma_initializer"), (beta_initializer, "beta_initializer"),
            (moving_mean_initializer, "moving_mean_initializer"),
            (moving_variance_initializer, "moving_variance_initializer"))]
        self.seed = seed
        self.dtype = check_dtype(dtype)
        self.gamma = self.beta = self.moving_mean = self.moving_variance = None
        self._xhat: np.ndarray | None = None  # (x - mean) / std of the last call
        self._inv_std: np.ndarray | None = None  # 1 / std per channel, the last call's
        self._mean: np.ndarray | None = None  # the mean the last compiled call subtracted
        self._trained = False  # whether the last call used the batch statistics

    def _channel_axis(self, ndim: int, name: str = "input_shape") -> int:
        if not -ndim <= self.axis < ndim:
            raise ValueError(
                f"axis: {self.axis} is out of range for a {name} of {ndim} axes"
            )
        return self.axis % ndim

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Create ``gamma``, ``beta``, ``moving_mean``, ``moving_variance``, each (C,), C
        being ``input_shape[axis]``."""
        c = input_shape[self._channel_axis(len(input_shape))]
        if c is None:
            raise ValueError(f"input_shape: the size of axis {self.axis} (the channels) must "
                             f"be known, got {tuple(input_shape)}")
        wanted = (self.scale, self.center, True, True)
        self._make_weights([(name, (int(c),) if want else None, init) for name, want, init
                            in zip(self._weight_names, wanted, self._inits)], self.seed)

    def _check_input(self, shape: tuple[int, ...]) -> None:
        self._channel_axis(len(shape), "x")

    def _per_channel(self, ndim: int, a: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """``(axes reduced, shape of a per-channel array broadcast against x)``."""
        shape = [1] * ndim
        shape[a] = self.moving_mean.size
        return tuple(i for i in range(ndim) if i != a), tuple(shape)

    def call(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        a = self._channel_axis(x.ndim, "x")
        if x.shape[a] != self.moving_mean.size:
            raise ValueError(f"x: expected {self.moving_mean.size} channels on axis "
                             f"{self.axis}, got shape {x.shape}")
        axes, bshape = self._per_channel(x.ndim, a)
        dt = compute_dtype(self.dtype)
        xc = x.astype(dt, copy=False)
        m = x.size // max(x.shape[a], 1)  # values per channel
        if training and m < 1 + self.unbiased_moving_variance:
            raise ValueError(
                f"x: training statistics need at least {1 + self.unbiased_moving_variance} "
                f"value(s) per channel, got shape {x.shape}"
            )
        x2 = xc.reshape(-1, xc.shape[-1]) if a == x.ndim - 1 else None
        if x2 is not None and channels.runs(x2):
            return self._compiled_call(x2, training).reshape(x.shape).astype(self.dtype,
                                                                             copy=False)
        if training:
            mean = xc.mean(axis=axes)
            xm = xc - mean.reshape(bshape)
            var = np.mean(xm * xm, axis=axes)  # biased, as both frameworks normalise
            self._statistics(True, mean, var, m)
        else:
            xm = xc - self.moving_mean.astype(dt).reshape(bshape)
            var = self.moving_variance.astype(dt)
        inv_std = 1 / np.sqrt(var + dt.type(self.epsilon))
        self._xhat = xhat = xm * inv_std.reshape(bshape)
        self._inv_std, self._trained = inv_std, bool(training)
        y = xhat * self.gamma.astype(dt).reshape(bshape) if self.scale else xhat.copy()
        if self.center:
            y += self.beta.astype(dt).reshape(bshape)
        return y.astype(self.dtype, copy=False)

    def _statistics(self, training: bool, mean: np.ndarray | None, var: np.ndarray | None,
                    m: int) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, var)`` the call normalises by: the batch's (updating the moving averages)
        in training, else the moving ones; ``m`` values per channel."""
        if not training:
            return self.moving_mean, self.moving_variance
        moving_var = var * (m / (m - 1)) if self.unbiased_moving_variance else var
        for w, batch in ((self.moving_mean, mean), (self.moving_variance, moving_var)):
            w[...] = w * self.momentum + batch * (1 - self.momentum)
        return mean, var

    def _compiled_call(self, x2: np.ndarray, training: bool) -> np.ndarray:
        """The layer on channels-last ``(rows, C)`` by the compiled kernels: the statistics in
        two passes, the output in one; x-hat is not kept (backward recomputes it from x)."""
        dt = x2.dtype
        mean, var = channels.mean_var(x2) if training else (None, None)
        mean, var = self._statistics(training, mean, var, x2.shape[0])
        mean, var = mean.astype(dt), var.astype(dt)
        inv_std = 1 / np.sqrt(var + dt.type(self.epsilon))
        self._xhat, self._mean = None, mean
        self._inv_std, self._trained = inv_std, bool(training)
        q = inv_std * self.gamma.astype(dt) if self.scale else inv_std
        t = self.beta.astype(dt) if self.center else np.zeros_like(inv_std)
        return channels.affine(x2, mean, q, t)

    def _compiled_backward(self, g2: np.ndarray, x2: np.ndarray) -> np.ndarray:
        """``dL/dx`` ``(rows, C)`` by the compiled kernels: the two sums in one pass, the
        gradient in one."""
        inv_std, m = self._inv_std, x2.shape[0]
        g_beta, g_xm = channels.gradient_sums(x2, g2, self._mean)
        g_gamma = g_xm * inv_std
        scale = self._gradients(g_gamma, g_beta, x2.dtype)
        if not self._trained:  # constant statistics: y is affine in x
            return g2 * scale
        # dL/dx = scale * (g - sum(g) / m - xhat * sum(g * xhat) / m), xhat = (x - mean) / std
        return channels.affine(x2, self._mean, -scale * inv_std * (g_gamma / m),
                               -scale * (g_beta / m), g2, scale)

    def _gradients(self, g_gamma: np.ndarray, g_beta: np.ndarray, dt: np.dtype) -> np.ndarray:
        """Set ``grads`` from the sums of ``g * xhat`` and of ``g`` per channel; returns what
        scales the normalisation's gradient, ``gamma / std`` (``1 / std`` without scale)."""
        self.grads = {}
        if self.scale:
            self.grads["gamma"] = g_gamma.astype(self.dtype)
        if self.center:
            self.grads["beta"] = g_beta.astype(self.dtype)
        return self._inv_std if not self.scale else self._inv_std * self.gamma.astype(dt)

    def _backward(self, g: np.ndarray) -> np.ndarray:
        if self._xhat is None:  # the compiled call ran
            x = self._x.astype(compute_dtype(self.dtype), copy=False)
            x2 = x.reshape(-1, x.shape[-1])
            g2 = np.ascontiguousarray(g.reshape(x2.shape), x2.dtype)
            return self._compiled_backward(g2, x2).reshape(x.shape).astype(self.dtype,
                                                                           copy=False)
        x, xhat = self._x, self._xhat
        a = self._channel_axis(x.ndim, "x")
        axes, bshape = self._per_channel(x.ndim, a)
        g = g.astype(xhat.dtype, copy=False)
        g_beta = g.sum(axis=axes)
        g_gamma = (g * xhat).sum(axis=axes)
        scale = self._gradients(g_gamma, g_beta, xhat.dtype)
        if not self._trained:  # constant statistics: y is affine in x
            gx = g * scale.reshape(bshape)
        else:
            # xhat = (x - mean(x)) / std(x): d/dx removes from g its mean and its component
            # along xhat, per channel (M values each):
            #   dL/dx = gamma / std * (g - sum(g) / M - xhat * sum(g * xhat) / M)
            m = x.size // max(x.shape[a], 1)
            gx = g - (g_beta / m).reshape(bshape) - xhat * (g_gamma / m).reshape(bshape)
            gx *= scale.reshape(bshape)
        return gx.astype(self.dtype, copy=False)

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, ...]:
        self._channel_axis(len(input_shape))
        return tuple(input_shape)

    @classmethod
    def from_torch(cls, module: Any, axis: int = 1) -> BatchNormalization:
        """A built layer equal to a ``torch.nn.BatchNorm{1,2,3}d`` (channels on ``axis``, 1 as
        PyTorch's): ``momentum = 1 - module.momentum``, ``epsilon = module.eps``, ``gamma``,
        ``beta`` and the running statistics copied, PyTorch's unbiased moving variance. A
        module without running statistics or with ``momentum=None`` (a cumulative average)
        is a ValueError."""
        torch_module(cls, module, "BatchNorm1d", "BatchNorm2d", "BatchNorm3d")
        if not module.track_running_stats or module.momentum is None:
            raise ValueError(
                "module: BatchNormalization keeps exponential moving statistics; got "
                f"track_running_stats={module.track_running_stats}, "
                f"momentum={module.momentum}"
            )
        mean, var = torch_array(module.running_mean), torch_array(module.running_var)
        layer = cls(axis, momentum=1 - module.momentum, epsilon=module.eps,
                    center=module.affine, scale=module.affine, unbiased_moving_variance=True,
                    dtype=mean.dtype)
        c = module.num_features
        layer.build((1,) * axis + (c,) if axis >= 0 else (c,) + (1,) * (-axis - 1))
        affine = [torch_array(module.weight), torch_array(module.bias)] if module.affine else []
        layer.set_weights([*affine, mean, var])
        return layer
