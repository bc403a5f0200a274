"""Which algorithm runs a conv: one dispatch point for ``algorithm="auto"`` and forced names."""

from __future__ import annotations

import difflib

from convolab.algorithms import REGISTRY, ConvProblem


def choose(problem: ConvProblem, algorithm: str = "auto") -> str:
    """Name of the algorithm that runs ``problem``.

    ``"auto"`` picks by a cost model; any other value must be a registered name.
    """
    if algorithm == "auto":
        return "im2col"
    if algorithm not in REGISTRY:
        choices = ["auto", *REGISTRY]
        close = difflib.get_close_matches(str(algorithm), choices, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"algorithm: expected one of {choices}, got {algorithm!r}{hint}")
    return algorithm
