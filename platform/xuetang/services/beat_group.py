"""Grouped statements of the common beat on PostgreSQL: the READs (and the WRITEs) of beats that
arrive while another is on the server go to it together, as one statement (a WRITE group also
as one commit).

On PostgreSQL each common beat was two statements of its own, the READ and the conditional
UPDATE (services.beats), each a transaction, the UPDATE's commit waiting for its WAL flush; each
costs a backend CPU on the same two cores as the app, a round trip and the wake-ups of both
sides (docs/performance.md, session 10). Here the first beat of a process to send a statement of
a kind becomes the leader and sends it at once; beats of other threads of the process that come
while it is on the server wait, and the next leader (the first of them) sends all of theirs in
one statement over arrays: a READ of `token = ANY(…)`, or one UPDATE over unnest'ed arrays that
RETURNs the ids it wrote. A beat waits at most for one statement of its kind in flight before
its own is sent, so on an idle server every beat's statements go alone, as before.

Every guarantee of the single statements holds: each row is written only if it is still as its
beat read it (the same conditions, row by row), the commit comes before any of the beats is
answered, and a row not written (changed since, or the statement failed: a deadlock of two
processes' groups is such a failure) sends that beat down the full path, which reads it again
under its lock. One item per key (play session) per statement: a second beat of the same session
waits for the next group (where a WRITE's condition fails, since the first changed the row, and
it takes the full path as it would have one after another).
"""

from __future__ import annotations

import threading

from peewee import OperationalError

# The common beat's WRITE (services.beats) for many rows: each applies only to its row as it was
# read, while its sign-in lasts and while it is the person's earning session.
WRITE_MANY = """
UPDATE play_session AS ps
SET state = v.state, position_ms = v.position_ms, last_beat_at = v.beat_at, beat_cache = v.cache
FROM unnest(?::integer[], ?::text[], ?::integer[], ?::timestamp[], ?::text[], ?::text[],
            ?::text[]) AS v(id, state, position_ms, beat_at, cache, old_state, old_cache)
WHERE ps.id = v.id AND ps.state = v.old_state AND ps.beat_cache = v.old_cache
  AND EXISTS (SELECT 1 FROM account_session s WHERE s.id = ps.signin_id)
  AND EXISTS (SELECT 1 FROM active_play ap
              WHERE ap.person_id = ps.person_id AND ap.play_session_id = ps.id)
RETURNING ps.id
"""


class _Item:
    __slots__ = ("key", "params", "done", "lead", "result", "error")

    def __init__(self, key, params: tuple):
        self.key = key  # the play session's id (a write) or token (a read)
        self.params = params
        self.done = threading.Event()
        self.lead = False  # woken to send the next group rather than with a result
        self.result = None
        self.error: BaseException | None = None


class Group:
    """Statements of one kind from the beats of one process, sent one group at a time by
    `send(items) -> {key: result}` (a key it leaves out has the result None).

    `submit` returns its own item's result, or raises what the group's statement raised; with
    `failure_is_none` an OperationalError only means that nothing was done (the result is None:
    a write that did not apply), for every item of the group."""

    def __init__(self, send, failure_is_none: bool = False):
        self._send = send
        self._failure_is_none = failure_is_none
        self._lock = threading.Lock()
        self._waiting: list[_Item] = []
        self._busy = False  # a leader is sending a group

    def submit(self, key, params: tuple):
        item = _Item(key, params)
        with self._lock:
            lead = not self._busy
            if lead:
                self._busy = True
            else:
                self._waiting.append(item)
        if not lead:
            item.done.wait()
            if not item.lead:
                return self._result(item)
        with self._lock:
            group = self._take(item)
        self._run(group)
        return self._result(item)

    def _take(self, leader: _Item) -> list[_Item]:
        """The leader and the waiting items it sends, at most one per key (called under the
        lock; the rest keep waiting)."""
        group, seen, rest = [leader], {leader.key}, []
        for item in self._waiting:
            if item.key in seen:
                rest.append(item)
            else:
                seen.add(item.key)
                group.append(item)
        self._waiting = rest
        return group

    def _run(self, group: list[_Item]) -> None:
        try:
            results = self._send(group)
            for item in group:
                item.result = results.get(item.key)
        except OperationalError as err:
            if not self._failure_is_none:
                for item in group:
                    item.error = err
        except BaseException as err:  # noqa: BLE001  (each waiting beat raises it as its own)
            for item in group:
                item.error = err
        finally:
            with self._lock:
                if self._waiting:
                    following = self._waiting.pop(0)
                    following.lead = True
                    following.done.set()
                else:
                    self._busy = False
            for item in group[1:]:
                item.done.set()

    @staticmethod
    def _result(item: _Item):
        if item.error is not None:
            raise item.error
        return item.result


def columns(group: list[_Item]) -> tuple[list, ...]:
    """The group's items as arrays, keys first, then each parameter, ordered by key (so that
    concurrent groups of two processes take their row locks in the same order)."""
    ordered = sorted(group, key=lambda item: item.key)
    width = len(ordered[0].params)
    return ([item.key for item in ordered],
            *([item.params[i] for item in ordered] for i in range(width)))
