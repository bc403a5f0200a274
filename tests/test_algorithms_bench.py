"""The benchmark harness still runs: one tiny case, every installed peer, checked and timed."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"


@pytest.mark.skipif(not RUN.exists(), reason="benchmarks/ is not shipped with the package")
def test_benchmark_harness_times_convolab_and_its_peers(tmp_path):
    pytest.importorskip("matplotlib")
    pytest.importorskip("threadpoolctl")
    done = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--cases", "lenet2", "--no-backward",
         "--threads", "1", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    saved = json.loads((tmp_path / "latest.json").read_text())
    peers = {r["peer"] for r in saved["rows"]}
    assert {"convolab", "numpy-im2col"} <= peers
    ours = next(r for r in saved["rows"] if r["peer"] == "convolab")
    assert ours["seconds"] > 0 and ours["algorithm"] and ours["peak_mib"] > 0
    assert saved["env"]["threads"] == 1 and saved["env"]["sgemm"] > 0
    assert (tmp_path / "latest.png").stat().st_size > 0
    assert "### The bars of issue 4" in done.stdout
