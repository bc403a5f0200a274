"""The example scripts run and print what they promise (learn_edge_kernel.py is tested with
the layers)."""

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[1] / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_wheres_waldo_finds_the_planted_template(tmp_path, capsys):
    from convolab.apps.images import waldo_scene

    matches = load("wheres_waldo").main(["--seed", "2", "--out", str(tmp_path / "w.png")])
    assert (matches[0].row, matches[0].col) == waldo_scene(seed=2).location
    assert (tmp_path / "w.png").exists()


def test_kernel_gallery_filters_with_every_named_kernel(tmp_path):
    from convolab.apps.kernels import KERNELS

    results = load("kernel_gallery").main(["--size", "32", "--out", str(tmp_path / "g.png")])
    assert list(results) == list(KERNELS)
    assert all(r.shape == (32, 32) for r in results.values())


def test_conv_arithmetic_writes_one_gif_per_case(tmp_path):
    module = load("conv_arithmetic")
    written = module.main(["--out", str(tmp_path)])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written)
    assert len(written) == len(module.CASES)


@pytest.mark.parametrize("name, argv, written", [
    ("kernel_gallery", ["--size", "32"], ["gallery.png"]),
    ("wheres_waldo", [], ["waldo.png"]),
    ("conv_arithmetic", [], ["conv_arithmetic"]),
])
def test_examples_write_into_the_ignored_output_folder_not_the_current_one(
        name, argv, written, tmp_path, monkeypatch, capsys):
    module = load(name)
    assert module.OUT == EXAMPLES / "out"
    if shutil.which("git") and (EXAMPLES.parent / ".git").exists():
        ignored = subprocess.run(["git", "check-ignore", "-q", str(module.OUT / written[0])],
                                 cwd=EXAMPLES.parent)
        assert ignored.returncode == 0, f"{module.OUT} is not in .gitignore"
    monkeypatch.chdir(tmp_path / ".")
    monkeypatch.setattr(module, "OUT", tmp_path / "out")  # the default, somewhere harmless
    module.main(argv)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # nothing in the cwd
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == written


def test_from_fc_to_conv_reproduces_the_conv_exactly(capsys):
    assert load("from_fc_to_conv").main() < 1e-12
    out = capsys.readouterr().out
    assert "fully connected:   1,000,001,000,000 = 1,000,000,000,000 weights + 1,000,000 biases" \
        in out


@pytest.mark.parametrize("name", ["wheres_waldo", "kernel_gallery", "conv_arithmetic"])
def test_examples_have_help(name, capsys):
    with pytest.raises(SystemExit) as exc:
        load(name).main(["--help"])
    assert exc.value.code == 0
    assert "usage:" in capsys.readouterr().out
