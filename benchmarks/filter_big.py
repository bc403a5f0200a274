#!/usr/bin/env python
"""Big pictures through ``convolab filter`` (issue 13 item 10): its phases, cv2.filter2D, Pillow.

    python benchmarks/filter_big.py               # 8192² gray + sobel_x, RGB + 7x7 Gaussian
    python benchmarks/filter_big.py --update-md   # ... and rewrites its section of BENCHMARKS.md
    python benchmarks/filter_big.py --size 2048 --repeat 1    # a quick look

Two photo-like PNGs are made in a temporary folder (a built-in scene scaled up, with a little
noise so that they compress as photos do, not as flat colour). For each case:

- **the command**: ``convolab filter IN --kernel K -o OUT.png`` in a fresh process (what a user
  runs), its phases timed by the command itself (``convolab.cli.filter.TIMINGS``: read = decode
  and convert to floats, filter, write = scale, quantize, encode), its whole run timed from the
  outside (interpreter start to exit), its peak memory its own ``ru_maxrss``;
- **the filtering step against cv2.filter2D**: the function the command calls
  (``convolab.cli.filter.filter_image``) and ``cv2.filter2D`` on the same float32 image, same
  kernel, same border (OpenCV's default, BORDER_REFLECT_101, the command's default), taking
  turns in one process, best of ``3 * --repeat``; results compared before timing;
- **Pillow's own read + write** of the same files, in a fresh process: ``Image.open(IN).load()``
  and ``save()`` of the picture the command wrote, with Pillow's defaults (as the command
  saves): the floor any Pillow-based command stands on.

Targets (issue 13 item 10): the filtering step at most 1.0x cv2.filter2D, the whole run at
most 2x Pillow's read + write, peak memory at most 3x the image's size as float32. Times are
the best of ``--repeat`` runs (the least disturbed by the rest of the machine), peak memory the
largest. Run it on a quiet machine: nothing else running.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from run import _reexec_with_clean_env, update_section

MD_BEGIN = "<!-- BEGIN benchmarks/filter_big.py -->"
MD_END = "<!-- END benchmarks/filter_big.py -->"
# (name, channels, kernel options of the command); the two cases
CASES = (("gray, sobel_x", 1, ["--kernel", "sobel_x"]),
         ("RGB, 7x7 Gaussian", 3, ["--kernel", "gaussian", "--size", "7", "--sigma", "1"]))

# The command in a fresh process, reporting its phases and its own peak memory.
COMMAND = """
import json, sys
import convolab.cli.filter as f
from convolab.cli.main import main
f.TIMINGS = {}
rc = main(sys.argv[2:])
rss = PEAK()
phases = {k: v for k, v in f.TIMINGS.items() if k not in ("_since", "start")}
json.dump({"rc": rc, "phases": phases, "rss": rss}, open(sys.argv[1], "w"))
"""
# Pillow's own read of the input (decode) and write of the output the command wrote (encode,
# Pillow's default options, as the command saves): the same files, Pillow alone.
PILLOW = """
import json, sys, time
from PIL import Image
t0 = time.perf_counter()
im = Image.open(sys.argv[2])
im.load()
t1 = time.perf_counter()
out = Image.open(sys.argv[3])
out.load()
t2 = time.perf_counter()
out.save(sys.argv[4])
t3 = time.perf_counter()
json.dump({"read": t1 - t0, "write": t3 - t2, "rss": PEAK()}, open(sys.argv[1], "w"))
"""


# A process's peak memory: VmHWM, the high-water mark of its own address space. (ru_maxrss
# would not do: a child started by vfork + exec inherits the parent's peak in it.)
PEAK = """
def PEAK():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
"""


def _parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=8192, help="image side in pixels (default 8192)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each (default 3)")
    ap.add_argument("--threads", type=int, default=2, help="threads for every peer (default 2)")
    ap.add_argument("--update-md", action="store_true", help="rewrite BENCHMARKS.md's section")
    return ap.parse_args(argv)


if __name__ == "__main__":
    _reexec_with_clean_env(_parse(sys.argv[1:]).threads)

import numpy as np  # noqa: E402
from run import interleaved_best, set_threads  # noqa: E402


def make_pictures(folder: Path, size: int) -> dict[int, Path]:
    """``{1: gray.png, 3: rgb.png}``, ``size`` x ``size``: the built-in scene scaled up by
    Pillow (bicubic), plus noise of a few levels (a photo's sensor noise: PNG then compresses
    it as it compresses photos, ~2x). Saved at zlib level 1 to make them quickly; decoding
    costs the same at any level."""
    from PIL import Image

    from convolab.apps.images import sample_image

    small = np.round(sample_image(1024, rgb=True) * 255).astype(np.uint8)
    big = np.asarray(Image.fromarray(small).resize((size, size), Image.BICUBIC))
    rng = np.random.default_rng(13)
    rgb = big.astype(np.int16)
    rgb += rng.integers(-3, 4, rgb.shape, dtype=np.int16)
    rgb = np.clip(rgb, 0, 255).astype(np.uint8)
    paths = {3: folder / "rgb.png", 1: folder / "gray.png"}
    Image.fromarray(rgb).save(paths[3], compress_level=1)
    Image.fromarray(rgb).convert("L").save(paths[1], compress_level=1)
    return paths


def in_fresh_process(script: str, args: list[str], folder: Path) -> tuple[dict, float]:
    """Run ``script`` with ``args`` in a new interpreter: what it reported, and its wall time."""
    report = folder / "report.json"
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", PEAK + script, str(report), *args],
                          capture_output=True, text=True, cwd=folder)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{args}: exit {proc.returncode}: {proc.stderr.strip()}")
    return json.loads(report.read_text()), wall


def filtering_step(path: Path, kernel_args: list[str], repeat: int) -> dict[str, float]:
    """The command's filtering function and cv2.filter2D on the same float32 image, taking
    turns (seconds, best of ``3 * repeat``), after checking that they agree."""
    import cv2

    from convolab.cli.files import read_input
    from convolab.cli.filter import filter_image, read_kernel
    from convolab.cli.main import build_parser

    args = build_parser().parse_args(["filter", str(path), *kernel_args])
    kernel, _ = read_kernel(args)
    x = read_input(path, "IMAGE", np.float32).values
    x3 = x[..., None] if x.ndim == 2 else x
    kh, kw = kernel.shape
    conv = {"padding": ((kh // 2, kh - 1 - kh // 2), (kw // 2, kw - 1 - kw // 2)),
            "stride": 1, "dilation": 1}  # the command's default anchor: the centre
    border = {"padding_mode": "reflect", "padding_value": 0.0}  # its default border
    k32 = kernel.astype(np.float32)
    ours = filter_image(x3, kernel, conv, border)
    theirs = cv2.filter2D(x, -1, k32, borderType=cv2.BORDER_REFLECT_101)
    theirs = theirs[..., None] if theirs.ndim == 2 else theirs
    err = float(np.abs(ours - theirs).max() / np.abs(theirs).max())
    if err > 1e-5:
        raise RuntimeError(f"convolab and cv2.filter2D differ: {err:.2g} (relative)")
    del ours, theirs
    best = interleaved_best({
        "convolab": lambda: filter_image(x3, kernel, conv, border),
        "cv2.filter2D": lambda: cv2.filter2D(x, -1, k32, borderType=cv2.BORDER_REFLECT_101),
    }, rounds=3 * repeat, min_time=0.0)  # a third of a second each: more rounds
    return {**best, "error": err}


def run_case(name: str, channels: int, kernel_args: list[str], path: Path, folder: Path,
             repeat: int) -> dict:
    out, copy = folder / "out.png", folder / "copy.png"
    command = ["filter", str(path), *kernel_args, "-o", str(out), "--force", "--quiet"]
    runs, pillows = [], []
    for _ in range(repeat):  # the command and Pillow taking turns
        report, wall = in_fresh_process(COMMAND, command, folder)
        runs.append({**report["phases"], "whole": wall, "rss": report["rss"]})
        report, _ = in_fresh_process(PILLOW, [str(path), str(out), str(copy)], folder)
        pillows.append(report)
    step = filtering_step(path, kernel_args, repeat)
    size = path.stat().st_size
    image = int(np.prod(_shape(path))) * 4  # the image as float32
    best = {k: min(r[k] for r in runs) for k in ("read", "filter", "write", "whole")}
    pillow = min(p["read"] + p["write"] for p in pillows)
    return dict(case=name, channels=channels, file_mb=size / 2**20, image_mb=image / 2**20,
                **best, rss_mb=max(r["rss"] for r in runs) / 2**20,
                pillow_read=min(p["read"] for p in pillows),
                pillow_write=min(p["write"] for p in pillows), pillow=pillow,
                pillow_rss_mb=max(p["rss"] for p in pillows) / 2**20,
                step=step["convolab"], cv2=step["cv2.filter2D"], error=step["error"])


def _shape(path: Path) -> tuple[int, ...]:
    from PIL import Image

    with Image.open(path) as im:
        return (im.size[1], im.size[0], len(im.getbands()))


def environment(threads: int) -> str:
    """When, on what, with which versions."""
    import os
    import platform

    import cv2
    import PIL

    from convolab import _native

    cpu = platform.processor() or platform.machine()
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() \
            else ():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return (f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {cpu}, "
            f"{os.cpu_count()} cores, Python {platform.python_version()}, NumPy "
            f"{np.__version__}, Pillow {PIL.__version__}, OpenCV {cv2.__version__}; {threads} "
            f"threads for every peer (convolab's workers, cv2.setNumThreads); convolab's "
            f"compiled kernels: {_native.isa()}")


def markdown(rows: list[dict], env: str, argv: list[str]) -> str:
    flags = " ".join(argv)
    lines = [
        f"{env}. Command: `.venv/bin/python benchmarks/filter_big.py"
        f"{' ' + flags if flags else ''}` (nothing else running).",
        "",
        "| case | file | read | filter | write | whole run | peak memory | filtering step "
        "vs cv2.filter2D | whole run vs Pillow read + write | peak vs image as float32 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['file_mb']:.0f} MiB PNG | {r['read']:.2f} s | "
            f"{r['filter']:.2f} s | {r['write']:.2f} s | {r['whole']:.2f} s | "
            f"{r['rss_mb']:.0f} MiB | {r['step']:.3f} s vs {r['cv2']:.3f} s: "
            f"**{r['step'] / r['cv2']:.2f}x** (target 1.0x) | {r['whole']:.2f} s vs "
            f"{r['pillow_read']:.2f} + {r['pillow_write']:.2f} s: "
            f"**{r['whole'] / r['pillow']:.2f}x** (target 2x) | {r['rss_mb']:.0f} / "
            f"{r['image_mb']:.0f} MiB: **{r['rss_mb'] / r['image_mb']:.2f}x** (target 3x) |")
    lines += [
        "",
        "read, filter, write: the command's own phases (`convolab.cli.filter.TIMINGS`; read "
        "decodes the PNG and converts it to float32, write scales, quantizes and encodes); "
        "whole run: the command in a fresh interpreter, start to exit. Filtering step: "
        "`filter_image` (what the command calls) and `cv2.filter2D` on the same float32 image "
        "in one process, taking turns (largest difference relative to the largest value: "
        + ", ".join(f"{r['error']:.1e}" for r in rows) + "). Pillow: `Image.open().load()` and "
        "`save()` of the picture the command wrote, with its defaults (as the command saves), in "
        "a fresh process (its peak: "
        + ", ".join(f"{r['pillow_rss_mb']:.0f} MiB" for r in rows) + ").",
    ]
    return "\n".join(lines)


def update_markdown(text: str) -> None:
    update_section(text, MD_BEGIN, MD_END, "Big pictures through `convolab filter` (issue 13)")


def main(argv: list[str]) -> int:
    args = _parse(argv)
    set_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory(prefix="filter_big_") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        paths = make_pictures(folder, args.size)
        print(f"pictures made in {time.perf_counter() - t0:.1f} s", flush=True)
        for name, channels, kernel_args in CASES:
            rows.append(run_case(name, channels, kernel_args, paths[channels], folder,
                                 args.repeat))
            r = rows[-1]
            print(f"{name}: read {r['read']:.2f} s, filter {r['filter']:.2f} s, write "
                  f"{r['write']:.2f} s, whole {r['whole']:.2f} s, peak {r['rss_mb']:.0f} MiB; "
                  f"step {r['step']:.3f} s vs cv2 {r['cv2']:.3f} s; Pillow {r['pillow']:.2f} s",
                  flush=True)
    text = markdown(rows, environment(args.threads), argv)
    print(text)
    if args.update_md:
        update_markdown(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
