#!/usr/bin/env python
"""Signals and volumes (issue 11): convolab's conv of rank 1 and 3 against PyTorch and SciPy.

    python benchmarks/nd.py                 # every case, 2 threads, prints the table
    python benchmarks/nd.py --update-md     # ... and rewrites its section of BENCHMARKS.md
    python benchmarks/nd.py --cases audio1d,video3d --quick

Cases (issue 11): ``audio1d`` the first layer of the M5 raw-audio network, ``text1d`` a
256-channel text conv, ``video3d`` an R3D/C3D layer (forward and backward), ``volume3d`` a
5x5x5 Gaussian on a 256^3 volume. Each peer runs the same problem in its best layout (PyTorch:
channels-first and channels-last, the faster counts), on the same threads, in the same process,
taking turns loop by loop (``run.interleaved_best``); each result is checked against
convolab's before timing. Rates count the direct method's FLOPs (2 per multiply-add). The
environment is set as ``run.py`` sets it (OpenBLAS's kernel choice unset, thread counts fixed),
and the BLAS that ran is printed (threadpoolctl).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from run import _reexec_with_clean_env, update_section

CASES = ("audio1d", "text1d", "video3d", "video3d/bwd", "volume3d")
MD_BEGIN, MD_END = "<!-- BEGIN benchmarks/nd.py -->", "<!-- END benchmarks/nd.py -->"


def _parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2, help="threads for every peer (default 2)")
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated subset of "
                    + ",".join(CASES))
    ap.add_argument("--quick", action="store_true", help="fewer, shorter repeats")
    ap.add_argument("--update-md", action="store_true", help="rewrite BENCHMARKS.md's section")
    return ap.parse_args(argv)


if __name__ == "__main__":
    _reexec_with_clean_env(_parse(sys.argv[1:]).threads)

import numpy as np  # noqa: E402
from run import environment, interleaved_best, machine_rates, set_threads  # noqa: E402

import convolab as cl  # noqa: E402


@dataclass(frozen=True)
class NDCase:
    """One conv: channels-last shapes (ours), options, and whether it times the backward."""

    name: str
    x_shape: tuple[int, ...]
    w_shape: tuple[int, ...]
    stride: int = 1
    padding: str = "same"
    backward: bool = False

    @property
    def rank(self) -> int:
        return len(self.w_shape) - 2

    def kwargs(self) -> dict:
        return dict(stride=self.stride, padding=self.padding)

    def flops(self) -> int:
        out = cl.output_shape(self.x_shape[1:-1], self.w_shape[:-2], **self.kwargs())
        forward = 2 * self.x_shape[0] * int(np.prod(out)) * int(np.prod(self.w_shape))
        return 2 * forward if self.backward else forward  # grad_x and grad_w: two convs' worth

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(0)
        x = rng.standard_normal(self.x_shape, dtype=np.float32)
        if self.name == "volume3d":  # a 5x5x5 Gaussian, sigma 1
            g = np.exp(-0.5 * np.arange(-2.0, 3.0) ** 2)
            k = np.einsum("i,j,k->ijk", g, g, g)
            return x, (k / k.sum()).astype(np.float32)[..., None, None]
        fan_in = int(np.prod(self.w_shape[:-1]))
        w = rng.standard_normal(self.w_shape, dtype=np.float32) / np.float32(np.sqrt(fan_in))
        return x, w


ND_CASES = {
    "audio1d": NDCase("audio1d", (16, 16000, 1), (80, 1, 32), stride=4, padding="valid"),
    "text1d": NDCase("text1d", (32, 512, 256), (3, 256, 256)),
    "video3d": NDCase("video3d", (2, 16, 56, 56, 64), (3, 3, 3, 64, 64)),
    "video3d/bwd": NDCase("video3d/bwd", (2, 16, 56, 56, 64), (3, 3, 3, 64, 64), backward=True),
    "volume3d": NDCase("volume3d", (1, 256, 256, 256, 1), (5, 5, 5, 1, 1)),
}


def _torch_runners(case: NDCase, x: np.ndarray, w: np.ndarray, gy: np.ndarray | None
                   ) -> Iterator[tuple[str, Callable[[], object], Callable[[object], np.ndarray]]]:
    """PyTorch in channels-first and (3-D) channels-last-3d memory format; ``to_ours`` turns
    its result into convolab's channels-last layout (the forward output, or grad_x)."""
    try:
        import torch
    except ImportError:
        return
    fn = {1: torch.nn.functional.conv1d, 3: torch.nn.functional.conv3d}[case.rank]
    r = case.rank
    xt = torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, 1)))
    wt = torch.from_numpy(np.ascontiguousarray(np.transpose(w, (r + 1, r, *range(r)))))
    k = case.w_shape[0]
    pad = k // 2 if case.padding == "same" else 0  # odd kernels: TensorFlow's split too
    formats = [("torch", torch.contiguous_format)]
    if r == 3:
        formats.append(("torch-cl3d", torch.channels_last_3d))
    for label, fmt in formats:
        xf, wf = xt.contiguous(memory_format=fmt), wt.contiguous(memory_format=fmt)
        if gy is None:
            def call(xf=xf, wf=wf):
                with torch.no_grad():
                    return fn(xf, wf, stride=case.stride, padding=pad)
            yield label, call, lambda y: np.moveaxis(y.numpy(), 1, -1)
        else:
            gyt = torch.from_numpy(np.ascontiguousarray(np.moveaxis(gy, -1, 1)))
            gyt = gyt.contiguous(memory_format=fmt)
            xg, wg = xf.clone().requires_grad_(), wf.clone().requires_grad_()

            def call(xg=xg, wg=wg, gyt=gyt):
                xg.grad = wg.grad = None
                fn(xg, wg, stride=case.stride, padding=pad).backward(gyt)
                return xg.grad

            yield label, call, lambda g: np.moveaxis(g.numpy(), 1, -1)


def runners(case: NDCase, x: np.ndarray, w: np.ndarray, gy: np.ndarray | None):
    kw = case.kwargs()
    if gy is None:
        yield "convolab", lambda: cl.conv(x, w, **kw), lambda y: y
    else:
        yield "convolab", lambda: cl.conv_backward(gy, x, w, bias=False, **kw), lambda g: g[0]
    yield from _torch_runners(case, x, w, gy)
    if case.name == "volume3d":
        from scipy import ndimage

        vol, kern = x[0, ..., 0], w[..., 0, 0]
        yield ("scipy.ndimage", lambda: ndimage.correlate(vol, kern, mode="constant"),
               lambda y: y[None, ..., None])


def case_row(case: NDCase, quick: bool) -> dict:
    x, w = case.arrays()
    gy = None
    if case.backward:
        y = cl.conv(x, w, **case.kwargs())
        gy = np.random.default_rng(1).standard_normal(y.shape, dtype=np.float32)
    calls, errors = {}, {}
    ours = None
    for name, call, to_ours in runners(case, x, w, gy):
        result = to_ours(call())
        if ours is None:
            ours = result
        errors[name] = float(np.max(np.abs(result - ours)) / np.max(np.abs(ours)))
        calls[name] = call
    times = interleaved_best(calls, rounds=3 if quick else 7, min_time=0.2 if quick else 0.5)
    peers = {k: v for k, v in times.items() if k != "convolab"}
    best_peer = min(peers, key=peers.get)
    plan = cl.plan(x, w, **case.kwargs())
    return dict(case=case.name, times=times, errors=errors, best_peer=best_peer,
                ratio=times["convolab"] / peers[best_peer], gflops=case.flops() / 1e9,
                algorithm=("grad_x " + plan.input_gradient) if case.backward else plan.algorithm)


def _cell(seconds: float, gflops: float) -> str:
    return f"{seconds * 1e3:.3g} ({gflops / seconds:.0f})"


def markdown(rows: list[dict], env: dict) -> str:
    peers = sorted({p for r in rows for p in r["times"] if p != "convolab"})
    lines = [
        f"Run {env['date']} on {env['machine']}, {env['threads']} threads; BLAS: {env['blas']}; "
        f"PyTorch {env['torch']}; convolab's core: {env['isa']}.",
        "Command: `python benchmarks/nd.py --update-md`. Time in ms (GFLOP/s of the direct "
        "method); ratio = convolab / the fastest peer (below 1: convolab is faster).",
        "",
        "| case | convolab | " + " | ".join(peers) + " | ratio | algorithm |",
        "|---|---|" + "---|" * len(peers) + "---|---|",
    ]
    for r in rows:
        cells = [_cell(r["times"][p], r["gflops"]) if p in r["times"] else "—" for p in peers]
        lines.append(f"| {r['case']} | {_cell(r['times']['convolab'], r['gflops'])} | "
                     + " | ".join(cells)
                     + f" | {r['ratio']:.2f} vs {r['best_peer']} | {r['algorithm']} |")
    worst = max(max(e for k, e in r["errors"].items()) for r in rows)
    lines += ["", f"Largest difference from convolab's result, relative to its largest value: "
              f"{worst:.1e} (float32)."]
    return "\n".join(lines)


def update_markdown(text: str) -> None:
    update_section(text, MD_BEGIN, MD_END, "Signals and volumes (issue 11)")


def main(argv: list[str]) -> int:
    args = _parse(argv)
    set_threads(args.threads)
    names = [n for n in args.cases.split(",") if n]
    unknown = sorted(set(names) - set(CASES))
    if unknown:
        print(f"--cases: unknown {', '.join(unknown)}; expected some of {','.join(CASES)}")
        return 2
    rates = [machine_rates(["float32"], 2 if args.quick else 3)]
    rows = []
    for name in names:
        rows.append(case_row(ND_CASES[name], args.quick))
        times = rows[-1]["times"].items()
        print(f"{name}: " + ", ".join(f"{k} {v * 1e3:.3g} ms" for k, v in times), flush=True)
    env = environment(argparse.Namespace(threads=args.threads, dtypes=["float32"]), rates)
    text = markdown(rows, env)
    print(text)
    if args.update_md:
        update_markdown(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
