"""Face analysis in a few processes beside a web worker, so that dlib never holds its GIL.

dlib's detector and ResNet hold the GIL while they run (~100-200 ms a snapshot): in a web worker
every other thread, heartbeats holding the database's write lock among them, stood still for half
of each check (docs/performance.md, "Load with a ground truth"). In a process of its own a check
costs CPU but no GIL, and the operating system shares the cores between beats and checks.

- The processes come from a forkserver, never fork(): a web worker has many threads and open
  database connections, which a forked child must not inherit. The forkserver imports this
  module's dependencies once; each process builds the dlib models once, at its start.
- A bound on what waits: a snapshot beyond `processes + waiting` in flight is refused at once
  (Unavailable "busy") rather than queued behind work it would time out in. One that does not
  come back within `timeout_s` is refused too ("timeout"); the work it started still counts
  against the bound until it ends.
- A process dies with the web worker that started it: each one watches the worker's pid through
  a pidfd, so a kill -9 of the worker leaves no orphan holding memory and models.
- Like every multiprocessing start method but fork, a process imports the program's main
  script (as __mp_main__) before it runs: a script that analyses snapshots must keep its work
  under `if __name__ == "__main__":` (gunicorn's, huey's, flask's and pytest's entry points do).
Importable without Flask or peewee.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import select
import threading
from concurrent.futures.process import BrokenProcessPool

from xuetang.face import analysis
from xuetang.face.quality import Limits

__all__ = ["AnalysisPool", "Unavailable"]


class Unavailable(Exception):
    """No analysis now: `reason` is "busy", "timeout" or "broken" (a process died)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _watch_parent(parent_pid: int) -> None:
    """Exit this process as soon as parent_pid ends (a pidfd becomes readable then)."""
    try:
        fd = os.pidfd_open(parent_pid)
    except ProcessLookupError:
        os._exit(0)
    except (AttributeError, OSError):  # no pidfd (old kernel): poll instead
        fd = None

    def watch():
        if fd is not None:
            select.select([fd], [], [])
        else:
            while True:
                try:
                    os.kill(parent_pid, 0)
                except ProcessLookupError:
                    break
                threading.Event().wait(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="face-pool-parent-watch", daemon=True).start()


def _start(parent_pid: int) -> None:
    """Each pool process: watch the web worker, then load the models before the first job."""
    _watch_parent(parent_pid)
    analysis.get_engine()


def _analyse(data: bytes, limits: Limits | None) -> analysis.Analysis:
    return analysis.analyse(data, limits=limits)


class AnalysisPool:
    """analysis.analyse in `processes` worker processes; safe to share between threads."""

    def __init__(self, processes: int = 1, waiting: int = 16, timeout_s: float = 30.0):
        if processes < 1:
            raise ValueError("an analysis pool has at least one process")
        self.processes, self.timeout_s = processes, float(timeout_s)
        self._slots = threading.BoundedSemaphore(processes + max(0, waiting))
        self._lock = threading.Lock()
        self._executor = self._new_executor()

    def _new_executor(self) -> concurrent.futures.ProcessPoolExecutor:
        context = multiprocessing.get_context("forkserver")
        # Only what analysis needs, never __main__ (gunicorn's or pytest's entry point).
        context.set_forkserver_preload(["xuetang.face.analysis"])
        return concurrent.futures.ProcessPoolExecutor(
            self.processes, mp_context=context, initializer=_start, initargs=(os.getpid(),))

    def _replace(self, broken) -> None:
        """A process died (killed, out of memory): the executor is broken for good; start anew."""
        with self._lock:
            if self._executor is broken:
                broken.shutdown(wait=False, cancel_futures=True)
                self._executor = self._new_executor()

    def analyse(self, data: bytes, limits: Limits | None = None) -> analysis.Analysis:
        """What analysis.analyse returns (or raises: ImageRejected), computed in a pool process.

        Raises Unavailable when the pool is full, the answer is late or a process died."""
        if not self._slots.acquire(blocking=False):
            raise Unavailable("busy")
        executor = self._executor
        try:
            future = executor.submit(_analyse, data, limits)
        except (BrokenProcessPool, RuntimeError) as err:
            self._slots.release()
            self._replace(executor)
            raise Unavailable("broken") from err
        future.add_done_callback(lambda _: self._slots.release())
        try:
            return future.result(timeout=self.timeout_s)
        except concurrent.futures.TimeoutError as err:
            raise Unavailable("timeout") from err
        except BrokenProcessPool as err:
            self._replace(executor)
            raise Unavailable("broken") from err

    def pids(self) -> list[int]:
        """The pool's live process ids (for tests and the load report)."""
        return [p.pid for p in list((self._executor._processes or {}).values()) if p.is_alive()]

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
