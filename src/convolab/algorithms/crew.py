"""The helper threads a parallel region starts: kept between regions, each woken by a lock.

``concurrent.futures.ThreadPoolExecutor`` costs ~35 us to hand a thread one call and wait for
it (a Future, a queue, a condition); a LeNet training step opens ~20 regions, so that was ~0.7
ms a step of nothing but hand-overs. A released ``threading.Lock`` wakes a waiting thread in
3-13 us. Each helper here waits on its own ``go`` lock, runs the job it was given, and releases
its ``done`` lock; the caller runs its share meanwhile and then acquires the ``done`` locks.

One region runs at a time (``scheduler.run`` holds its region lock around :func:`run`). A forked
child starts with no helpers: its crew is made anew on first use.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable


class _Crew:
    """``size`` daemon threads; helper ``i`` runs ``job(i + 1)`` when started."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._go = [threading.Lock() for _ in range(size)]
        self._done = [threading.Lock() for _ in range(size)]
        self._job: Callable[[int], None] | None = None
        self._errors: list[BaseException | None] = [None] * size
        for lock in (*self._go, *self._done):
            lock.acquire()
        for i in range(size):
            threading.Thread(target=self._helper, args=(i,), daemon=True,
                             name=f"convolab-{i + 1}").start()

    def _helper(self, i: int) -> None:
        while True:
            self._go[i].acquire()
            job = self._job
            if job is None:  # retired
                return
            try:
                job(i + 1)
            except BaseException as e:  # handed to the caller, raised there
                self._errors[i] = e
            finally:
                self._done[i].release()

    def run(self, helpers: int, job: Callable[[int], None]) -> None:
        """``job(0)`` here and ``job(1) .. job(helpers)`` on the helpers, all finished on
        return; the first exception of any is raised after every job has ended."""
        self._job = job
        for i in range(helpers):
            self._go[i].release()
        try:
            job(0)
        finally:
            for i in range(helpers):
                self._done[i].acquire()
            errors = [e for e in self._errors[:helpers] if e is not None]
            self._errors[:helpers] = [None] * helpers
        if errors:
            raise errors[0]

    def retire(self) -> None:
        """Let every helper thread end (the crew is being replaced)."""
        self._job = None
        for lock in self._go:
            lock.release()


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
