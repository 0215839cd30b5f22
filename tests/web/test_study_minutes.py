"""Issue 9, defect 4: verified play is kept in ms and whole minutes come from the course's
running total, so seconds short of a minute are carried to the next lesson, not lost."""

from decimal import Decimal

import pytest

from tests.support.study import Player, make_lesson, online_minutes, without_random_checks
from xuetang.db import database
from xuetang.models import LedgerTotal, Lesson, Person, Rendition, StudyCredit


@pytest.fixture(autouse=True)
def scripted_checks(monkeypatch):
    without_random_checks(monkeypatch)


def course_of(lesson_count: int, duration_s: int, declared=Decimal(1)) -> list[int]:
    """A public course of `lesson_count` lessons of `duration_s` each; returns their ids."""
    first = make_lesson(duration_s=duration_s, declared=declared)
    ids = [first]
    with database.connection_context():
        course = Lesson.get_by_id(first).course
        for position in range(2, lesson_count + 1):
            lesson = Lesson.create(course=course, position=position, title=f"第{position}讲",
                                   status="ready", duration_ms=duration_s * 1000)
            Rendition.create(lesson=lesson, name="240p", file_name=f"lessons/{lesson.id}/240p.mp4",
                             size_bytes=1000, width=320, height=240, bitrate_kbps=180)
            ids.append(lesson.id)
    return ids


@pytest.fixture
def signed_in(client, auth, trainee_id, clock):
    assert auth.login(trainee_id).status_code == 303


def watch(client, clock, lesson_id: int, duration_s: int) -> None:
    tab = Player(client, lesson_id)
    assert tab.open().status_code == 200
    tab.play(clock, 0, duration_s)
    clock.advance(1)
    tab.beat(duration_s, "ended", playing=False)


def test_ten_lessons_of_four_and_a_half_minutes_earn_forty_five(client, signed_in, clock,
                                                               trainee_id):
    with database.connection_context():
        before = online_total(trainee_id)
    for lesson_id in course_of(10, 270):
        watch(client, clock, lesson_id, 270)
    assert online_minutes(trainee_id, 2021) == 45
    with database.connection_context():
        assert max(c.course_covered_ms for c in StudyCredit.select()) == 2_700_000
        # The crediting INSERT (not the model) moved the report's totals with it.
        assert online_total(trainee_id) == before + 45 and LedgerTotal.disagreements() == 0


def online_total(id_number: str) -> int:
    """The trainee's online minutes of 2021 as the completion report reads them."""
    found = LedgerTotal.get_or_none((LedgerTotal.person == Person.get(Person.id_number == id_number))
                                    & (LedgerTotal.year == 2021) & (LedgerTotal.source == "online"))
    return found.minutes if found else 0


def test_a_thirty_second_lesson_earns_with_the_next_one(client, signed_in, clock, trainee_id):
    short, other = course_of(2, 30)
    watch(client, clock, short, 30)
    assert online_minutes(trainee_id, 2021) == 0  # 30 s carried, not lost
    watch(client, clock, other, 30)
    assert online_minutes(trainee_id, 2021) == 1


def test_the_course_cap_still_holds_with_carried_seconds(client, signed_in, clock, trainee_id):
    for lesson_id in course_of(3, 270, declared=Decimal("0.2")):  # 9 minutes at most
        watch(client, clock, lesson_id, 270)
    assert online_minutes(trainee_id, 2021) == 9


def test_rewatching_a_lesson_adds_nothing(client, signed_in, clock, trainee_id):
    lesson_id, _ = course_of(2, 90)
    watch(client, clock, lesson_id, 90)
    watch(client, clock, lesson_id, 90)
    assert online_minutes(trainee_id, 2021) == 1
