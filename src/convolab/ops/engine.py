"""The rank-2 engine: a canonical image problem, computed by the chosen algorithm.

Arrays here are canonical (NHWC ``x``, HWIO ``w``, C-contiguous, of ``p.dtype``) and ``p`` has
rank 2: ``ops/lowering.py`` brings every other rank here. Forward, ``grad_x``, ``grad_w`` and
``grad_b``; how each is computed:

- forward: the algorithm ``select.choose`` names, which adds the bias block by block.
- ``grad_x`` is the adjoint of the conv applied to ``grad_y``: each output pixel's gradient
  flows back, through the kernel, to the pixels its window read, and the gradient of a
  reflected/replicated/wrapped border folds back onto the pixels it copied. It is itself a conv,
  of ``grad_y`` with the flipped kernel (input and output channels swapped,
  ``algorithms/adjoint.py``); or one GEMM per kernel tap scatters ``grad_y`` through BLAS
  (``algorithms/phased.py``); or an algorithm's own ``backward_input`` runs (im2col's is col2im,
  the adjoint of its unfold). ``select.choose_input_gradient`` picks the way.
- ``grad_w`` correlates the padded input with ``grad_y``: the chosen algorithm's own
  ``backward_weight`` (depthwise: one einsum per tap; pointwise: one GEMM), else im2col's
  columns, transposed, times ``grad_y``, one GEMM per block.
- ``grad_b`` sums ``grad_y`` over the batch and every output pixel.

Workspace is bounded as in the forward pass (``convolab.config``).
"""

from __future__ import annotations

import numpy as np

from convolab.algorithms import INPUT_GRADIENT, REGISTRY, ConvProblem, adjoint, channels, im2col
from convolab.algorithms.finite import all_finite
from convolab.select import ADJOINT, choose, choose_input_gradient


def forward(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, p: ConvProblem,
            name: str) -> np.ndarray:
    """``y`` (N, Ho, Wo, O) by algorithm ``name`` (already chosen), bias added."""
    if p.empty:  # no pixel to read: every output is the bias (TensorFlow's result too)
        y = np.zeros(p.y_shape, p.dtype)
        if bias is not None and y.size:
            y += bias
        return y
    return REGISTRY[name].forward(x, w, p, bias)


def input_gradient(
    gy: np.ndarray, w: np.ndarray, p: ConvProblem, algorithm: str = "auto"
) -> np.ndarray:
    """``grad_x`` (NHWC) from NHWC ``gy`` and HWIO ``w``, canonical arrays of ``p.dtype``.

    Run the way :func:`convolab.select.choose_input_gradient` names: phased, the conv of
    ``gy`` by an algorithm (``algorithms/adjoint.py``), or an algorithm's own
    ``backward_input`` (im2col's col2im if it has none).
    """
    if p.empty or min(p.y_shape) == 0:  # nothing flows back
        return np.zeros(p.x_shape, p.dtype)
    name = choose_input_gradient(p, algorithm)
    gy = np.ascontiguousarray(gy, dtype=p.dtype)
    if name.startswith(ADJOINT) and not all_finite(w):
        # the conv of grad_y multiplies its zero border (and the stride's zeros) by w, where
        # the definition never does: 0 * inf would spread (``algorithms/finite.py``)
        return im2col.backward_input(gy, w, p)
    if name.startswith(ADJOINT):
        module = REGISTRY[name.removeprefix(ADJOINT)]
        return adjoint.input_gradient(gy, adjoint.transposed_kernel(w, p.groups), p, p.groups,
                                      module.forward, getattr(module, "forward_into", None))
    module = INPUT_GRADIENT.get(name) or REGISTRY[name]
    return getattr(module, "backward_input", im2col.backward_input)(gy, w, p)


def weight_gradient_algorithm(p: ConvProblem, algorithm: str = "auto") -> str:
    """The algorithm whose ``backward_weight`` computes ``grad_w`` of ``p`` (rank 2): the one
    ``select.choose`` names (an algorithm of ``grad_x`` only, phased, leaves it to "auto")."""
    return choose(p, "auto" if algorithm in INPUT_GRADIENT else algorithm)


def weight_gradient(
    gy: np.ndarray, x: np.ndarray, p: ConvProblem, algorithm: str = "auto",
    engine: ConvProblem | None = None, *, bias: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """``grad_w`` (HWIO) from NHWC ``gy`` and ``x``, canonical arrays of ``p.dtype``, and with
    ``bias`` ``grad_b`` (O,) (else None): in the same pass over ``gy`` where the algorithm has
    one (``backward_weight_and_bias``). A volume ``p`` (for an algorithm that reads volumes)
    is chosen for by its rank-2 ``engine`` problem."""
    if p.empty or min(p.y_shape) == 0:  # no product of the definition involves a weight
        return np.zeros(p.w_shape, p.dtype), bias_gradient(gy, p.dtype) if bias else None
    module = REGISTRY[weight_gradient_algorithm(engine or p, algorithm)]
    gy = np.ascontiguousarray(gy, dtype=p.dtype)
    both = getattr(module, "backward_weight_and_bias", None) if bias else None
    if both is not None:
        return both(gy, x, p)
    gw = getattr(module, "backward_weight", im2col.backward_weight)(gy, x, p)
    return gw, bias_gradient(gy, p.dtype) if bias else None


def bias_gradient(gy: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``grad_b`` (O,): ``gy`` (N, *out, O) summed over images and pixels, in ``dtype``.

    Summed as ``(N*Ho, Wo*O)`` rows first, then the ``Wo`` pixels of the resulting row: the
    first sum's inner loop runs over whole rows, not over O channels (LeNet's first layer has
    6). The compiled core sums the rows in float64 across blocks, on the workers (LeNet's
    256x28x28x6 float32, alone: 0.18 ms against 0.30 for NumPy's column sums, which add in
    float32); NumPy's ``sum`` where it does not run. Not a product with ones: that BLAS call
    leaves OpenBLAS's threads spinning, and they slowed the next gradient's workers by half.
    """
    wo, o = gy.shape[-2:]
    rows = np.asarray(gy, dtype).reshape(-1, wo * o) if gy.size else np.zeros((0, wo * o), dtype)
    if rows.shape[0] and channels.runs(rows):
        return channels.sums(rows).reshape(wo, o).sum(axis=0).astype(dtype)
    return rows.sum(axis=0).reshape(wo, o).sum(axis=0)


