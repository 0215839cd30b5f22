"""The credit gate (rules.gate): provisional play is credited only behind a passing face check."""

from dataclasses import dataclass
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from xuetang.rules import watching as w
from xuetang.rules.gate import Check, Gate, Release, is_covered, last_pass_ms, release
from xuetang.rules.heartbeat import Heartbeat
from xuetang.rules.timeline import Stretch, watched_minutes

CHECKED = Gate(requires_face_check=True)
OPEN = Gate(requires_face_check=False)


@dataclass(frozen=True)
class Item:
    """A stand-in for watching.Played: the gate only reads server_to_ms."""

    name: str
    server_to_ms: int


def names(items):
    return [i.name for i in items]


def test_without_face_checks_everything_is_credited_at_once():
    items = [Item("a", 10), Item("b", 20)]
    got = release(items, [], OPEN, session_closed=False)
    assert got == Release(tuple(items), (), ())
    assert release(items, [Check(5, False)], OPEN, session_closed=True).credited == tuple(items)


def test_a_pass_credits_everything_held_up_to_its_time():
    items = [Item("a", 10), Item("b", 20), Item("c", 30), Item("d", 40)]
    got = release(items, [Check(0, True), Check(30, True)], CHECKED, session_closed=False)
    assert names(got.credited) == ["a", "b", "c"]  # a stretch ending at the check is covered
    assert names(got.held) == ["d"] and got.dropped == ()


def test_stretches_before_the_first_pass_are_held_until_it():
    items = [Item("a", 10), Item("b", 20)]
    assert release(items, [], CHECKED, session_closed=False).held == tuple(items)
    assert release(items, [Check(5, True)], CHECKED, session_closed=False).held == tuple(items)
    assert release(items, [Check(10, True)], CHECKED, session_closed=False).held == (items[1],)


def test_a_failed_check_holds_the_stretch_since_the_last_pass_until_a_new_pass():
    items = [Item("before", 50), Item("since", 150), Item("after", 250)]
    checks = [Check(100, True), Check(200, False)]
    got = release(items, checks, CHECKED, session_closed=False)
    assert names(got.credited) == ["before"] and names(got.held) == ["since", "after"]
    got = release(got.held, [*checks, Check(300, True)], CHECKED, session_closed=False)
    assert names(got.credited) == ["since", "after"] and got.held == ()


def test_held_stretches_are_lost_if_no_check_passes_before_the_session_ends():
    items = [Item("covered", 50), Item("since", 150), Item("tail", 250)]
    checks = [Check(100, True), Check(200, False)]
    got = release(items, checks, CHECKED, session_closed=True)
    assert names(got.credited) == ["covered"] and names(got.dropped) == ["since", "tail"]
    assert got.held == ()


def test_a_missed_check_is_a_failed_one():
    items = [Item("a", 150)]
    got = release(items, [Check(100, True), Check(140, False)], CHECKED, session_closed=True)
    assert names(got.dropped) == ["a"]


def test_check_order_does_not_matter_and_helpers_agree():
    checks = [Check(300, True), Check(100, False), Check(200, True)]
    assert last_pass_ms(checks) == 300 and last_pass_ms([Check(1, False)]) is None
    assert is_covered(Item("x", 300), checks) and not is_covered(Item("y", 301), checks)


def test_with_real_played_stretches_from_watching():
    """A lesson end to end: pass before start, play, random pass, a failure pauses playback,
    a new pass, play on, the lesson ends without a closing check: the tail is lost."""
    state = w.new_session("s1", 45 * 60_000, check_before_start=True)
    checks = [Check(0, True)]
    state = w.unblock(state)
    beats = [(1, 0, 1_000, True, "start"), (2, 15, 16_000, True, "tick"),
             (3, 30, 31_000, True, "tick")]
    played = []

    def feed(state, rows):
        for seq, pos, t, playing, event in rows:
            out = w.accept(state, Heartbeat("s1", seq, pos * 1000, playing, Decimal(1), event, t))
            state = out.state
            if out.played:
                played.append(out.played)
        return state

    state = feed(state, beats)
    checks.append(Check(40_000, True))  # random check passes: 0-30 s credited
    state = feed(state, [(4, 45, 46_000, True, "tick")])
    checks.append(Check(50_000, False))  # fails: playback pauses
    state = w.block(state)
    state = feed(state, [(5, 49, 50_500, False, "pause")])
    got = release(played, checks, CHECKED, session_closed=False)
    assert [p.stretch for p in got.credited] == [Stretch(0, 15_000), Stretch(15_000, 30_000)]
    assert [p.stretch for p in got.held] == [Stretch(30_000, 45_000)]  # 45-49 s: blocked
    checks.append(Check(60_000, True))  # a new pass: the stretch since the last pass counts
    state = w.unblock(state)
    state = feed(state, [(6, 49, 61_000, True, "start"), (7, 64, 76_000, True, "tick"),
                         (8, 79, 91_000, False, "ended")])
    got = release(played, checks, CHECKED, session_closed=True)
    assert [p.stretch for p in got.credited][-1] == Stretch(30_000, 45_000)
    assert [p.stretch for p in got.dropped] == [Stretch(49_000, 64_000),
                                                Stretch(64_000, 79_000)]
    credited = [p.stretch for p in got.credited]
    assert watched_minutes(credited, state.duration_ms) == 0
    assert w.measure_ms(credited) == 45_000


# ---------------------------------------------------------------- properties

items_st = st.lists(st.integers(0, 1_000), max_size=20).map(
    lambda ts: [Item(f"i{n}", t) for n, t in enumerate(ts)])
checks_st = st.lists(st.builds(Check, st.integers(0, 1_000), st.booleans()), max_size=8)


@settings(max_examples=300)
@given(items_st, checks_st, st.booleans(), st.booleans())
def test_credited_held_dropped_partition_the_input_exactly(items, checks, required, closed):
    got = release(items, checks, Gate(required), session_closed=closed)
    parts = [*got.credited, *got.held, *got.dropped]
    assert sorted(names(parts)) == sorted(names(items))
    assert len(parts) == len(items)
    for part in (got.credited, got.held, got.dropped):  # each part keeps the input order
        order = [names(items).index(n) for n in names(part)]
        assert order == sorted(order)
    if closed:
        assert got.held == ()
    if not required:
        assert got.credited == tuple(items)


@settings(max_examples=300)
@given(items_st, checks_st, st.booleans())
def test_never_credits_a_stretch_not_followed_by_a_passing_check(items, checks, closed):
    got = release(items, checks, CHECKED, session_closed=closed)
    for item in got.credited:
        assert any(c.passed and c.server_ms >= item.server_to_ms for c in checks)
    for item in (*got.held, *got.dropped):
        assert not any(c.passed and c.server_ms >= item.server_to_ms for c in checks)


@settings(max_examples=300)
@given(items_st, checks_st, checks_st)
def test_more_checks_never_take_credit_back_and_release_is_idempotent(items, checks, more):
    first = release(items, checks, CHECKED, session_closed=False)
    again = release(first.held, checks, CHECKED, session_closed=False)
    assert again.credited == () and again.held == first.held
    later = release(items, [*checks, *more], CHECKED, session_closed=False)
    assert set(names(first.credited)) <= set(names(later.credited))
    # Releasing in two rounds credits the same as releasing once with all the checks.
    second = release(first.held, [*checks, *more], CHECKED, session_closed=False)
    assert sorted(names(first.credited + second.credited)) == sorted(names(later.credited))
