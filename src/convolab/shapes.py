"""Shape arithmetic and argument normalisation for 2-D convolution.

Pure Python, no arrays: every other module asks this one how big an output is and how much
padding goes on each side. Padding strings ("valid", "same", ...) are resolved here, once, into
explicit ``((top, bottom), (left, right))`` pairs; nothing below this module sees a string.

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
Pads = tuple[Pair, Pair]

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


def normalize_pair(value: object, name: str, *, minimum: int = 1) -> Pair:
    """Turn an int or a pair of ints into a ``(vertical, horizontal)`` pair.

    >>> normalize_pair(2, "stride")
    (2, 2)
    >>> normalize_pair((3, 2), "stride")
    (3, 2)
    """
    # Fast paths for the forms almost every call uses (a plain int, a tuple of two plain ints):
    # several of these run per conv call. Anything else, or a value out of range, takes the
    # general path below, which accepts NumPy ints and any sequence and words the error.
    if type(value) is int:
        if value >= minimum:
            return (value, value)
    elif type(value) is tuple and len(value) == 2:
        a, b = value
        if type(a) is int and type(b) is int and a >= minimum and b >= minimum:
            return (a, b)
    if _is_int(value):
        pair = (int(value), int(value))  # type: ignore[call-overload]
    elif (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) == 2
        and all(_is_int(v) for v in value)
    ):
        pair = (int(value[0]), int(value[1]))
    else:
        raise TypeError(_pair_message(value, name, minimum))
    if min(pair) < minimum:
        raise ValueError(_pair_message(value, name, minimum))
    return pair


def _pair_message(value: object, name: str, minimum: int) -> str:
    kind = "a positive int" if minimum == 1 else f"an int >= {minimum}"
    return f"{name}: expected {kind} or a pair of them, received {name}={value!r}"


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


def _explicit_pads(padding: object) -> Pads | None:
    """Parse int, (ph, pw) or ((top, bottom), (left, right)); None if it is none of those."""
    if _is_int(padding):
        p = int(padding)  # type: ignore[call-overload]
        return ((p, p), (p, p))
    if isinstance(padding, Sequence) and not isinstance(padding, str) and len(padding) == 2:
        if all(_is_int(p) for p in padding):
            ph, pw = (int(p) for p in padding)
            return ((ph, ph), (pw, pw))
        if all(
            isinstance(p, Sequence) and not isinstance(p, str) and len(p) == 2
            and all(_is_int(q) for q in p)
            for p in padding
        ):
            (t, b), (left, r) = padding
            return ((int(t), int(b)), (int(left), int(r)))
    return None


def resolve_padding(
    padding: object, input_hw: Pair, kernel_hw: Pair, stride: Pair, dilation: Pair
) -> Pads:
    """Resolve any padding form into explicit ``((top, bottom), (left, right))`` amounts.

    >>> resolve_padding("same", (8, 8), (4, 4), (1, 1), (1, 1))
    ((1, 2), (1, 2))
    >>> resolve_padding("same_lower", (8, 8), (4, 4), (1, 1), (1, 1))
    ((2, 1), (2, 1))
    >>> resolve_padding((2, 1), (8, 8), (5, 3), (1, 1), (1, 1))
    ((2, 2), (1, 1))
    """
    if isinstance(padding, str):
        key = padding.lower()
        if key == "valid":
            return ((0, 0), (0, 0))
        if key in ("same", "same_lower"):
            lower = key == "same_lower"
            return (
                _same_pads(input_hw[0], kernel_hw[0], stride[0], dilation[0], lower=lower),
                _same_pads(input_hw[1], kernel_hw[1], stride[1], dilation[1], lower=lower),
            )
        if key == "full":
            ph, pw = (d * (k - 1) for d, k in zip(dilation, kernel_hw))
            return ((ph, ph), (pw, pw))
        raise ValueError(
            "padding: expected 'valid', 'same', 'same_lower', 'full', an int or pairs; "
            f"got {padding!r}{_suggest(padding, PADDING_STRINGS)}"
        )
    pads = _explicit_pads(padding)
    if pads is None:
        raise TypeError(
            "padding: expected 'valid', 'same', 'same_lower', 'full', an int p, (ph, pw) or "
            f"((top, bottom), (left, right)) of ints; got {padding!r}"
        )
    if min(min(p) for p in pads) < 0:
        raise ValueError(f"padding: expected amounts >= 0, got padding={padding!r}")
    return pads


@dataclass(frozen=True)
class ConvGeometry:
    """Everything about one conv's spatial arithmetic, resolved and checked.

    ``pads`` is ``((top, bottom), (left, right))``; ``out_hw`` is ``(Ho, Wo)``.
    """

    in_hw: Pair
    kernel_hw: Pair
    stride: Pair
    dilation: Pair
    pads: Pads

    def __post_init__(self) -> None:
        # The derived sizes are computed once here: the checks, the cost model and the
        # algorithms read them several times per conv call. They are not fields, so equality,
        # hashing and repr see only the five arguments above.
        (t, b), (left, r) = self.pads
        (h, w), (kh, kw) = self.in_hw, self.kernel_hw
        (sh, sw), (dh, dw) = self.stride, self.dilation
        padded = (h + t + b, w + left + r)
        span = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
        out = ((padded[0] - span[0]) // sh + 1, (padded[1] - span[1]) // sw + 1)
        # frozen: written straight into the instance dict, once (faster than object.__setattr__)
        d = self.__dict__
        d["_padded_hw"], d["_span_hw"], d["_out_hw"] = padded, span, out

    @property
    def padded_hw(self) -> Pair:
        """Input size plus padding, ``(H + top + bottom, W + left + right)``."""
        return self._padded_hw  # type: ignore[attr-defined]

    @property
    def span_hw(self) -> Pair:
        """Extent of the dilated kernel, ``d*(k-1) + 1`` per axis."""
        return self._span_hw  # type: ignore[attr-defined]

    @property
    def out_hw(self) -> Pair:
        """Output size ``(Ho, Wo)``, ``(padded - span) // stride + 1`` per axis."""
        return self._out_hw  # type: ignore[attr-defined]


def conv_geometry(
    input_hw: Sequence[int],
    kernel_hw: Sequence[int],
    *,
    stride: object = 1,
    padding: object = "valid",
    dilation: object = 1,
) -> ConvGeometry:
    """Normalise and check a conv's spatial arguments; raise if the output would be empty."""
    in_hw = normalize_pair(tuple(input_hw), "input size", minimum=0)
    k_hw = normalize_pair(tuple(kernel_hw), "kernel_size")
    s = normalize_pair(stride, "stride")
    d = normalize_pair(dilation, "dilation")
    geom = ConvGeometry(in_hw, k_hw, s, d, resolve_padding(padding, in_hw, k_hw, s, d))
    span, padded = geom.span_hw, geom.padded_hw
    if span[0] <= padded[0] and span[1] <= padded[1]:
        return geom
    for axis, name in enumerate(("height", "width")):
        if geom.span_hw[axis] > geom.padded_hw[axis]:
            raise ValueError(
                f"kernel_size: the dilated kernel {name} {geom.span_hw[axis]} "
                f"(= {d[axis]}*({k_hw[axis]}-1)+1) is larger than the padded input {name} "
                f"{geom.padded_hw[axis]} (= {in_hw[axis]} + padding {geom.pads[axis]}); "
                "it must be at most that"
            )
    return geom


def output_shape(
    input_hw: Sequence[int],
    kernel_size: object,
    *,
    stride: object = 1,
    padding: object = "valid",
    dilation: object = 1,
) -> Pair:
    """Output ``(Ho, Wo)`` of a 2-D conv over an ``input_hw`` input.

    >>> output_shape((8, 8), (5, 3))
    (4, 6)
    >>> output_shape((8, 8), 3, padding="same", stride=2)
    (4, 4)
    """
    k = normalize_pair(kernel_size, "kernel_size")
    return conv_geometry(input_hw, k, stride=stride, padding=padding, dilation=dilation).out_hw


def explain_shape(
    input_hw: Sequence[int],
    kernel_size: object,
    *,
    stride: object = 1,
    padding: object = "valid",
    dilation: object = 1,
) -> str:
    """The output-shape arithmetic in words and numbers, axis by axis.

    >>> print(explain_shape((8, 8), (5, 3)))  # doctest: +NORMALIZE_WHITESPACE
    input 8x8, kernel 5x3, stride 1x1, dilation 1x1, padding 'valid' -> output 4x6
    height: padding 0 top + 0 bottom; out = floor((8 + 0 + 0 - 1*(5-1) - 1) / 1) + 1 = 4
    width: padding 0 left + 0 right; out = floor((8 + 0 + 0 - 1*(3-1) - 1) / 1) + 1 = 6
    """
    k = normalize_pair(kernel_size, "kernel_size")
    g = conv_geometry(input_hw, k, stride=stride, padding=padding, dilation=dilation)
    hw = lambda p: f"{p[0]}x{p[1]}"  # noqa: E731
    lines = [
        f"input {hw(g.in_hw)}, kernel {hw(g.kernel_hw)}, stride {hw(g.stride)}, "
        f"dilation {hw(g.dilation)}, padding {padding!r} -> output {hw(g.out_hw)}"
    ]
    for axis, (name, sides) in enumerate((("height", "top/bottom"), ("width", "left/right"))):
        n, kk, s, d = g.in_hw[axis], g.kernel_hw[axis], g.stride[axis], g.dilation[axis]
        before, after = g.pads[axis]
        side_a, side_b = sides.split("/")
        out = g.out_hw[axis]
        lines.append(
            f"{name}: padding {before} {side_a} + {after} {side_b}; out = floor(({n} + {before} "
            f"+ {after} - {d}*({kk}-1) - 1) / {s}) + 1 = {out}"
        )
        dropped = (n + before + after - g.span_hw[axis]) % s
        if dropped:
            unit = "row" if axis == 0 else "column"
            what = f"last {unit} of the padded input is" if dropped == 1 else (
                f"last {dropped} {unit}s of the padded input are"
            )
            lines.append(
                f"  note: stride {s} does not tile the padded {name}: the {what} never covered "
                "by a window and dropped (as PyTorch and TensorFlow do)"
            )
    return "\n".join(lines)
