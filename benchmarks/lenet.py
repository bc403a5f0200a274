#!/usr/bin/env python
"""LeNet on the digits, and training steps against PyTorch (issue 12 items 5 and 7).

    python benchmarks/lenet.py              # everything, 2 threads: prints a Markdown section
    python benchmarks/lenet.py --quick      # shorter timing loops
    python benchmarks/lenet.py --no-train   # the training steps only

Accuracy: ``cl.models.lenet5`` trained by ``Sequential.fit`` on ``cl.datasets.digits()``
(1438 training, 359 test images), timed from the first step to the last; the test accuracy
after it. Two runs: the ReLU/max-pool LeNet (``modern=True``) on the digits and their copies
moved by a pixel (``cl.datasets.shifted``), 20 epochs of Adam 3e-3 in batches of 32, and the
book's sigmoid LeNet, 30 epochs on the digits alone.

Training steps: forward, loss, backward and an SGD update, float32, convolab's channels-last
model against the same network with the same weights in PyTorch (``Sequential.to_torch``),
in its default and its channels-last memory format (the faster counts), on the same threads,
taking turns loop by loop (``run.interleaved_best``). LeNet: batch 256 of 28x28 digits,
cross-entropy; PyTorch's input needs no gradient, and convolab's first conv skips it too. The
ResNet-style block: two 3x3 convs of 64 channels (no bias), each with batch norm (training
statistics) and a ReLU, on N16 56x56x64, the gradient of a random output gradient, the input
gradient included (a block inside a network needs it); no residual addition (a Sequential
has no skip connection; the sum is a small share of the step).
"""

from __future__ import annotations

import argparse
import sys
import time

from run import _reexec_with_clean_env


def _parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2, help="threads for every peer (default 2)")
    ap.add_argument("--quick", action="store_true", help="shorter timing loops")
    ap.add_argument("--no-train", action="store_true", help="skip the accuracy runs")
    return ap.parse_args(argv)


if __name__ == "__main__":
    _reexec_with_clean_env(_parse(sys.argv[1:]).threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from run import environment, interleaved_best, machine_rates, set_threads  # noqa: E402

import convolab as cl  # noqa: E402
from convolab.layers import SGD, Adam, BatchNormalization, Conv2D, ReLU, Sequential  # noqa: E402


def accuracy_run(modern: bool, augment: bool, epochs: int) -> dict:
    """Train a fresh LeNet (seed 0); its training time and test accuracy."""
    (x, y), (xt, yt) = cl.datasets.digits()
    if augment:
        x, y = cl.datasets.shifted(x, y)
    model = cl.models.lenet5(modern=modern, seed=0)
    start = time.perf_counter()
    model.fit(x, y, epochs=epochs, batch_size=32, optimizer=Adam(3e-3), seed=0, verbose=0)
    seconds = time.perf_counter() - start
    scores = model.evaluate(xt, yt, batch_size=256)
    return dict(model="lenet5(modern=True)" if modern else "lenet5()",
                data="digits + 1-pixel shifts" if augment else "digits", epochs=epochs,
                seconds=seconds, accuracy=scores["accuracy"],
                right=round(scores["accuracy"] * len(yt)), test=len(yt))


def _torch_step(net: torch.nn.Module, xt: torch.Tensor, loss_fn, target: torch.Tensor,
                fmt: torch.memory_format):
    """A PyTorch training step of ``net`` (moved to memory format ``fmt``): its loss."""
    net = net.to(memory_format=fmt)
    xf = xt.contiguous(memory_format=fmt)
    opt = torch.optim.SGD(net.parameters(), lr=1e-3)

    def step() -> float:
        opt.zero_grad()
        loss = loss_fn(net(xf), target)
        loss.backward()
        opt.step()
        return loss.item()

    return step


def lenet_step(modern: bool, quick: bool) -> dict:
    (x, y), _ = cl.datasets.digits()
    xb, yb = x[:256], y[:256]  # (256, 28, 28, 1)
    model = cl.models.lenet5(modern=modern, seed=0)
    opt = SGD(1e-3)
    calls = {"convolab": lambda: model.train_on_batch(xb, yb, optimizer=opt,
                                                       loss="cross_entropy")}
    xt = torch.from_numpy(np.ascontiguousarray(xb.transpose(0, 3, 1, 2)))
    target = torch.from_numpy(yb)
    loss = torch.nn.functional.cross_entropy
    first = {"convolab": calls["convolab"]()}  # the same first loss: the same network
    for name, fmt in (("torch", torch.contiguous_format),
                      ("torch-cl", torch.channels_last)):
        calls[name] = _torch_step(cl.models.lenet5(modern=modern, seed=0).to_torch(), xt,
                                  loss, target, fmt)
        first[name] = calls[name]()
    return _row(f"LeNet{' modern' if modern else ''} step, N256 28x28", calls, first, quick)


def block_step(quick: bool) -> dict:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 56, 56, 64), dtype=np.float32)
    g = rng.standard_normal((16, 56, 56, 64), dtype=np.float32)
    model = Sequential([
        Conv2D(64, 3, padding="same", use_bias=False, seed=0), BatchNormalization(), ReLU(),
        Conv2D(64, 3, padding="same", use_bias=False, seed=1), BatchNormalization(), ReLU(),
    ])
    model.build(x.shape)
    nets = {"torch": model.to_torch(), "torch-cl": model.to_torch()}  # before any step
    opt = SGD(1e-3)

    def ours() -> float:
        y = model(x, training=True)
        model.backward(g)  # dL/dx included
        opt.step(model)
        return float(np.vdot(y, g))

    calls, first = {"convolab": ours}, {"convolab": ours()}
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    gt = torch.from_numpy(np.ascontiguousarray(g.transpose(0, 3, 1, 2)))
    for name, fmt in (("torch", torch.contiguous_format),
                      ("torch-cl", torch.channels_last)):
        xg = xt.contiguous(memory_format=fmt).requires_grad_()
        calls[name] = _torch_step(nets[name], xg, lambda y, t: (y * t).sum(),
                                  gt.contiguous(memory_format=fmt), fmt)
        first[name] = calls[name]()
    return _row("ResNet block step, N16 56x56x64", calls, first, quick)


def _row(case: str, calls: dict, first: dict, quick: bool) -> dict:
    times = interleaved_best(calls, rounds=3 if quick else 7, min_time=0.3 if quick else 1.0)
    peers = {k: v for k, v in times.items() if k != "convolab"}
    best = min(peers, key=peers.get)
    agree = max(abs(first[k] - first["convolab"]) / abs(first["convolab"]) for k in peers)
    return dict(case=case, times=times, best=best, ratio=times["convolab"] / peers[best],
                agree=agree)


def markdown(accuracy: list[dict], steps: list[dict], env: dict) -> str:
    lines = [
        f"Run {env['date']} on {env['machine']}, {env['threads']} threads; PyTorch "
        f"{env['torch']}; convolab's core: {env['isa']}.",
        "Command: `.venv/bin/python benchmarks/lenet.py` (nothing else running).",
    ]
    if accuracy:
        lines += ["", "| model | trained on | epochs | training time | test accuracy |",
                  "|---|---|---|---|---|"]
        lines += [f"| `{r['model']}` | {r['data']} | {r['epochs']} | {r['seconds']:.1f} s | "
                  f"{r['accuracy']:.2%} ({r['right']} of {r['test']}) |" for r in accuracy]
    lines += ["", "Training steps (forward, loss, backward, SGD update; float32), ms per step; "
              "ratio = convolab / the faster PyTorch (at most 1.0 is the bar of item 7):", "",
              "| case | convolab | torch | torch channels-last | ratio |", "|---|---|---|---|---|"]
    for r in steps:
        t = r["times"]
        lines.append(f"| {r['case']} | {t['convolab'] * 1e3:.1f} | {t['torch'] * 1e3:.1f} | "
                     f"{t['torch-cl'] * 1e3:.1f} | {r['ratio']:.2f} |")
    worst = max(r["agree"] for r in steps)
    lines += ["", f"The first step's loss agrees with PyTorch's to {worst:.1e} (relative; the "
              "same weights through `Sequential.to_torch`)."]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    args = _parse(argv)
    set_threads(args.threads)
    rates = [machine_rates(["float32"], 2)]
    accuracy = []
    if not args.no_train:
        for modern, augment, epochs in ((True, True, 20), (False, False, 30)):
            accuracy.append(accuracy_run(modern, augment, epochs))
            r = accuracy[-1]
            print(f"{r['model']} on {r['data']}: {r['epochs']} epochs in {r['seconds']:.1f} s, "
                  f"test accuracy {r['accuracy']:.2%}", flush=True)
    steps = []
    for make in (lambda: lenet_step(False, args.quick), lambda: lenet_step(True, args.quick),
                 lambda: block_step(args.quick)):
        steps.append(make())
        r = steps[-1]
        print(f"{r['case']}: " + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in
                                          r["times"].items()) + f", ratio {r['ratio']:.2f}",
              flush=True)
    env = environment(argparse.Namespace(threads=args.threads, dtypes=["float32"]), rates)
    print(markdown(accuracy, steps, env))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
