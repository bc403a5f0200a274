"""Shape arithmetic and argument normalisation for convolution of any rank.

Pure Python, no arrays: every other module asks this one how big an output is and how much
padding goes on each side. Padding strings ("valid", "same", ...) are resolved here, once, into
explicit ``(before, after)`` pairs, one per spatial axis (``((top, bottom), (left, right))`` for
an image); nothing below this module sees a string. The rank ``r`` (1 for signals, 2 for
images, 3 for volumes) is the number of spatial axes; every function here takes any rank.

Per axis, with input size ``n``, kernel size ``k``, stride ``s``, dilation ``d`` and padding
``before``/``after``, the dilated kernel spans ``d*(k-1) + 1`` pixels and the output size is::

    out = floor((n + before + after - d*(k-1) - 1) / s) + 1
"""

from __future__ import annotations

import difflib
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

Pair = tuple[int, int]
Sizes = tuple[int, ...]  # one int per spatial axis
Pads = tuple[Pair, ...]  # one (before, after) per spatial axis

# what the error messages and explanations call each axis, by rank
AXIS_NAMES = {1: ("length",), 2: ("height", "width"), 3: ("depth", "height", "width")}
SIDE_NAMES = {"length": ("left", "right"), "height": ("top", "bottom"),
              "width": ("left", "right"), "depth": ("front", "back")}


def axis_names(rank: int) -> tuple[str, ...]:
    """Names of the spatial axes of a rank-``rank`` conv ("axis 0", ... past rank 3)."""
    return AXIS_NAMES.get(rank) or tuple(f"axis {i}" for i in range(rank))

PADDING_STRINGS = ("valid", "same", "same_lower", "full")

# Every accepted padding-mode name mapped to what it does. Canonical names are PyTorch's
# ("zeros", "reflect", "replicate", "circular") plus NumPy's "symmetric". The same word means
# different things in different libraries, so each alias maps to its *behaviour*:
#   reflect    d c b | a b c d | c b a   (edge pixel not repeated)
#   symmetric  c b a | a b c d | d c b   (edge pixel repeated)
PADDING_MODES: dict[str, str] = {
    "zeros": "zeros",
    "zero": "zeros",
    "constant": "zeros",  # numpy, scipy.ndimage (cval=0), TensorFlow tf.pad
    "grid-constant": "zeros",  # scipy.ndimage (cval=0)
    "border_constant": "zeros",  # OpenCV
    "fill": "zeros",  # scipy.signal (fillvalue=0)
    "reflect": "reflect",  # PyTorch, numpy, TensorFlow tf.pad "REFLECT"
    "mirror": "reflect",  # scipy.ndimage
    "reflect_101": "reflect",  # OpenCV BORDER_REFLECT_101
    "reflect101": "reflect",
    "border_reflect_101": "reflect",
    "border_reflect101": "reflect",
    "border_default": "reflect",  # OpenCV's default border is REFLECT_101
    "symmetric": "symmetric",  # numpy, TensorFlow tf.pad "SYMMETRIC", scipy.signal "symm"
    "symm": "symmetric",
    "grid-mirror": "symmetric",  # scipy.ndimage
    "border_reflect": "symmetric",  # OpenCV BORDER_REFLECT
    "replicate": "replicate",  # PyTorch
    "edge": "replicate",  # numpy
    "nearest": "replicate",  # scipy.ndimage
    "border_replicate": "replicate",  # OpenCV
    "circular": "circular",  # PyTorch
    "wrap": "circular",  # numpy, scipy
    "grid-wrap": "circular",  # scipy.ndimage
    "border_wrap": "circular",  # OpenCV
}


def _suggest(value: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(value.lower(), choices, n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def normalize_tuple(value: object, name: str, rank: int, *, minimum: int = 1) -> Sizes:
    """Turn an int or a sequence of ``rank`` ints into a tuple of ``rank`` ints.

    >>> normalize_tuple(2, "stride", 3)
    (2, 2, 2)
    >>> normalize_tuple((3, 2), "stride", 2)
    (3, 2)
    """
    # Fast paths for the forms almost every call uses (a plain int, a tuple of plain ints):
    # several of these run per conv call. Anything else, or a value out of range, takes the
    # general path below, which accepts NumPy ints and any sequence and words the error.
    if type(value) is int:
        if value >= minimum:
            return (value,) * rank
    elif type(value) is tuple and len(value) == rank and all(
        type(v) is int and v >= minimum for v in value
    ):
        return value
    if _is_int(value):
        out = (int(value),) * rank  # type: ignore[call-overload]
    elif (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) == rank
        and all(_is_int(v) for v in value)
    ):
        out = tuple(int(v) for v in value)
    else:
        raise TypeError(_tuple_message(value, name, rank, minimum))
    if min(out) < minimum:
        raise ValueError(_tuple_message(value, name, rank, minimum))
    return out


def normalize_pair(value: object, name: str, *, minimum: int = 1) -> Pair:
    """:func:`normalize_tuple` for an image's two axes: ``(vertical, horizontal)``.

    >>> normalize_pair(2, "stride")
    (2, 2)
    """
    return normalize_tuple(value, name, 2, minimum=minimum)  # type: ignore[return-value]


def _tuple_message(value: object, name: str, rank: int, minimum: int) -> str:
    kind = "a positive int" if minimum == 1 else f"an int >= {minimum}"
    many = {1: "a sequence of one", 2: "a pair of them"}.get(rank, f"{rank} of them")
    return f"{name}: expected {kind} or {many}, received {name}={value!r}"


def normalize_padding_mode(mode: object) -> str:
    """Map any accepted padding-mode name to one of zeros/reflect/replicate/circular/symmetric.

    >>> normalize_padding_mode("nearest"), normalize_padding_mode("mirror")
    ('replicate', 'reflect')
    """
    if isinstance(mode, str) and mode.lower() in PADDING_MODES:
        return PADDING_MODES[mode.lower()]
    hint = _suggest(mode, list(PADDING_MODES)) if isinstance(mode, str) else ""
    raise ValueError(
        "padding_mode: expected one of 'zeros', 'reflect', 'replicate', 'circular', "
        f"'symmetric' (or a NumPy/SciPy/OpenCV alias), got {mode!r}{hint}"
    )


def _same_pads(n: int, k: int, s: int, d: int, *, lower: bool) -> Pair:
    out = -(-n // s)  # ceil(n / s)
    total = max((out - 1) * s + d * (k - 1) + 1 - n, 0)
    small, large = total // 2, total - total // 2
    # TensorFlow/Keras put the odd pixel after (bottom/right); JAX's SAME_LOWER before.
    return (large, small) if lower else (small, large)


def _is_pair(p: object) -> bool:
    return (isinstance(p, Sequence) and not isinstance(p, str) and len(p) == 2
            and all(_is_int(q) for q in p))


def _explicit_pads(padding: object, rank: int) -> Pads | None:
    """Parse an int, one int per axis or one ``(before, after)`` pair per axis; None if it is
    none of those."""
    if _is_int(padding):
        p = int(padding)  # type: ignore[call-overload]
        return ((p, p),) * rank
    if isinstance(padding, Sequence) and not isinstance(padding, str) and len(padding) == rank:
        if all(_is_int(p) for p in padding):
            return tuple((int(p), int(p)) for p in padding)
        if all(_is_pair(p) for p in padding):
            return tuple((int(p[0]), int(p[1])) for p in padding)
    return None


def _padding_forms(rank: int) -> str:
    if rank == 1:
        return "an int p or ((before, after),)"
    if rank == 2:
        return "an int p, (ph, pw) or ((top, bottom), (left, right))"
    return f"an int p, {rank} ints or {rank} (before, after) pairs"


def resolve_padding(
    padding: object, input_shape: Sizes, kernel_shape: Sizes, stride: Sizes, dilation: Sizes
) -> Pads:
    """Resolve any padding form into explicit ``(before, after)`` amounts, one per axis.

    The rank is ``len(input_shape)``.

    >>> resolve_padding("same", (8, 8), (4, 4), (1, 1), (1, 1))
    ((1, 2), (1, 2))
    >>> resolve_padding("same_lower", (8, 8), (4, 4), (1, 1), (1, 1))
    ((2, 1), (2, 1))
    >>> resolve_padding((2, 1), (8, 8), (5, 3), (1, 1), (1, 1))
    ((2, 2), (1, 1))
    >>> resolve_padding("full", (9,), (3,), (1,), (2,))
    ((4, 4),)
    """
    rank = len(input_shape)
    if isinstance(padding, str):
        key = padding.lower()
        if key == "valid":
            return ((0, 0),) * rank
        if key in ("same", "same_lower"):
            lower = key == "same_lower"
            return tuple(
                _same_pads(n, k, s, d, lower=lower)
                for n, k, s, d in zip(input_shape, kernel_shape, stride, dilation)
            )
        if key == "full":
            return tuple((d * (k - 1),) * 2 for d, k in zip(dilation, kernel_shape))
        raise ValueError(
            "padding: expected 'valid', 'same', 'same_lower', 'full', an int or pairs; "
            f"got {padding!r}{_suggest(padding, PADDING_STRINGS)}"
        )
    pads = _explicit_pads(padding, rank)
    if pads is None:
        raise TypeError(
            "padding: expected 'valid', 'same', 'same_lower', 'full', "
            f"{_padding_forms(rank)} of ints; got {padding!r}"
        )
    if min(min(p) for p in pads) < 0:
        raise ValueError(f"padding: expected amounts >= 0, got padding={padding!r}")
    return pads


@dataclass(frozen=True)
class ConvGeometry:
    """Everything about one conv's spatial arithmetic, resolved and checked.

    Every field holds one entry per spatial axis (``(H, W)`` for an image, ``(D, H, W)`` for
    a volume): ``pads`` is ``((top, bottom), (left, right))`` for an image; ``out_shape`` is
    ``(Ho, Wo)``.
    """

    in_shape: Sizes
    kernel_shape: Sizes
    stride: Sizes
    dilation: Sizes
    pads: Pads

    def __post_init__(self) -> None:
        # The derived sizes are computed once here: the checks, the cost model and the
        # algorithms read them several times per conv call. They are not fields, so equality,
        # hashing and repr see only the five arguments above.
        padded = tuple(n + b + a for n, (b, a) in zip(self.in_shape, self.pads))
        span = tuple(d * (k - 1) + 1 for k, d in zip(self.kernel_shape, self.dilation))
        out = tuple((p - sp) // s + 1 for p, sp, s in zip(padded, span, self.stride))
        # frozen: written straight into the instance dict, once (faster than object.__setattr__)
        d = self.__dict__
        d["_padded_shape"], d["_span_shape"], d["_out_shape"] = padded, span, out

    @property
    def rank(self) -> int:
        """Number of spatial axes."""
        return len(self.in_shape)

    @property
    def padded_shape(self) -> Sizes:
        """Input size plus padding per axis (``(H + top + bottom, W + left + right)``)."""
        return self._padded_shape  # type: ignore[attr-defined]

    @property
    def span_shape(self) -> Sizes:
        """Extent of the dilated kernel, ``d*(k-1) + 1`` per axis."""
        return self._span_shape  # type: ignore[attr-defined]

    @property
    def out_shape(self) -> Sizes:
        """Output size per axis (``(Ho, Wo)``), ``(padded - span) // stride + 1``."""
        return self._out_shape  # type: ignore[attr-defined]


def conv_geometry(
    input_shape: Sequence[int],
    kernel_shape: Sequence[int],
    *,
    stride: object = 1,
    padding: object = "valid",
    dilation: object = 1,
) -> ConvGeometry:
    """Normalise and check a conv's spatial arguments; raise if the output would be empty.

    The rank is ``len(kernel_shape)``; ``input_shape`` must have as many entries.
    """
    rank = len(kernel_shape)
    in_shape = normalize_tuple(tuple(input_shape), "input size", rank, minimum=0)
    k = normalize_tuple(tuple(kernel_shape), "kernel_size", rank)
    s = normalize_tuple(stride, "stride", rank)
    d = normalize_tuple(dilation, "dilation", rank)
    geom = ConvGeometry(in_shape, k, s, d, resolve_padding(padding, in_shape, k, s, d))
    span, padded = geom.span_shape, geom.padded_shape
    if all(a <= b for a, b in zip(span, padded)):
        return geom
    for axis, name in enumerate(axis_names(rank)):
        if span[axis] > padded[axis]:
            raise ValueError(
                f"kernel_size: the dilated kernel {name} {span[axis]} "
                f"(= {d[axis]}*({k[axis]}-1)+1) is larger than the padded input {name} "
                f"{padded[axis]} (= {in_shape[axis]} + padding {geom.pads[axis]}); "
                "it must be at most that"
            )
    return geom


def _spatial(input_shape: object) -> Sizes:
    """``input_shape`` (spatial sizes, any rank) as a tuple of ints >= 0."""
    if isinstance(input_shape, (str, bytes)) or not isinstance(input_shape, Sequence) or not (
        input_shape and all(_is_int(n) and n >= 0 for n in input_shape)
    ):
        raise TypeError(
            "input_shape: expected the spatial sizes, one int >= 0 per axis (e.g. (8, 8) for "
            f"an image, (16000,) for a signal), got {input_shape!r}"
        )
    return tuple(int(n) for n in input_shape)


def output_shape(
    input_shape: Sequence[int],
    kernel_size: object,
    *,
    stride: object = 1,
    padding: object = "valid",
    dilation: object = 1,
) -> Sizes:
    """Output spatial shape of a conv over an ``input_shape`` input, any rank.

    The rank is ``len(input_shape)``; ``kernel_size``, ``stride`` and ``dilation`` are an int
    or one per axis.

    >>> output_shape((8, 8), (5, 3))
    (4, 6)
    >>> output_shape((8, 8), 3, padding="same", stride=2)
    (4, 4)
    >>> output_shape((16000,), 80, stride=4)
    (3981,)
    """
    shape = _spatial(input_shape)
    k = normalize_tuple(kernel_size, "kernel_size", len(shape))
    return conv_geometry(shape, k, stride=stride, padding=padding, dilation=dilation).out_shape


def explain_shape(
    input_shape: Sequence[int],
    kernel_size: object,
    *,
    stride: object = 1,
    padding: object = "valid",
    dilation: object = 1,
) -> str:
    """The output-shape arithmetic in words and numbers, axis by axis, any rank.

    >>> print(explain_shape((8, 8), (5, 3)))  # doctest: +NORMALIZE_WHITESPACE
    input 8x8, kernel 5x3, stride 1x1, dilation 1x1, padding 'valid' -> output 4x6
    height: padding 0 top + 0 bottom; out = floor((8 + 0 + 0 - 1*(5-1) - 1) / 1) + 1 = 4
    width: padding 0 left + 0 right; out = floor((8 + 0 + 0 - 1*(3-1) - 1) / 1) + 1 = 6
    """
    shape = _spatial(input_shape)
    k = normalize_tuple(kernel_size, "kernel_size", len(shape))
    g = conv_geometry(shape, k, stride=stride, padding=padding, dilation=dilation)
    sizes = lambda p: "x".join(map(str, p))  # noqa: E731
    lines = [
        f"input {sizes(g.in_shape)}, kernel {sizes(g.kernel_shape)}, stride {sizes(g.stride)}, "
        f"dilation {sizes(g.dilation)}, padding {padding!r} -> output {sizes(g.out_shape)}"
    ]
    for axis, name in enumerate(axis_names(g.rank)):
        n, kk, s, d = g.in_shape[axis], g.kernel_shape[axis], g.stride[axis], g.dilation[axis]
        before, after = g.pads[axis]
        side_a, side_b = SIDE_NAMES.get(name, ("before", "after"))
        out = g.out_shape[axis]
        lines.append(
            f"{name}: padding {before} {side_a} + {after} {side_b}; out = floor(({n} + {before} "
            f"+ {after} - {d}*({kk}-1) - 1) / {s}) + 1 = {out}"
        )
        dropped = (n + before + after - g.span_shape[axis]) % s
        if dropped:
            unit = {"height": "row", "width": "column", "depth": "plane"}.get(name, "sample")
            what = f"last {unit} of the padded input is" if dropped == 1 else (
                f"last {dropped} {unit}s of the padded input are"
            )
            lines.append(
                f"  note: stride {s} does not tile the padded {name}: the {what} never covered "
                "by a window and dropped (as PyTorch and TensorFlow do)"
            )
    return "\n".join(lines)
