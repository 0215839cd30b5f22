"""Property-based heartbeat sequences through the real endpoint: whatever a client sends, the
ledger never holds more than the server's wall clock allowed, nor more than the lesson lasts, and
the ledger minutes are exactly the whole minutes of the union of what was credited."""

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.clock import study_morning
from tests.support.study import Player, make_lesson
from xuetang.db import database
from xuetang.models import StudyCredit, WatchStretch
from xuetang.rules.timeline import Stretch, measure_ms

DURATION_S = 300
TOLERANCE_MS = 2000

beats = st.lists(
    st.tuples(
        st.integers(0, 40),  # server seconds since the previous beat
        st.integers(-30, 150),  # claimed position change, seconds
        st.sampled_from(["tick", "tick", "tick", "pause", "seek", "start", "ended"]),
        st.sampled_from([1, 1, 1, "1.5", 2]),
        st.booleans(),  # playing
    ),
    min_size=1, max_size=14)

# Each example starts ten minutes after the previous one began (its beats span at most 560 s):
# the person's wall-clock time line and the session-opening limit carry over between examples
# of the one signed-in trainee, as they would for a real person.
EXAMPLE_STARTS = itertools.count(study_morning(), 600_000)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=beats, replay=st.booleans())
def test_no_heartbeat_sequence_credits_more_than_wall_clock_or_duration(app, client, auth,
                                                                        trainee_id, set_clock,
                                                                        sequence, replay):
    clock = set_clock(next(EXAMPLE_STARTS))
    lesson_id = make_lesson(duration_s=DURATION_S)
    if client.get("/study/year").status_code != 200:  # examples share the signed-in client
        assert auth.login(trainee_id).status_code == 303
    tab = Player(client, lesson_id)
    assert tab.open().status_code == 200
    elapsed_ms = 0
    position = 0
    assert tab.beat(0, "start").status_code == 200
    for advance_s, delta_s, event, rate, playing in sequence:
        clock.advance(advance_s)
        elapsed_ms += advance_s * 1000
        position += delta_s
        answer = tab.beat(position, event, playing=playing, rate=rate)
        assert answer.status_code == 200
        if replay:  # every beat arrives twice: the copy must change nothing
            assert tab.beat(position, event, playing=playing, rate=rate,
                            seq=tab.seq).get_json()["accepted"] is False
    with database.connection_context():
        stretches = [Stretch(s.start_ms, s.end_ms) for s in WatchStretch.select().where(
            (WatchStretch.lesson == lesson_id) & (WatchStretch.status == "credited"))]
        minutes = sum(c.minutes for c in StudyCredit.select().where(
            StudyCredit.lesson == lesson_id))
    covered = measure_ms(stretches, DURATION_S * 1000)
    assert sum(s.length_ms for s in stretches) <= elapsed_ms + TOLERANCE_MS
    assert covered <= DURATION_S * 1000
    assert minutes == covered // 60_000
