"""The heartbeat's common case: one row read and two or three small writes, in plain SQL.

A district's trainees send one beat every HEARTBEAT_SECONDS each; almost every beat is a tick of
an open session of a lesson without face checks that plays on from where the last one stopped
and completes no whole minute. For that beat (`try_fast`), under the person's lock:

- ONE SELECT reads the play session by its token with everything the beat needs: the lesson's
  and course's availability, the sign-in that opened it (signing out ends it), the account's
  state and trainee role, the takeover pointer and the person's wall-clock line (rules.wallclock),
  and `beat_cache`, the answer of the last full beat;
- rules.watching.accept folds the beat in, exactly as on the full path;
- the beat's played stretch extends the session's OPEN WatchStretch row in place (or starts it),
  the session's state and the person's clock are written back, and the answer is the cached
  progress. Coverage and the ledger are not touched: nothing is credited yet.

Everything else goes through the full path (services.study), which credits the open stretch with
the beat's own: a beat that would complete a whole minute of the course's running total
(`carry_ms` + the open stretch reach 60 s), a jump (the new stretch does not continue the open
one), a new server day, any refusal, a pause that ends the session, a takeover, face checks,
and the first beat after the cache was made. Opening another session (takeover) and the
session's end credit the open stretch too (crediting.settle), so an open stretch holds less than
a minute of play and waits at most until the next of those. The open row is committed with the
beat before the answer, like every beat, so kill -9 loses nothing that was acknowledged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from xuetang import clock
from xuetang.db import database, is_postgres
from xuetang.models import WatchStretch
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
# PostgreSQL: the session and the person's pointer are locked for the transaction (SQLite's
# BEGIN IMMEDIATE already holds the database's write lock).
READ_LOCK = " FOR UPDATE OF ps, ap"
WRITE_SESSION = ("UPDATE play_session SET state = ?, position_ms = ?, last_beat_at = ?, "
                 "beat_cache = ? WHERE id = ?")
WRITE_CLOCK = "UPDATE active_play SET occupied_until_ms = ? WHERE person_id = ?"
EXTEND_OPEN = ("UPDATE watch_stretch SET end_ms = ?, seq = ?, server_to_ms = ? "
               "WHERE id = ? AND status = 'open'")


@dataclass(frozen=True)
class Row:
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


def _sql(text: str) -> str:
    return text.replace("?", database.param) if database.param != "?" else text


def read(token: str) -> Row | None:
    """The play session of this token with its checks' inputs; call under db.locked()."""
    sql = READ + (READ_LOCK if is_postgres() else "")
    found = database.execute_sql(_sql(sql), (token,)).fetchone()
    if found is None:
        return None
    (play_id, person_id, lesson_id, state, face, cache, status, published, account_id, active,
     trainee, active_id, occupied) = found
    return Row(play_id, person_id, lesson_id, state, bool(face), cache, status, bool(published),
               account_id, bool(active), bool(trainee), active_id, occupied)


def make_cache(progress: dict, carry_ms: int | None, day) -> str:
    """The cache a full beat leaves: its answer, the carry toward the next minute (None when
    play cannot earn now) and the server day it holds for; no open stretch (all credited)."""
    shown = {k: v for k, v in progress.items() if k not in ("session", "superseded", "closed")}
    return json.dumps({"progress": shown, "carry_ms": carry_ms, "day": day.isoformat(),
                       "open": None}, separators=(",", ":"))


def try_fast(row: Row, beat, server_ms: int) -> dict | None:
    """Fold the beat in on the common path and return the player's answer, or None (nothing
    written) when the beat needs the full path."""
    if row.face_required or not row.cache:
        return None
    cache = json.loads(row.cache)
    if cache.get("day") != clock.server_day(server_ms).isoformat():
        return None
    state = SessionState.from_dict(json.loads(row.state))
    active = None if row.active_id is None else (
        beat.session_id if row.active_id == row.play_id else f"#{row.active_id}")
    person_clock = PersonClock(row.occupied_until_ms)
    outcome = accept(state, beat, active, person_clock)
    if outcome.rejections or outcome.state.closed or outcome.state.superseded:
        return None
    opened = cache.get("open")  # [row id, start_ms, end_ms, server_to_ms]
    played = outcome.played
    if played is not None:
        if opened is not None and (
                played.start_ms != opened[2]
                or clock.server_day(played.server_to_ms) != clock.server_day(opened[3])):
            return None
        length = played.end_ms - (played.start_ms if opened is None else opened[1])
        carry = cache.get("carry_ms")
        if carry is not None and carry + length >= MS_PER_MINUTE:
            return None  # a whole minute is due: the full path credits it
        if opened is None:
            opened = [_open_stretch(row, played), played.start_ms, played.end_ms,
                      played.server_to_ms]
        else:
            extended = database.execute_sql(_sql(EXTEND_OPEN), (
                played.end_ms, played.seq, played.server_to_ms, opened[0])).rowcount
            if extended != 1:
                return None  # credited meanwhile (it cannot be, under the lock; stay exact)
            opened = [opened[0], opened[1], played.end_ms, played.server_to_ms]
        cache["open"] = opened
    new = outcome.state
    database.execute_sql(_sql(WRITE_SESSION), (
        json.dumps(new.to_dict(), separators=(",", ":")), new.last_position_ms,
        clock.as_utc(server_ms), json.dumps(cache, separators=(",", ":")), row.play_id))
    if outcome.person != person_clock:
        database.execute_sql(_sql(WRITE_CLOCK), (outcome.person.occupied_until_ms,
                                                 row.person_id))
    return {**cache["progress"], "session": beat.session_id, "superseded": False,
            "closed": False}


def _open_stretch(row: Row, played) -> int:
    return WatchStretch.insert(
        play_session=row.play_id, person=row.person_id, lesson=row.lesson_id, seq=played.seq,
        start_ms=played.start_ms, end_ms=played.end_ms, server_from_ms=played.server_from_ms,
        server_to_ms=played.server_to_ms, status="open").execute()
