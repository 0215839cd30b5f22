"""The per-person wall-clock bound (rules.wallclock) over any interleaving of sessions and beats."""

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from xuetang.rules.heartbeat import EVENTS, Heartbeat
from xuetang.rules.wallclock import PersonClock, charge
from xuetang.rules.watching import accept, new_session, supersede

DURATION_MS = 3_600_000
TOLERANCE_MS = 2000


def run(ops, max_rate=Decimal(1), takeover=True):
    """Play ops against the pure accounting; returns every played stretch as (from, to, ms)."""
    sessions, seqs = [], []
    person = PersonClock()
    now = 1_000_000
    played = []
    for op in ops:
        if op[0] == "open":
            if sessions and takeover:
                sessions[-1] = supersede(sessions[-1])
            sessions.append(new_session(f"s{len(sessions)}", DURATION_MS, max_rate=max_rate,
                                        tolerance_ms=TOLERANCE_MS))
            seqs.append(0)
            continue
        if not sessions:
            continue
        _, index, wait_ms, extra_ms, playing, event, rate = op
        index %= len(sessions)
        now += wait_ms
        state = sessions[index]
        # Near the session's own elapsed time (the edge of its tolerance), or a wild jump.
        advance_ms = max(0, now - (state.last_server_ms or now) + extra_ms)
        seqs[index] += 1
        position = min(DURATION_MS, (state.last_position_ms or 0) + advance_ms)
        beat = Heartbeat(state.session_id, seqs[index], position, playing, rate, event, now)
        active = sessions[-1].session_id if takeover else None
        outcome = accept(state, beat, active, person)
        sessions[index], person = outcome.state, outcome.person
        if outcome.played is not None:
            p = outcome.played
            played.append((p.server_from_ms, p.server_to_ms, p.stretch.length_ms))
    return played


beats = (
    st.tuples(st.just("beat"), st.integers(0, 2),
              st.one_of(st.sampled_from([0, 100, 1000, 15_000]), st.integers(0, 20_000)),
              st.one_of(st.integers(-1000, 3000), st.integers(-1000, 3000), st.integers(0, 30_000)),
              st.sampled_from([True] * 6 + [False]),
              st.sampled_from(["tick"] * 6 + ["start"] * 2 + list(EVENTS)),
              st.sampled_from([Decimal(1)] * 20 + [Decimal("1.5"), Decimal(2)])))
ops = st.lists(st.one_of(st.just(("open",)), beats, beats, beats, beats),
               min_size=8, max_size=60)


def assert_bounded(played, max_rate):
    times = sorted({t for p in played for t in p[:2]})
    for a in times:
        for b in times:
            if b < a:
                continue
            inside = sum(ms for start, end, ms in played if start >= a and end <= b)
            assert inside <= max_rate * (b - a + TOLERANCE_MS), (a, b, inside)


@settings(max_examples=300, deadline=None)
@given(ops, st.booleans())
def test_no_interleaving_of_sessions_earns_more_than_wall_clock(ops, takeover):
    """Opens, beats on any session (taken over or not), replays, seeks: over every window of
    server time a person is credited at most that window's time plus one tolerance."""
    assert_bounded(run(ops, takeover=takeover), 1)


@settings(max_examples=100, deadline=None)
@given(ops)
def test_the_bound_scales_with_the_allowed_rate(ops):
    assert_bounded(run(ops, max_rate=Decimal("1.5"), takeover=False), Decimal("1.5"))


def test_opening_a_fresh_session_every_two_beats_earns_only_wall_clock():
    """The churn of issue 9: a new session, a start, then 2.1 s claimed after 0.1 s, repeated."""
    churn = []
    for _ in range(100):
        churn += [("open",), ("beat", -1, 100, 0, True, "start", Decimal(1)),
                  ("beat", -1, 100, 2000, True, "tick", Decimal(1))]
    played = run(churn)
    wall = 200 * 100
    assert sum(ms for *_, ms in played) <= wall + TOLERANCE_MS


def test_an_honest_viewer_is_charged_exactly_what_passed():
    clock, credit = charge(PersonClock(), 0, 15_000, 15_000, Decimal(1), TOLERANCE_MS)
    assert (clock, credit) == (PersonClock(15_000), 15_000)
    clock, credit = charge(clock, 15_000, 30_500, 16_000, Decimal(1), TOLERANCE_MS)
    assert (clock, credit) == (PersonClock(31_000), 16_000)  # jitter within the tolerance
    clock, credit = charge(clock, 30_500, 30_600, 5_000, Decimal(1), TOLERANCE_MS)
    assert credit == 1_600  # never more than the tolerance ahead of the server clock
