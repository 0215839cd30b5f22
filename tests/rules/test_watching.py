"""Server-side watched-interval accounting (rules.watching): each rule, each code, and bounds."""

import json
import math
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xuetang.rules import heartbeat as hb
from xuetang.rules import timeline
from xuetang.rules import watching as w
from xuetang.rules.eligibility import cap_minutes
from xuetang.rules.heartbeat import BadHeartbeat, Heartbeat
from xuetang.rules.timeline import Stretch, measure_ms, union, watched_minutes
from xuetang.rules.watching import SessionState, accept, new_session

MIN = 60_000
DURATION = 45 * MIN


def beat(seq, pos_s, t_ms, *, playing=True, rate=1, event="tick", sid="s1"):
    return Heartbeat.from_client(sid, seq, pos_s, playing, rate, event, server_ms=t_ms)


def run(state, beats, active=None):
    """Feed beats in order; return (final state, played list, all rejection codes)."""
    played, codes = [], []
    for b in beats:
        out = accept(state, b, active)
        state = out.state
        if out.played:
            played.append(out.played)
        codes.extend(out.codes)
    return state, played, codes


def steady(start_seq=1, start_pos=0, start_t=0, count=4, step_s=15, **kw):
    """Beats every step_s seconds of server time, the position advancing in step."""
    return [beat(start_seq + i, start_pos + i * step_s, start_t + i * step_s * 1000, **kw)
            for i in range(count)]


# ---------------------------------------------------------------- the ordinary case


def test_steady_play_credits_every_step_between_playing_beats():
    state, played, codes = run(new_session("s1", DURATION), steady(count=5))
    assert codes == []
    assert [p.stretch for p in played] == [Stretch(i * 15000, (i + 1) * 15000) for i in range(4)]
    assert state.stretches == (Stretch(0, 60000),)
    assert state.watched_ms == 60000
    assert watched_minutes(state.stretches, DURATION) == 1
    assert played[0].server_from_ms == 0 and played[0].server_to_ms == 15000
    assert played[-1].seq == 5


def test_first_beat_only_places_the_cursor():
    out = accept(new_session("s1", DURATION), beat(1, 30, 0, event="start"))
    assert out.played is None and out.rejections == ()
    assert out.state.last_position_ms == 30000 and out.state.last_playing


def test_pause_credits_up_to_the_pause_and_nothing_while_paused():
    beats = [beat(1, 0, 0, event="start"), beat(2, 10, 10_000, playing=False, event="pause"),
             beat(3, 10, 600_000, playing=True, event="start"), beat(4, 25, 615_000)]
    state, played, codes = run(new_session("s1", DURATION), beats)
    assert [p.stretch for p in played] == [Stretch(0, 10000), Stretch(10000, 25000)]
    assert codes == []
    assert state.playing_ms == 25_000  # the ten minutes paused are not wall-clock budget


def test_small_network_jitter_is_tolerated():
    # Beat 2 arrives 1.5 s early relative to the position it reports: 15 s of video in 13.5 s.
    beats = [beat(1, 0, 1500), beat(2, 15, 15_000), beat(3, 30, 30_000)]
    state, played, codes = run(new_session("s1", DURATION), beats)
    assert codes == []
    assert state.watched_ms == 30_000


# ---------------------------------------------------------------- each rejection code


def test_ten_minutes_in_ten_seconds_is_too_fast_and_credits_nothing():
    beats = [beat(1, 0, 0), beat(2, 600, 10_000)]
    state, played, codes = run(new_session("s1", DURATION), beats)
    assert played == [] and codes == [w.TOO_FAST]
    assert state.last_position_ms == 600_000  # treated as a seek: the cursor moves
    # Later honest play from the new position counts again.
    state, played, codes = run(state, [beat(3, 615, 25_000)])
    assert [p.stretch for p in played] == [Stretch(600_000, 615_000)] and codes == []


def test_rate_two_is_refused_for_that_step_and_the_next():
    beats = [beat(1, 0, 0), beat(2, 30, 15_000, rate=2), beat(3, 45, 30_000, rate=1),
             beat(4, 60, 45_000, rate=1)]
    state, played, codes = run(new_session("s1", DURATION), beats)
    assert codes == [w.RATE_TOO_HIGH, w.RATE_TOO_HIGH]  # the step after a 2x beat was 2x too
    assert [p.stretch for p in played] == [Stretch(45_000, 60_000)]


def test_a_higher_max_rate_is_policy():
    state = new_session("s1", DURATION, max_rate=Decimal(2))
    state, played, codes = run(state, [beat(1, 0, 0, rate=2), beat(2, 30, 15_000, rate=2)])
    assert codes == [] and state.watched_ms == 30_000


def test_seek_to_end_then_ended_credits_nothing_and_closes():
    beats = [beat(1, 0, 0, event="start"), beat(2, 15, 15_000),
             beat(3, 45 * 60, 16_000, event="seek"),
             beat(4, 45 * 60, 17_000, playing=False, event="ended")]
    state, played, codes = run(new_session("s1", DURATION), beats)
    assert [p.stretch for p in played] == [Stretch(0, 15_000)]
    assert codes == [w.SEEK_FORWARD]
    assert state.closed and not state.last_playing
    out = accept(state, beat(5, 45 * 60, 20_000))
    assert out.codes == (w.CLOSED,) and out.state is state and out.ignored


def test_ended_counts_its_last_step_like_a_tick():
    beats = [beat(1, 2670, 0), beat(2, 2700, 30_000, playing=False, event="ended")]
    state, played, _ = run(new_session("s1", DURATION), beats)
    assert [p.stretch for p in played] == [Stretch(2_670_000, 2_700_000)] and state.closed


def test_forward_jump_while_paused_is_a_seek():
    beats = [beat(1, 0, 0, playing=False), beat(2, 300, 400_000, playing=True)]
    _, played, codes = run(new_session("s1", DURATION), beats)
    assert played == [] and codes == [w.SEEK_FORWARD]


def test_replayed_seq_is_ignored_without_any_state_change():
    state, _, _ = run(new_session("s1", DURATION), steady(count=3))
    for old in (beat(3, 30, 30_000), beat(2, 999, 99_000), beat(1, 0, 0)):
        out = accept(state, old)
        assert out.codes == (w.DUPLICATE_SEQ,) and out.played is None
        assert out.state is state and out.ignored


def test_rewind_moves_the_cursor_credits_nothing_and_rewatching_adds_nothing():
    beats = [*steady(count=5), beat(6, 0, 61_000), beat(7, 15, 76_000), beat(8, 75, 136_000)]
    state, played, codes = run(new_session("s1", DURATION), beats)
    assert codes == [w.BACKWARDS]  # a rewind is recorded, not an error for later beats
    assert len(played) == 6  # 4 before, 1 rewatch, 1 new
    assert state.watched_ms == 75_000  # the rewatched 15 s did not add
    assert state.earned_ms == 135_000  # but it did spend wall-clock budget


def test_position_beyond_duration_or_negative_is_out_of_range_and_ignored():
    state, _, _ = run(new_session("s1", DURATION), steady(count=2))
    for pos in (45 * 60 + 2, -1, 10**9):
        out = accept(state, beat(3, pos, 30_000))
        assert out.codes == (w.OUT_OF_RANGE,) and out.state is state
    # Honest play continues as if the bad beat never came.
    _, played, codes = run(state, [beat(4, 30, 30_000)])
    assert codes == [] and [p.stretch for p in played] == [Stretch(15_000, 30_000)]


def test_a_position_just_past_the_end_is_read_as_the_end():
    state = new_session("s1", 60_000)
    state, played, codes = run(state, [beat(1, 50, 0), beat(2, 60.04, 10_000, event="ended")])
    assert codes == [] and [p.stretch for p in played] == [Stretch(50_000, 60_000)]


def test_server_clock_going_backwards_never_credits():
    beats = [beat(1, 0, 100_000), beat(2, 15, 115_000), beat(3, 30, 50_000), beat(4, 45, 60_000),
             beat(5, 60, 130_000)]
    state, played, codes = run(new_session("s1", DURATION), beats)
    assert codes == [w.CLOCK_BACKWARDS, w.CLOCK_BACKWARDS]
    assert [p.stretch for p in played] == [Stretch(0, 15_000), Stretch(45_000, 60_000)]
    assert state.last_server_ms == 130_000  # a high-water mark
    assert state.earned_ms <= state.playing_ms + state.tolerance_ms


def test_client_timeline_going_backwards_never_credits():
    # The server never reads a client clock; a client whose timeline runs backwards while it
    # claims to be playing (and counts its seq up) earns nothing at all.
    beats = [beat(i + 1, 600 - 15 * i, i * 15_000) for i in range(10)]
    state, played, codes = run(new_session("s1", DURATION), beats)
    assert played == [] and codes == [w.BACKWARDS] * 9 and state.watched_ms == 0


def test_burst_after_five_minutes_offline_credits_only_what_wall_clock_allows():
    start = [beat(1, 0, 0)]
    # (a) On reconnect the player sends where it really is: five minutes are credited.
    state, played, codes = run(new_session("s1", DURATION), [*start, beat(2, 300, 300_000)])
    assert codes == [] and state.watched_ms == 300_000
    # (b) It claims ten minutes after five offline: not watching, nothing credited.
    state, played, codes = run(new_session("s1", DURATION), [*start, beat(2, 600, 300_000)])
    assert codes == [w.TOO_FAST] and state.watched_ms == 0
    # (c) It replays 40 queued beats (15 s apart) in a burst, 50 ms apart.
    burst = [beat(2 + i, 15 * (i + 1), 300_000 + 50 * i) for i in range(40)]
    state, played, codes = run(new_session("s1", DURATION), [*start, *burst])
    assert state.earned_ms <= 300_000 + 39 * 50 + state.tolerance_ms
    assert state.watched_ms == 15_000 and set(codes) == {w.TOO_FAST}


def test_a_client_running_ten_percent_fast_is_held_to_wall_clock():
    # Every step sits just inside the per-step tolerance; the session budget stops the drift.
    state = new_session("s1", DURATION)
    beats, pos = [], 0
    for i in range(40):
        beats.append(Heartbeat("s1", i + 1, pos, True, Decimal(1), "tick", i * 15_000))
        pos += state.allowance_ms(15_000)
    state, played, codes = run(state, beats)
    assert w.OVER_WALL_CLOCK in codes
    assert state.earned_ms == 39 * 15_000 + state.tolerance_ms


def test_wrong_session_is_ignored():
    state, _, _ = run(new_session("s1", DURATION), steady(count=2))
    out = accept(state, beat(3, 30, 30_000, sid="other"))
    assert out.codes == (w.WRONG_SESSION,) and out.state is state


# ---------------------------------------------------------------- takeover


def test_two_sessions_at_once_only_the_newest_earns():
    a = new_session("A", DURATION)
    a, played_a, _ = run(a, steady(count=2, sid="A"), active="A")
    assert len(played_a) == 1
    # The person opens the lesson on a phone: session B becomes active, A is superseded.
    assert not w.active_session_wins("B", "A") and w.active_session_wins("B", "B")
    a = w.supersede(a)
    b = new_session("B", DURATION)
    b, played_b, codes_b = run(b, steady(start_pos=15, start_t=20_000, count=3, sid="B"),
                               active="B")
    assert codes_b == [] and len(played_b) == 2
    a, played_a, codes_a = run(a, [beat(3, 30, 30_000, sid="A")], active="B")
    assert played_a == [] and codes_a == [w.SUPERSEDED]


def test_a_beat_of_a_session_that_is_not_active_supersedes_it_even_if_not_yet_marked():
    a, _, _ = run(new_session("A", DURATION), steady(count=2, sid="A"), active="A")
    out = accept(a, beat(3, 30, 30_000, sid="A"), "B")
    assert out.codes == (w.SUPERSEDED,) and out.state.superseded and out.played is None
    # Once superseded, always: even if the caller later passes no active id.
    again = accept(out.state, beat(4, 45, 45_000, sid="A"))
    assert again.codes == (w.SUPERSEDED,) and again.played is None


# ---------------------------------------------------------------- face-check blocking


def test_blocked_session_credits_nothing_until_unblocked_and_a_fresh_step():
    state, _, _ = run(new_session("s1", DURATION), steady(count=2))
    state = w.block(state)
    state, played, codes = run(state, [beat(3, 30, 30_000), beat(4, 45, 45_000)])
    assert played == [] and codes == [w.BLOCKED, w.BLOCKED]
    state = w.unblock(state)
    state, played, codes = run(state, [beat(5, 60, 60_000), beat(6, 75, 75_000)])
    assert codes == [w.SEEK_FORWARD]  # the step spanning the unblock does not count
    assert [p.stretch for p in played] == [Stretch(60_000, 75_000)]


def test_check_before_start_blocks_a_new_session():
    state = new_session("s1", DURATION, check_before_start=True)
    assert state.blocked
    state, played, _ = run(state, steady(count=2))
    assert played == []
    assert w.unblock(w.unblock(state)) == w.unblock(state)


def test_a_closed_session_ignores_beats():
    state, _, _ = run(new_session("s1", DURATION), steady(count=2))
    closed = replace(state, closed=True, last_playing=False)
    assert accept(closed, beat(3, 30, 30_000)).codes == (w.CLOSED,)


# ---------------------------------------------------------------- the boundary


def test_from_client_converts_seconds_to_int_ms_rounding_down():
    b = Heartbeat.from_client("s", "7", 12.3456, "true", 1.25, "tick", server_ms=5)
    assert (b.seq, b.position_ms, b.playing, b.rate) == (7, 12345, True, Decimal("1.25"))
    assert Heartbeat.from_client("s", 1, 0.1 + 0.2, False, None, "pause", 0).position_ms == 300
    assert Heartbeat.from_client("s", 1, "61.9999", "0", "1", "seek", 0).position_ms == 61999
    assert hb.to_ms(Decimal("-0.0005")) == -1  # negative stays negative, then out_of_range
    assert hb.to_ms("1e300") == 10**12  # absurd positions are clamped, still out of range
    assert Heartbeat.from_client("s", 1, 0, True, "1.50", "tick", 0).rate == Decimal("1.5")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"position": float("nan")},
        {"position": float("inf")},
        {"position": "abc"},
        {"position": True},
        {"seq": True},
        {"seq": 1.5},
        {"seq": "--1"},
        {"rate": 0},
        {"rate": -1},
        {"rate": "fast"},
        {"rate": float("nan")},
        {"rate": "1" * 40},
        {"position": "1" * 40},
        {"position": [1]},
        {"seq": "9" * 40},
        {"playing": "maybe"},
        {"event": "rewind"},
        {"session_id": ""},
    ],
)
def test_from_client_refuses_garbage(kwargs):
    raw = {"session_id": "s", "seq": 1, "position": 1, "playing": True, "rate": 1,
           "event": "tick", "server_ms": 0} | kwargs
    with pytest.raises(BadHeartbeat):
        Heartbeat.from_client(**raw)


def test_heartbeat_refuses_a_float_rate():
    with pytest.raises(TypeError):
        Heartbeat("s", 1, 0, True, 1.0, "tick", 0)


def test_state_round_trips_through_json():
    state, _, _ = run(new_session("s1", DURATION, max_rate=Decimal("1.5")),
                      [*steady(count=3), beat(4, 0, 50_000)])
    data = json.loads(json.dumps(state.to_dict()))
    assert SessionState.from_dict(data) == state


def test_played_round_trips_through_json():
    _, played, _ = run(new_session("s1", DURATION), steady(count=2))
    data = json.loads(json.dumps(played[0].to_dict()))
    assert w.Played.from_dict(data) == played[0]


def test_every_code_has_a_chinese_reason():
    assert set(w.CODES) == set(w.REASONS)
    for code in w.CODES:
        assert any("\u4e00" <= ch <= "\u9fff" for ch in w.REASONS[code])


# ---------------------------------------------------------------- interval arithmetic


def test_union_merges_overlapping_and_touching():
    got = union([Stretch(10, 20), Stretch(0, 5), Stretch(5, 8), Stretch(15, 30), Stretch(40, 50)])
    assert got == [Stretch(0, 8), Stretch(10, 30), Stretch(40, 50)]
    assert union([]) == []


def test_measure_is_capped_at_duration():
    assert measure_ms([Stretch(0, 10), Stretch(5, 20)]) == 20
    assert measure_ms([Stretch(0, 10), Stretch(50, 80)], duration_ms=60) == 20
    assert measure_ms([Stretch(70, 80)], duration_ms=60) == 0


def test_watched_minutes_rounds_down():
    assert watched_minutes([Stretch(0, 2 * MIN - 1)], DURATION) == 1
    assert watched_minutes([Stretch(0, 2 * MIN)], DURATION) == 2
    assert watched_minutes([Stretch(0, 10 * MIN)], 5 * MIN + 30_000) == 5


def test_stretch_refuses_empty_negative_or_float():
    for a, b in ((5, 5), (6, 5), (-1, 5)):
        with pytest.raises(ValueError):
            Stretch(a, b)
    with pytest.raises(TypeError):
        Stretch(0, 1.5)


def test_minutes_gained_carries_the_seconds_across_rounds():
    first = [Stretch(0, 90_000)]  # 1.5 min -> 1
    second = [Stretch(90_000, 150_000)]  # +1 min, total 2.5 -> 2
    third = [Stretch(0, 150_000)]  # all rewatched: nothing
    assert timeline.minutes_gained([], first, DURATION) == 1
    assert timeline.minutes_gained(first, second, DURATION) == 1
    assert timeline.minutes_gained(first + second, third, DURATION) == 0


def test_cap_minutes_never_exceeds_declared_hours():
    assert cap_minutes(0, 30, Decimal(2), 45) == 30
    assert cap_minutes(80, 30, Decimal(2), 45) == 10
    assert cap_minutes(90, 30, Decimal(2), 45) == 0
    assert cap_minutes(100, 30, Decimal(2), 45) == 0  # already over (policy changed): no more
    assert cap_minutes(0, 100, Decimal("1.5"), 45) == 67  # 67.5 rounds down
    with pytest.raises(TypeError):
        cap_minutes(0, 1, 1.5, 45)
    with pytest.raises(ValueError):
        cap_minutes(-1, 1, Decimal(1), 45)


# ---------------------------------------------------------------- properties

stretch_st = st.tuples(st.integers(0, 10_000), st.integers(1, 2_000)).map(
    lambda t: Stretch(t[0], t[0] + t[1]))
stretches_st = st.lists(stretch_st, max_size=25)


@given(stretches_st)
def test_union_is_idempotent(ss):
    assert union(union(ss)) == union(ss)
    merged = union(ss)
    assert all(a.end_ms < b.start_ms for a, b in zip(merged, merged[1:], strict=False))


@given(stretches_st, st.randoms(use_true_random=False))
def test_union_is_order_independent(ss, rnd):
    shuffled = list(ss)
    rnd.shuffle(shuffled)
    assert union(shuffled) == union(ss)
    assert union(ss + ss) == union(ss)


@given(stretches_st, st.lists(st.integers(1, 1999), max_size=5))
def test_measure_does_not_depend_on_how_stretches_are_split(ss, cuts):
    pieces = []
    for s in ss:
        points = sorted({s.start_ms + c for c in cuts if s.start_ms + c < s.end_ms})
        bounds = [s.start_ms, *points, s.end_ms]
        pieces.extend(Stretch(a, b) for a, b in zip(bounds, bounds[1:], strict=False))
    assert measure_ms(pieces) == measure_ms(ss)
    assert measure_ms(pieces, 5000) == measure_ms(ss, 5000)
    assert measure_ms(ss) <= sum(s.length_ms for s in ss)


@given(stretches_st, stretch_st)
def test_rewatching_never_adds(ss, s):
    assert measure_ms(ss) <= measure_ms([*ss, s]) <= measure_ms(ss) + s.length_ms
    # Watching again something already watched adds nothing.
    for old in ss:
        assert measure_ms([*ss, old]) == measure_ms(ss)


@given(st.integers(0, 10_000), st.integers(0, 10_000),
       st.decimals(min_value=0, max_value=200, places=2), st.sampled_from([30, 45, 50, 60]))
def test_cap_minutes_property(already, new, hours, mph):
    got = cap_minutes(already, new, hours, mph)
    ceiling = math.floor(Fraction(hours) * mph)
    assert 0 <= got <= new
    assert already + got <= max(ceiling, already)
    if already + new <= ceiling:
        assert got == new


beat_step_st = st.tuples(
    st.sampled_from([1, 1, 1, 1, 1, 1, 2, 3, 0, -1]),  # seq delta (<= 0 replays)
    # position ms; None keeps advancing with the server clock (honest play), the rest jumps
    st.one_of(st.none(), st.none(), st.none(), st.integers(-2_000, 310_000)),
    st.one_of(st.integers(0, 20_000), st.integers(0, 20_000), st.integers(-5_000, 60_000)),
    st.sampled_from([True, True, True, False]),  # playing
    st.sampled_from(["0.5", "1", "1", "1", "1", "1", "1.25", "2", "16"]),  # claimed rate
    st.sampled_from([hb.TICK] * 12 + [hb.START, hb.PAUSE, hb.SEEK, hb.ENDED]),
    st.sampled_from([None] * 10 + ["block", "unblock"]),
    st.integers(-3_000, 3_000),  # jitter added to honest positions
)


@settings(max_examples=400, deadline=None)
@given(st.lists(beat_step_st, min_size=1, max_size=40), st.sampled_from(["1", "1.5", "2"]),
       st.integers(0, 3_000))
def test_credit_is_bounded_by_wall_clock_and_duration(steps, max_rate, tolerance_ms):
    """The precise bound: within one session,

        sum of credited lengths (earned_ms) <= floor(max_rate * (T - t0)) + tolerance_ms

    where t0 is the server time of the first accepted beat and T the highest server time seen
    (= the last beat's time when the server clock is monotonic); and the measure of the union of
    credited stretches <= min(earned_ms, duration)."""
    duration = 300_000
    state = new_session("s1", duration, max_rate=Decimal(max_rate), tolerance_ms=tolerance_ms)
    seq, pos, t = 0, 0, 1_000_000
    played, accepted_beats = [], []
    for dseq, position, dt, playing, rate, event, action, jitter in steps:
        if action == "block":
            state = w.block(state)
        elif action == "unblock":
            state = w.unblock(state)
        seq += dseq
        t += dt
        pos = pos + max(dt, 0) + jitter if position is None else position
        b = Heartbeat("s1", seq, pos, playing, Decimal(rate), event, t)
        out = accept(state, b)
        if out.ignored:
            assert out.state is state
        else:
            accepted_beats.append(b)
        # Replaying any beat already accepted changes nothing.
        if accepted_beats and not out.state.closed:
            old = accepted_beats[0]
            assert accept(out.state, old).state is out.state
        # Storage round trip is lossless.
        assert SessionState.from_dict(json.loads(json.dumps(out.state.to_dict()))) == out.state
        state = out.state
        if out.played:
            p = out.played
            assert 0 <= p.start_ms < p.end_ms <= duration
            assert p.server_from_ms <= p.server_to_ms
            played.append(p)
    stretches = [p.stretch for p in played]
    assert sum(s.length_ms for s in stretches) == state.earned_ms
    assert tuple(union(stretches)) == state.stretches
    if state.first_server_ms is not None:
        wall = state.last_server_ms - state.first_server_ms
        assert state.earned_ms <= math.floor(Fraction(max_rate) * wall) + tolerance_ms
        assert state.playing_ms <= wall
        monotonic = [b.server_ms for b in accepted_beats]
        if monotonic == sorted(monotonic):
            assert wall == monotonic[-1] - monotonic[0]
    assert measure_ms(stretches) <= min(state.earned_ms, duration)
    assert state.watched_ms == measure_ms(stretches)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(2_000, 30_000), st.integers(0, 1_500)), min_size=2,
                max_size=30))
def test_honest_play_with_network_delay_is_credited_in_full(steps):
    """A player that really plays at rate 1: beat i leaves the browser at c_i with position c_i
    and reaches the server d_i later (0 <= d_i <= 1.5 s < tolerance). Nothing is refused."""
    state = new_session("s1", 10**9)
    c = 0
    beats = []
    for i, (dc, delay) in enumerate(steps):
        c += dc
        beats.append(Heartbeat("s1", i + 1, c, True, Decimal(1), "tick", c + delay))
    state, played, codes = run(state, beats)
    assert codes == []
    assert state.watched_ms == c - beats[0].position_ms


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30_000), st.integers(0, 500)), min_size=2,
                max_size=60), st.sampled_from(["1", "1.5"]))
def test_a_greedy_client_never_beats_the_wall_clock_bound(steps, max_rate):
    """A client that claims, every step, as much as the per-step tolerance allows (minus a bit)
    still earns at most floor(max_rate * (t_last - t_first)) + tolerance_ms."""
    state = new_session("s1", 10**9, max_rate=Decimal(max_rate))
    t = pos = 0
    beats = []
    for i, (dt, shave) in enumerate(steps):
        t += dt
        pos += max(0, state.allowance_ms(dt) - shave) if i else 0
        beats.append(Heartbeat("s1", i + 1, pos, True, Decimal(max_rate), "tick", t))
    state, _, codes = run(state, beats)
    assert set(codes) <= {w.OVER_WALL_CLOCK}
    wall = beats[-1].server_ms - beats[0].server_ms
    assert state.earned_ms <= math.floor(Fraction(max_rate) * wall) + state.tolerance_ms
    assert state.earned_ms == min(pos, math.floor(Fraction(max_rate) * wall)
                                  + state.tolerance_ms)


@given(st.lists(st.integers(0, 200_000), max_size=40), st.integers(0, 120))
def test_minutes_due_carries_every_second_and_the_cap_still_holds(additions, cap):
    """Crediting the minutes a running ms total owes, after each addition, loses no second:
    the sum is always the whole minutes of the total (and, capped, never above the cap)."""
    total = credited = capped = 0
    for ms in additions:
        total += ms
        due = timeline.minutes_due(total, credited)
        credited += due
        capped += cap_minutes(capped, timeline.minutes_due(total, capped), Decimal(cap), 1)
        assert credited == total // 60_000
        assert capped == min(cap, total // 60_000)


def test_ten_lessons_of_four_and_a_half_minutes_earn_forty_five():
    total = credited = 0
    for _ in range(10):
        total += 270_000
        credited += timeline.minutes_due(total, credited)
    assert credited == 45
