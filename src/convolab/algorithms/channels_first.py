"""A channels-first forward with its layout changes fused in: image group by image group.

The compiled kernels read NHWC and write NHWC. Converting a whole NCHW batch before the conv
and its whole result after moves every byte through memory twice more, and the two passes cost
res3x3a (16x64x56x56) 1.5 ms beside the conv's 4.7. Here each task instead takes a few whole
images: it transposes them into a scratch NHWC array that stays in the core's L2, runs the
kernel on that scratch into a second one, and transposes that into the NCHW result. Memory then
sees what the NHWC call sees (the input read once, the output written once); the transposes
run on cached data. The tasks are a region of the native pool, each group of images a chunk
(``_native/planar.c``): no Python runs per group (as Python tasks, a group cost three calls,
each taking the GIL back: LeNet's second layer in NCHW ran at 1.7x its NHWC time).

An algorithm takes part through ``bind(w, p, bias) -> native.Bound`` (its packed kernel, run on
any number of images): direct, winograd_f4 and direct_depthwise. The one-channel stencil needs
no transpose at all (``direct_stencil.channels_first``).
"""

from __future__ import annotations

import math
from types import ModuleType

import numpy as np

from convolab.algorithms import native, scheduler
from convolab.algorithms.problem import ConvProblem

# The scratch a task's images fill (input and output): within a core's L2 (1-2 MiB on the
# machines measured) beside what the kernel itself keeps there.
GROUP_BYTES = 1 << 20
# An image (input and output) past this size gains little from the fusion: its scratch leaves
# L2 in any case, and the separate passes split one image across the workers.
IMAGE_BYTES = 8 << 20


def eligible(module: ModuleType, p: ConvProblem) -> bool:
    """Whether the algorithm ``module`` runs rank-2 ``p`` here: it binds a kernel, the batch
    keeps every worker busy with whole images, and one image is small enough to gain."""
    if p.rank != 2 or p.empty or not native.available() or not hasattr(module, "bind"):
        return False
    return p.x_shape[0] >= scheduler.workers() and image_bytes(p) <= IMAGE_BYTES


def image_bytes(p: ConvProblem) -> int:
    """Bytes of one image's input and output."""
    return (math.prod(p.x_shape[1:]) + math.prod(p.y_shape[1:])) * p.dtype.itemsize


def _group(p: ConvProblem, kernel: native.Bound) -> int:
    """Images a task: a few tasks a worker (``native.TASKS_PER_WORKER``), each within
    ``GROUP_BYTES`` of scratch (at least one image); the whole batch when the work is small
    enough to run on the caller's thread."""
    n = p.x_shape[0]
    if n * kernel.items * kernel.macs < native.SERIAL_MACS:
        return n
    per_worker = -(-n // (scheduler.workers() * native.TASKS_PER_WORKER))
    return max(1, min(per_worker, GROUP_BYTES // image_bytes(p)))


def forward(kernel: native.Bound, x: np.ndarray, p: ConvProblem) -> np.ndarray | None:
    """``y`` (N, O, *out) of the channels-first ``x`` (N, C, *spatial), C-contiguous in
    ``p.dtype``, by ``kernel`` (bound to the NHWC problem ``p``); None when the kernel reports
    an output that is not finite (the caller then runs its fallback)."""
    n, o = p.x_shape[0], p.y_shape[-1]
    group = _group(p, kernel)
    y = np.empty((n, o, *p.y_shape[1:-1]), p.dtype)
    finite = native.region(
        lambda b0, b1, chunk, workers: kernel.run(x, y, n, b0, b1, chunk, workers, True),
        [(b, min(n, b + group)) for b in range(0, n, group)])
    return y if finite else None
