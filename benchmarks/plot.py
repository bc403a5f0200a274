"""The benchmark plot: each peer's time relative to PyTorch, per case, log scale."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_ratios(rows: list[dict], path: Path) -> None:
    """Bar chart of time / time(best PyTorch layout), forward and backward, saved to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r.get("vs_torch") and not r["peer"].startswith("torch")]
    labels = list(dict.fromkeys(f"{r['case']}\n{r['direction'][:3]}" for r in rows))
    peers = list(dict.fromkeys(r["peer"] for r in rows))
    fig, ax = plt.subplots(figsize=(max(8, 0.9 * len(labels)), 4.5))
    width = 0.8 / len(peers)
    for i, peer in enumerate(peers):
        ratio = {f"{r['case']}\n{r['direction'][:3]}": r["vs_torch"]
                 for r in rows if r["peer"] == peer}
        xs = [j for j, lab in enumerate(labels) if lab in ratio]
        ax.bar(np.array(xs) + (i - (len(peers) - 1) / 2) * width,
               [ratio[labels[j]] for j in xs], width, label=peer)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_yscale("log")
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
    ax.set_ylabel("time / time(PyTorch, best layout)  (lower is faster)")
    ax.set_title("convolab and peers relative to PyTorch CPU, same threads, same run")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
