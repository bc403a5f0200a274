"""Large Dask/Zarr jobs survive faults: a fault costs time, never data, and never leaves an
output that looks finished and is not (issue 14).

Claims tested, each on a few hundred KiB of chunks:

- a worker SIGKILLed mid-run on a two-process ``LocalCluster`` (right after it wrote its 2nd
  chunk, or computed its 2nd block: deterministic, no sleeps): the job completes on the others,
  bit for bit what an undisturbed run writes, for ``filter_store`` and for a ``conv2d`` of a
  Dask array;
- an interrupted run (a crash, Ctrl-C, SIGTERM, SIGKILL between a chunk's write and its
  rename) leaves ``dst`` marked incomplete with only whole chunks on disk; ``resume`` computes
  exactly the missing ones, and the result is bit for bit an uninterrupted run's;
- a write error (disk full, permission denied; simulated by a store that raises, and for real on
  a small tmpfs and as an unprivileged user where the machine allows) is one line naming the
  path and the cause, exit status 2, ``dst`` marked incomplete, the input untouched;
- the progress bar and the summary count computed, resumed and retried chunks;
- bad inputs and a ``dst`` holding another job are refused before any work.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import importlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import pytest
import zarr
from distributed import Client, LocalCluster

from convolab.chunked import conv2d, filter_store, store, store_status
from convolab.cli.main import main

KERNEL = np.arange(15.0).reshape(3, 5) / 50  # asymmetric: a flip or a shifted halo would show
OPTIONS = dict(padding="same", padding_mode="reflect")


def _make_store(path: Path, data: np.ndarray, chunks: tuple[int, ...]) -> Path:
    zarr.create_array(path, data=data, chunks=chunks)
    return path


@pytest.fixture
def image(tmp_path) -> Path:
    """A 256x192 float64 image in 32x32 chunks: 48 output chunks."""
    data = np.random.default_rng(14).standard_normal((256, 192))
    return _make_store(tmp_path / "in.zarr", data, (32, 32))


def _bits(path: Path) -> bytes:
    """The array's values, bit for bit (and its dtype and shape)."""
    a = zarr.open_array(path, mode="r")
    return json.dumps([str(a.dtype), a.shape]).encode() + a[:].tobytes()


def _files(path: Path) -> dict[str, str]:
    """Every file under ``path`` with the SHA-256 of its bytes."""
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


def _chunks(path: Path) -> dict[str, str]:
    """The chunk files of a store and their digests (``.partial`` leftovers excluded)."""
    return {k: v for k, v in _files(path).items()
            if k.startswith("c" + os.sep) and not k.endswith(store.PARTIAL)}


def _reference(src: Path, tmp_path: Path, kernel=KERNEL, **options) -> Path:
    """An undisturbed run, on the local threads."""
    return filter_store(src, tmp_path / "reference.zarr", kernel, progress=False,
                        **{**OPTIONS, **options})


class Crash(Exception):
    """What a simulated crash raises inside a write."""


def _fail_after(monkeypatch, n: int, exc: BaseException) -> list[Path]:
    """Chunk writes after the ``n``-th raise ``exc`` (``zarr.json`` writes go through)."""
    original, written = store._put_whole, []

    def put(path: Path, data: np.ndarray) -> None:
        if f"{os.sep}c{os.sep}" in str(path):
            if len(written) >= n:
                raise exc
            written.append(path)
        original(path, data)

    monkeypatch.setattr(store, "_put_whole", put)
    return written


# --- 1. a worker dies mid-run -----------------------------------------------------------------


@pytest.fixture(scope="module")
def client():
    """Two worker processes (one thread each), so one can be killed."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, \
            Client(cluster, set_as_default=False) as c:
        yield c


def _die_after(n: int, module: str, name: str) -> None:
    """Run on one worker: SIGKILL the worker's process as soon as the ``n``-th call of
    ``module.name`` returns, inside its task (whose result is never reported). Patched by
    name, so the tasks' code calls the patched one (it looks ``name`` up at run time)."""
    mod = importlib.import_module(module)
    original, calls = getattr(mod, name), itertools.count(1)

    @functools.wraps(original)
    def dying(*args, **kwargs):
        result = original(*args, **kwargs)
        if next(calls) == n:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(mod, name, dying)


def _arm_one_worker(client: Client, module: str, name: str, n: int = 2) -> int:
    """Arm one worker to die after ``n`` calls; return its pid."""
    pids = client.run(os.getpid)
    victim = sorted(pids)[0]
    client.run(_die_after, n, module, name, workers=[victim])
    return pids[victim]


def test_a_worker_killed_mid_filter_store_costs_time_not_bits(client, tmp_path):
    data = np.random.default_rng(19).standard_normal((192, 128))
    src = _make_store(tmp_path / "in.zarr", data, (32, 32))  # 24 chunks, about 12 per worker
    victim = _arm_one_worker(client, "convolab.chunked.store", "_put_whole")
    with client.as_current():
        out = filter_store(src, tmp_path / "out.zarr", KERNEL, progress=False, **OPTIONS)
        assert victim not in client.run(os.getpid).values()  # it did die
        undisturbed = filter_store(src, tmp_path / "again.zarr", KERNEL, progress=False,
                                   **OPTIONS)
    status = store_status(out)
    assert status.complete and status.written == status.total == 24
    # the chunk the victim wrote before dying was in a task that never reported: run again
    assert status.last_run["computed"] == 24 and status.last_run["retried"] >= 1
    assert store_status(undisturbed).last_run == {"computed": 24, "resumed": 0, "retried": 0}
    assert _bits(out) == _bits(undisturbed)
    assert _chunks(out) == _chunks(undisturbed)
    assert not any(p.name.endswith(store.PARTIAL) for p in out.rglob("*"))


def test_a_worker_killed_mid_conv2d_of_a_dask_array_costs_time_not_bits(client):
    rng = np.random.default_rng(15)
    x = da.from_array(rng.standard_normal((2, 96, 80, 3)), chunks=(1, 24, 20, 3))
    w, b = rng.standard_normal((3, 3, 3, 4)), rng.standard_normal(4)
    y = conv2d(x, w, b, padding="same", padding_mode="reflect", stride=(1, 2))
    victim = _arm_one_worker(client, "convolab.chunked.lazy", "memory_conv")
    disturbed = client.compute(y).result()
    assert victim not in client.run(os.getpid).values()
    undisturbed = client.compute(y).result()
    assert disturbed.dtype == undisturbed.dtype and disturbed.tobytes() == undisturbed.tobytes()
    np.testing.assert_allclose(disturbed, y.compute(scheduler="sync"), rtol=1e-12, atol=1e-12)


# --- 2. an interrupted run resumes --------------------------------------------------------------


def test_a_crashed_run_is_marked_incomplete_and_resume_computes_only_the_rest(
        image, tmp_path, monkeypatch):
    dst = tmp_path / "out.zarr"
    _fail_after(monkeypatch, 10, Crash("power cut"))
    with dask.config.set(scheduler="sync"), pytest.raises(Crash) as crash:
        filter_store(image, dst, KERNEL, progress=False, **OPTIONS)
    if sys.version_info >= (3, 11):
        assert "10 of 48 chunks written" in crash.value.__notes__[-1]
        assert "resume=True" in crash.value.__notes__[-1]
    status = store_status(dst)
    assert not status.complete and (status.written, status.total) == (10, 48)
    record = zarr.open_array(dst).attrs["convolab"]
    assert record["complete"] is False and record["job"]["kernel"]["shape"] == [3, 5]
    # the 38 missing 32x32 chunks read as NaN, not as plausible zeros
    assert np.isnan(zarr.open_array(dst)[:]).sum() == 38 * 32 * 32
    before = _chunks(dst)
    monkeypatch.undo()

    calls = []
    original = store._write_block
    monkeypatch.setattr(store, "_write_block", lambda *a: calls.append(a[2]) or original(*a))
    out = filter_store(image, dst, KERNEL, progress=False, resume=True, **OPTIONS)
    assert len(calls) == 38  # only the missing chunks
    assert {k: v for k, v in _chunks(out).items() if k in before} == before  # untouched
    status = store_status(out)
    assert status.complete and status.last_run == {"computed": 38, "resumed": 10, "retried": 0}
    reference = _reference(image, tmp_path)
    assert _bits(out) == _bits(reference)
    assert _chunks(out) == _chunks(reference)


def test_resume_of_a_volume_with_channels_is_bit_identical(tmp_path, monkeypatch):
    vol = np.random.default_rng(16).standard_normal((20, 18, 16, 2)).astype(np.float32)
    src = _make_store(tmp_path / "vol.zarr", vol, (8, 8, 8, 2))
    k = np.random.default_rng(17).standard_normal((3, 3, 3)).astype(np.float32)
    options = dict(padding="same", stride=(1, 2, 1), padding_mode="symmetric")
    _fail_after(monkeypatch, 5, Crash("killed"))
    with dask.config.set(scheduler="sync"), pytest.raises(Crash):
        filter_store(src, tmp_path / "out.zarr", k, progress=False, **options)
    monkeypatch.undo()
    out = filter_store(src, tmp_path / "out.zarr", k, progress=False, resume=True, **options)
    assert store_status(out).last_run == {"computed": 13, "resumed": 5, "retried": 0}
    assert _bits(out) == _bits(_reference(src, tmp_path, k, **options))


def test_resume_without_an_output_starts_and_of_a_finished_one_computes_nothing(image, tmp_path):
    out = filter_store(image, tmp_path / "out.zarr", KERNEL, progress=False, resume=True,
                       **OPTIONS)
    assert store_status(out).last_run == {"computed": 48, "resumed": 0, "retried": 0}
    chunks = _chunks(out)
    filter_store(image, out, KERNEL, progress=False, resume=True, **OPTIONS)
    assert store_status(out).complete and _chunks(out) == chunks
    assert store_status(out).last_run == {"computed": 0, "resumed": 48, "retried": 0}


def test_progress_counts_every_chunk_and_starts_at_the_resumed_ones(image, tmp_path,
                                                                    monkeypatch, capsys):
    _fail_after(monkeypatch, 12, Crash("stop"))
    with dask.config.set(scheduler="sync"), pytest.raises(Crash):
        filter_store(image, tmp_path / "out.zarr", KERNEL, progress=False, **OPTIONS)
    monkeypatch.undo()
    capsys.readouterr()
    filter_store(image, tmp_path / "out.zarr", KERNEL, resume=True, **OPTIONS)
    err = capsys.readouterr().err
    assert "12/48" in err and "48/48" in err and "49/48" not in err
    assert "36 computed, 12 resumed, 0 retried" in err


# The same through the command, in a process of its own that a real signal stops: a driver
# counts chunk renames (serialised, so the count is exact) and, after the n-th, signals its own
# process; for SIGKILL it dies instead inside the next chunk's write, between writing the
# bytes into the temporary and renaming it (the worst moment).
DRIVER = """
import os, signal, sys, threading
from convolab.cli.main import main

n, sig = int(sys.argv[1]), getattr(signal, sys.argv[2])
replace, lock, renamed = os.replace, threading.Lock(), [0]

def counting_replace(a, b, *args, **kwargs):
    chunk = os.sep + "c" + os.sep in str(b)
    with lock:
        if chunk and renamed[0] == n and sig == signal.SIGKILL:
            os.kill(os.getpid(), signal.SIGKILL)
        replace(a, b, *args, **kwargs)
        renamed[0] += chunk
        if chunk and renamed[0] == n and sig != signal.SIGKILL:
            os.kill(os.getpid(), sig)

os.replace = counting_replace
sys.exit(main(sys.argv[3:]))
"""


def _command(src: Path, dst: Path, *extra: str) -> list[str]:
    return ["filter", str(src), "--kernel", "gaussian", "--sigma", "1", "-o", str(dst),
            "--quiet", *extra]


@pytest.fixture(scope="module")
def big_image(tmp_path_factory) -> tuple[Path, Path]:
    """A 384x256 image in 32x32 chunks (96 chunks, 768 KiB) and its uninterrupted result."""
    tmp = tmp_path_factory.mktemp("cli")
    data = np.random.default_rng(18).standard_normal((384, 256))
    src = _make_store(tmp / "big.zarr", data, (32, 32))
    assert main(_command(src, tmp / "reference.zarr")) == 0
    return src, tmp / "reference.zarr"


@pytest.mark.parametrize("sig, status", [("SIGINT", 130), ("SIGTERM", 143), ("SIGKILL", -9)])
def test_a_signalled_command_resumes_to_the_uninterrupted_result(big_image, tmp_path, sig,
                                                                 status, capsys):
    src, reference = big_image
    dst = tmp_path / "out.zarr"
    inputs = _files(src)
    proc = subprocess.run([sys.executable, "-c", DRIVER, "20", sig, *_command(src, dst)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == status, proc.stderr
    state = store_status(dst)
    assert not state.complete and state.total == 96
    if sig == "SIGKILL":  # died inside chunk 21's write: its bytes sit in a temporary
        assert state.written == 20 and proc.stderr == ""
        assert any(p.name.endswith(store.PARTIAL) for p in dst.rglob("*"))
    else:  # the chunks in flight when the signal came are finished, no new ones started
        assert 20 <= state.written < 30
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
        by = {"SIGINT": "Ctrl-C", "SIGTERM": "SIGTERM"}[sig]
        said = re.fullmatch(
            rf"convolab: interrupted \({by}\): {re.escape(str(dst))} is marked incomplete, "
            r"(\d+) of 96 chunks written \(each whole\); run the same command with --resume "
            r"to compute only the others", lines[0])
        assert said and 20 <= int(said[1]) <= state.written, lines[0]
    # every chunk on disk is whole: equal to the uninterrupted run's, file for file
    written = _chunks(dst)
    assert len(written) == state.written
    assert written.items() <= _chunks(reference).items()
    capsys.readouterr()
    assert main(_command(src, dst, "--resume")) == 0
    out = capsys.readouterr().out
    assert (f"wrote {dst}: 96 chunks, {96 - state.written} computed, {state.written} resumed "
            "(written by an earlier run), 0 retried") in out
    assert store_status(dst).complete
    assert _bits(dst) == _bits(reference) and _files(dst) != {}
    assert _chunks(dst) == _chunks(reference)
    assert not any(p.name.endswith(store.PARTIAL) for p in dst.rglob("*"))
    assert _files(src) == inputs


# --- 3. write errors ----------------------------------------------------------------------------


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES])
def test_a_write_error_is_one_line_and_leaves_dst_marked_incomplete(big_image, tmp_path, code,
                                                                    monkeypatch, capsys):
    src, reference = big_image
    dst = tmp_path / "out.zarr"
    inputs = _files(src)

    def fail(path: Path, data: np.ndarray) -> None:  # a store that raises, as the OS would
        raise OSError(code, os.strerror(code), str(path))

    original = store._put_whole
    written = []

    def put(path: Path, data: np.ndarray) -> None:
        chunk = f"{os.sep}c{os.sep}" in str(path)
        (fail if chunk and len(written) >= 15 else original)(path, data)
        written.extend([path] * chunk)

    monkeypatch.setattr(store, "_put_whole", put)
    assert main(_command(src, dst)) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in lines[0], lines
    state = store_status(dst)
    assert not state.complete and 15 <= state.written < 96
    said = re.fullmatch(
        rf"convolab: error: {re.escape(str(dst / 'c'))}/\d+/\d+: {os.strerror(code)}; "
        rf"'{re.escape(str(dst))}' stays marked incomplete, (\d+) of 96 chunks written \(each "
        r"whole\); fix the cause, then run again with resume=True \(--resume on the command "
        r"line\) to compute only the others", lines[0])
    assert said and 15 <= int(said[1]) <= state.written, lines[0]
    assert _files(src) == inputs
    monkeypatch.undo()  # space freed, permission fixed
    assert main(_command(src, dst, "--resume")) == 0
    assert _bits(dst) == _bits(reference)


def test_a_full_disk_for_real_stops_with_one_line_and_only_whole_chunks(big_image, tmp_path):
    """The output on a 256 KiB tmpfs (mounted in a private namespace): the disk fills up after
    about a third of the 768 KiB result."""
    probe = ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"]
    if shutil.which("unshare") is None or subprocess.run(probe, capture_output=True,
                                                         timeout=30).returncode:
        pytest.skip("needs unshare -rm and tmpfs (unprivileged user namespaces)")
    src, reference = big_image
    mnt, saved = tmp_path / "small-disk", tmp_path / "saved.zarr"
    mnt.mkdir()
    inputs = _files(src)
    # $1 the mount point, $2 python, $3 where to save the output, then the command
    script = ('mount -t tmpfs -o size=256k tmpfs "$1" && cd "$1" && "$2" -m convolab "${@:4}"; '
              'rc=$?; cp -r "$1/out.zarr" "$3"; exit $rc')
    proc = subprocess.run(["unshare", "-rm", "bash", "-c", script, "bash", str(mnt),
                           sys.executable, str(saved), *_command(src, Path("out.zarr"))],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("convolab: error: ") and "No space left on device" in lines[0]
    assert "stays marked incomplete" in lines[0] and "--resume" in lines[0]
    state = store_status(saved)
    assert not state.complete and 0 < state.written < 96
    written = _chunks(saved)
    assert len(written) == state.written and written.items() <= _chunks(reference).items()
    assert _files(src) == inputs


def test_permission_denied_for_real_names_the_path(tmp_path):
    """An output directory the user may not write to: a read-only directory, and when the
    tests run as root, the command run without the capabilities that let root write there
    anyway (setpriv). Still root, it reads the checkout wherever that lies (as nobody it could
    not, in a clone under a 0700 directory such as mktemp -d makes)."""
    src = _make_store(tmp_path / "in.zarr", np.ones((64, 64)), (32, 32))
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    prefix: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("root without setpriv: cannot drop the privilege to be refused")
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
    inputs = _files(src)
    proc = subprocess.run([*prefix, sys.executable, "-m", "convolab",
                           *_command(src, locked / "out.zarr")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines == [f"convolab: error: {locked / 'out.zarr'}: Permission denied; cannot "
                     "create the output store, nothing was written"], proc.stderr
    assert list(locked.iterdir()) == [] and _files(src) == inputs


# --- 5. bad stores, refused before any work -----------------------------------------------------


def test_inputs_that_are_not_a_real_array_of_the_right_rank_are_refused(tmp_path):
    dst = tmp_path / "out.zarr"
    _make_store(tmp_path / "complex.zarr", np.ones((8, 8), complex), (4, 4))
    with pytest.raises(TypeError, match=r"src: expected a real .* got dtype complex128 \(the "
                                        r"Zarr array at '.*complex.zarr'\)"):
        filter_store(tmp_path / "complex.zarr", dst, np.ones((3, 3)))
    _make_store(tmp_path / "rank4.zarr", np.ones((2, 8, 8, 1)), (1, 4, 4, 1))
    with pytest.raises(ValueError, match=r"src: expected a 2-D \(height, width\) or 3-D"):
        filter_store(tmp_path / "rank4.zarr", dst, np.ones((3, 3)))
    group = zarr.open_group(tmp_path / "group.zarr", mode="w")
    group.create_array("image", shape=(8, 8), dtype="f8")
    with pytest.raises(ValueError, match=r"it is a Zarr group, not an array; its arrays: "
                                         r"'image' \(give one's path, e.g. '.*image'\)"):
        filter_store(tmp_path / "group.zarr", dst, np.ones((3, 3)))
    (tmp_path / "empty.zarr").mkdir()
    with pytest.raises(ValueError, match="src: cannot open a Zarr array at .*empty.zarr"):
        filter_store(tmp_path / "empty.zarr", dst, np.ones((3, 3)))
    with pytest.raises(ValueError, match="no such file or directory"):
        filter_store(tmp_path / "missing.zarr", dst, np.ones((3, 3)))
    assert not dst.exists()


def _interrupted(image: Path, dst: Path, monkeypatch, n: int = 7, **options) -> dict:
    """An interrupted run into ``dst``; returns its files."""
    _fail_after(monkeypatch, n, Crash("stop"))
    with dask.config.set(scheduler="sync"), pytest.raises(Crash):
        filter_store(image, dst, KERNEL, progress=False, **{**OPTIONS, **options})
    monkeypatch.undo()
    return _files(dst)


@pytest.mark.parametrize("change, field", [
    (dict(kernel=KERNEL * 2), "kernel: 3x5 float64 sha256 "),
    (dict(padding="valid"), "padding: [[1, 1], [2, 2]] there, [[0, 0], [0, 0]] here"),
    (dict(stride=2), "stride: [1, 1] there, [2, 2] here"),
    (dict(padding_mode="zeros"), 'padding_mode: "reflect" there, "zeros" here'),
    (dict(chunks=(64, 64)), "chunks: [32, 32] there, [64, 64] here"),
    (dict(kernel=KERNEL.astype(np.float32)), "float64 sha256 06d6ac39d2d1 there, 3x5 float32"),
])
def test_resume_refuses_a_store_of_another_job_before_any_work(image, tmp_path, monkeypatch,
                                                                change, field):
    dst = tmp_path / "out.zarr"
    files = _interrupted(image, dst, monkeypatch)
    kernel = change.pop("kernel", KERNEL)
    calls = []
    monkeypatch.setattr(store, "_write_block", lambda *a: calls.append(a))
    with pytest.raises(ValueError, match="holds another job, and resuming would mix two "
                                         "results") as refused:
        filter_store(image, dst, kernel, progress=False, resume=True, **{**OPTIONS, **change})
    assert field in str(refused.value) and "overwrite=True (--force" in str(refused.value)
    assert calls == [] and _files(dst) == files  # nothing computed, nothing touched


def test_an_equivalent_spelling_of_the_options_is_the_same_job(image, tmp_path, monkeypatch):
    dst = tmp_path / "out.zarr"
    _interrupted(image, dst, monkeypatch)
    # "same" is ((1, 1), (2, 2)) for a 3x5 kernel; "mirror" is SciPy's name for reflect
    out = filter_store(image, dst, KERNEL.tolist(), padding=((1, 1), (2, 2)),
                       padding_mode="mirror", progress=False, resume=True)
    assert _bits(out) == _bits(_reference(image, tmp_path))


def test_resume_refuses_a_moved_input_and_a_store_not_written_here(image, tmp_path, monkeypatch):
    dst = tmp_path / "out.zarr"
    _interrupted(image, dst, monkeypatch)
    moved = tmp_path / "moved.zarr"
    shutil.copytree(image, moved)
    with pytest.raises(ValueError, match=r"src: \".*in.zarr\" there, \".*moved.zarr\" here"):
        filter_store(moved, dst, KERNEL, progress=False, resume=True, **OPTIONS)
    foreign = _make_store(tmp_path / "foreign.zarr", np.zeros((256, 192)), (32, 32))
    with pytest.raises(ValueError, match="was not written by filter_store .* nothing to "
                                         "resume"):
        filter_store(image, foreign, KERNEL, progress=False, resume=True, **OPTIONS)
    with pytest.raises(ValueError, match="resume, overwrite: give one"):
        filter_store(image, dst, KERNEL, resume=True, overwrite=True)


def test_an_existing_output_says_what_it_holds(image, tmp_path, monkeypatch):
    dst = tmp_path / "out.zarr"
    files = _interrupted(image, dst, monkeypatch)
    with pytest.raises(ValueError, match=r"an interrupted run of this same job \(7 of 48 chunks "
                                         r"written\); pass resume=True \(--resume"):
        filter_store(image, dst, KERNEL, progress=False, **OPTIONS)
    with pytest.raises(ValueError, match="already exists and holds another job"):
        filter_store(image, dst, np.ones((3, 3)), progress=False, **OPTIONS)
    assert _files(dst) == files
    filter_store(image, dst, KERNEL, progress=False, resume=True, **OPTIONS)
    with pytest.raises(ValueError, match="this job's finished result"):
        filter_store(image, dst, KERNEL, progress=False, **OPTIONS)
    out = filter_store(image, dst, np.ones((3, 3)), progress=False, overwrite=True, **OPTIONS)
    assert store_status(out).job["kernel"]["shape"] == [3, 3]


def test_the_command_refuses_to_resume_another_job_in_one_line(image, tmp_path, monkeypatch,
                                                               capsys):
    dst = tmp_path / "out.zarr"
    assert main(_command(image, dst)) == 0
    files = _files(dst)
    capsys.readouterr()
    assert main(["filter", str(image), "--kernel", "box", "-o", str(dst), "--resume"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds another job" in err[0]
    assert "kernel: 7x7 float64 sha256 " in err[0] and "there, 3x3 float64 sha256" in err[0]
    assert main([*_command(image, dst, "--resume"), "--force"]) == 2
    assert "--resume, --force: give one" in capsys.readouterr().err
    assert main(["filter", "--resume", "-o", str(tmp_path / "x.png")]) == 2
    assert "--resume: only for a .zarr input" in capsys.readouterr().err
    assert _files(dst) == files
