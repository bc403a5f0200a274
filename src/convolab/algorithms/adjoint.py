"""The input gradient of a conv, computed as another conv (so a fast forward serves backward).

For ``y = conv(x, w)`` (stride ``s``, dilation ``d``, padding ``pads``) and ``gy = dL/dy``, the
gradient on the *padded* input is the "full" correlation of ``gy`` — with zeros inserted between
its pixels where the stride skipped them — with the kernel flipped in space and its in/out
channels swapped (JAX's ``conv_general_dilated`` transpose rule)::

    gyd  (N, (Ho-1)*sh + 1, (Wo-1)*sw + 1, O)    gy spread out by the stride
    gxp  = conv(gyd, w[::-1, ::-1] (kh, kw, O, C), padding="full", dilation=d)
         (N, (Ho-1)*sh + span_h, ..., C)         rows past that were never read: zero
    gx   = pad_adjoint(gxp, pads, padding_mode)  borders fold back onto the pixels they copied

With zero padding and ``top <= span - 1`` (as for "same"), padding ``gyd`` by ``span - 1 - top``
on top (and what makes H rows below) gives ``gx`` itself, without the padded intermediate.

At stride ``s > 1`` (no dilation) the spread ``gyd`` is mostly zeros: of its products, only one
in ``sh * sw`` is not a product with zero. The stride's phases skip them: padded row
``m*sh + ph`` receives ``gy`` row ``m - t`` through tap ``ph + t*sh`` only, so each of the
``sh * sw`` phases of ``gxp`` is a stride-1 "full" conv of ``gy`` itself with the sub-kernel
``w[ph::sh, pw::sw]`` (flipped, channels swapped): the definition's products, once each, and
no spread copy. The phases are written into ``gxp`` and folded back as above.

For depthwise kernels the swap is a no-op per channel: ``w[::-1, ::-1]`` of shape
``(kh, kw, 1, C)`` is used as it is.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from convolab.algorithms import scheduler
from convolab.algorithms.problem import ConvProblem
from convolab.padding import pad_adjoint
from convolab.shapes import ConvGeometry, conv_geometry

Forward = Callable[[np.ndarray, np.ndarray, ConvProblem], np.ndarray]
# forward_into(x, w, p, base, out): the forward conv written into ``out``, a view of ``base``
ForwardInto = Callable[[np.ndarray, np.ndarray, ConvProblem, np.ndarray, np.ndarray], None]
COPY_SPLIT = 1 << 18  # values of a phase's copy past which the workers share it


def transposed_kernel(w: np.ndarray, groups: int) -> np.ndarray:
    """The kernel of the input-gradient conv: HWIO ``(kh, kw, Cg, O)`` -> ``(kh, kw, Og, C)``.

    Flipped in space, and within each group its in/out channels swapped: the gradient conv
    maps the ``O`` channels of ``gy`` back onto the ``C`` of ``x``, group by group.

    >>> w = np.arange(8.0).reshape(1, 2, 2, 2)  # 1x2 kernel, 2 in, 2 out, 1 group
    >>> transposed_kernel(w, 1)[0, :, :, :].tolist()  # taps swapped, [o][c] now
    [[[4.0, 6.0], [5.0, 7.0]], [[0.0, 2.0], [1.0, 3.0]]]
    """
    kh, kw, cg, o = w.shape
    per_group = w[::-1, ::-1].reshape(kh, kw, cg, groups, o // groups)
    return per_group.transpose(0, 1, 4, 3, 2).reshape(kh, kw, o // groups, groups * cg)


def gradient_problem(p: ConvProblem, w_flipped_shape: tuple[int, ...] | None = None,
                     groups: int | None = None) -> ConvProblem:
    """The stride-1, zero-padded conv :func:`input_gradient` runs for ``p``: what is priced is run.

    Its input is ``gy`` spread out by the stride, ``(N, (Ho-1)*sh + 1, (Wo-1)*sw + 1, Og*G)``,
    its kernel ``w_flipped_shape`` (default: :func:`transposed_kernel`'s ``(kh, kw, O // G, C)``)
    in ``groups`` groups (default ``p.groups``). Its padding gives ``dL/dx`` directly where it
    can (zero padding, ``top <= span - 1``), else "full": the gradient on the padded rows read.

    >>> from convolab.shapes import conv_geometry
    >>> geom = conv_geometry((5, 5), (3, 3), stride=2, padding="same")
    >>> p = ConvProblem((1, 5, 5, 2), (3, 3, 2, 4), geom, 1, "zeros", np.dtype("f8"))
    >>> q = gradient_problem(p)
    >>> q.x_shape, q.w_shape, q.geom.pads, q.y_shape  # gy (1, 3, 3, 4) spread to 5x5
    ((1, 5, 5, 4), (3, 3, 4, 2), ((1, 1), (1, 1)), (1, 5, 5, 2))
    """
    n, _, _, c = p.x_shape
    kh, kw, _, o = p.w_shape
    groups = p.groups if groups is None else groups
    w_flipped_shape = w_flipped_shape or (kh, kw, o // groups, c)
    (sh, sw), (ho, wo) = p.geom.stride, p.geom.out_shape
    spread = ((ho - 1) * sh + 1, (wo - 1) * sw + 1)
    pads = _direct_pads(p, spread)
    geom = conv_geometry(spread, (kh, kw), padding=pads or "full", dilation=p.geom.dilation)
    gy_shape = (n, *spread, w_flipped_shape[2] * groups)
    return ConvProblem(gy_shape, tuple(w_flipped_shape), geom, groups, "zeros", p.dtype)


def _direct_pads(p: ConvProblem, spread: tuple[int, int]) -> tuple[tuple[int, int], ...] | None:
    """Padding of the spread ``gy`` whose conv is ``dL/dx`` itself, or None if there is none.

    "full" padding gives the gradient on padded rows 0 .. (Ho-1)*sh + span_h - 1. With zero
    padding only rows top .. top+H-1 matter: pad by ``span-1-top`` instead, and by what makes
    the output H rows long (possible when neither amount is negative).
    """
    if p.padding_mode != "zeros":
        return None
    pads = tuple(
        (span - 1 - before, size - (length + span - 1 - before) + span - 1)
        for span, (before, _), size, length in zip(p.geom.span_shape, p.geom.pads, p.x_shape[1:3],
                                                   spread)
    )
    return pads if min(min(pair) for pair in pads) >= 0 else None


def phases(p: ConvProblem) -> bool:
    """Whether :func:`input_gradient` runs ``p`` by the stride's phases (stride > 1, no
    dilation)."""
    return p.geom.stride != (1, 1) and p.geom.dilation == (1, 1)


def phase_problems(p: ConvProblem, og: int, groups: int) -> list[tuple[int, int, ConvProblem]]:
    """``(ph, pw, q)`` of every phase with a tap: ``q`` is the stride-1 conv of ``gy`` (N, Ho,
    Wo, O) with the phase's sub-kernel ``(Th, Tw, og, C)`` padded "full" (``T - 1`` before,
    what makes the phase's ``M`` rows after) into ``gxp[:, ph::sh, pw::sw]``."""
    n, c = p.x_shape[0], p.x_shape[-1]
    (sh, sw), (kh, kw) = p.geom.stride, p.geom.kernel_shape
    out = []
    for ph in range(min(sh, kh)):
        for pw in range(min(sw, kw)):
            taps = (-(-(kh - ph) // sh), -(-(kw - pw) // sw))
            rows = tuple(-(-(size - f) // s) for size, f, s in
                         zip(p.geom.padded_shape, (ph, pw), (sh, sw)))
            pads = tuple((t - 1, m - o) for t, m, o in zip(taps, rows, p.geom.out_shape))
            geom = conv_geometry(p.geom.out_shape, taps, padding=pads)
            out.append((ph, pw, ConvProblem((n, *p.geom.out_shape, og * groups),
                                            (*taps, og, c), geom, groups, "zeros", p.dtype)))
    return out


def gradient_problems(p: ConvProblem) -> list[ConvProblem]:
    """Every conv :func:`input_gradient` runs for ``p`` (with :func:`transposed_kernel`'s
    kernel): the stride's phases, or the one conv of the spread ``gy``."""
    if phases(p):
        return [q for _, _, q in phase_problems(p, p.w_shape[3] // p.groups, p.groups)]
    return [gradient_problem(p)]


def writes_directly(p: ConvProblem) -> bool:
    """Whether :func:`input_gradient` by phases writes each phase into ``dL/dx`` itself (zero
    padding, none of it negative), with no padded gradient to fold back."""
    return p.padding_mode == "zeros" and min(before for before, _ in p.geom.pads) >= 0


def _by_phases(gy: np.ndarray, w_flipped: np.ndarray, p: ConvProblem, groups: int,
               forward: Forward, forward_into: ForwardInto | None) -> np.ndarray:
    """:func:`input_gradient` at stride > 1 by the stride's phases. A phase's flipped
    sub-kernel is a strided slice of the flipped kernel: taps ``ph + t*sh`` of ``w`` sit at
    ``kh - 1 - ph - t*sh`` in ``w_flipped``.

    With zero padding each phase's rows and columns inside the input are written straight
    into ``dL/dx`` (padded row ``m*sh + ph`` is input row ``m*sh + ph - top``): no padded
    gradient to allocate, zero and crop (res3x3s2: three 13 MiB passes of the 16 ms). With
    ``forward_into`` the phase's conv is cropped to those rows and columns and stores them in
    ``dL/dx`` itself (res3x3s2: its four copies, 1.4 ms, and 5% of its products)."""
    n, h, wd, c = p.x_shape
    (sh, sw), (kh, kw) = p.geom.stride, p.geom.kernel_shape
    (top, _), (left, _) = p.geom.pads
    direct = writes_directly(p)
    phases_ = phase_problems(p, w_flipped.shape[2], groups)
    if direct:  # every pixel is some phase's unless a phase has no tap (kernel < stride)
        full = len(phases_) == sh * sw
        gx = np.empty(p.x_shape, p.dtype) if full else np.zeros(p.x_shape, p.dtype)
    else:
        gx = np.zeros((n, *p.geom.padded_shape, c), p.dtype)
    for ph, pw, q in phases_:
        th, tw = q.w_shape[:2]
        sub = w_flipped[kh - 1 - ph - (th - 1) * sh :: sh, kw - 1 - pw - (tw - 1) * sw :: sw]
        sub = np.ascontiguousarray(sub[:th, :tw])
        if not direct:
            gx[:, ph::sh, pw::sw] = forward(gy, sub, q)
            continue
        # input rows r = m*sh + ph - top >= 0: the first is r0 = (ph - top) % sh, at m0
        r0, c0 = (ph - top) % sh, (pw - left) % sw
        m0, l0 = (r0 + top - ph) // sh, (c0 + left - pw) // sw
        target = gx[:, r0::sh, c0::sw]
        if target.size == 0:
            continue
        if forward_into is not None:
            forward_into(gy, sub, _cropped(q, (m0, l0), target.shape[1:3]), gx, target)
            continue
        out = forward(gy, sub, q)
        _strided_copy(target, out[:, m0 : m0 + target.shape[1], l0 : l0 + target.shape[2]])
    return gx if direct else pad_adjoint(gx, p.geom.pads, p.padding_mode, (h, wd))


def _cropped(q: ConvProblem, first: tuple[int, int], counts: tuple[int, int]) -> ConvProblem:
    """Phase ``q`` computing only its output rows ``first[0] .. first[0] + counts[0] - 1``
    (and the same of columns): its padding moved by ``first`` (a negative amount skips
    ``gy``'s first rows, which the index maps read as a crop)."""
    pads = tuple((t - 1 - f, count - size + f) for t, f, count, size in
                 zip(q.w_shape[:2], first, counts, q.x_shape[1:3]))
    geom = ConvGeometry(q.geom.in_shape, q.geom.kernel_shape, (1, 1), (1, 1), pads)
    return ConvProblem(q.x_shape, q.w_shape, geom, q.groups, "zeros", q.dtype)


def _strided_copy(dst: np.ndarray, src: np.ndarray) -> None:
    """``dst[...] = src``, images split among the workers (NumPy's copy releases the GIL): a
    phase's strided copy on one thread was a third of res3x3s2's input gradient."""
    n = dst.shape[0]
    workers = min(scheduler.workers(), n)
    if workers <= 1 or dst.size < COPY_SPLIT:
        dst[...] = src
        return
    step = -(-n // (2 * workers))

    def copy(images: tuple[int, int], _worker: int) -> None:
        dst[images[0]:images[1]] = src[images[0]:images[1]]

    scheduler.run([(i, min(n, i + step)) for i in range(0, n, step)], copy, workers,
                  limit_blas=False)


def input_gradient(gy: np.ndarray, w_flipped: np.ndarray, p: ConvProblem, groups: int,
                   forward: Forward, forward_into: ForwardInto | None = None) -> np.ndarray:
    """``dL/dx`` (N, H, W, C) of ``p`` from ``gy`` (N, Ho, Wo, O), by ``forward``.

    ``w_flipped`` is the kernel of the gradient conv, HWIO ``(kh, kw, O // groups, C)``
    (:func:`transposed_kernel`; for depthwise ``groups == C``, simply ``w[::-1, ::-1]``).
    ``forward`` must support the problem :func:`gradient_problem` builds; ``forward_into``,
    the same algorithm's forward into a view (``direct.forward_into``), lets the stride's
    phases store into ``dL/dx`` itself.
    """
    if phases(p):
        return _by_phases(np.ascontiguousarray(gy), w_flipped, p, groups, forward,
                          forward_into)
    n, h, wd, c = p.x_shape
    q = gradient_problem(p, w_flipped.shape, groups)
    sh, sw = p.geom.stride
    if (sh, sw) == (1, 1):
        gyd = gy
    else:  # (N, (Ho-1)*sh + 1, (Wo-1)*sw + 1, O): the stride's skipped pixels get zero
        gyd = np.zeros(q.x_shape, gy.dtype)
        gyd[:, ::sh, ::sw] = gy
    gyd, w_flipped = np.ascontiguousarray(gyd), np.ascontiguousarray(w_flipped)
    if _direct_pads(p, q.x_shape[1:3]) is not None:
        return forward(gyd, w_flipped, q)
    # (N, (Ho-1)*sh + span_h, ..., C): the padded rows read; the rest of gxp stays zero
    gxp_read = forward(gyd, w_flipped, q)
    gxp = np.zeros((n, *p.geom.padded_shape, c), p.dtype)
    gxp[:, : gxp_read.shape[1], : gxp_read.shape[2]] = gxp_read
    return pad_adjoint(gxp, p.geom.pads, p.padding_mode, (h, wd))
