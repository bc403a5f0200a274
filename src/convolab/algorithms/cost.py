"""What an algorithm costs, in the units the cost model in ``convolab.select`` prices.

Each algorithm module has ``supports(problem) -> bool`` and ``cost(problem) -> Cost``. A cost
is counted, not timed: arithmetic done by BLAS (priced by how well the GEMM shapes suit BLAS),
other arithmetic and memory traffic done by NumPy element-wise loops, the scratch memory it
allocates, and the number of NumPy calls it makes (each one costs microseconds of Python).
"""

from __future__ import annotations

from dataclasses import dataclass

from convolab.algorithms import scheduler
from convolab.algorithms.problem import ConvProblem


@dataclass(frozen=True)
class Cost:
    """Counted work of one algorithm on one problem.

    ``gemm_flops`` run in BLAS matrix products whose typical shape is ``gemm_mkn``
    ``(rows, inner, cols)``; ``flops`` is everything the algorithm computes (what ``plan``
    reports); ``bytes_moved`` is the traffic of the copies and element-wise passes;
    ``workspace`` is peak scratch bytes; ``calls`` the NumPy calls (Python overhead);
    ``kernel_flops`` is what a compiled kernel executes (every SIMD lane it computes, and its
    load-bound excess, as FLOPs at the FMA rate).
    """

    flops: int
    gemm_flops: int
    gemm_mkn: tuple[int, int, int]
    bytes_moved: int
    workspace: int
    calls: int
    summary: str
    kernel_flops: int = 0


def im2col_cost(p: ConvProblem, block_bytes: int) -> Cost:
    """Lowering to a matrix product: ``cols (P, kh*kw*Cg) @ w (kh*kw*Cg, Og)`` per group.

    ``block_bytes`` caps one block of ``cols`` (as ``scheduler.block_budget`` does in the
    algorithm); the copy writes each receptive field once, and the GEMM reads it back. The
    workspace is a block per busy worker, plus the padded band each one reads.
    """
    kh, kw, cg, o = p.w_shape
    n, ho, wo, _ = p.y_shape
    item = p.dtype.itemsize
    cols_bytes = n * ho * wo * kh * kw * cg * p.groups * item
    budget = scheduler.block_budget(cols_bytes, block_bytes)
    blocks = max(1, -(-cols_bytes // budget))
    busy = min(blocks, scheduler.workers())
    band = min(cols_bytes, budget) * p.geom.stride[0] // (kh * kw)  # ~ the rows a block reads
    rows = max(1, n * ho * wo // blocks)
    # grouped: NumPy loops over G small GEMMs and transposes the result into place, measured
    # ~4x below one GEMM of the same FLOPs (depthwise 3x3, 128 groups)
    slowdown = 1 if p.groups == 1 else 4
    return Cost(
        flops=p.flops,
        gemm_flops=p.flops * slowdown,
        gemm_mkn=(rows, kh * kw * cg, o // p.groups),
        bytes_moved=cols_bytes + n * ho * wo * o * item,  # one windowed copy; the output
        workspace=busy * (min(cols_bytes, budget) + band),
        calls=blocks * (kh * kw + 4),
        summary=f"im2col: {blocks} block(s) of receptive fields, one GEMM "
                f"({rows} x {kh * kw * cg}) @ ({kh * kw * cg} x {o // p.groups}) each",
    )
