"""Issue 10, Low 12: `make run` supervises the job worker. A killed worker is started again, and
the processes it started (ffmpeg) die with it instead of running on as orphans."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tests.support.paths import ROOT
from xuetang.supervisor import QUICK_DEATH_S, next_delay

WAIT_S = 30  # a bound on each wait below (liveness, not a timing assertion)
POLLS = WAIT_S * 20

# A stand-in worker: records "its pid, its child's pid", starts a long child (like ffmpeg), waits.
WORKER = textwrap.dedent("""\
    import subprocess, sys, time
    child = subprocess.Popen(["sleep", "300"])
    with open(sys.argv[1], "a") as out:
        out.write(f"{__import__('os').getpid()} {child.pid}\\n")
    time.sleep(300)
    """)


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def wait_for(predicate) -> None:
    """Poll until predicate() holds, at most POLLS times (a bound on the wait, not on speed)."""
    for _ in range(POLLS):
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("the supervisor never reached the expected state")


def started(pids_file) -> list[tuple[int, int]]:
    if not pids_file.exists():
        return []
    return [tuple(map(int, line.split())) for line in pids_file.read_text().splitlines()
            if len(line.split()) == 2]


@pytest.fixture
def supervised(tmp_path):
    """The supervisor (as `make run` starts it) running the stand-in worker; killed afterwards."""
    script, pids_file = tmp_path / "worker.py", tmp_path / "pids"
    script.write_text(WORKER)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "platform")}
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "xuetang.supervisor", "--restart-delay", "0.1", "--grace", "2",
         "--", sys.executable, str(script), str(pids_file)],
        env=env, stderr=subprocess.PIPE, text=True)
    try:
        yield supervisor, pids_file
    finally:
        for pid in [supervisor.pid, *(p for pair in started(pids_file) for p in pair)]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        supervisor.wait()
        supervisor.stderr.close()


def test_a_killed_worker_is_restarted_and_its_children_die_with_it(supervised):
    supervisor, pids_file = supervised
    wait_for(lambda: len(started(pids_file)) == 1)
    (worker, ffmpeg), = started(pids_file)
    os.kill(worker, signal.SIGKILL)  # as the probe did: kill -9 of the worker mid-transcode
    wait_for(lambda: len(started(pids_file)) == 2)
    wait_for(lambda: not alive(ffmpeg))  # the orphan was killed with the worker's group
    new_worker, new_ffmpeg = started(pids_file)[1]
    assert new_worker != worker and alive(new_worker) and alive(new_ffmpeg)

    supervisor.send_signal(signal.SIGTERM)  # what `make run` does when it stops
    assert supervisor.wait(timeout=WAIT_S) == 0
    wait_for(lambda: not alive(new_worker) and not alive(new_ffmpeg))
    assert "restarting" in supervisor.stderr.read()


def test_a_worker_that_keeps_dying_backs_off():
    assert next_delay(0.0, ran_s=0.5, base_s=1, max_s=30) == 1
    assert next_delay(1.0, ran_s=0.5, base_s=1, max_s=30) == 2
    assert next_delay(16.0, ran_s=0.5, base_s=1, max_s=30) == 30
    assert next_delay(30.0, ran_s=QUICK_DEATH_S, base_s=1, max_s=30) == 1  # it ran: start over


def test_make_run_starts_the_worker_under_the_supervisor():
    makefile = (ROOT / "Makefile").read_text()
    (line,) = [line for line in makefile.splitlines() if "huey_consumer" in line]
    assert "-m xuetang.supervisor -- $(BIN)/huey_consumer worker.huey" in line
