"""Keep one command running: restart it when it dies, and never leave its children behind.

`make run` starts the job worker through it:

    python -m xuetang.supervisor -- huey_consumer worker.huey --workers 1 ...

The command runs in its own process group, so when it dies (killed, crashed) every process it
started — an ffmpeg mid-transcode — is killed with the group before the command is started
again; the new worker's start-up recovery then re-queues the interrupted transcode. SIGTERM,
SIGINT or SIGHUP to the supervisor stop the group (SIGTERM, then SIGKILL after a grace period)
and end it. A command that keeps dying at once is restarted after a doubling delay (1 s up to
30 s) instead of in a tight loop. Plain Python: no Flask, no peewee, no app.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence

QUICK_DEATH_S = 10.0  # a command dying sooner than this after its start backs off


def kill_group(pgid: int, grace_s: float = 0.0) -> None:
    """SIGTERM the process group (if grace_s), wait up to grace_s, then SIGKILL what is left."""
    if grace_s > 0:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and _group_alive(pgid):
            time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def next_delay(previous: float, ran_s: float, base_s: float, max_s: float) -> float:
    """The wait before a restart: base after a run that lasted, doubling after quick deaths."""
    if ran_s >= QUICK_DEATH_S:
        return base_s
    return min(max_s, max(base_s, previous * 2))


def supervise(argv: Sequence[str], stop: threading.Event, *, base_delay_s: float = 1.0,
              max_delay_s: float = 30.0, grace_s: float = 10.0,
              log: Callable[[str], None] = print) -> int:
    """Run argv until `stop` is set, restarting it whenever it exits; returns the restart count."""
    restarts = 0
    delay = 0.0
    while not stop.is_set():
        started = time.monotonic()
        child = subprocess.Popen(list(argv), start_new_session=True)  # its own process group
        while child.poll() is None and not stop.wait(0.2):
            pass
        if stop.is_set():
            kill_group(child.pid, grace_s)
            child.wait()
            break
        code = child.returncode
        kill_group(child.pid)  # its orphans (ffmpeg) die with it
        delay = next_delay(delay, time.monotonic() - started, base_delay_s, max_delay_s)
        log(f"supervisor: {argv[0]} (pid {child.pid}) exited with {code}; restarting in {delay:g} s")
        if stop.wait(delay):
            break
        restarts += 1
    return restarts


def main(args: Sequence[str] | None = None) -> int:
    """Command line: `python -m xuetang.supervisor [--restart-delay S] -- COMMAND ARGS...`."""
    parser = argparse.ArgumentParser(prog="python -m xuetang.supervisor", description=__doc__)
    parser.add_argument("--restart-delay", type=float, default=1.0, help="seconds (doubles up to 30)")
    parser.add_argument("--grace", type=float, default=10.0, help="seconds between SIGTERM and SIGKILL")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    parsed = parser.parse_args(args)
    command = parsed.command[1:] if parsed.command[:1] == ["--"] else parsed.command
    if not command:
        parser.error("no command given")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda *_: stop.set())
    supervise(command, stop, base_delay_s=parsed.restart_delay,
              max_delay_s=max(30.0, parsed.restart_delay), grace_s=parsed.grace,
              log=lambda line: print(line, file=sys.stderr, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
