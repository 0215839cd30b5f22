"""Which courses and lessons an account may see and play, and under which credit gate.

The rule is rules.eligibility.may_see_course; this module applies it to the tables, once, for the
plaza, the player, the video endpoint and the face checks. `viewer` is the signed-in account
(web.access.SignedIn): anything with has_role(), org_ids(role) and person.
"""

from __future__ import annotations

from flask import current_app

from xuetang.models import ROLES, Course, CourseSeries, Lesson, Rendition
from xuetang.rules.annual import PROFESSIONAL, PUBLIC
from xuetang.rules.eligibility import may_see_course
from xuetang.rules.gate import Gate

# Every role but the trainee's sees the courses of every series.
STAFF_ROLES = tuple(role for role in ROLES if role != "trainee")


def own_series(person, course) -> bool:
    """Whether the course belongs to the person's own title series."""
    return bool(person is not None and person.series_id) and (
        CourseSeries.select()
        .where((CourseSeries.course == course) & (CourseSeries.series == person.series_id))
        .exists()
    )


def trainee_series_id(viewer) -> int | None | bool:
    """The series a trainee-only account is limited to; False when the account is staff."""
    if viewer.has_role(*STAFF_ROLES):
        return False
    person = viewer.person
    return person.series_id if person is not None else None


def course_visible(viewer, course: Course) -> bool:
    """May this account see the course: its page, its posters and video, its player, its checks?"""
    sees_drafts = (viewer.has_role("city_admin")
                   or course.organization_id in viewer.org_ids("uploader"))
    every = viewer.has_role(*STAFF_ROLES)
    own = (not sees_drafts and course.published and not every
           and course.category == PROFESSIONAL and own_series(viewer.person, course))
    return may_see_course(published=course.published, category=course.category, own_series=own,
                          sees_drafts=sees_drafts, sees_every_series=every)


def visible_courses(viewer):
    """Published courses the account may see in the plaza (the same rule as a query)."""
    query = Course.select().where(Course.published == True)  # noqa: E712
    series_id = trainee_series_id(viewer)
    if series_id is not False:
        condition = Course.category == PUBLIC
        if series_id:
            own = CourseSeries.select(CourseSeries.course).where(CourseSeries.series == series_id)
            condition = condition | Course.id.in_(own)
        query = query.where(condition)
    return query


def visible_lesson(viewer, lesson_id) -> Lesson | None:
    """A lesson (joined with its course) of a course this account may see, else None."""
    if not isinstance(lesson_id, int) or isinstance(lesson_id, bool):
        try:
            lesson_id = int(lesson_id)
        except (TypeError, ValueError):
            return None
    if lesson_id <= 0:
        return None
    lesson = (Lesson.select(Lesson, Course).join(Course)
              .where(Lesson.id == lesson_id).first())
    if lesson is None or not course_visible(viewer, lesson.course):
        return None
    return lesson


def is_playable(lesson: Lesson) -> bool:
    """Its course is published, it is transcoded and it has a duration."""
    return bool(lesson.status == "ready" and lesson.duration_ms and lesson.duration_ms > 0
                and lesson.course.published
                and Rendition.select().where(Rendition.lesson == lesson).exists())


def playable_lesson(viewer, lesson_id) -> Lesson | None:
    """A lesson this account may open in the player, else None."""
    lesson = visible_lesson(viewer, lesson_id)
    return lesson if lesson is not None and is_playable(lesson) else None


def face_gate(person, lesson: Lesson) -> Gate:
    """The credit gate of this person's play of this lesson: face checks or not."""
    course = lesson.course
    own = course.category == PROFESSIONAL and own_series(person, course)
    return Gate.for_course(course.category, own_series=own,
                           checks_for_public=bool(current_app.config["FACE_CHECKS_FOR_PUBLIC"]))
