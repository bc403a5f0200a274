"""``convolab shape``: the output shape of a conv and the arithmetic that gives it; with
``--stack``, the output shape, jump and receptive field of every layer of a small stack."""

from __future__ import annotations

import argparse
import difflib
import re

from convolab.apps.receptive import receptive_field
from convolab.cli.common import add_conv_options, conv_options, parse_pair
from convolab.shapes import PADDING_STRINGS, explain_shape

HELP = "output shape of a conv, and the arithmetic behind it; receptive fields of a stack"
EPILOG = """examples:
  convolab shape                        # the book's 8x8 input and a 3x3 kernel: 6x6
  convolab shape --input 8x8 --kernel 5x3
  convolab shape --input 8x8 --kernel 3 --padding same --stride 2
  convolab shape --input 224 --kernel 7 --padding 3 --stride 2 --dilation 1
  convolab shape --stack "conv 3; conv 3 s2; pool 2; conv 3 d2" --input 224x224
  convolab shape --stack "conv 3 same; conv 3 same" --explain

--stack: layers separated by ';', each KIND SIZE [OPTIONS]:
  KIND     conv or pool
  SIZE     the kernel (or pool) size: N or HxW
  sN       stride, N or HxW (default: 1 for conv; for pool its size, as in Keras)
  dN       dilation, N or HxW (default: 1)
  pN       padding on both sides, N or HxW; or one of the words valid (the default), same,
           same_lower, full
For each layer it prints the output size (with --input), the jump (input pixels between
neighbouring outputs), the receptive field (input pixels one output sees) and the input
coordinates of the first output's field: its first pixel (start) and centre. Coordinates count
from the input's first pixel; negative ones lie in the padding. "same" with a stride needs
--input."""

_STACK_OPTION = re.compile(r"([sdp])(\d+(?:x\d+)?)")
_OPTION_NAMES = {"s": "stride", "d": "dilation", "p": "padding"}


def register(subparsers: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser("shape", help=HELP, description=HELP.capitalize() + ".",
                              parents=[parent], epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", default=None,
                   help="input size, N or HxW (default: 8x8, the book's input in 6.3; with "
                        "--stack, none: fields and jumps only)")
    p.add_argument("--kernel", default=None, help="kernel size, N or HxW (default: 3x3)")
    add_conv_options(p, padding="valid")
    p.add_argument("--stack", default=None, metavar="LAYERS",
                   help='a stack of layers, e.g. "conv 3; conv 3 s2; pool 2" (grammar below): '
                        "output shape, jump and receptive field per layer")
    p.add_argument("--explain", action="store_true",
                   help="with --stack: also the receptive-field arithmetic, layer by layer")
    # None marks "not given", so that --stack can refuse the one-conv options.
    p.set_defaults(run=run, padding=None, stride=None, dilation=None)


def run(args: argparse.Namespace) -> int:
    if args.stack is not None:
        return _run_stack(args)
    if args.explain:
        raise ValueError("--explain: goes with --stack (without it, shape always explains)")
    defaults = {"input": "8x8", "kernel": "3x3", "padding": "valid", "stride": "1",
                "dilation": "1"}
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    size = parse_pair(args.input, "--input")
    hw = (size, size) if isinstance(size, int) else size
    print(explain_shape(hw, parse_pair(args.kernel, "--kernel"), **conv_options(args)))
    return 0


def _run_stack(args: argparse.Namespace) -> int:
    given = [f"--{name}" for name in ("kernel", "padding", "stride", "dilation")
             if getattr(args, name) is not None]
    if given:
        raise ValueError(f"--stack: each layer gives its own size, stride, dilation and "
                         f"padding; drop {', '.join(given)}")
    layers, texts = parse_stack(args.stack)
    shape = None
    if args.input is not None:
        size = parse_pair(args.input, "--input")
        shape = (size, size) if isinstance(size, int) else size
    try:
        rf = receptive_field(layers, input_shape=shape)
    except (ValueError, TypeError) as exc:  # "layers[2]: ..." -> "--stack: layer 3 (...): ..."
        where = re.match(r"layers\[(\d+)\]: ", str(exc))
        if where is None:
            raise
        n = int(where.group(1))
        text = str(exc)[where.end():].replace("pass input_shape", "give --input")
        raise type(exc)(f"--stack: layer {n + 1} ({texts[n]!r}): {text}") from None
    print(rf.table())
    (top, bottom), (left, right) = rf.field((0, 0))
    (ji, jj), (hi, wi) = rf.jump, rf.size
    print(f"output (i, j) of the last layer sees input rows {top} + {ji}*i to {bottom} + {ji}*i "
          f"and columns {left} + {jj}*j to {right} + {jj}*j (a {hi}x{wi} field)")
    if rf.holes:
        print("note: dilation or stride leaves holes: pixels inside the field that the output "
              "never sees (--explain says which)")
    if args.explain:
        print()
        print(rf.explain())
    return 0


def parse_stack(text: str) -> tuple[list[dict[str, object]], list[str]]:
    """The ``--stack`` grammar (see EPILOG): layer dicts for ``receptive_field``, and each
    layer's text for error messages.

    >>> parse_stack("conv 3; pool 2; conv 5x3 s2 d2 p1")[0]  # doctest: +NORMALIZE_WHITESPACE
    [{'kernel_size': 3, 'strides': 1, 'dilation_rate': 1, 'padding': 'valid'},
     {'pool_size': 2, 'dilation_rate': 1, 'padding': 'valid'},
     {'kernel_size': (5, 3), 'strides': 2, 'dilation_rate': 2, 'padding': 1}]
    """
    texts = [t.strip() for t in text.split(";")]
    if texts and not texts[-1]:
        texts.pop()  # a trailing ';'
    if not texts or not all(texts):
        raise ValueError(f"--stack: expected layers separated by ';', e.g. \"conv 3; pool 2\", "
                         f"got {text!r}")
    return [_parse_layer(t, n) for n, t in enumerate(texts, 1)], texts


def _parse_layer(text: str, n: int) -> dict[str, object]:
    where = f"--stack: layer {n} ({text!r})"
    kind, *rest = text.lower().split()
    if kind not in ("conv", "pool"):
        close = difflib.get_close_matches(kind, ("conv", "pool"), n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"{where}: expected conv or pool, got {kind!r}{hint}")
    if not rest or not re.fullmatch(r"\d+(x\d+)?", rest[0]):
        raise ValueError(f"{where}: expected the {kind}'s size after {kind!r}, N or HxW "
                         f"(e.g. {kind} 3)")
    options: dict[str, object] = {}
    for token in rest[1:]:
        match = _STACK_OPTION.fullmatch(token)
        key = match.group(1) if match else "p" if token in PADDING_STRINGS else None
        if key is None:
            raise ValueError(f"{where}: unknown option {token!r}; expected sN (stride), dN "
                             f"(dilation), pN or a padding word ({', '.join(PADDING_STRINGS)})")
        if key in options:
            raise ValueError(f"{where}: {_OPTION_NAMES[key]} given twice")
        options[key] = _size(match.group(2), where, key) if match else token
    layer: dict[str, object] = {"pool_size" if kind == "pool" else "kernel_size":
                                _size(rest[0], where, "size")}
    if "s" in options or kind == "conv":
        layer["strides"] = options.get("s", 1)
    layer["dilation_rate"] = options.get("d", 1)
    layer["padding"] = options.get("p", "valid")
    return layer


def _size(text: str, where: str, key: str) -> int | tuple[int, int]:
    values = tuple(int(v) for v in text.split("x"))
    if min(values) < (0 if key == "p" else 1):
        name = _OPTION_NAMES.get(key, key)
        raise ValueError(f"{where}: {name} must be at least 1, got {text!r}")
    return values[0] if len(values) == 1 else values  # type: ignore[return-value]
