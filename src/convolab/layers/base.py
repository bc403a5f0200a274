"""What every layer shares: the life cycle, the weight API, names, activations, argument checks.

A layer subclasses :class:`Layer` and writes only what is its own: ``__init__`` (checking its
hyperparameters, keeping each under its own name, and calling :meth:`Layer._init_layer`),
``build`` (creating its weights with :meth:`Layer._make_weights`), ``call`` (the forward
computation, keeping what ``_backward`` needs), ``_backward`` (``dL/dx`` from ``dL/dz``,
filling ``grads``) and ``compute_output_shape``. :class:`Layer` does the rest the same way for
all: building on the first call, applying ``activation`` after ``call`` and going back through
it first in ``backward``, checking ``grad_y``'s shape, Keras's ``get_weights``/
``set_weights``/``count_params``, and ``get_config`` (the constructor's arguments, read back
from those attributes).

>>> from convolab.layers import Dense
>>> layer = Dense(2, activation="relu", name="hidden", kernel_initializer="ones")
>>> layer(np.array([[1.0, -2.0]]))                      # relu([-1, -1] + 0)
array([[0., 0.]], dtype=float32)
>>> layer.name, layer.built, [w.shape for w in layer.weights], layer.count_params()
('hidden', True, [(2, 2), (2,)], 6)
"""

from __future__ import annotations

import difflib
import inspect
import itertools
import numbers
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from convolab.layers import activations
from convolab.ops.arguments import FIRST, LAST, as_numeric, result_dtype

# PyTorch's names for Keras's arguments, which difflib alone would not all find
_TORCH_NAMES = {"stride": "strides", "dilation": "dilation_rate", "bias": "use_bias",
                "out_channels": "filters", "out_features": "units", "eps": "epsilon",
                "p": "rate", "affine": "center", "dim": "axis"}
# the letters of the spatial axes in shapes of the error messages, by rank
_AXES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}
_COUNTERS: dict[str, itertools.count] = {}


def unknown_arguments(layer: str, unknown: dict[str, object],
                      allowed: Sequence[str]) -> TypeError:
    """``Conv2D: unexpected keyword argument 'stride' (did you mean 'strides'?)``."""
    parts = []
    for key in unknown:
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        torch_name = _TORCH_NAMES.get(key)
        guess = torch_name if torch_name in allowed else (close[0] if close else None)
        parts.append(f"{key!r}" + (f" (did you mean {guess!r}?)" if guess else ""))
    noun = "argument" if len(parts) == 1 else "arguments"
    return TypeError(f"{layer}: unexpected keyword {noun} {', '.join(parts)}; "
                     f"takes {', '.join(allowed)}")


def input_shapes(rank: int) -> str:
    """``"(N, H, W, C) or (N, C, H, W)"`` for rank 2, and so on."""
    sp = ", ".join(_AXES.get(rank) or ("*spatial",))
    return f"(N, {sp}, C) or (N, C, {sp})"


def check_dtype(dtype: object) -> np.dtype:
    """A layer's weight dtype: float16, float32 or float64."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.type not in (np.float16, np.float32, np.float64):
        raise TypeError(f"dtype: expected 'float16', 'float32' or 'float64', got {dtype!r}")
    return dt


def check_positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive int, received {name}={value!r}")
    return int(value)


def check_real(value: object, name: str, *, minimum: float | None = None,
               below: float | None = None, inclusive: bool = False) -> float:
    """A real number (not a bool), ``>= minimum`` and ``< below`` (``<=`` with ``inclusive``)
    when given."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    ok = ok and (minimum is None or value >= minimum)
    ok = ok and (below is None or value < below or (inclusive and value == below))
    if not ok:
        rules = ([f">= {minimum:g}"] if minimum is not None else []) + (
            [f"{'<=' if inclusive else '<'} {below:g}"] if below is not None else [])
        rule = f" {' and '.join(rules)}" if rules else ""
        raise ValueError(f"{name}: expected a real number{rule}, received {name}={value!r}")
    return float(value)


def check_bool(value: object, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected True or False, got {value!r}")
    return bool(value)


def check_data_format(data_format: object) -> str:
    """"channels_last" (also None, Keras's default) or "channels_first", for a layer of any
    rank."""
    if data_format is None:
        return LAST
    if isinstance(data_format, str) and data_format.lower() in (LAST, FIRST):
        return data_format.lower()
    raise ValueError(
        f"data_format: expected 'channels_last' or 'channels_first', got {data_format!r}"
    )


def default_name(cls: type) -> str:
    """Keras's naming: the class name in snake case, then ``_1``, ``_2``, ... for later ones
    (``dense``, ``dense_1``, ``conv2d_transpose``, ``re_lu``)."""
    base = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", cls.__name__)  # Keras's to_snake_case
    base = re.sub("([a-z])([A-Z])", r"\1_\2", base).lower()
    n = next(_COUNTERS.setdefault(base, itertools.count()))
    return base if n == 0 else f"{base}_{n}"


def check_name(name: object, cls: type) -> str:
    if name is None:
        return default_name(cls)
    if not isinstance(name, str) or not name:
        raise TypeError(f"name: expected a non-empty str or None, got {name!r}")
    return name


def torch_module(cls: type, module: Any, *torch_names: str) -> Any:
    """``module`` if it is a ``torch.nn.<one of torch_names>``, else a TypeError naming what
    ``cls.from_torch`` takes. torch is not imported here: a torch module exists only if torch
    is."""
    torch = sys.modules.get("torch")
    kinds = tuple(getattr(torch.nn, n) for n in torch_names) if torch is not None else ()
    if not kinds or not isinstance(module, kinds):
        kind = type(module)
        names = " or ".join(f"torch.nn.{n}" for n in torch_names)
        raise TypeError(f"module: {cls.__name__}.from_torch takes a {names}, got "
                        f"{kind.__module__}.{kind.__qualname__}")
    return module


def torch_array(tensor: Any) -> np.ndarray:
    """A torch tensor (a parameter or a buffer) as a NumPy array."""
    return tensor.detach().cpu().numpy()


class Layer:
    """The base of every layer. See ``convolab.layers`` for the protocol it implements.

    Subclasses set ``_weight_names`` (every weight attribute, in Keras's ``get_weights``
    order) and, when some of them are not trained (batch normalisation's moving statistics),
    ``_trainable`` (those an optimizer updates, in the order of ``grads``).
    """

    _weight_names: ClassVar[tuple[str, ...]] = ()
    _trainable: ClassVar[tuple[str, ...] | None] = None  # None: all of _weight_names
    _output_name: ClassVar[str] = "layer"  # "grad_y: must have the shape of the layer's output"
    dtype: np.dtype | None = None  # the weights' dtype; None: computes in the input's dtype
    built: bool = False

    def _init_layer(self, unknown: dict[str, object], activation: object,
                    name: object) -> None:
        """Refuse unknown keyword arguments; set ``activation``, ``name`` and the state."""
        if unknown:  # a misspelt or PyTorch-named argument: say which one was meant
            params = inspect.signature(type(self).__init__).parameters.values()
            allowed = [p.name for p in params
                       if p.name != "self" and p.kind is not inspect.Parameter.VAR_KEYWORD]
            raise unknown_arguments(type(self).__name__, unknown, allowed)
        self.activation = activations.check_activation(activation)
        self._activation = activations.get(self.activation)
        self.name = check_name(name, type(self))
        self.built = False
        self.grads: dict[str, np.ndarray] = {}
        self._x: np.ndarray | None = None  # the last input, for backward
        self._input_gradient = True  # whether the last backward wants dL/dx
        self._y: np.ndarray | None = None  # the last output (after the activation)

    # -- life cycle ---------------------------------------------------------------------------

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Create the weights for inputs of ``input_shape`` (nothing to create here)."""
        self.compute_output_shape(input_shape)  # checks the rank
        self.built = True

    def _input(self, x: object) -> np.ndarray:
        """``x`` as the array the layer computes on: cast to the weights' dtype (Keras's
        policy) or, for a layer without weights, to its own float dtype (ints: float64)."""
        xa = as_numeric(x, "x")
        return xa.astype(self.dtype or result_dtype(xa), copy=False)

    def _check_input(self, shape: tuple[int, ...]) -> None:
        """Called on the first input before ``build``: an error names it ``x``."""

    def __call__(self, x: object, training: bool = False) -> np.ndarray:
        """Forward: ``activation(call(x))``; builds the weights on the first call.

        ``training`` selects the training behaviour of ``Dropout`` and
        ``BatchNormalization``; other layers ignore it. The layer keeps ``x`` and the output
        (not copies, as frameworks do) for ``backward``: changing them in place in between
        changes the gradients.
        """
        xa = self._input(x)
        if not self.built:
            self._check_input(xa.shape)
            self.build(xa.shape)
        y = self._activation.forward(self.call(xa, training=bool(training)))
        self._x, self._y = xa, y
        return y

    def call(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_y: object, *, input_gradient: bool = True) -> np.ndarray | None:
        """Gradients for the last call: returns ``dL/dx`` and fills ``grads`` (``dL/dw`` for
        every trained weight ``w``). ``grad_y`` is ``dL/dy``, the shape of the last output.
        ``input_gradient=False`` says ``dL/dx`` is not wanted (a model's first layer): a layer
        that can skip computing it (a conv) returns None."""
        self._input_gradient = bool(input_gradient)
        if self._x is None:
            raise ValueError(
                "backward: call the layer on an input first; backward needs the input of the "
                "forward pass"
            )
        gy = as_numeric(grad_y, "grad_y")
        if gy.shape != self._y.shape:
            raise ValueError(
                f"grad_y: must have the shape of the {self._output_name}'s output, "
                f"{self._y.shape} here, got {gy.shape}"
            )
        return self._backward(self._activation.backward(gy, self._y))

    def _backward(self, g: np.ndarray) -> np.ndarray:
        """``dL/dx`` from ``g = dL/dz`` (``z`` the output of ``call``); fills ``grads``."""
        raise NotImplementedError

    # -- weights ------------------------------------------------------------------------------

    def _make_weights(self, specs: Sequence[tuple[str, tuple[int, ...] | None, Callable]],
                      seed: int | None) -> None:
        """Create each weight ``(name, shape or None for none, initializer)`` in ``dtype``,
        each from its own stream of ``seed`` (the same seed gives the same weights)."""
        streams = np.random.SeedSequence(seed).spawn(len(specs))
        for (name, shape, init), stream in zip(specs, streams):
            w = None if shape is None else np.ascontiguousarray(
                init(shape, self.dtype, np.random.default_rng(stream)), dtype=self.dtype)
            setattr(self, name, w)
        self.built = True

    def _require_built(self, what: str) -> None:
        if not self.built:
            raise ValueError(
                f"{what}: the layer has no weights yet; call it on an input or call "
                "build(input_shape) first"
            )

    def _present(self, names: Sequence[str]) -> dict[str, np.ndarray]:
        return {n: w for n in names if (w := getattr(self, n, None)) is not None}

    def parameters(self) -> dict[str, np.ndarray]:
        """The live trained weights by name (the keys of ``grads``), which optimizers update in
        place. ``{}`` for a layer without weights."""
        names = self._weight_names if self._trainable is None else self._trainable
        if names:
            self._require_built("parameters")
        return self._present(names)

    @property
    def weights(self) -> list[np.ndarray]:
        """The live arrays an optimizer updates, in the order of ``grads``' values.

        (Keras's ``layer.weights`` also lists non-trained weights; here those are
        ``non_trainable_weights``, and ``get_weights()`` returns copies of all.)
        """
        return list(self.parameters().values())

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        """The live weights no optimizer updates (batch normalisation's moving statistics)."""
        trained = set(self.parameters())
        return [w for n, w in self._present(self._weight_names).items() if n not in trained]

    def get_weights(self) -> list[np.ndarray]:
        """Copies of every weight, in Keras's order (trained or not)."""
        if self._weight_names:
            self._require_built("get_weights")
        return [w.copy() for w in self._present(self._weight_names).values()]

    def _checked_weights(self, weights: Sequence[object],
                         expected: Sequence[tuple[str, tuple[int, ...], str]]
                         ) -> list[np.ndarray]:
        """``weights`` as arrays, checked against ``(name, shape, note)`` for each."""
        if len(weights) != len(expected):
            names = ", ".join(name for name, _, _ in expected)
            raise ValueError(
                f"set_weights: expected {len(expected)} arrays [{names}], got {len(weights)}"
            )
        new = [as_numeric(w, "weights") for w in weights]
        for (name, shape, note), got in zip(expected, new):
            if got.shape != shape:
                raise ValueError(
                    f"set_weights: {name} must have shape {shape}{note}, got {got.shape}"
                )
        return new

    def set_weights(self, weights: Sequence[object]) -> None:
        """Set every weight from a list in :meth:`get_weights`'s order and shapes; values are
        cast to the layer's dtype and written in place (optimizers keep their references)."""
        present = self._present(self._weight_names) if self.built else {}
        if self._weight_names:
            self._require_built("set_weights")
        new = self._checked_weights(weights, [(n, w.shape, "") for n, w in present.items()])
        for w, value in zip(present.values(), new):
            w[...] = value

    def count_params(self) -> int:
        """The number of weights, trained or not (Keras's count)."""
        if self._weight_names:
            self._require_built("count_params")
        return sum(w.size for w in self._present(self._weight_names).values())

    # -- configuration ------------------------------------------------------------------------

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, ...]:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        """The constructor's arguments, read back from the attributes of the same names (every
        layer keeps each argument, checked, under its name, as Keras's do); so
        ``type(layer).from_config(layer.get_config())`` rebuilds the layer."""
        config = {}
        for p in inspect.signature(type(self).__init__).parameters.values():
            if p.name != "self" and p.kind is not inspect.Parameter.VAR_KEYWORD:
                value = getattr(self, p.name)
                config[p.name] = value.name if isinstance(value, np.dtype) else value
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        """The layer of ``get_config()``'s arguments (a new layer, without weights)."""
        return cls(**config)

    def __repr__(self) -> str:
        config = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items()
                           if k not in ("name", "activation") or v is not None)
        return f"{type(self).__name__}({config})"
