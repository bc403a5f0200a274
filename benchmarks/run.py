#!/usr/bin/env python
"""Run the speed suite against every installed peer: one process, one run, same thread count.

    python benchmarks/run.py                    # full suite, 2 threads, prints the tables
    python benchmarks/run.py --update-md        # ... and rewrites the table in BENCHMARKS.md
    python benchmarks/run.py --quick --cases res3x3a,pw1x1 --no-backward
    python benchmarks/run.py --quick --cases res3x3b --dtypes float64 --layouts NCHW
    python benchmarks/run.py --render           # tables, plot, BENCHMARKS.md from latest.json

Every rate is counted with the direct method's FLOPs (so Winograd can pass 100% of sgemm).
Times are the best of several loops of calls (``timeit``'s convention: the minimum is the run
least disturbed by the rest of the machine), the peers of a case taking turns loop by loop so
that load from elsewhere hits them alike. Before timing, each peer's result is checked against
convolab's with the padding that peer used.

Each conv layer also runs in float64 (every peer in float64) and with convolab called on NCHW /
OIHW arrays (the peers keep their best layout); ``--dtypes`` and ``--layouts`` pick. Every rate
is also given as a share of a peak measured in the same run: the GEMM peak (the best 2048³
matrix product of NumPy's BLAS and ``torch.mm``, a proxy for the FMA peak: the benchmarks
compile nothing) for compute-bound cases, and the copy bandwidth of a 256 MiB ``np.copyto``
(bytes read + written) for the memory-bound ones (``suite.MEMORY_BOUND``).

Thread counts and OpenBLAS's kernel choice are fixed by environment variables, which only take
effect before NumPy is imported: the script re-executes itself once with ``OPENBLAS_CORETYPE``
and ``OPENBLAS_L2_SIZE`` removed and ``*_NUM_THREADS`` set to ``--threads`` (its own process only).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
DTYPES, LAYOUTS = ("float32", "float64"), ("NHWC", "NCHW")  # of suite.variants' cases
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_CLEARED_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def _names(allowed: tuple[str, ...]) -> Callable[[str], list[str]]:
    """An argparse type: a comma-separated subset of ``allowed``."""
    def parse(text: str) -> list[str]:
        names = [t for t in text.split(",") if t]
        bad = [t for t in names if t not in allowed]
        if bad or not names:
            raise argparse.ArgumentTypeError(f"expected some of {','.join(allowed)}, got {text!r}")
        return names
    return parse


def _parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2, help="threads for every peer (default 2)")
    ap.add_argument("--cases", default="", help="comma-separated case names (default: all)")
    ap.add_argument("--quick", action="store_true", help="fewer, shorter repeats")
    ap.add_argument("--no-backward", action="store_true", help="skip the backward cases")
    ap.add_argument("--dtypes", type=_names(DTYPES), default=list(DTYPES),
                    help="comma-separated dtypes of the conv layers (default: float32,float64)")
    ap.add_argument("--layouts", type=_names(LAYOUTS), default=list(LAYOUTS),
                    help="comma-separated layouts convolab is called in (default: NHWC,NCHW)")
    ap.add_argument("--update-md", action="store_true",
                    help="write the tables and plot into BENCHMARKS.md")
    ap.add_argument("--out", type=Path, default=HERE,
                    help="folder for latest.json and latest.png (default: benchmarks/)")
    ap.add_argument("--render", action="store_true",
                    help="measure nothing: redo tables, plot and BENCHMARKS.md from latest.json")
    return ap.parse_args(argv)


def _reexec_with_clean_env(threads: int) -> None:
    """Re-run this script with the thread/BLAS environment set, before NumPy loads."""
    env = dict(os.environ)
    for var in _CLEARED_VARS:
        env.pop(var, None)
    env.update({var: str(threads) for var in _THREAD_VARS})
    if env != dict(os.environ):
        os.execve(sys.executable, [sys.executable, *sys.argv], env)


if __name__ == "__main__":
    _reexec_with_clean_env(_parse(sys.argv[1:]).threads)

import json  # noqa: E402  (after the re-exec: NumPy must see the final environment)
import platform  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402
from peers import GEMM_ALONE, backward_runners, forward_runners  # noqa: E402
from suite import BACKWARD, FORWARD, GEMM_BOUND, MEMORY_BOUND, Case, label, variants  # noqa: E402

import convolab as cl  # noqa: E402
from convolab import _native  # noqa: E402

MD_BEGIN, MD_END = "<!-- BEGIN benchmarks/run.py -->", "<!-- END benchmarks/run.py -->"


def best_time(call: Callable[[], object], *, repeats: int, min_time: float) -> float:
    """Seconds per call: the best of ``repeats`` loops, each at least ``min_time`` long."""
    return interleaved_best({"": call}, rounds=repeats, min_time=min_time)[""]


def interleaved_best(calls: dict[str, Callable[[], object]], *, rounds: int,
                     min_time: float) -> dict[str, float]:
    """Seconds per call of each peer: its best loop (of >= ``min_time``) over ``rounds``.

    In each round every peer runs one loop in turn, so a burst of load from the rest of the
    machine lands on all peers alike instead of on whichever was being timed.
    """
    loops = {}
    for name, call in calls.items():
        call()  # warm up: caches, BLAS buffers, lazy imports
        t0 = time.perf_counter()
        call()
        loops[name] = max(1, int(min_time / max(time.perf_counter() - t0, 1e-7)))
    best = dict.fromkeys(calls, float("inf"))
    for _ in range(rounds):
        for name, call in calls.items():
            t0 = time.perf_counter()
            for _ in range(loops[name]):
                call()
            best[name] = min(best[name], (time.perf_counter() - t0) / loops[name])
    return best


def machine_rates(dtypes: list[str], repeats: int) -> dict[str, float]:
    """The peaks every rate is compared with, measured now.

    ``"numpy float32"``, ``"torch float32"``, ...: GFLOP/s of a 2048³ matrix product by NumPy's
    BLAS and by ``torch.mm`` (on ``torch.set_num_threads``'s threads), float32 always (it is
    also "% sgemm"); ``"copy"``: GB/s of ``np.copyto`` of 256 MiB, bytes read + written.
    """
    rng = np.random.default_rng(0)
    rates = {}
    for dtype in dict.fromkeys(["float32", *dtypes]):
        a, b = (rng.standard_normal((2048, 2048)).astype(dtype) for _ in range(2))
        products = {"numpy": lambda a=a, b=b: a @ b}
        try:
            import torch

            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            products["torch"] = lambda ta=ta, tb=tb: torch.mm(ta, tb)
        except ImportError:
            pass
        for lib, mm in products.items():
            t = best_time(mm, repeats=repeats, min_time=0.3)
            rates[f"{lib} {dtype}"] = 2 * 2048**3 / t / 1e9
    src = np.ones(2**28 // 8)
    dst = np.empty_like(src)
    t = best_time(lambda: np.copyto(dst, src), repeats=repeats, min_time=0.3)
    rates["copy"] = 2 * src.nbytes / t / 1e9
    return rates


def peak_memory(call: Callable[[], object]) -> int:
    """Bytes: tracemalloc's peak of NumPy allocations during one call (output included)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    call()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def chosen_algorithm(x: np.ndarray, w: np.ndarray, case: Case,
                     direction: str) -> tuple[str, str | None]:
    """What convolab's ``algorithm="auto"`` runs for this case (backward: for grad_x), and the
    compiled kernel it names (forward only, e.g. ``direct_f32_6x4_avx512``; None on NumPy)."""
    xo, wo, kw = case.ours(x, w)
    p = cl.plan(xo, wo, **kw)
    if direction == "backward":
        return f"grad_x: {p.input_gradient}", None
    # the reason opens with the chosen algorithm's summary; kernel names end in their ISA
    kernel = re.search(rf"compiled (\w+_(?:{'|'.join(_native.ISAS)}))\b", p.reason)
    return p.algorithm, kernel and kernel.group(1)


def _rel_err(got: np.ndarray, want: np.ndarray) -> float:
    """Max error relative to the largest value of ``want``."""
    return float(np.max(np.abs(got - want)) / max(float(np.max(np.abs(want))), 1e-30))


def case_rows(case: Case, direction: str, repeats: int, min_time: float) -> list[dict]:
    """Check, then time, every peer on one case (interleaved); convolab's forward also gets its
    peak memory. The shares of the machine's peaks are added by ``shares`` at the end."""
    x, w, b = case.arrays()
    kw = dict(stride=case.stride, groups=case.groups)
    if direction == "forward":
        runners = forward_runners(case, x, w, b)
        expect = lambda p: cl.conv2d(x, w, b, padding=p, **kw)  # noqa: E731
    else:
        gy = np.random.default_rng(1).standard_normal(
            (case.n, case.out_hw, case.out_hw, case.o)).astype(case.dtype)
        runners = backward_runners(case, x, w, b, gy)
        expect = lambda p: _ref_grad_x(gy, x, w, p, kw)  # noqa: E731
    checked = {}
    for peer, call, to_nhwc, padding in runners:
        err = _rel_err(to_nhwc(call()), expect(padding))
        if err > 1e-3:
            print(f"  !! {case.label} {direction} {peer}: relative error {err:.1e}; skipped")
        else:
            checked[peer] = (call, err)
    times = interleaved_best({p: c for p, (c, _) in checked.items()}, rounds=repeats,
                             min_time=min_time)
    rows = []
    for peer, (call, err) in checked.items():
        t = times[peer]
        row = dict(case=case.label, direction=direction, peer=peer, dtype=case.dtype,
                   layout=case.layout, seconds=t,
                   gflops=case.flops * (1 if direction == "forward" else 2) / t / 1e9,
                   rel_err=err,
                   bound="memory" if case.name in MEMORY_BOUND else "compute")
        if row["bound"] == "memory":
            row["gbytes"] = case.traffic(direction) / t / 1e9
        if peer == "convolab":
            row["algorithm"], row["kernel"] = chosen_algorithm(x, w, case, direction)
            row["isa"] = _native.isa() if row["kernel"] else None
        if peer == "convolab" and direction == "forward":
            row["peak_mib"] = peak_memory(call) / 2**20
            y_bytes = x.itemsize * case.n * case.out_hw**2 * case.o
            row["budget_mib"] = (x.nbytes + y_bytes) / 2**20 + 64
        rows.append(row)
        print(f"  {case.label:16s} {direction:8s} {peer:18s} {t * 1e3:9.3f} ms "
              f"{row['gflops']:7.1f} GFLOP/s  err {err:.1e}", flush=True)
    torch_t = [r["seconds"] for r in rows if r["peer"].startswith("torch")]
    for row in rows:  # ratio to PyTorch's best layout for the same case
        row["vs_torch"] = row["seconds"] / min(torch_t) if torch_t else None
    return rows


def run_direction(cases: list[Case], direction: str, args: argparse.Namespace) -> list[dict]:
    repeats, min_time = (3, 0.05) if args.quick else (7, 0.25)
    return [row for case in cases for row in case_rows(case, direction, repeats, min_time)]


def shares(rows: list[dict], env: dict) -> None:
    """Add each row's rate as a share of the run's peaks: ``pct_sgemm`` (NumPy's float32
    GEMM) and ``pct_peak`` (GEMM peak in the row's dtype, or copy bandwidth if memory-bound)."""
    for r in rows:
        r["pct_sgemm"] = 100 * r["gflops"] / env["sgemm"]
        r["pct_peak"] = (100 * r["gbytes"] / env["copy_gbs"] if r["bound"] == "memory"
                         else 100 * r["gflops"] / env["gemm_peak"][r["dtype"]])


def _ref_grad_x(gy, x, w, padding, kw):
    backward = getattr(cl, "conv2d_backward", None)
    if backward is None:
        from convolab.ops.backward import conv2d_backward as backward
    return backward(gy, x, w, padding=padding, **kw)[0]


def geomean(values: list[float]) -> float:
    return float(np.exp(np.mean(np.log(values)))) if values else float("nan")


def verdicts(rows: list[dict]) -> list[tuple[str, bool | None, str]]:
    """The issue's bars, each as (what, passed or None if not measured, the numbers)."""
    fwd = {(r["case"], r["peer"]): r for r in rows if r["direction"] == "forward"}
    ours = {c: r for (c, p), r in fwd.items() if p == "convolab"}
    cnn_all = [c.name for c in FORWARD if c.kind == "cnn"]
    cnn = [c for c in cnn_all if c in ours and ours[c]["vs_torch"]]  # float32 NHWC
    out = []
    ratios = [ours[c]["vs_torch"] for c in cnn]
    if ratios:
        g, worst = geomean(ratios), max(ratios)
        nchw = [ours[c]["seconds"] / fwd[(c, "torch-nchw")]["seconds"] for c in cnn
                if (c, "torch-nchw") in fwd]
        out.append(("CNN layers: geomean time(convolab)/time(PyTorch) <= 1.25, none > 3.0",
                    g <= 1.25 and worst <= 3.0,
                    f"geomean {g:.2f}, worst {worst:.2f}; against PyTorch NCHW alone "
                    f"(the layout of the issue's figures): geomean {geomean(nchw):.2f}, "
                    f"worst {max(nchw, default=float('nan')):.2f}"))
    gemm = [(c, ours[c]["pct_sgemm"]) for c in GEMM_BOUND if c in ours]
    if gemm:
        alone = [(c, fwd[(c, GEMM_ALONE)]["pct_sgemm"]) for c, _ in gemm
                 if (c, GEMM_ALONE) in fwd]
        out.append(("GEMM-bound layers >= 80% of sgemm", all(p >= 80 for _, p in gemm),
                    ", ".join(f"{c} {p:.0f}%" for c, p in gemm)
                    + ("; im2col's GEMM alone, columns built beforehand: "
                       + ", ".join(f"{c} {p:.0f}%" for c, p in alone) if alone else "")))
    if "img3x3" in ours:
        t = ours["img3x3"]["seconds"]
        peers = {p: r["seconds"] for (c, p), r in fwd.items() if c == "img3x3"}
        torch_t = min(v for k, v in peers.items() if k.startswith("torch"))
        ok = t * 10 <= torch_t and t * 10 <= peers.get("scipy-correlate2d", np.inf)
        ok = ok and t <= 3 * peers.get("opencv-filter2D", np.inf)
        out.append(("img3x3: >= 10x PyTorch and scipy correlate2d, within 3x of OpenCV", ok,
                    ", ".join(f"{p} {v / t:.1f}x our time" for p, v in peers.items()
                              if p not in ("convolab", GEMM_ALONE))))
    if "img31" in ours:
        r = ours["img31"]
        ff = fwd.get(("img31", "scipy-fftconvolve"))
        ok = r["algorithm"] == "fft" and (ff is None or r["seconds"] <= ff["seconds"])
        out.append(("img31: picks FFT, at least as fast as scipy fftconvolve", ok,
                    f"algorithm {r['algorithm']}, "
                    + (f"fftconvolve/ours {ff['seconds'] / r['seconds']:.2f}" if ff else "")))
    f64 = [(c, ours[label(c, "float64")]["vs_torch"]) for c in cnn_all
           if ours.get(label(c, "float64"), {}).get("vs_torch")]
    if f64:
        out.append(("float64 CNN layers: time(convolab) <= 1.0x PyTorch float64 (best layout), "
                    "each", all(v <= 1.0 for _, v in f64),
                    ", ".join(f"{c} {v:.2f}" for c, v in f64)))
    nchw = [(label(c, d, "NCHW"), ours[label(c, d, "NCHW")]["seconds"] / nhwc["seconds"])
            for c in cnn_all for d in DTYPES
            if label(c, d, "NCHW") in ours and (nhwc := ours.get(label(c, d)))]
    if nchw:
        out.append(("NCHW: time <= 1.2x convolab's own NHWC time, each case",
                    all(v <= 1.2 for _, v in nchw), ", ".join(f"{c} {v:.2f}" for c, v in nchw)))
    if ours.get("tiny", {}).get("vs_torch"):
        r = ours["tiny"]
        out.append(("tiny call, x (1, 4, 4, 1) float32 * w (3, 3, 1, 1), same: time per call "
                    "<= 2x PyTorch F.conv2d's", r["vs_torch"] <= 2,
                    f"convolab {r['seconds'] * 1e6:.1f} µs, PyTorch "
                    f"{r['seconds'] / r['vs_torch'] * 1e6:.1f} µs: {r['vs_torch']:.2f}x"))
    bwd = [r["vs_torch"] for r in rows
           if r["direction"] == "backward" and r["peer"] == "convolab" and r["vs_torch"]]
    if bwd:
        out.append(("backward: geomean time ratio to PyTorch <= 1.5", geomean(bwd) <= 1.5,
                    f"geomean {geomean(bwd):.2f}"))
    mem = [(c, r["peak_mib"], r["budget_mib"]) for c, r in ours.items()]
    out.append(("peak memory per forward <= input + output + 64 MiB",
                all(p <= b for _, p, b in mem),
                ", ".join(f"{c} {p:.0f}/{b:.0f} MiB" for c, p, b in mem)))
    return out


def _ms(seconds: float) -> str:
    """Milliseconds, two decimals, or three significant digits below 1 ms (the tiny call)."""
    return f"{seconds * 1e3:.2f}" if seconds >= 1e-3 else f"{seconds * 1e3:.3g}"


def markdown(rows: list[dict], env: dict) -> str:
    lines = [f"Measured {env['date']} on {env['machine']}; {env['threads']} threads for every "
             f"peer; BLAS: {env['blas']}; PyTorch {env['torch']}.",
             f"NumPy sgemm 2048³: **{env['sgemm']:.0f} GFLOP/s** (measured in the same run; "
             f"{env['sgemm_runs']})."]
    if "gemm_peak" in env:  # runs before issue 10 have no peaks
        lines.append(
            "% peak: against the GEMM peak (proxy for FMA peak: the best 2048³ matrix product "
            "of NumPy's BLAS and torch.mm, same threads): "
            + ", ".join(f"{d} **{v:.0f} GFLOP/s**" for d, v in env["gemm_peak"].items())
            + f"; memory-bound cases ({', '.join(MEMORY_BOUND)}, input read + output written) "
            f"against the copy bandwidth of a 256 MiB np.copyto: **{env['copy_gbs']:.1f} GB/s**"
            f" (read + written, one thread). Each peak is the higher of the run's start and end "
            f"({env['peak_runs']}). convolab's compiled kernels: **{env['isa']}**.")
    lines.append("")
    for direction in ("forward", "backward"):
        sub = [r for r in rows if r["direction"] == direction]
        if not sub:
            continue
        peers = list(dict.fromkeys(r["peer"] for r in sub))
        lines += [f"### {direction.capitalize()}" + (" (grad_x, grad_w, grad_b)"
                                                     if direction == "backward" else ""), "",
                  "| case | convolab ms | algorithm | GFLOP/s | % sgemm | % peak | vs PyTorch | "
                  + " | ".join(f"{p} ms" for p in peers if p != "convolab") + " |",
                  "|---" * (6 + len(peers)) + "|"]
        for case in dict.fromkeys(r["case"] for r in sub):
            by = {r["peer"]: r for r in sub if r["case"] == case}
            o = by.get("convolab")
            if o is None:
                continue
            vs = f"{o['vs_torch']:.2f}" if o["vs_torch"] else "–"
            algo = o.get("algorithm", "") + (f" `{o['kernel']}`" if o.get("kernel") else "")
            peak = (f"{o['pct_peak']:.0f}%" + (" of copy" if o["bound"] == "memory" else "")
                    if "pct_peak" in o else "–")
            cells = [_ms(by[p]["seconds"]) if p in by else "–" for p in peers if p != "convolab"]
            lines.append(f"| {case} | {_ms(o['seconds'])} | {algo} | {o['gflops']:.0f} | "
                         f"{o['pct_sgemm']:.0f}% | {peak} | {vs} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["### The bars of issue 4 and issue 10", ""]
    for what, ok, detail in verdicts(rows):
        mark = {True: "met", False: "**not met**", None: "not measured"}[ok]
        lines.append(f"- {what}: {mark} ({detail})")
    lines += ["", "![time relative to PyTorch](benchmarks/latest.png)", ""]
    return "\n".join(lines)


def environment(args: argparse.Namespace, runs: list[dict[str, float]]) -> dict:
    """Machine, versions and the run's peaks (``runs``: ``machine_rates`` at start and end)."""
    from threadpoolctl import threadpool_info

    # NumPy's own BLAS (scipy, OpenCV and torch may load others; those are theirs)
    blas = [f"{i['internal_api']} {i['version']} ({i.get('architecture', '?')} kernels, "
            f"{i['threading_layer']}, {i['num_threads']} threads)"
            for i in threadpool_info() if i["user_api"] == "blas" and "numpy" in i["filepath"]]
    try:
        import torch

        torch_v = torch.__version__
    except ImportError:
        torch_v = "not installed"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return dict(date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                machine=f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
                        f"NumPy {np.__version__}",
                threads=args.threads, blas="; ".join(blas), torch=torch_v,
                sgemm=max(r["numpy float32"] for r in runs),
                sgemm_runs="start " + ", end ".join(f"{r['numpy float32']:.0f}" for r in runs),
                isa=_native.isa(),
                gemm_peak={d: max(v for r in runs for k, v in r.items() if k.endswith(d))
                           for d in dict.fromkeys(["float32", *args.dtypes])},
                copy_gbs=max(r["copy"] for r in runs),
                peak_runs="; ".join(f"{k} " + " / ".join(f"{r[k]:.0f}" for r in runs)
                                    for k in runs[0]))


def set_threads(n: int) -> None:
    """Every peer gets ``n`` threads (NumPy's BLAS already has it from the environment)."""
    try:
        import torch

        torch.set_num_threads(n)
    except ImportError:
        pass
    try:
        import cv2

        cv2.setNumThreads(n)
    except ImportError:
        pass


def update_section(text: str, begin: str, end: str, heading: str) -> None:
    """Put ``text`` between the ``begin``/``end`` markers of BENCHMARKS.md, adding a section
    ``## heading`` with them at the end when the file has none (every benchmark script writes
    its own section this way)."""
    path = HERE.parent / "BENCHMARKS.md"
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    if begin not in old:
        old += f"\n## {heading}\n\n{begin}\n{end}\n"
    head, rest = old.split(begin, 1)
    path.write_text(f"{head}{begin}\n{text}\n{end}{rest.split(end, 1)[1]}")


def update_markdown(text: str) -> None:
    update_section(text, MD_BEGIN, MD_END, "Latest run")


def publish(rows: list[dict], env: dict, out: Path, update_md: bool) -> None:
    """Print the tables, save ``latest.json`` and ``latest.png``, optionally BENCHMARKS.md."""
    text = markdown(rows, env)
    print(text)
    (out / "latest.json").write_text(json.dumps(dict(env=env, rows=rows), indent=1))
    from plot import plot_ratios

    plot_ratios(rows, out / "latest.png")
    if update_md:
        update_markdown(text)


def main(argv: list[str]) -> int:
    args = _parse(argv)
    if args.render:
        saved = json.loads((args.out / "latest.json").read_text())
        publish(saved["rows"], saved["env"], args.out, update_md=True)
        return 0
    set_threads(args.threads)
    wanted = set(filter(None, args.cases.split(",")))
    pick = lambda cs: [c for c in cs if not wanted or c.name in wanted]  # noqa: E731
    repeats = 3 if args.quick else 5
    runs = [machine_rates(args.dtypes, repeats)]
    print("peaks: " + ", ".join(f"{k} {v:.0f}" for k, v in runs[0].items()), flush=True)
    rows = run_direction(variants(pick(FORWARD), args.dtypes, args.layouts), "forward", args)
    if not args.no_backward and "float32" in args.dtypes and "NHWC" in args.layouts:
        rows += run_direction(pick(BACKWARD), "backward", args)  # float32 NHWC only
    runs.append(machine_rates(args.dtypes, repeats))
    env = environment(args, runs)
    shares(rows, env)  # rates relative to the best peaks of the run
    publish(rows, env, args.out, args.update_md)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
