"""The heartbeat's common case: one row read and one row write, in plain SQL.

A district's trainees send one beat every HEARTBEAT_SECONDS each; almost every beat is a tick of
an open session of a lesson without face checks that plays on from where the last one stopped
and completes no whole minute. For that beat (`try_fast`):

- ONE SELECT, outside any lock, reads the play session by its token with everything the beat
  needs: the lesson's and course's availability, the sign-in that opened it (signing out ends
  it), the account's state and trainee role, the takeover pointer and the person's wall-clock
  line (rules.wallclock), and `beat_cache`, the answer of the last full beat;
- rules.watching.accept folds the beat in, exactly as on the full path;
- ONE conditional UPDATE of the play session, under the database write lock (db.write_lock; a
  statement of its own, committed when it returns), writes the new state and a cache that holds
  the session's OPEN stretch (the played stretch extended in place) and the person's clock. It
  applies only if everything the SELECT read is still so (state and cache unchanged: no beat,
  takeover or end came between; the sign-in, the account's state and trainee role, the lesson's
  and course's availability, the earning pointer and the person's clock as read); otherwise
  nothing was written and the beat is read again, or takes the full path. The answer is the
  cached progress. Coverage and the ledger are not touched: nothing is credited yet.

Because the UPDATE checks all of it, the SELECT can be skipped: a process remembers the Row each
session's last beat here left (`recall`), and the next beat it answers for that session is the
UPDATE alone, one statement and one commit (on PostgreSQL half the commits, about a quarter less
backend CPU a beat). A remembered Row that is no longer so costs one UPDATE that matches nothing.

The person's clock is the later of active_play.occupied_until_ms and the clock in the cache of
the person's earning session (only that session charges it: `person_clock`); the full path and
a takeover write it back to active_play (`flush_clock`).

Everything else goes through the full path (services.study), which credits the open stretch with
the beat's own (`take_open`): a beat that would complete a whole minute of the course's running
total (`carry_ms` + the open stretch reach 60 s), a jump (the new stretch does not continue the
open one), a new server day, any refusal, a pause that ends the session, a takeover, face checks,
and the first beat after the cache was made. Opening another session (takeover) and the
session's end credit the open stretch too (crediting.settle), so an open stretch holds less than
a minute of play and waits at most until the next of those. The open stretch is committed with
the beat before the answer, like every beat, so kill -9 loses nothing that was acknowledged.
"""

from __future__ import annotations

import enum
import hashlib
import itertools
import json
import re
import threading
import weakref
from collections import OrderedDict
from typing import NamedTuple

from xuetang import clock
from xuetang.db import database, is_postgres, write_lock
from xuetang.models import PlaySession, WatchStretch
from xuetang.rules.timeline import MS_PER_MINUTE
from xuetang.rules.wallclock import PersonClock
from xuetang.rules.watching import SessionState, accept

# The play session by its token, with what a beat checks and needs (see the module docstring).
# Inner joins: a session without its sign-in (signed out) or pointer is not found.
READ = """
SELECT ps.id, ps.person_id, ps.lesson_id, ps.state, ps.face_required, ps.beat_cache,
       l.status, c.published, a.id, a.active,
       EXISTS (SELECT 1 FROM role_grant g WHERE g.account_id = a.id AND g.role = 'trainee'),
       ap.play_session_id, ap.occupied_until_ms
FROM play_session ps
JOIN lesson l ON l.id = ps.lesson_id
JOIN course c ON c.id = l.course_id
JOIN account_session s ON s.id = ps.signin_id
JOIN account a ON a.id = s.account_id AND a.person_id = ps.person_id
JOIN active_play ap ON ap.person_id = ps.person_id
WHERE ps.token = ?
"""
# The full path reads the same under its lock. PostgreSQL: the session and the person's pointer
# are locked for the transaction (SQLite's BEGIN IMMEDIATE already holds the write lock).
READ_LOCK = " FOR UPDATE OF ps, ap"
# The common beat's one write: applies only while the row, its sign-in, account, lesson, course
# and the person's pointer are still what `Row` holds (a Row read just now, or one remembered from
# this process's last write: see `recall`), so that a beat decided on a stale Row writes nothing.
WRITE = """
UPDATE play_session SET state = ?, position_ms = ?, last_beat_at = ?, beat_cache = ?
WHERE id = ? AND state = ? AND beat_cache = ? AND person_id = ? AND lesson_id = ?
  AND face_required = ?
  AND EXISTS (SELECT 1 FROM account_session s JOIN account a ON a.id = s.account_id
              WHERE s.id = play_session.signin_id AND a.person_id = play_session.person_id
                AND a.id = ? AND a.active = ?
                AND EXISTS (SELECT 1 FROM role_grant g
                            WHERE g.account_id = a.id AND g.role = 'trainee') = ?)
  AND EXISTS (SELECT 1 FROM lesson l JOIN course c ON c.id = l.course_id
              WHERE l.id = play_session.lesson_id AND l.status = ? AND c.published = ?)
  AND EXISTS (SELECT 1 FROM active_play ap
              WHERE ap.person_id = play_session.person_id AND ap.play_session_id = play_session.id
                AND COALESCE(ap.occupied_until_ms, -1) = ?)
"""


class Row(NamedTuple):  # not a frozen dataclass: building one of those was ~2 % of a beat
    play_id: int
    person_id: int
    lesson_id: int
    state: str
    face_required: bool
    cache: str | None
    lesson_status: str
    published: bool
    account_id: int
    account_active: bool
    trainee: bool
    active_id: int | None
    occupied_until_ms: int | None


# PostgreSQL connection -> the names of the statements prepared on it (they live as long as it).
_prepared: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_prepared_lock = threading.Lock()


def _prepare(sql: str) -> str:
    """The name of `sql` prepared on this connection (PREPARE once per connection and text)."""
    name = "xb_" + hashlib.blake2b(sql.encode(), digest_size=8).hexdigest()
    connection = database.connection()
    names = _prepared.get(connection)
    if names is None:
        with _prepared_lock:
            names = _prepared.setdefault(connection, set())
    if name not in names:
        counter = itertools.count(1)
        numbered = re.sub(r"\?", lambda _: f"${next(counter)}", sql)
        database.execute_sql(f"PREPARE {name} AS {numbered}")  # noqa: S608  (our constants)
        names.add(name)
    return name


def execute(sql: str, params: tuple):
    """Run one of this package's plain SQL constants, written with ? placeholders, on either
    engine; returns the cursor.

    On PostgreSQL as a server-side prepared statement: planning the beat's six-table READ took
    1.0 ms of the backend's CPU against 0.17 ms to execute it (EXPLAIN ANALYZE; 1.19 ms → 0.15 ms
    a call prepared), on the same two cores as the app. A prepared statement is not rolled back
    with a transaction, and PostgreSQL re-plans it by itself after a schema change. (Behind a
    pooler in transaction mode, such as PgBouncer's, it would not survive: connect directly.)"""
    if not is_postgres():
        return database.execute_sql(sql, params)
    name = _prepare(sql)
    arguments = ", ".join(["%s"] * len(params))
    return database.execute_sql(f"EXECUTE {name}({arguments})" if params else f"EXECUTE {name}",
                                params)


def read(token: str, lock: bool = False) -> Row | None:
    """The play session of this token with its checks' inputs; with `lock`, under db.locked()
    (PostgreSQL: its rows locked for the transaction)."""
    sql = READ + (READ_LOCK if lock and is_postgres() else "")
    found = execute(sql, (token,)).fetchone()
    if found is None:
        return None
    (play_id, person_id, lesson_id, state, face, cache, status, published, account_id, active,
     trainee, active_id, occupied) = found
    return Row(play_id, person_id, lesson_id, state, bool(face), cache, status, bool(published),
               account_id, bool(active), bool(trainee), active_id, occupied)


def make_cache(progress: dict, carry_ms: int | None, day) -> str:
    """The cache a full beat leaves: its answer, the carry toward the next minute (None when
    play cannot earn now) and the server day it holds for; no open stretch (all credited) and
    no clock (the full path wrote it to active_play)."""
    shown = {k: v for k, v in progress.items() if k not in ("session", "superseded", "closed")}
    return json.dumps({"progress": shown, "carry_ms": carry_ms, "day": day.isoformat(),
                       "open": None, "clock": None}, separators=(",", ":"))


def _later(a: int | None, b: int | None) -> int | None:
    return a if b is None else b if a is None else max(a, b)


def person_clock(pointer_ms: int | None, play: PlaySession, active: bool) -> PersonClock:
    """The person's clock as the session `play` sees it: active_play's, or the later clock its
    cache holds when it is the person's earning session (the one that charged it)."""
    cached = None
    if active and play.beat_cache:
        cached = json.loads(play.beat_cache).get("clock")
    return PersonClock(_later(pointer_ms, cached))


def take_open(play: PlaySession, save: bool = True) -> list[WatchStretch]:
    """The session's open stretch as an unsaved WatchStretch (none or one) for crediting.settle,
    removed from the session's cache so that it is credited once (written here with `save`;
    else by the caller, in the same transaction). A stretch opened before the cache held it (an
    open WatchStretch row) is read from its table."""
    if not play.beat_cache:
        return []
    cache = json.loads(play.beat_cache)
    opened = cache.get("open")
    if opened is None:
        return []
    if isinstance(opened, list):  # [row id, start_ms, end_ms, server_to_ms]: a row
        found = list(WatchStretch.select().where((WatchStretch.play_session == play.id)
                                                 & (WatchStretch.status == "open")))
    else:
        found = [WatchStretch(play_session=play.id, person=play.person_id, lesson=play.lesson_id,
                              status="held", **opened)]
    cache["open"] = None
    play.beat_cache = json.dumps(cache, separators=(",", ":"))
    if save:
        PlaySession.update(beat_cache=play.beat_cache).where(PlaySession.id == play.id).execute()
    return found


def write_clock(person_id: int, occupied_until_ms: int | None) -> None:
    """Keep the person's clock in active_play (the full path, under its lock)."""
    execute("UPDATE active_play SET occupied_until_ms = ? WHERE person_id = ?",
            (occupied_until_ms, person_id))


def common(beat, server_ms: int, check) -> dict | None:
    """The player's answer if the beat is a common one (written), else None (nothing written:
    the full path's turn). The session's Row is the one this process remembers, read again if
    that was no longer so, or read; `check(row)` returns it or raises the beat's refusal."""
    row = recall(beat.session_id)
    recalled = row is not None
    answer = try_fast(check(row if recalled else read(beat.session_id)), beat, server_ms)
    if answer is Miss.STALE and recalled:
        answer = try_fast(check(read(beat.session_id)), beat, server_ms)
    if isinstance(answer, dict):
        return answer
    forget(beat.session_id)
    return None


class Miss(enum.Enum):
    """Why try_fast wrote nothing."""

    FULL = "the beat needs the full path"
    STALE = "the row changed since it was read"


def try_fast(row: Row, beat, server_ms: int) -> dict | Miss:
    """Fold the beat in on the common path and return the player's answer (and remember the
    row as written), or why nothing was written."""
    if row.face_required or not row.cache or row.active_id != row.play_id:
        return Miss.FULL
    cache = json.loads(row.cache)
    if cache.get("day") != clock.server_day(server_ms).isoformat() or "clock" not in cache:
        return Miss.FULL  # a new day, or a cache of before the open stretch lived in it
    state = SessionState.from_dict(json.loads(row.state))
    charged = PersonClock(_later(row.occupied_until_ms, cache["clock"]))
    outcome = accept(state, beat, beat.session_id, charged)
    if outcome.rejections or outcome.state.closed or outcome.state.superseded:
        return Miss.FULL
    opened = cache["open"]
    played = outcome.played
    if played is not None:
        if opened is not None and (
                played.start_ms != opened["end_ms"]
                or clock.server_day(played.server_to_ms) != clock.server_day(
                    opened["server_to_ms"])):
            return Miss.FULL
        length = played.end_ms - (played.start_ms if opened is None else opened["start_ms"])
        carry = cache["carry_ms"]
        if carry is not None and carry + length >= MS_PER_MINUTE:
            return Miss.FULL  # a whole minute is due: the full path credits it
        if opened is None:
            opened = {"start_ms": played.start_ms, "server_from_ms": played.server_from_ms}
        cache["open"] = {**opened, "end_ms": played.end_ms, "seq": played.seq,
                         "server_to_ms": played.server_to_ms}
    cache["clock"] = outcome.person.occupied_until_ms
    new = outcome.state
    new_state = json.dumps(new.to_dict(), separators=(",", ":"))
    new_cache = json.dumps(cache, separators=(",", ":"))
    with write_lock():
        written = execute(WRITE, (
            new_state, new.last_position_ms, clock.as_utc(server_ms), new_cache,
            row.play_id, row.state, row.cache, row.person_id, row.lesson_id, row.face_required,
            row.account_id, row.account_active, row.trainee, row.lesson_status, row.published,
            -1 if row.occupied_until_ms is None else row.occupied_until_ms)).rowcount
    if written != 1:
        forget(beat.session_id)
        return Miss.STALE  # read again (`common`), or by the full path, locked
    remember(beat.session_id, row._replace(state=new_state, cache=new_cache))
    return {**cache["progress"], "session": beat.session_id, "superseded": False,
            "closed": False}


# ---------------------------------------------------------------- the remembered rows
# A process remembers the Row each play session's last beat here left behind, so that the next
# beat it answers for the session skips the READ: the WRITE checks every column of the Row
# (and writes nothing if one differs), so a remembered Row is only ever a guess that the WRITE
# confirms. A viewer's beats mostly reach one worker (one keep-alive connection); a beat that
# finds another worker's write since pays one UPDATE that matches nothing, then reads.
REMEMBERED_ROWS = 16_384  # per process: a district's viewers at well under 1 KB a Row

_remembered: OrderedDict[str, Row] = OrderedDict()
_remembered_lock = threading.Lock()


def recall(token: str) -> Row | None:
    """The Row this process last left for the session of `token`, if it still remembers it."""
    with _remembered_lock:
        return _remembered.get(token)


def remember(token: str, row: Row) -> None:
    """Keep `row` (committed just now) as the session's Row, the oldest Row giving way."""
    with _remembered_lock:
        _remembered[token] = row
        _remembered.move_to_end(token)
        if len(_remembered) > REMEMBERED_ROWS:
            _remembered.popitem(last=False)


def forget(token: str) -> None:
    with _remembered_lock:
        _remembered.pop(token, None)
