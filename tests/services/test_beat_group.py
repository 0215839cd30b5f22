"""services.beat_group: beats' statements that arrive while one is being sent go together, one
group at a time, at most one item per key (a play session) in a group; every beat gets its own
item's result, or the error the group's statement raised.

`send` here is a function of the test that records each group and answers for the keys it is
told to (the grouped statements themselves are tested on the real engines in test_beats.py)."""

import threading
import time

import pytest
from peewee import OperationalError

from xuetang.services.beat_group import Group, columns

WAIT_S = 10  # the longest a test waits for its threads (a hang fails instead of blocking)


class Server:
    """Records the groups it is sent; the first one is held until `release`."""

    def __init__(self, written=None, error=None):
        self.groups: list[list[int]] = []
        self.written = written
        self.error = error
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, group):
        self.groups.append([item.key for item in group])
        if len(self.groups) == 1:
            self.entered.set()
            assert self.release.wait(WAIT_S)
        if self.error is not None:
            raise self.error
        keys = {item.key for item in group}
        return {key: True for key in (keys if self.written is None else keys & self.written)}


def submit_all(group: Group, server: Server, first: int, others: list[int]) -> dict:
    """`first` submits and is held on the server while `others` queue behind it; returns each
    thread's result (True, None or the exception it raised), keyed by its index."""
    results: dict = {}

    def run(key, play_id):
        try:
            results[key] = group.submit(play_id, ("state", 0, None, "cache", "old", "old"))
        except Exception as err:  # noqa: BLE001
            results[key] = err

    threads = [threading.Thread(target=run, args=(0, first))]
    threads[0].start()
    assert server.entered.wait(WAIT_S)
    for key, play_id in enumerate(others, start=1):
        threads.append(threading.Thread(target=run, args=(key, play_id)))
        threads[-1].start()
    deadline = time.monotonic() + WAIT_S
    while len(group._waiting) < len(others) and time.monotonic() < deadline:
        time.sleep(0.001)
    assert len(group._waiting) == len(others)
    server.release.set()
    for thread in threads:
        thread.join(WAIT_S)
        assert not thread.is_alive()
    return results


def test_a_beat_alone_is_sent_at_once_by_itself():
    server = Server(written={7})
    server.release.set()
    group = Group(server)
    assert group.submit(7, ()) is True
    assert group.submit(8, ()) is None  # left out of the answer: its row had changed
    assert server.groups == [[7], [8]]


def test_beats_that_wait_behind_a_write_are_sent_together_once_it_is_done():
    server = Server(written={1, 2, 4})
    results = submit_all(Group(server), server, 1, [2, 3, 4])
    assert server.groups[0] == [1]
    assert sorted(server.groups[1]) == [2, 3, 4] and len(server.groups) == 2
    assert results == {0: True, 1: True, 2: None, 3: True}


def test_two_beats_of_one_session_never_go_in_the_same_group():
    server = Server()
    results = submit_all(Group(server), server, 1, [2, 2, 3])
    assert [sorted(g) for g in server.groups] == [[1], [2, 3], [2]]
    assert all(results[k] is True for k in range(4))


def test_a_failed_write_means_nothing_was_written_for_each_beat_of_its_group():
    server = Server(error=OperationalError("deadlock detected"))
    results = submit_all(Group(server, failure_is_none=True), server, 1, [2, 3])
    assert results == {0: None, 1: None, 2: None}


def test_a_failed_read_reaches_each_beat_of_its_group():
    server = Server(error=OperationalError("server closed the connection"))
    results = submit_all(Group(server), server, 1, [2, 3])
    assert all(isinstance(results[k], OperationalError) for k in range(3))


def test_any_other_error_reaches_every_beat_of_the_group_and_the_next_group_is_still_sent():
    server = Server(error=RuntimeError("connection lost"))
    group = Group(server)
    results = submit_all(group, server, 1, [2, 3])
    assert all(isinstance(results[k], RuntimeError) for k in range(3))
    server.error = None
    assert group.submit(4, ()) is True  # the group is free again: nobody is left leading


@pytest.mark.parametrize("ids", [[3, 1, 2], [1], [9, 4]])
def test_a_group_is_sent_in_the_order_of_its_play_sessions(ids):
    server = Server()
    server.release.set()
    writes = []

    def keep(group):
        writes.extend(group)
        return {}

    for play_id in ids:
        Group(keep).submit(play_id, (f"s{play_id}", play_id, None, "c", "o", "oc"))
    arrays = columns(writes)
    assert arrays[0] == sorted(ids)
    assert arrays[1] == [f"s{i}" for i in sorted(ids)] and arrays[2] == sorted(ids)
    assert len(arrays) == 7
