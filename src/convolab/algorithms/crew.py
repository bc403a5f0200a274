"""The helper threads a parallel region starts: kept between regions, each woken by a bell.

``concurrent.futures.ThreadPoolExecutor`` costs ~35 us to hand a thread one call and wait for
it (a Future, a queue, a condition); a LeNet training step opens ~40 regions. Each helper here
waits on its own ``go`` bell, runs the job it was given, and rings its ``done`` bell; the caller
runs its share meanwhile and then waits on the ``done`` bells. A bell is the compiled core's
``Bell``, whose waiter watches for a ring before it sleeps: a thread woken from sleep starts
~50 us late on the 2-core machines (a region of empty jobs took 47-59 us on locks, back to
back). Without the core it is a held ``threading.Lock``.

One region runs at a time (``scheduler.run`` holds its region lock around :func:`run`). A forked
child starts with no helpers: its crew is made anew on first use.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Protocol

from convolab import _native


class Bell(Protocol):
    def ring(self) -> None: ...
    def wait(self) -> None: ...


class _LockBell:
    """A bell of a held lock: ``ring`` releases it, ``wait`` acquires it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()
        self.ring, self.wait = self._lock.release, self._lock.acquire


def bell() -> Bell:
    """A bell to hand a thread its turn: the compiled core's, or a lock's."""
    return _native.core.Bell() if _native.available() else _LockBell()


class _Crew:
    """``size`` daemon threads; helper ``i`` runs ``job(i + 1)`` when started."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._go = [bell() for _ in range(size)]
        self._done = [bell() for _ in range(size)]
        self._job: Callable[[int], None] | None = None
        self._errors: list[BaseException | None] = [None] * size
        for i in range(size):
            threading.Thread(target=self._helper, args=(i,), daemon=True,
                             name=f"convolab-{i + 1}").start()

    def _helper(self, i: int) -> None:
        while True:
            self._go[i].wait()
            job = self._job
            if job is None:  # retired
                return
            try:
                job(i + 1)
            except BaseException as e:  # handed to the caller, raised there
                self._errors[i] = e
            finally:
                self._done[i].ring()

    def run(self, helpers: int, job: Callable[[int], None]) -> None:
        """``job(0)`` here and ``job(1) .. job(helpers)`` on the helpers, all finished on
        return; the first exception of any is raised after every job has ended."""
        self._job = job
        for i in range(helpers):
            self._go[i].ring()
        try:
            job(0)
        finally:
            for i in range(helpers):
                self._done[i].wait()
            errors = [e for e in self._errors[:helpers] if e is not None]
            self._errors[:helpers] = [None] * helpers
        if errors:
            raise errors[0]

    def retire(self) -> None:
        """Let every helper thread end (the crew is being replaced)."""
        self._job = None
        for go in self._go:
            go.ring()


_crew: list[_Crew] = []  # the current crew, if any


def run(workers: int, job: Callable[[int], None]) -> None:
    """``job(i)`` for ``0 <= i < workers``: ``job(0)`` on the calling thread, the others on
    helper threads (a crew of ``workers - 1``, replaced when the count changes)."""
    helpers = workers - 1
    if helpers <= 0:
        job(0)
        return
    if not _crew or _crew[0].size < helpers:
        if _crew:
            _crew.pop().retire()
        _crew.append(_Crew(helpers))
    _crew[0].run(helpers, job)


def _forget_after_fork() -> None:
    """A forked child has none of the parent's threads: its locks would wait forever."""
    _crew.clear()


os.register_at_fork(after_in_child=_forget_after_fork)
