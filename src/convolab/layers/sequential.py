"""``Sequential``: a stack of layers trained as one model, with Keras's model API.

Each layer's output is the next one's input. The model builds on its first call (every layer
gets the shape the layer before it gives), runs ``backward`` through the layers in reverse, and
offers what optimizers need from one layer (``grads`` and ``parameters()``, every layer's under
``"<index>/<name>"``), so ``optimizer.step(model)`` updates it all. ``fit`` trains by
mini-batches with :func:`convolab.layers.training.train_step` (the same guarded step as
:func:`convolab.layers.fit`).

>>> from convolab.layers import Conv2D
>>> model = Sequential([Conv2D(2, 3, padding="same", seed=0), Conv2D(1, 1, seed=1)])
>>> model(np.ones((4, 5, 5, 3))).shape
(4, 5, 5, 1)
>>> model.count_params(), len(model.get_weights())
(59, 4)
"""

from __future__ import annotations

import math
import numbers
import os
import sys
import zipfile
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from convolab.layers.losses import mse_loss, mse_loss_grad
from convolab.layers.optimizers import SGD
from convolab.layers.training import check_finite, train_step

# cl.receptive_field lives in apps, above layers: the package hands it in (convolab/__init__.py,
# as it registers the Dask backend with ops), so this module never imports apps.
_receptive_field: Callable[..., Any] | None = None


def register_receptive_field(fn: Callable[..., Any]) -> None:
    """Use ``fn`` (``convolab.receptive_field``) for the receptive-field column of
    :meth:`Sequential.summary`."""
    global _receptive_field
    _receptive_field = fn


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _where(index: int, layer: Any) -> str:
    """``"layers[2] (dense)"``: how errors name a layer."""
    return f"layers[{index}] ({getattr(layer, 'name', None) or type(layer).__name__})"


def _shape_text(shape: Sequence[int | None]) -> str:
    return "(" + ", ".join("None" if n is None else str(n) for n in shape) + \
        ("," if len(shape) == 1 else "") + ")"


class Sequential:
    """A linear stack of layers: ``model(x)`` is ``layers[-1](... layers[0](x))``.

    Parameters
    ----------
    layers : iterable of layers, or None (then :meth:`add` them one by one). A layer is any
        object with convolab's layer protocol (``build``, ``__call__(x, training=False)``,
        ``backward``, ``grads``, ``parameters()``, ``get_weights``/``set_weights``,
        ``compute_output_shape``): every layer of :mod:`convolab.layers`.
    name : str or None ("sequential")

    Attributes
    ----------
    layers : list, in order
    built : bool, whether every layer has its weights
    input_shape, output_shape : tuples with the batch size None, once built
    """

    def __init__(self, layers: Iterable[Any] | None = None, name: str | None = None) -> None:
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"name: expected a non-empty str or None, got {name!r}")
        self.name = name or "sequential"
        self.layers: list[Any] = []
        self._shapes: list[tuple[int | None, ...]] | None = None  # input, then each output
        if layers is not None:
            if isinstance(layers, (str, bytes)) or not isinstance(layers, Iterable):
                raise TypeError(f"layers: expected a list of layers, got "
                                f"{type(layers).__name__}")
            for layer in layers:
                self.add(layer)

    # -- building -------------------------------------------------------------------------

    def add(self, layer: Any) -> None:
        """Append ``layer`` to the stack (built on the model's next call or build)."""
        missing = [m for m in ("__call__", "backward", "build", "compute_output_shape",
                               "get_weights", "set_weights") if not hasattr(layer, m)]
        if isinstance(layer, (type, Sequential)) or missing:
            what = "a class" if isinstance(layer, type) else type(layer).__name__
            raise TypeError(f"layer: expected a layer instance (Conv2D(6, 5), Dense(10), ...), "
                            f"got {what}" + (f" without {', '.join(missing)}" if missing
                                             and not isinstance(layer, type) else ""))
        self.layers.append(layer)
        self._shapes = None

    @property
    def built(self) -> bool:
        return self._shapes is not None

    @property
    def input_shape(self) -> tuple[int | None, ...] | None:
        return None if self._shapes is None else self._shapes[0]

    @property
    def output_shape(self) -> tuple[int | None, ...] | None:
        return None if self._shapes is None else self._shapes[-1]

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Build every layer for inputs of ``input_shape`` (batch size first, may be None).

        An error in a layer names it: ``layers[5] (dense): ...``.
        """
        if isinstance(input_shape, (str, bytes)) or not isinstance(input_shape, Sequence) or \
                not all(n is None or (_is_int(n) and n >= 0) for n in input_shape):
            raise TypeError(f"input_shape: expected a tuple of sizes, batch first (e.g. (None, "
                            f"28, 28, 1)), got {input_shape!r}")
        if not self.layers:
            raise ValueError("build: the model has no layers; add some first")
        shape: tuple[int | None, ...] = (None, *(int(n) for n in input_shape[1:]))
        shapes = [shape]
        for n, layer in enumerate(self.layers):
            try:
                if not layer.built:
                    layer.build(shape)
                shape = tuple(layer.compute_output_shape(shape))
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"{_where(n, layer)}: {exc}") from None
            shapes.append(shape)
        self._shapes = shapes

    def __call__(self, x: object, training: bool = False) -> np.ndarray:
        """Run every layer in turn; ``training=True`` runs dropout and batch statistics (what
        ``fit`` does), ``False`` inference. Builds the model on the first call."""
        y = np.asarray(x)
        if not self.built:
            if y.ndim < 2:
                raise ValueError(f"x: expected a batch (N, ...) of at least 2 dimensions, got "
                                 f"shape {y.shape}")
            self.build(y.shape)
        for layer in self.layers:
            y = layer(y, training=training)
        return y

    def backward(self, grad_y: object, *, input_gradient: bool = True) -> np.ndarray | None:
        """Gradients for the last call: fills every layer's ``grads``; returns ``dL/dx``.

        ``input_gradient=False`` (what training does) skips ``dL/dx`` of the first layer, which
        nothing needs: a conv first layer then computes its weights' gradients only, and None
        may come back.
        """
        g = grad_y
        for n in range(len(self.layers) - 1, -1, -1):
            g = self.layers[n].backward(g, input_gradient=input_gradient or n > 0)
        return g

    # -- what optimizers need ----------------------------------------------------------------

    def _keyed(self, per_layer: Callable[[Any], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        return {f"{n}/{getattr(layer, 'name', '')}/{key}": value
                for n, layer in enumerate(self.layers) for key, value in per_layer(layer).items()}

    @property
    def grads(self) -> dict[str, np.ndarray]:
        """Every layer's gradients after ``backward``, keyed ``"<index>/<name>/<weight>"``."""
        return self._keyed(lambda layer: layer.grads)

    def parameters(self) -> dict[str, np.ndarray]:
        """Every layer's live trainable weights, keyed as :attr:`grads`."""
        self._require_built("parameters")
        return self._keyed(lambda layer: layer.parameters())

    # -- weights ---------------------------------------------------------------------------

    def _require_built(self, what: str) -> None:
        if not self.built:
            raise ValueError(f"{what}: the model has no weights yet; call it on an input or "
                             "call build(input_shape) first")

    def count_params(self) -> int:
        """Number of weights, trainable or not (batch norm's moving statistics count)."""
        self._require_built("count_params")
        return sum(layer.count_params() for layer in self.layers)

    def get_weights(self) -> list[np.ndarray]:
        """Copies of every layer's weights, in order (each layer's ``get_weights()``)."""
        self._require_built("get_weights")
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights: Sequence[object]) -> None:
        """Set every layer's weights from a list as :meth:`get_weights` returns it."""
        self._require_built("set_weights")
        counts = [len(layer.get_weights()) for layer in self.layers]
        if len(weights) != sum(counts):
            raise ValueError(f"set_weights: expected {sum(counts)} arrays (per layer: "
                             f"{counts}), got {len(weights)}")
        start = 0
        for n, (layer, count) in enumerate(zip(self.layers, counts)):
            try:
                layer.set_weights(list(weights[start:start + count]))
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"{_where(n, layer)}: {exc}") from None
            start += count

    def save_weights(self, path: str | os.PathLike) -> None:
        """Write every weight to ``path`` as a ``.npz`` (NumPy's zip of ``.npy`` arrays), under
        ``layers.<index>.<k>``, with the layer names under ``names``; exactly the given path
        (no suffix is added). Values and dtypes round-trip exactly through :meth:`load_weights`.
        """
        self._require_built("save_weights")
        arrays = {f"layers.{n}.{k}": w for n, layer in enumerate(self.layers)
                  for k, w in enumerate(layer.get_weights())}
        arrays["names"] = np.array([getattr(layer, "name", type(layer).__name__)
                                    for layer in self.layers])
        with open(path, "wb") as f:
            np.savez(f, **arrays)

    def load_weights(self, path: str | os.PathLike) -> None:
        """Set every weight from a file :meth:`save_weights` wrote, by position.

        The model must be built. A file that does not match it (another number of layers or
        weights, a weight of another shape) is a ValueError naming the layer and the shapes;
        nothing is changed then.
        """
        self._require_built("load_weights")
        try:
            with np.load(path, allow_pickle=False) as data:
                stored = {key: data[key] for key in data.files}
        except (zipfile.BadZipFile, ValueError, EOFError) as exc:
            raise ValueError(f"load_weights: {os.fspath(path)} is not a weights file written by "
                             f"save_weights ({exc})") from None
        names = [str(s) for s in stored.pop("names", np.array([]))]
        current = [layer.get_weights() for layer in self.layers]
        if len(names) != len(self.layers):
            raise ValueError(f"load_weights: {os.fspath(path)} holds weights for {len(names)} "
                             f"layers ({', '.join(names)}), the model has {len(self.layers)}")
        new: list[np.ndarray] = []
        for n, (layer, weights) in enumerate(zip(self.layers, current)):
            keys = sorted((k for k in stored if k.startswith(f"layers.{n}.")),
                          key=lambda k: int(k.rsplit(".", 1)[1]))
            where = f"{_where(n, layer)}, stored as {names[n]!r}"
            if len(keys) != len(weights):
                raise ValueError(f"load_weights: {where}: the file has {len(keys)} weights, the "
                                 f"layer {len(weights)}")
            for k, (key, w) in enumerate(zip(keys, weights)):
                if stored[key].shape != w.shape:
                    raise ValueError(f"load_weights: {where}: weight {k} has shape "
                                     f"{stored[key].shape} in the file, {w.shape} in the model")
                new.append(stored[key])
        self.set_weights(new)

    # -- training ----------------------------------------------------------------------------

    def train_on_batch(self, x: object, y: object, *, optimizer: Any, loss: object,
                       epoch: int = 1) -> float:
        """One step of training on the batch ``(x, y)``: returns its loss (before the update).

        ``optimizer`` and ``loss`` as :meth:`fit` takes them (an optimizer object keeps its
        state from call to call). ``epoch`` is what a :class:`TrainingDivergedError` reports.
        """
        value, _ = self._step(x, y, _optimizer(optimizer), _loss(loss), epoch)
        return value

    def _step(self, x: object, y: object, optimizer: Any, loss: _Loss,
              epoch: int) -> tuple[float, np.ndarray]:
        return train_step(self, x, y, loss=loss.value, loss_grad=loss.grad,
                          optimizer=optimizer, epoch=epoch,
                          forward=lambda xb: self(xb, training=True), input_gradient=False)

    def fit(
        self,
        x: object,
        y: object,
        *,
        epochs: int = 1,
        batch_size: int | None = None,
        optimizer: object = "adam",
        loss: object = "cross_entropy",
        validation_data: tuple[object, object] | None = None,
        shuffle: bool = True,
        seed: int | None = None,
        verbose: int = 1,
    ) -> dict[str, list[float]]:
        """Train by mini-batches; return the history.

        Parameters
        ----------
        x, y : arrays, the inputs (N, ...) and targets (N, ...): class indices (N,) or one-hot
            (N, classes) for ``cross_entropy``, the output's shape for ``mse``
        epochs : int >= 0
        batch_size : int >= 1, or None for 32 (Keras's); the last batch may be smaller
        optimizer : an optimizer object (``SGD(0.1)``, ``Adam(1e-3)``; its state carries over
            between calls) or a name, "sgd" or "adam", for a new one with Keras's defaults
        loss : "cross_entropy" (softmax cross-entropy on logits; Keras's
            "sparse_categorical_crossentropy" and "categorical_crossentropy" are accepted) or
            "mse"; both the mean over the batch
        validation_data : ``(x_val, y_val)`` evaluated after every epoch, or None
        shuffle : bool, a new order of the examples every epoch
        seed : int or None, the shuffling's seed (None: a fresh one)
        verbose : 0 quiet, 1 a progress bar per epoch (tqdm, on stderr; one line per epoch
            without tqdm), 2 one line per epoch (on stdout)

        Returns
        -------
        dict of lists, one value per epoch: ``loss`` (the mean of the epoch's batch losses,
        weighted by batch size, each before its update, as Keras reports it), ``accuracy``
        (of the same predictions; classification losses only), and ``val_loss``,
        ``val_accuracy`` with ``validation_data``.

        Raises
        ------
        TrainingDivergedError : a loss, gradient or weight became non-finite; ``epoch`` says
            when. The weights are those of the failed step.
        ValueError : bad arguments, or ``x``/``y`` of different lengths or not finite
        """
        if not _is_int(epochs) or epochs < 0:
            raise ValueError(f"epochs: expected an int >= 0, received epochs={epochs!r}")
        batch = _batch_size(batch_size)
        if verbose not in (0, 1, 2):
            raise ValueError(f"verbose: expected 0, 1 or 2, received verbose={verbose!r}")
        if seed is not None and not _is_int(seed):
            raise TypeError(f"seed: expected an int or None, received seed={seed!r}")
        opt, loss_fn = _optimizer(optimizer), _loss(loss)
        xa, ya = _pair(x, y, "x", "y")
        check_finite(x=xa, y=ya)
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise TypeError("validation_data: expected (x_val, y_val), got "
                                f"{type(validation_data).__name__}")
            val = _pair(*validation_data, "validation_data x", "validation_data y")
        if not self.built and len(xa):
            self.build(xa.shape)
        rng = np.random.default_rng(seed)
        history: dict[str, list[float]] = {"loss": []}
        if loss_fn.classifies:
            history["accuracy"] = []
        if validation_data is not None:
            history["val_loss"] = []
            if loss_fn.classifies:
                history["val_accuracy"] = []
        steps = math.ceil(len(xa) / batch)
        for epoch in range(1, epochs + 1):
            order = rng.permutation(len(xa)) if shuffle else np.arange(len(xa))
            totals = _Totals(loss_fn.classifies)
            bar = _bar(verbose, steps, f"epoch {epoch}/{epochs}")
            try:
                for start in range(0, len(xa), batch):
                    idx = order[start:start + batch]
                    value, y_hat = self._step(xa[idx], ya[idx], opt, loss_fn, epoch)
                    totals.add(value, y_hat, ya[idx])
                    if bar is not None:
                        bar.set_postfix_str(_logs_text(totals.logs()), refresh=False)
                        bar.update(1)
                logs = totals.logs()
                if validation_data is not None:
                    scores = self.evaluate(*val, batch_size=batch, loss=loss_fn)
                    logs.update({f"val_{k}": v for k, v in scores.items()})
                if bar is not None:
                    bar.set_postfix_str(_logs_text(logs))
            finally:
                if bar is not None:
                    bar.close()
            for key in history:
                history[key].append(logs[key])
            if verbose == 2 or (verbose == 1 and bar is None):
                print(f"epoch {epoch}/{epochs}: {_logs_text(logs)}", flush=True)
        return history

    def evaluate(self, x: object, y: object, *, batch_size: int | None = None,
                 loss: object = "cross_entropy") -> dict[str, float]:
        """The mean loss over ``(x, y)``, and the accuracy for a classification loss, in
        inference mode (dropout off, batch norm's moving statistics): ``{"loss": ...,
        "accuracy": ...}`` (Keras's ``return_dict=True``). Arguments as :meth:`fit`."""
        loss_fn = loss if isinstance(loss, _Loss) else _loss(loss)
        xa, ya = _pair(x, y, "x", "y")
        batch = _batch_size(batch_size)
        totals = _Totals(loss_fn.classifies)
        for start in range(0, len(xa), batch):
            yb = ya[start:start + batch]
            y_hat = self(xa[start:start + batch], training=False)
            totals.add(float(loss_fn.value(y_hat, yb)), y_hat, yb)
        return totals.logs()

    def predict(self, x: object, *, batch_size: int | None = None) -> np.ndarray:
        """The model's output for ``x`` in inference mode, computed ``batch_size`` (32) examples
        at a time."""
        xa = np.asarray(x)
        batch = _batch_size(batch_size)
        if len(xa) == 0:
            return self(xa, training=False)
        return np.concatenate([self(xa[s:s + batch], training=False)
                               for s in range(0, len(xa), batch)])

    # -- PyTorch ---------------------------------------------------------------------------

    @classmethod
    def from_torch(cls, module: Any, *, data_format: str = "channels_first",
                   input_shape: Sequence[int | None] | None = None) -> Sequential:
        """The model equal to a ``torch.nn.Sequential``, with its weights (copied, in their
        dtype), one layer per module (nested ``Sequential`` modules are unrolled,
        ``nn.Identity`` dropped).

        Modules: ``Conv{1,2,3}d``, ``ConvTranspose{1,2,3}d``, ``MaxPool{1,2,3}d``,
        ``AvgPool{1,2,3}d``, ``Linear``, ``Flatten``, ``BatchNorm{1,2,3}d``, ``Dropout``,
        ``ReLU``, ``LeakyReLU``, ``ReLU6``, ``Sigmoid``, ``Tanh``, ``Softmax`` (over the last
        axis); anything else is a TypeError naming it.

        ``data_format="channels_first"`` (the default) computes on PyTorch's layout, exactly as
        the module does. ``"channels_last"`` gives the model Keras's layout instead: the conv,
        pooling and batch-norm layers take ``(N, *spatial, C)``, and the rows of the first
        ``Linear`` after a ``Flatten`` are reordered to the (spatial, channel) order in which a
        channels-last ``Flatten`` lines the values up; that needs ``input_shape`` (with the
        batch axis, channels last: ``(None, 28, 28, 1)``). With ``input_shape`` the model is
        built. torch itself is not imported here.
        """
        _torch_sequential(module, "module")
        fmt = _layout(data_format)
        layers: list[Any] = []
        for n, sub in enumerate(_unrolled(module)):
            layers.extend(_layer_from_torch(sub, fmt, n))
        model = cls(layers)
        if input_shape is not None:
            model.build(input_shape)
        for n, perm in _flatten_orders(model.layers, fmt, model._shapes):
            if perm is not None:
                _reorder_features(model.layers, n, perm)
            elif model._shapes is None:
                raise ValueError("input_shape: data_format='channels_last' reorders the "
                                 "features after the Flatten, which needs the input's shape; "
                                 "pass input_shape=(None, *spatial, channels)")
        return model

    def to_torch(self) -> Any:
        """The same network as a ``torch.nn.Sequential`` with the same weights (copied, in the
        layers' dtype), in training mode as a new PyTorch module is (call ``.eval()`` for
        inference).

        The module takes and gives PyTorch's layout: for a channels-last model, ``x`` goes in
        as ``x.transpose(0, 3, 1, 2)`` (an image), and the rows of the first ``Linear`` after
        a ``Flatten`` are reordered from channels-last order so that the logits are the
        model's. A layer's ``activation`` becomes a module after it; a padding that PyTorch's
        layers do not take (asymmetric, as "same" gives with an even kernel or a stride) is a
        ``ZeroPad``/``ConstantPad`` module before the layer. The model must be built.
        ``Conv*Transpose``, ``SeparableConv2D`` and layers with other options PyTorch lacks
        are a TypeError naming the layer. Needs torch.
        """
        import torch

        self._require_built("to_torch")
        fmt = self._layout()
        made: list[tuple[Any, dict[str, np.ndarray], int]] = []  # module, weights, layer
        for n, (layer, shape_in) in enumerate(zip(self.layers, self._shapes)):
            try:
                made += [(m, w, n) for m, w in _layer_to_torch(torch.nn, layer, shape_in, fmt)]
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"to_torch: {_where(n, layer)}: {exc}") from None
        for n, perm in _flatten_orders(self.layers, fmt, self._shapes):
            batch_norms, dense = _consumer(self.layers, n)
            for _, weights, m in made:  # PyTorch's feature j is the model's perm[j]
                if m in batch_norms:
                    weights.update({k: w[perm] for k, w in weights.items()})
                elif m == dense and weights:  # the Linear, not the activation after it
                    weights["weight"] = weights["weight"][:, perm]
        net = torch.nn.Sequential(*(m for m, _, _ in made))
        dtypes = {w.dtype for w in self.get_weights()}
        net = net.to(torch.float64 if np.dtype(np.float64) in dtypes else torch.float32)
        with torch.no_grad():
            for module, weights, _ in made:
                for name, value in weights.items():
                    getattr(module, name).copy_(torch.from_numpy(np.ascontiguousarray(value)))
        return net

    def _layout(self) -> str:
        """The model's layout: the data_format of its spatial layers (they must agree)."""
        formats = {getattr(layer, "data_format", None) for layer in self.layers
                   if not _is_flatten(layer)} - {None}
        if len(formats) > 1:
            raise ValueError(f"to_torch: the layers mix layouts {sorted(formats)}; PyTorch's "
                             "modules are all channels-first")
        return formats.pop() if formats else LAST

    # -- text ------------------------------------------------------------------------------

    def summary(self, print_fn: Callable[[str], object] | None = None) -> None:
        """Print a table: each layer's name and type, output shape, parameter count, and, while
        the output is a spatial map, the receptive field of one of its units (in input pixels)
        and the jump between neighbouring units (``cl.receptive_field``); then the totals.

        ``print_fn`` receives the table as one string (default: ``print``).
        """
        self._require_built("summary")
        rows = [("Layer (type)", "Output Shape", "Param #", "Receptive field", "Jump")]
        fields = self._fields()
        for layer, shape, field in zip(self.layers, self._shapes[1:], fields):
            name = f"{getattr(layer, 'name', '?')} ({type(layer).__name__})"
            rows.append((name, _shape_text(shape), f"{layer.count_params():,}",
                         *(field or ("-", "-"))))
        widths = [max(len(r[c]) for r in rows) for c in range(5)]
        line = "  ".join("-" * w for w in widths)
        text = [f'Model: "{self.name}", input {_shape_text(self.input_shape)}', line]
        for n, r in enumerate(rows):
            text.append("  ".join(v.ljust(w) if c < 2 else v.rjust(w) if c == 2 else v.ljust(w)
                                  for c, (v, w) in enumerate(zip(r, widths))).rstrip())
            if n == 0:
                text.append(line)
        trainable = sum(w.size for w in self.parameters().values())
        total = self.count_params()
        text += [line, f"Total params: {total:,}", f"Trainable params: {trainable:,}",
                 f"Non-trainable params: {total - trainable:,}"]
        (print if print_fn is None else print_fn)("\n".join(text))

    def _fields(self) -> list[tuple[str, str] | None]:
        """Per layer, ``(field, jump)`` as text while its output is a spatial map, else None."""
        out: list[tuple[str, str] | None] = [None] * len(self.layers)
        shape = self.input_shape
        if _receptive_field is None or shape is None or len(shape) < 3:
            return out
        first = getattr(self.layers[0], "data_format", "channels_last")
        spatial = tuple(shape[2:] if first == "channels_first" else shape[1:-1])
        if not all(_is_int(n) and n >= 1 for n in spatial):
            return out
        for n, out_shape in enumerate(self._shapes[1:]):
            if len(out_shape) != len(shape):
                break  # flattened or pooled globally: no longer a map
            try:
                rf = _receptive_field(self.layers[:n + 1], input_shape=spatial)
            except (TypeError, ValueError):
                break  # a layer the recurrence does not cover (a transposed conv)
            out[n] = ("x".join(map(str, rf.size)), "x".join(map(str, rf.jump)))
        return out

    def __repr__(self) -> str:
        inner = ", ".join(type(layer).__name__ for layer in self.layers)
        return f"Sequential([{inner}], name={self.name!r})"


# --- losses, optimizers, batches ------------------------------------------------------------

class _Loss:
    """A loss by name: its value (a float, the batch mean), its gradient, and whether it
    classifies (then accuracy is reported)."""

    def __init__(self, value: Callable[..., float], grad: Callable[..., np.ndarray],
                 classifies: bool) -> None:
        self.value, self.grad, self.classifies = value, grad, classifies


def _losses() -> dict[str, _Loss]:
    from convolab.layers import losses

    ce = _Loss(losses.cross_entropy, losses.cross_entropy_grad, True)
    mse = _Loss(mse_loss, mse_loss_grad, False)
    return {"cross_entropy": ce, "sparse_categorical_crossentropy": ce,
            "categorical_crossentropy": ce, "mse": mse, "mse_loss": mse,
            "mean_squared_error": mse}


def _loss(loss: object) -> _Loss:
    table = _losses()
    key = loss.lower() if isinstance(loss, str) else loss
    if key not in table:
        raise ValueError(f"loss: expected 'cross_entropy' or 'mse', received loss={loss!r}")
    return table[key]  # type: ignore[index]


def _optimizer(optimizer: object) -> Any:
    if isinstance(optimizer, str):
        from convolab.layers.optimizers import Adam

        named = {"sgd": SGD, "adam": Adam}.get(optimizer.lower())
        if named is not None:
            return named()
    elif callable(getattr(optimizer, "step", None)) and hasattr(optimizer, "learning_rate"):
        return optimizer
    raise ValueError(f"optimizer: expected 'sgd', 'adam' or an optimizer object such as "
                     f"SGD(0.1), received optimizer={optimizer!r}")


def _batch_size(batch_size: object) -> int:
    if batch_size is None:
        return 32
    if not _is_int(batch_size) or batch_size < 1:
        raise ValueError(f"batch_size: expected an int >= 1 or None, received "
                         f"batch_size={batch_size!r}")
    return int(batch_size)


def _pair(x: object, y: object, x_name: str, y_name: str) -> tuple[np.ndarray, np.ndarray]:
    xa, ya = np.asarray(x), np.asarray(y)
    if xa.ndim == 0 or ya.ndim == 0 or len(xa) != len(ya):
        raise ValueError(f"{y_name}: expected one target per example of {x_name} "
                         f"({x_name} has shape {xa.shape}), got shape {ya.shape}")
    return xa, ya


def _correct(y_hat: np.ndarray, y: np.ndarray) -> int:
    """How many rows of ``y_hat`` have their largest value at the true class (``y``: class
    indices, or one-hot rows)."""
    truth = y if y.ndim == y_hat.ndim - 1 else np.argmax(y, axis=-1)
    return int(np.count_nonzero(np.argmax(y_hat, axis=-1) == truth))


class _Totals:
    """Running sums over an epoch's batches: loss weighted by batch size, right answers (for a
    classification loss)."""

    def __init__(self, classifies: bool) -> None:
        self.classifies = classifies
        self.loss, self.right, self.count = 0.0, 0, 0

    def add(self, loss: float, y_hat: np.ndarray, y: np.ndarray) -> None:
        self.loss += loss * len(y)
        self.count += len(y)
        if self.classifies:
            self.right += _correct(y_hat, y)

    def logs(self) -> dict[str, float]:
        n = max(self.count, 1)
        logs = {"loss": self.loss / n}
        if self.classifies:
            logs["accuracy"] = self.right / n
        return logs


def _logs_text(logs: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in logs.items())


def _bar(verbose: int, total: int, desc: str) -> Any:
    """A tqdm bar on stderr for ``verbose=1``; None when quiet or tqdm is not installed."""
    if verbose != 1:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, file=sys.stderr, unit="batch", leave=True,
                dynamic_ncols=True)



# --- PyTorch conversions ---------------------------------------------------------------------
# One place for both directions: which torch module is which layer. Layers build themselves
# from a module (their from_torch); the other way is here, as the model knows the shapes.

LAST, FIRST = "channels_last", "channels_first"
_ELEMENTWISE = ("Activation", "ReLU", "Dropout")  # the feature order passes through these
_TORCH_ACTIVATIONS = {"Sigmoid": "sigmoid", "Tanh": "tanh"}


def _layout(data_format: object) -> str:
    if data_format not in (LAST, FIRST):
        raise ValueError(f"data_format: expected 'channels_first' or 'channels_last', "
                         f"received data_format={data_format!r}")
    return data_format  # type: ignore[return-value]


def _torch_sequential(module: Any, name: str) -> None:
    torch = sys.modules.get("torch")  # a torch module exists only if torch is imported
    if torch is None or not isinstance(module, torch.nn.Sequential):
        kind = type(module)
        raise TypeError(f"{name}: Sequential.from_torch takes a torch.nn.Sequential, got "
                        f"{kind.__module__}.{kind.__qualname__}")


def _unrolled(module: Any) -> list[Any]:
    out = []
    for sub in module:
        kind = type(sub).__name__
        if kind == "Sequential":
            out.extend(_unrolled(sub))
        elif kind != "Identity":
            out.append(sub)
    return out


def _layer_from_torch(module: Any, fmt: str, n: int) -> list[Any]:
    """The layers (zero or one) equal to one torch module."""
    from convolab import layers as L

    kind = type(module).__name__
    rank = kind[-2] if kind[-2:-1].isdigit() and kind.endswith("d") else ""
    try:
        if kind in (f"Conv{rank}d",) and rank:
            return [getattr(L, f"Conv{rank}D").from_torch(module, data_format=fmt)]
        if kind == f"ConvTranspose{rank}d" and rank:
            return [getattr(L, f"Conv{rank}DTranspose").from_torch(module, data_format=fmt)]
        if kind == f"MaxPool{rank}d" and rank:
            return [getattr(L, f"MaxPooling{rank}D").from_torch(module, data_format=fmt)]
        if kind == f"AvgPool{rank}d" and rank:
            return [getattr(L, f"AveragePooling{rank}D").from_torch(module, data_format=fmt)]
        if kind == f"BatchNorm{rank}d" and rank:
            axis = 1 if fmt == FIRST else -1
            return [L.BatchNormalization.from_torch(module, axis=axis)]
        if kind == "Linear":
            return [L.Dense.from_torch(module)]
        if kind == "Flatten":
            return [L.Flatten.from_torch(module)]
        if kind == "Dropout":
            return [L.Dropout.from_torch(module)]
        if kind == "ReLU":
            return [L.ReLU()]
        if kind == "LeakyReLU":
            return [L.ReLU(negative_slope=module.negative_slope)]
        if kind == "ReLU6":
            return [L.ReLU(max_value=6.0)]
        if kind in _TORCH_ACTIVATIONS:
            return [L.Activation(_TORCH_ACTIVATIONS[kind])]
        if kind == "Softmax" and module.dim in (-1, None):
            return [L.Activation("softmax")]
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"module[{n}] ({kind}): {exc}") from None
    raise TypeError(f"module[{n}]: no convolab layer for a torch.nn.{kind}"
                    + (f" with dim={module.dim} (softmax over the last axis only: dim=-1)"
                       if kind == "Softmax" else "") + "; see Sequential.from_torch")


def _is_flatten(layer: Any) -> bool:
    return type(layer).__name__ == "Flatten"


def _flatten_orders(layers: Sequence[Any], fmt: str, shapes: Sequence[tuple] | None
                    ) -> list[tuple[int, np.ndarray | None]]:
    """For each Flatten of a spatial map whose features come out in another order than
    PyTorch's (C, *spatial): ``(index, perm)``, ``perm[j]`` the model's feature at PyTorch's
    position ``j`` (None when the shapes are not known yet)."""
    out = []
    for n, layer in enumerate(layers):
        if not _is_flatten(layer):
            continue
        moves = getattr(layer, "data_format", LAST) == FIRST  # Keras's: channels moved last
        if (fmt == LAST) == moves:
            continue  # flattens (C, *spatial) as PyTorch does
        if shapes is None:
            out.append((n, None))
            continue
        shape = shapes[n][1:]  # the Flatten's input, without the batch
        if len(shape) < 2 or math.prod(shape[:-1] if fmt == LAST else shape[1:]) == 1:
            continue  # no spatial axes (or one position): nothing to reorder
        spatial, c = (shape[:-1], shape[-1]) if fmt == LAST else (shape[1:], shape[0])
        # the model's order is (*spatial, C); PyTorch's position j is (c, *spatial)
        out.append((n, np.arange(math.prod(shape)).reshape(*spatial, c)
                    .transpose(len(spatial), *range(len(spatial))).ravel()))
    return out


def _consumer(layers: Sequence[Any], n: int) -> tuple[list[int], int]:
    """After the Flatten at ``n``: the elementwise layers that pass the features on, and the
    Dense that takes them."""
    passing = []
    for m in range(n + 1, len(layers)):
        kind = type(layers[m]).__name__
        if kind == "Dense":
            return passing, m
        if kind == "BatchNormalization":
            passing.append(m)
        elif kind not in _ELEMENTWISE:
            break
    raise ValueError(f"{_where(n, layers[n])}: the features it lines up in channels-last order "
                     "must go to a Dense (through activations, dropout or batch norm only) to "
                     "be reordered for PyTorch's (C, *spatial) order")


def _reorder_features(layers: Sequence[Any], n: int, perm: np.ndarray) -> None:
    """Reorder, in place, the weights that see the features of the Flatten at ``n`` from
    PyTorch's order to the model's: feature ``perm[j]`` gets what PyTorch's ``j`` had."""
    batch_norms, dense = _consumer(layers, n)
    for m in (*batch_norms, dense):
        layer = layers[m]
        weights = layer.get_weights()
        new = []
        for k, w in enumerate(weights):
            if layer is layers[dense] and k > 0:  # the Dense's bias: per unit, not per feature
                new.append(w)
                continue
            out = np.empty_like(w)
            out[perm] = w
            new.append(out)
        layer.set_weights(new)


def _torch_padding(nn: Any, pads: Sequence[tuple[int, int]], value: float = 0.0,
                   outside: bool = False) -> tuple[Any | None, tuple[int, ...]]:
    """``(pad module or None, symmetric padding)``: PyTorch's layers pad each side of an axis
    alike; other padding (or any, with ``outside``) becomes a ``ZeroPad``/``ConstantPad``
    module (of ``value``) before the layer, and the layer's padding 0."""
    if not any(map(any, pads)) or (not outside and all(b == a for b, a in pads)):
        return None, tuple(b for b, _ in pads)
    flat = tuple(p for b, a in reversed(pads) for p in (b, a))  # last axis first
    r = len(pads)
    pad = (getattr(nn, f"ZeroPad{r}d")(flat) if value == 0.0
           else getattr(nn, f"ConstantPad{r}d")(flat, value))
    return pad, (0,) * r


def _layer_to_torch(nn: Any, layer: Any, shape_in: tuple, fmt: str
                    ) -> list[tuple[Any, dict[str, np.ndarray]]]:
    """The torch modules equal to one layer on inputs of ``shape_in``, each with the weights
    to copy into it by parameter (or buffer) name."""
    from convolab.shapes import resolve_padding

    kind = type(layer).__name__
    modules: list[tuple[Any, dict[str, np.ndarray]]] = []
    weights = layer.get_weights()
    spatial = tuple(shape_in[1:-1] if fmt == LAST else shape_in[2:])
    if kind in ("Conv1D", "Conv2D", "Conv3D", "DepthwiseConv2D"):
        r = layer.rank
        pads = resolve_padding(layer.padding, spatial, layer.kernel_size, layer.strides,
                               layer.dilation_rate)
        mode = layer.padding_mode
        if mode not in ("zeros", "reflect", "replicate", "circular"):
            raise TypeError(f"padding_mode={mode!r} has no PyTorch Conv{r}d equal")
        pad, padding = _torch_padding(nn, pads)
        if pad is not None and mode != "zeros":
            raise TypeError(f"padding {pads} with padding_mode={mode!r}: PyTorch's Conv{r}d "
                            "pads both sides of an axis alike")
        w = layer.get_weights(kernel_format=FIRST)  # (O, C // groups, *kernel), bias
        c = shape_in[-1] if fmt == LAST else shape_in[1]
        conv = getattr(nn, f"Conv{r}d")(c, w[0].shape[0], layer.kernel_size,
                                        stride=layer.strides, padding=padding,
                                        dilation=layer.dilation_rate,
                                        groups=c // w[0].shape[1], bias=layer.use_bias,
                                        padding_mode=mode)
        modules += [(pad, {})] if pad is not None else []
        modules.append((conv, dict(zip(("weight", "bias"), w))))
    elif kind.startswith(("MaxPooling", "AveragePooling")):
        r = layer.rank
        pads = resolve_padding(layer.padding, spatial, layer.pool_size, layer.strides,
                               layer.dilation)
        if kind.startswith("Max"):
            # PyTorch's max pool takes at most half the window of (implicit -inf) padding
            wide = any(2 * max(b, a) > d * (k - 1) + 1 for (b, a), k, d in
                       zip(pads, layer.pool_size, layer.dilation))
            pad, padding = _torch_padding(nn, pads, value=-math.inf, outside=wide)
            pool = getattr(nn, f"MaxPool{r}d")(layer.pool_size, layer.strides, padding,
                                               dilation=layer.dilation,
                                               ceil_mode=layer.ceil_mode)
        else:
            include = layer.count_include_pad
            if include is None:
                include = not isinstance(layer.padding, str)
            pad, padding = _torch_padding(nn, pads)
            if pad is not None and not include:
                raise TypeError(f"padding {pads} that the mean excludes: PyTorch's "
                                f"AvgPool{r}d pads both sides of an axis alike")
            pool = getattr(nn, f"AvgPool{r}d")(layer.pool_size, layer.strides, padding,
                                               ceil_mode=layer.ceil_mode,
                                               count_include_pad=include,
                                               divisor_override=layer.divisor_override)
        modules += [(m, {}) for m in (pad, pool) if m is not None]
    elif kind.startswith(("GlobalAveragePooling", "GlobalMaxPooling")):
        r = layer.rank
        adaptive = "AdaptiveAvgPool" if "Average" in kind else "AdaptiveMaxPool"
        modules.append((getattr(nn, f"{adaptive}{r}d")(1), {}))
        if not layer.keepdims:
            modules.append((nn.Flatten(), {}))
    elif kind == "Dense":
        if len(shape_in) != 2:
            raise TypeError(f"a Dense on {len(shape_in)}-D input: PyTorch's Linear takes the "
                            "last axis, which is not the channels there")
        linear = nn.Linear(shape_in[1], layer.units, bias=layer.use_bias)
        modules.append((linear, dict(zip(("weight", "bias"), [weights[0].T, *weights[1:]]))))
    elif kind == "Flatten":
        modules.append((nn.Flatten(), {}))
    elif kind == "BatchNormalization":
        axis = layer.axis if layer.axis >= 0 else len(shape_in) + layer.axis
        if axis != (1 if fmt == FIRST or len(shape_in) == 2 else len(shape_in) - 1):
            raise TypeError(f"axis={layer.axis} is not the channel axis of {fmt} data")
        r = max(len(shape_in) - 2, 1)
        bn = getattr(nn, f"BatchNorm{r}d")(shape_in[axis], eps=layer.epsilon,
                                           momentum=1 - layer.momentum,
                                           affine=layer.center and layer.scale)
        if layer.center != layer.scale:
            raise TypeError("center != scale: PyTorch's affine has both or neither")
        names = (["weight", "bias"] if layer.center else []) + ["running_mean", "running_var"]
        modules.append((bn, dict(zip(names, weights))))
    elif kind == "Dropout":
        if getattr(layer, "noise_shape", None) is not None:
            raise TypeError("a noise_shape: PyTorch's Dropout drops every value alone")
        modules.append((nn.Dropout(layer.rate), {}))
    elif kind == "ReLU":
        if layer.threshold != 0 or (layer.max_value is not None and layer.negative_slope):
            raise TypeError("threshold or max_value with negative_slope: no PyTorch module")
        modules.append((nn.LeakyReLU(layer.negative_slope) if layer.negative_slope
                        else nn.ReLU() if layer.max_value is None
                        else nn.Hardtanh(0.0, layer.max_value), {}))
    elif kind != "Activation":
        raise TypeError(f"no PyTorch module for a {kind} here")
    activation = getattr(layer, "activation", None)
    if activation not in (None, "linear"):
        make = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh,
                "softmax": lambda: nn.Softmax(dim=-1)}[activation]
        modules.append((make(), {}))
    return modules
