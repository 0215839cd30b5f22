"""The face-analysis pool (face/pool.py): real dlib in real processes, answers equal to the
in-process ones, a bound on what waits, and no process outliving its web worker."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from xuetang.face import analysis, pool
from xuetang.face.quality import ImageRejected, Limits

FACES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"


@pytest.fixture(scope="module")
def workers():
    started = pool.AnalysisPool(processes=1, waiting=1, timeout_s=60)
    yield started
    started.close()


def photo(name: str) -> bytes:
    return (FACES / f"{name}.jpg").read_bytes()


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie (killed, not yet reaped by its parent) is gone for our purpose.
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].startswith("Z")


def wait_until(condition, limit_s: float = 20.0) -> bool:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.mark.parametrize("name", ["a_webcam", "b_webcam", "a_dark", "two_faces", "no_face_cat"])
def test_the_pool_answers_what_the_process_itself_computes(workers, name):
    if not (FACES / f"{name}.jpg").exists():
        pytest.fail(f"fixture {name}.jpg missing")
    here, there = analysis.analyse(photo(name)), workers.analyse(photo(name))
    assert there.codes == here.codes and there.face_count == here.face_count
    assert there.box == here.box and there.signature == here.signature
    if here.descriptor is None:
        assert there.descriptor is None
    else:
        assert np.array_equal(there.descriptor, here.descriptor)


def test_a_refused_image_comes_back_as_the_same_refusal(workers):
    with pytest.raises(ImageRejected) as refused:
        workers.analyse(b"not a jpeg at all")
    assert refused.value.code == "not_jpeg"
    with pytest.raises(ImageRejected) as refused:
        workers.analyse(photo("a_webcam"), Limits(max_bytes=100))
    assert refused.value.code == "too_large"


def test_past_the_bound_a_snapshot_is_refused_at_once_not_queued():
    workers = pool.AnalysisPool(processes=1, waiting=0, timeout_s=60)
    try:
        workers.analyse(photo("a_webcam"))  # started, models loaded
        (pid,) = workers.pids()
        os.kill(pid, signal.SIGSTOP)  # the one process is busy for as long as the test says
        answers = []
        first = threading.Thread(target=lambda: answers.append(workers.analyse(photo("a_webcam"))))
        first.start()
        assert wait_until(lambda: workers._slots._value == 0)  # the first one holds the slot
        with pytest.raises(pool.Unavailable) as refused:
            workers.analyse(photo("b_webcam"))
        assert refused.value.reason == "busy"
        os.kill(pid, signal.SIGCONT)
        first.join(30)
        assert answers and answers[0].ok
        assert workers.analyse(photo("b_webcam")).ok  # the slot is free again
    finally:
        workers.close()


def test_a_late_answer_is_refused_and_the_pool_goes_on():
    workers = pool.AnalysisPool(processes=1, waiting=1, timeout_s=60)
    try:
        workers.analyse(photo("a_webcam"))  # the first one waits for the models to load
        (pid,) = workers.pids()
        workers.timeout_s = 0.5
        os.kill(pid, signal.SIGSTOP)
        with pytest.raises(pool.Unavailable) as refused:
            workers.analyse(photo("a_webcam"))
        assert refused.value.reason == "timeout"
        os.kill(pid, signal.SIGCONT)
        assert wait_until(lambda: workers._slots._value == 2)  # the abandoned work ended
        workers.timeout_s = 60
        assert workers.analyse(photo("a_webcam")).ok
    finally:
        workers.close()


def test_a_killed_pool_process_is_replaced(workers):
    assert workers.analyse(photo("a_webcam")).ok
    (pid,) = workers.pids()
    os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: gone(pid))
    try:
        workers.analyse(photo("a_webcam"))
    except pool.Unavailable as refused:  # the executor noticed the death first
        assert refused.reason == "broken"
    result = workers.analyse(photo("a_webcam"))
    assert result.ok and workers.pids() and pid not in workers.pids()


def test_pool_processes_die_with_their_web_worker_killed_by_sigkill():
    parent = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("pool_parent.py")), str(FACES / "a_webcam.jpg")],
        stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    try:
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert pids and not any(gone(p) for p in pids)
        parent.kill()
        parent.wait(10)
        assert wait_until(lambda: all(gone(p) for p in pids)), f"orphans left: {pids}"
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()
