"""The helper threads of parallel regions (algorithms/crew.py): every worker index runs once, a
helper's exception reaches the caller after all have finished, the crew grows with the count,
and a forked child (Dask's and multiprocessing's workers) runs parallel convs of its own."""

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import convolab as cl
from convolab.algorithms import crew, scheduler


def test_every_worker_index_runs_once_on_its_own_thread():
    seen: list[tuple[int, int]] = []
    lock = threading.Lock()

    def job(i: int) -> None:
        with lock:
            seen.append((i, threading.get_ident()))

    for workers in (1, 3, 2, 4):  # the crew grows, and a smaller count uses part of it
        seen.clear()
        crew.run(workers, job)
        assert sorted(i for i, _ in seen) == list(range(workers))
        assert len({t for _, t in seen}) == workers
        assert dict(seen)[0] == threading.get_ident()  # worker 0 is the caller


def test_a_helpers_exception_is_raised_after_every_job_has_ended():
    finished = []

    def job(i: int) -> None:
        if i == 1:
            raise KeyError("helper 1")
        time.sleep(0.05)
        finished.append(i)

    with pytest.raises(KeyError, match="helper 1"):
        crew.run(3, job)
    assert sorted(finished) == [0, 2]
    crew.run(3, lambda i: finished.append(10 + i))  # the crew still works afterwards
    assert sorted(finished[2:]) == [10, 11, 12]


def test_a_failing_task_stops_the_region_and_is_raised():
    done = []

    def work(task: int, worker: int) -> None:
        if task == 3:
            raise ValueError("task 3")
        done.append(task)

    with pytest.raises(ValueError, match="task 3"):
        scheduler.run(list(range(40)), work, 2, limit_blas=False)
    assert 3 not in done


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_runs_parallel_convs():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 24, 24, 16), dtype=np.float32)
    w = rng.standard_normal((3, 3, 16, 16), dtype=np.float32)
    want = cl.conv2d(x, w, padding="same")  # the parent's crew exists before the fork
    pid = os.fork()
    if pid == 0:  # the child: a region of its own must not wait on the parent's threads
        code = 1
        try:
            code = 0 if np.array_equal(cl.conv2d(x, w, padding="same"), want) else 2
        finally:
            sys.stdout.flush()
            os._exit(code)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, 9)
    pytest.fail("the forked child hung in a parallel region")


@pytest.mark.parametrize("make", [crew._LockBell] + (
    [lambda: crew._native.core.Bell()] if crew._native.available() else []),
    ids=lambda m: "lock" if m is crew._LockBell else "compiled")
def test_a_bell_lets_one_wait_through_per_ring(make):
    """A ring before the wait lets it pass at once; a wait with no ring pending blocks until
    another thread rings, past the compiled bell's watching (200 us) into its sleep; each ring
    lets exactly one wait through."""
    bell = make()
    bell.ring()
    bell.wait()
    passed = threading.Event()

    def waiter() -> None:
        bell.wait()
        passed.set()

    t = threading.Thread(target=waiter)
    t.start()
    assert not passed.wait(0.05)  # no ring pending: it waits, asleep by now
    bell.ring()
    assert passed.wait(5)
    t.join()
    second = threading.Thread(target=waiter)
    passed.clear()
    second.start()
    assert not passed.wait(0.05)  # the ring was taken by the first wait only
    bell.ring()
    second.join(5)
    assert passed.is_set()


def test_the_crew_waits_on_the_compiled_bell_when_the_core_runs():
    want = "Bell" if crew._native.available() else "_LockBell"
    assert type(crew.bell()).__name__ == want


@pytest.mark.skipif(not crew._native.available(), reason="the compiled bell needs the core")
def test_ctrl_c_reaches_a_main_thread_asleep_on_a_compiled_bell():
    """As an interrupted lock wait does: the sleeping wait looks at Python's signals (every
    20 ms), so a KeyboardInterrupt reaches a caller waiting for its helpers."""
    code = ("import os, signal, threading, time\n"
            "from convolab import _native\n"
            "threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()\n"
            "t = time.perf_counter()\n"
            "try:\n"
            "    _native.core.Bell().wait()\n"
            "except KeyboardInterrupt:\n"
            "    print('interrupted after', time.perf_counter() - t)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout.split()[-1]) < 10, out.stdout
