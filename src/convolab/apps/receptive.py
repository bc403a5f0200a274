"""Receptive fields (6.2.6): which input pixels one unit of a conv stack can depend on.

Follows Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional Neural Networks"
(Distill, 2019). Per spatial axis, layer ``l`` with kernel ``k``, stride ``s``, dilation ``d``
and ``before`` pixels of padding at the start maps the quantities of layer ``l-1`` to::

    jump   j_l     = j_{l-1} * s                      (input pixels between neighbouring units)
    size   r_l     = r_{l-1} + d*(k-1) * j_{l-1}      (field of one unit, in input pixels)
    start  start_l = start_{l-1} - before * j_{l-1}   (first pixel of unit 0's field)

from ``j_0 = r_0 = 1``, ``start_0 = 0`` (an input pixel sees itself). Unit ``i`` of the last
layer sees input pixels ``start + i*j`` to ``start + i*j + r - 1``, with its centre at
``start + i*j + (r-1)/2``. Coordinates are those of the unpadded input: a negative one, or one
past the input's end, lies in the padding.

What the field means, exactly: the box of input pixels the unit *could* depend on, counting the
zeros of every padding as if they were pixels. The unit's true dependence (the support of its
input gradient, for kernels with no zero taps) lies inside the field clipped to the input. When
the field lies inside the input, the support's bounding box is the field, and the support is
exactly the pixels at :attr:`ReceptiveField.offsets` in it: the whole box unless taps farther
apart than the field below them (a dilation of 4 on a 3x3 field, a 1x1 conv of stride 2 before
a 2x2 one) leave holes (:attr:`ReceptiveField.holes`). Near the border the support can be
smaller than the clipped field: a padding zero of an intermediate map depends on no pixel at
all, though the recurrence gives it a field.

Pure arithmetic, no arrays; shapes come from :func:`convolab.shapes.conv_geometry`.

>>> rf = receptive_field([dict(kernel_size=3), dict(kernel_size=3, strides=2),
...                       dict(kernel_size=3)], input_shape=(13, 13))
>>> rf.size, rf.jump, rf.out_shape
((9, 9), (2, 2), (3, 3))
>>> rf.field((1, 2))
((2, 10), (4, 12))
"""

from __future__ import annotations

import dataclasses
import difflib
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

from convolab.shapes import axis_names, conv_geometry, normalize_tuple, resolve_padding

Sizes = tuple[int, ...]  # one int per spatial axis
Pads = tuple[tuple[int, int], ...]  # one (before, after) per spatial axis

_DICT_KEYS = ("kernel_size", "pool_size", "strides", "padding", "dilation_rate", "name")
# Other libraries' names for the keys, which difflib alone would not all find.
_OTHER_NAMES = {"stride": "strides", "dilation": "dilation_rate", "kernel": "kernel_size",
                "pool": "pool_size", "pad": "padding"}
# Layers after which nothing is spatial any more: the field ends there.
_ENDS = ("Flatten", "Dense", "Linear")


@dataclass(frozen=True)
class LayerField:
    """One layer of the stack and the field after it; every tuple has one entry per axis.

    ``pads`` is the resolved ``(before, after)`` padding per axis (``((top, bottom), (left,
    right))`` for an image); ``out_shape`` the layer's output size, None without an input
    shape; ``jump``, ``size`` and ``start`` the recurrence's ``j_l``, ``r_l`` and ``start_l``
    (input coordinates). :attr:`offsets` says which pixels of a field inside the input the unit
    depends on, :attr:`holes` whether some are left out.
    """

    label: str
    kernel_size: Sizes
    strides: Sizes
    dilation_rate: Sizes
    padding: object
    pads: Pads
    out_shape: Sizes | None
    jump: Sizes
    size: Sizes
    start: Sizes
    # per axis, bit t set: the unit depends on the field's pixel at offset t
    masks: tuple[int, ...] = dataclasses.field(repr=False)

    @property
    def holes(self) -> bool:
        """Whether the field has pixels (away from the border) the unit never depends on."""
        return any(m.bit_count() < r for m, r in zip(self.masks, self.size))

    @property
    def offsets(self) -> tuple[tuple[int, ...], ...]:
        """Per axis, the offsets from the field's first pixel that the unit depends on, when
        its field lies inside the input: ``range(size)`` unless the field has holes.

        >>> receptive_field([dict(kernel_size=2, dilation_rate=3)], (8,)).layers[0].offsets
        ((0, 3),)
        """
        return tuple(tuple(t for t in range(m.bit_length()) if m >> t & 1) for m in self.masks)

    @property
    def centre(self) -> tuple[float, ...]:
        """Input coordinate of the centre of unit 0's field, ``start + (size-1)/2``."""
        return tuple(s + (r - 1) / 2 for s, r in zip(self.start, self.size))


@dataclass(frozen=True)
class ReceptiveField:
    """The receptive field of every layer of a conv stack; see :func:`receptive_field`.

    ``input_shape`` : the input's spatial size, or None; ``layers`` : one :class:`LayerField`
    per spatial layer, in order; ``rank`` : the number of spatial axes. The properties describe
    the last layer (an empty stack is the input itself: size 1, jump 1, start 0).
    """

    input_shape: Sizes | None
    layers: tuple[LayerField, ...]
    rank: int

    @property
    def size(self) -> Sizes:
        """Field of one unit of the last layer, in input pixels per axis."""
        return self.layers[-1].size if self.layers else (1,) * self.rank

    @property
    def jump(self) -> Sizes:
        """Input pixels between neighbouring units of the last layer, per axis."""
        return self.layers[-1].jump if self.layers else (1,) * self.rank

    @property
    def start(self) -> Sizes:
        """Input coordinate of the first pixel of unit 0's field, per axis (<= 0)."""
        return self.layers[-1].start if self.layers else (0,) * self.rank

    @property
    def centre(self) -> tuple[float, ...]:
        """Input coordinate of the centre of unit 0's field, per axis."""
        return tuple(s + (r - 1) / 2 for s, r in zip(self.start, self.size))

    @property
    def offsets(self) -> tuple[tuple[int, ...], ...]:
        """Per axis, the offsets in the field of one unit of the last layer that it depends on,
        when the field lies inside the input (see :attr:`LayerField.offsets`)."""
        return self.layers[-1].offsets if self.layers else ((0,),) * self.rank

    @property
    def holes(self) -> bool:
        """Whether the last layer's field has pixels the unit never depends on."""
        return bool(self.layers) and self.layers[-1].holes

    @property
    def out_shape(self) -> Sizes | None:
        """Spatial size of the last layer's output, None without an input shape."""
        return self.layers[-1].out_shape if self.layers else self.input_shape

    def field(self, output_index: int | Sequence[int]) -> tuple[tuple[int, int], ...]:
        """``(first, last)`` input coordinates, per axis, of one output unit's field.

        ``output_index`` : the unit's position in the last layer's output, one int per axis
        (a plain int for rank 1). Not clipped to the input: a coordinate below 0 or past the
        input's end lies in the padding.

        >>> receptive_field([dict(kernel_size=3, padding="same")] * 2).field((0, 4))
        ((-2, 2), (2, 6))
        """
        index = _index(output_index, self.rank)
        out = self.out_shape
        if out is not None and any(i >= n for i, n in zip(index, out)):
            raise ValueError(f"output_index: expected a unit of the {_x(out)} output, got "
                             f"output_index={output_index!r}")
        return tuple((s + i * j, s + i * j + r - 1)
                     for s, i, j, r in zip(self.start, index, self.jump, self.size))

    def rows(self) -> list[tuple[str, str, str, str, str, str]]:
        """One row per layer, after an ``input`` row: (layer, output shape, jump, field size,
        start, centre), as text; the output shape is "-" without an input shape."""
        shape = _x(self.input_shape) if self.input_shape else "-"
        zeros, ones = (0,) * self.rank, (1,) * self.rank
        rows = [("input", shape, _x(ones), _x(ones), _coords(zeros), _coords(zeros))]
        for n, lay in enumerate(self.layers, 1):
            out = _x(lay.out_shape) if lay.out_shape else "-"
            rows.append((f"{n} {lay.label}", out, _x(lay.jump), _x(lay.size),
                         _coords(lay.start), _coords(lay.centre)))
        return rows

    def table(self) -> str:
        """The rows of :meth:`rows` under a header, in aligned columns.

        >>> print(receptive_field([dict(kernel_size=3)] * 2, input_shape=(8, 8)).table())
        layer     output  jump  field  start   centre
        input     8x8     1x1   1x1    (0, 0)  (0, 0)
        1 conv 3  6x6     1x1   3x3    (0, 0)  (1, 1)
        2 conv 3  4x4     1x1   5x5    (0, 0)  (2, 2)
        """
        rows = [("layer", "output", "jump", "field", "start", "centre"), *self.rows()]
        widths = [max(len(r[c]) for r in rows) for c in range(6)]
        return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip()
                         for r in rows)

    def __str__(self) -> str:
        return self.table()

    def explain(self) -> str:
        """The recurrence in words, with the numbers, layer by layer and axis by axis.

        >>> print(receptive_field([dict(kernel_size=3, strides=2)], input_shape=(7,)).explain())
        ... # doctest: +NORMALIZE_WHITESPACE
        receptive field of 1 layer on a 7 input -> output 3: field 3, jump 2, unit 0's field
        starts at 0, centre 1
        per axis, from j = 1, r = 1, start = 0 (an input pixel sees itself): j = j*s,
        r = r + d*(k-1)*j, start = start - before*j, centre = start + (r-1)/2
        layer 1, conv 3 s2 (kernel 3, stride 2, dilation 1, padding 'valid')
          length: j = 1*2 = 2; r = 1 + 1*(3-1)*1 = 3; start = 0 - 0*1 = 0;
          centre = 0 + (3-1)/2 = 1; out = floor((7 + 0 + 0 - 1*(3-1) - 1) / 2) + 1 = 3
        unit i sees input pixels start + i*j to start + i*j + r - 1:
          length: 0 + 2*i to 2 + 2*i
        """
        names = axis_names(self.rank)
        count = f"{len(self.layers)} layer" + ("s" if len(self.layers) != 1 else "")
        on = f" on a {_x(self.input_shape)} input -> output {_x(self.out_shape)}" \
            if self.input_shape else ""
        lines = [
            f"receptive field of {count}{on}: field {_x(self.size)}, jump {_x(self.jump)}, "
            f"unit 0's field starts at {_coords(self.start)}, centre {_coords(self.centre)}",
            "per axis, from j = 1, r = 1, start = 0 (an input pixel sees itself): j = j*s, "
            "r = r + d*(k-1)*j, start = start - before*j, centre = start + (r-1)/2",
        ]
        jump, size, start = (1,) * self.rank, (1,) * self.rank, (0,) * self.rank
        shape = self.input_shape
        for n, lay in enumerate(self.layers, 1):
            lines.append(f"layer {n}, {lay.label} (kernel {_x(lay.kernel_size)}, stride "
                         f"{_x(lay.strides)}, dilation {_x(lay.dilation_rate)}, padding "
                         f"{lay.padding!r})")
            for a, name in enumerate(names):
                k, s, d, (before, after) = (lay.kernel_size[a], lay.strides[a],
                                            lay.dilation_rate[a], lay.pads[a])
                text = (f"  {name}: j = {jump[a]}*{s} = {lay.jump[a]}; r = {size[a]} + "
                        f"{d}*({k}-1)*{jump[a]} = {lay.size[a]}; start = {start[a]} - "
                        f"{before}*{jump[a]} = {lay.start[a]}; centre = {lay.start[a]} + "
                        f"({lay.size[a]}-1)/2 = {_num(lay.centre[a])}")
                if shape is not None and lay.out_shape is not None:
                    text += (f"; out = floor(({shape[a]} + {before} + {after} - {d}*({k}-1) - 1)"
                             f" / {s}) + 1 = {lay.out_shape[a]}")
                lines.append(text)
            for name, offsets, r in zip(names, lay.offsets, lay.size):
                if len(offsets) < r:
                    lines.append(f"  note: holes along {name}: the unit depends on "
                                 f"{len(offsets)} of the {r} pixels of its field, at offsets "
                                 f"{_ranges(offsets)} (inside the input)")
            jump, size, start, shape = lay.jump, lay.size, lay.start, lay.out_shape
        lines.append("unit i sees input pixels start + i*j to start + i*j + r - 1:")
        for a, name in enumerate(names):
            lines.append(f"  {name}: {self.start[a]} + {self.jump[a]}*i to "
                         f"{self.start[a] + self.size[a] - 1} + {self.jump[a]}*i")
        return "\n".join(lines)


def receptive_field(layers: object, input_shape: Sequence[int] | None = None) -> ReceptiveField:
    """Receptive field, jump and first field's position after every layer of a conv stack.

    Parameters
    ----------
    layers : a ``Sequential`` (anything with a ``.layers`` list) or a list of layers or dicts.
        A dict is ``dict(kernel_size=, strides=1, padding="valid", dilation_rate=1)`` (Keras's
        names; ``pool_size`` instead of ``kernel_size`` is a pooling layer, whose ``strides``
        default to its size as in Keras; an optional ``name``). A layer object is read by the
        same attribute names (``cl.Conv2D``, Keras's layers; Keras's ``ZeroPadding`` counts
        as padding, ``Cropping`` and ``UpSampling`` are refused); layers with none of them
        (activations, dropout, batch norm) are skipped, and a ``Flatten``, ``Dense`` or
        global pooling layer ends the spatial part: the layers after it are ignored.
        ``padding`` takes every form :func:`convolab.shapes.resolve_padding` does, and Keras's
        ``"causal"``.
    input_shape : tuple of ints, the spatial size (``(H, W)`` for an image, no batch or
        channels), or None. With it, each layer's output size is computed (and an empty one is
        an error naming the layer); without it, ``"same"`` padding needs stride 1 (its split
        then is TensorFlow's, the odd pixel after).

    The rank is the length of the tuple kernel sizes (int ones are broadcast), else of
    ``input_shape``, else 2.

    Returns
    -------
    ReceptiveField
        ``.size``, ``.jump``, ``.start``, ``.centre`` and ``.out_shape`` of the last layer, one
        entry per axis; ``.layers`` the same per layer; ``.field(index)``, ``.table()``,
        ``.explain()``.

    >>> rf = receptive_field([dict(kernel_size=3, padding="same"), dict(pool_size=2)],
    ...                      input_shape=(8, 8))
    >>> rf.size, rf.jump, rf.start, rf.centre, rf.out_shape
    ((4, 4), (2, 2), (-1, -1), (0.5, 0.5), (4, 4))
    """
    specs = _specs(layers)
    rank = _rank(specs, input_shape)
    shape = in_shape = None if input_shape is None else _input_shape(input_shape, rank)
    jump, size, start, masks = (1,) * rank, (1,) * rank, (0,) * rank, (1,) * rank
    out: list[LayerField] = []
    for spec in specs:
        lay = _layer(spec, rank, shape, jump, size, start, masks)
        out.append(lay)
        jump, size, start, masks, shape = lay.jump, lay.size, lay.start, lay.masks, lay.out_shape
    return ReceptiveField(in_shape, tuple(out), rank)


# --- reading the layers ----------------------------------------------------------------------

@dataclass(frozen=True)
class _Spec:
    kind: str  # "conv", "pool" or "pad" (Keras's ZeroPadding: a 1-pixel kernel)
    kernel: object
    strides: object
    padding: object
    dilation: object
    name: str | None
    where: str  # "layers[2]" or "layers[2] (conv2d_1)", for error messages


def _specs(layers: object) -> list[_Spec]:
    if not isinstance(layers, (list, tuple)) and isinstance(getattr(layers, "layers", None),
                                                            (list, tuple)):
        layers = layers.layers  # type: ignore[attr-defined]  # a Sequential
    if isinstance(layers, (str, bytes, dict)) or not isinstance(layers, Sequence):
        raise TypeError("layers: expected a Sequential, a list of layers or a list of dicts "
                        f"like dict(kernel_size=3, strides=1), got {type(layers).__name__}")
    specs = []
    for n, layer in enumerate(layers):
        if isinstance(layer, dict):
            specs.append(_from_dict(layer, f"layers[{n}]"))
            continue
        cls = type(layer).__name__
        if cls in _ENDS or cls.startswith("Global") or hasattr(layer, "units"):
            break  # nothing spatial from here on
        spec = _from_object(layer, f"layers[{n}] ({getattr(layer, 'name', None) or cls})")
        if spec is not None:
            specs.append(spec)
    return specs


def _from_dict(layer: dict, where: str) -> _Spec:
    unknown = [key for key in layer if key not in _DICT_KEYS]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(str(key), _DICT_KEYS, n=1, cutoff=0.6)
        guess = _OTHER_NAMES.get(str(key)) or (close[0] if close else None)
        hint = f" (did you mean {guess!r}?)" if guess else ""
        raise ValueError(f"{where}: unknown key {key!r}{hint}; a layer dict takes kernel_size "
                         "(or pool_size), strides, padding, dilation_rate and name")
    if ("kernel_size" in layer) == ("pool_size" in layer):
        raise ValueError(f"{where}: expected exactly one of kernel_size (a conv) or pool_size "
                         f"(a pooling layer), got {layer!r}")
    pool = "pool_size" in layer
    kernel = layer["pool_size"] if pool else layer["kernel_size"]
    strides = layer.get("strides", kernel if pool else 1)
    return _Spec("pool" if pool else "conv", kernel, strides, layer.get("padding", "valid"),
                 layer.get("dilation_rate", 1), layer.get("name"), where)


def _from_object(layer: object, where: str) -> _Spec | None:
    cls = type(layer).__name__
    kernel = getattr(layer, "kernel_size", None)
    pool = kernel is None and getattr(layer, "pool_size", None) is not None
    if pool:
        kernel = layer.pool_size  # type: ignore[attr-defined]
    if kernel is None and cls.startswith("ZeroPadding"):  # Keras: padding, then nothing
        pads = layer.padding  # type: ignore[attr-defined]
        if cls.endswith("1D") and isinstance(pads, Sequence) and len(pads) == 2 \
                and all(_is_int(p) for p in pads):
            pads = (tuple(pads),)  # ZeroPadding1D's (left, right)
        return _Spec("pad", 1, 1, pads, 1, getattr(layer, "name", None), where)
    if kernel is None and cls.startswith(("Cropping", "UpSampling", "Reshape")):
        raise TypeError(f"{where}: a {cls} layer is not supported: the recurrence covers "
                        "convolutions, pooling and zero padding")
    if kernel is None:
        return None  # an activation, dropout, ...: no spatial arithmetic
    if "Transpose" in cls:
        raise TypeError(f"{where}: a transposed conv upsamples; its receptive field is not "
                        "given by this recurrence")
    if not hasattr(layer, "strides") and (hasattr(layer, "stride") or hasattr(layer, "dilation")):
        raise TypeError(f"{where}: expected Keras's attribute names (kernel_size, strides, "
                        f"padding, dilation_rate), got a {cls} with stride/dilation; pass "
                        "dicts with Keras's names instead")
    strides = getattr(layer, "strides", None)
    if strides is None:
        strides = kernel if pool else 1  # Keras pooling: strides=None means the pool size
    # convolab's max pooling takes PyTorch's dilation (Keras's pooling has none)
    dilation = getattr(layer, "dilation_rate", None) or (getattr(layer, "dilation", 1) if pool
                                                         else 1)
    return _Spec("pool" if pool else "conv", kernel, strides, getattr(layer, "padding", "valid"),
                 dilation, getattr(layer, "name", None), where)


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _rank(specs: list[_Spec], input_shape: object) -> int:
    ranks = {len(s.kernel) for s in specs  # type: ignore[arg-type]
             if isinstance(s.kernel, Sequence) and not isinstance(s.kernel, str)}
    if len(ranks) > 1:
        raise ValueError(f"kernel_size: expected kernel sizes of one rank, got ranks "
                         f"{sorted(ranks)} in {[s.kernel for s in specs]}")
    if ranks:
        return ranks.pop()
    if isinstance(input_shape, Sequence) and not isinstance(input_shape, str) and input_shape:
        return len(input_shape)
    return 2


def _input_shape(input_shape: object, rank: int) -> Sizes:
    if not (isinstance(input_shape, Sequence) and not isinstance(input_shape, str)
            and all(_is_int(n) and n >= 1 for n in input_shape)):
        raise TypeError("input_shape: expected the spatial size, one int >= 1 per axis (e.g. "
                        f"(224, 224), no batch or channels), got {input_shape!r}")
    if len(input_shape) != rank:
        raise ValueError(f"input_shape: expected {rank} spatial sizes (the rank of the kernel "
                         f"sizes), no batch or channels, got input_shape={input_shape!r}")
    return tuple(int(n) for n in input_shape)


def _spread(mask: int, k: int, step: int) -> int:
    """Offsets ``mask`` (a bitmask) plus ``0, step, ..., (k-1)*step``, as a bitmask."""
    out = 0
    for t in range(k):
        out |= mask << (t * step)
    return out


def _layer(spec: _Spec, rank: int, shape: Sizes | None, jump: Sizes, size: Sizes, start: Sizes,
           masks: tuple[int, ...]) -> LayerField:
    """Apply one layer's recurrence to the field (``jump``, ``size``, ``start``, ``masks``)
    before it."""
    try:
        k = normalize_tuple(spec.kernel, "pool_size" if spec.kind == "pool" else "kernel_size",
                            rank)
        s = normalize_tuple(spec.strides, "strides", rank)
        d = normalize_tuple(spec.dilation, "dilation_rate", rank)
        padding = spec.padding
        if isinstance(padding, str) and padding.lower() == "causal":  # Keras Conv1D
            padding = tuple((dd * (kk - 1), 0) for kk, dd in zip(k, d))
        if shape is not None:
            geom = conv_geometry(shape, k, stride=s, padding=padding, dilation=d)
            pads, out = geom.pads, geom.out_shape
        else:
            if isinstance(padding, str) and padding.lower() in ("same", "same_lower") \
                    and max(s) > 1:
                raise ValueError(f"padding: {padding!r} with strides {_x(s)} splits its padding "
                                 "by the input size; pass input_shape")
            # With stride 1, "same" pads d*(k-1) in all whatever the input size (n = 1 here).
            pads, out = resolve_padding(padding, (1,) * rank, k, s, d), None
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{spec.where}: {exc}") from None
    label = _label(spec, k, s, d, pads)
    # Which offsets in the field the unit depends on, per axis, as a bitmask (bit t: offset t):
    # the taps' offsets (multiples of d*j) added to every offset of the field below.
    masks = tuple(_spread(m, kk, dd * j) for m, kk, dd, j in zip(masks, k, d, jump))
    return LayerField(
        label=f"{spec.name}: {label}" if spec.name else label,
        kernel_size=k, strides=s, dilation_rate=d, padding=spec.padding, pads=pads,
        out_shape=out,
        jump=tuple(j * ss for j, ss in zip(jump, s)),
        size=tuple(r + dd * (kk - 1) * j for r, dd, kk, j in zip(size, d, k, jump)),
        start=tuple(st - b * j for st, (b, _), j in zip(start, pads, jump)),
        masks=masks,
    )


# --- text --------------------------------------------------------------------------------------

def _x(sizes: Sequence[int] | None) -> str:
    return "?" if sizes is None else "x".join(map(str, sizes))


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def _coords(values: Sequence[float]) -> str:
    text = ", ".join(_num(v) for v in values)
    return text if len(values) == 1 else f"({text})"


def _compact(sizes: Sizes) -> str:
    """``(3, 3)`` -> "3", ``(5, 3)`` -> "5x3"."""
    return str(sizes[0]) if len(set(sizes)) == 1 else _x(sizes)


def _ranges(offsets: Sequence[int]) -> str:
    """``(0, 1, 2, 4, 6, 7)`` -> "0-2, 4, 6-7"."""
    runs: list[list[int]] = []
    for t in offsets:
        if runs and t == runs[-1][1] + 1:
            runs[-1][1] = t
        else:
            runs.append([t, t])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def _label(spec: _Spec, k: Sizes, s: Sizes, d: Sizes, pads: Pads) -> str:
    """Short description of a layer, in the CLI's stack grammar: "conv 3 s2 d2 same"."""
    parts = [spec.kind] if spec.kind == "pad" else [spec.kind, _compact(k)]
    if s != (k if spec.kind == "pool" else (1,) * len(s)):  # a pool's default stride: its size
        parts.append(f"s{_compact(s)}")
    if max(d) > 1:
        parts.append(f"d{_compact(d)}")
    if isinstance(spec.padding, str):
        if spec.padding.lower() != "valid":
            parts.append(spec.padding.lower())
    elif any(map(any, pads)):
        sym = all(b == a for b, a in pads)
        parts.append(f"p{_compact(tuple(b for b, _ in pads))}" if sym else f"p{pads}")
    return " ".join(parts)


def _index(output_index: object, rank: int) -> Sizes:
    if _is_int(output_index) and rank == 1:
        output_index = (output_index,)
    if not (isinstance(output_index, Sequence) and not isinstance(output_index, str)
            and len(output_index) == rank
            and all(_is_int(i) and i >= 0 for i in output_index)):
        want = "an int >= 0" if rank == 1 else f"{rank} ints >= 0, one per axis"
        raise ValueError(f"output_index: expected {want}, got output_index={output_index!r}")
    return tuple(int(i) for i in output_index)
