"""The course plaza (专业课广场): the published courses an account may browse, filtered and paged,
and one course's page. Visibility is services.catalog's one rule."""

from __future__ import annotations

import math

from peewee import fn

from xuetang.models import Course, CourseSeries, Lesson, Organization, Series, Specialty
from xuetang.rules.annual import CATEGORY_LABELS
from xuetang.services import catalog

PAGE_SIZE = 10


def _series_choices(viewer) -> list[Series]:
    series_id = catalog.trainee_series_id(viewer)
    if series_id is not False:
        return list(Series.select().where(Series.id == series_id)) if series_id else []
    with_courses = (CourseSeries.select(CourseSeries.series)
                    .join(Course)
                    .where(Course.published == True))  # noqa: E712
    return list(Series.select().where(Series.id.in_(with_courses)).order_by(Series.sort))


def _specialty_choices(series_choices: list[Series], series_id: int | None) -> list[Specialty]:
    """The specialties to pick from: those of the chosen series (or of the only one shown)."""
    if series_id is None and len(series_choices) == 1:
        series_id = series_choices[0].id
    if series_id is None:
        return []
    return list(Specialty.select().where(Specialty.series == series_id).order_by(Specialty.id))


def listing(viewer, filters: dict) -> dict:
    """Everything the plaza page and its list fragment show, for filters series / specialty /
    category / q / page (already parsed)."""
    query = catalog.visible_courses(viewer)
    series_choices = _series_choices(viewer)
    specialty_choices = _specialty_choices(series_choices, filters["series"])
    if filters.get("specialty") in {sp.id for sp in specialty_choices}:
        # A specialty narrows the professional courses; public courses count for everyone.
        query = query.where((Course.category == "public")
                            | (Course.specialty == filters["specialty"]))
    else:
        filters = {**filters, "specialty": None}
    if filters["series"]:
        in_series = CourseSeries.select(CourseSeries.course).where(
            CourseSeries.series == filters["series"])
        query = query.where((Course.category == "public") | Course.id.in_(in_series))
    if filters["category"]:
        query = query.where(Course.category == filters["category"])
    if filters["q"]:
        needle = "".join(ch for ch in filters["q"] if ch not in "%_\\")
        query = query.where(fn.LOWER(Course.title).contains(needle.lower()))
    total = query.count()
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(filters["page"], pages)
    courses = list(query.order_by(Course.category.desc(), Course.updated_at.desc(), Course.id)
                   .paginate(page, PAGE_SIZE))
    ids = [c.id for c in courses]
    lessons = {}
    for lesson in (Lesson.select().where(Lesson.course.in_(ids))
                   .order_by(Lesson.course, Lesson.position, Lesson.id)):
        lessons.setdefault(lesson.course_id, []).append(lesson)
    series_names: dict[int, list[str]] = {}
    for link in (CourseSeries.select(CourseSeries, Series).join(Series)
                 .where(CourseSeries.course.in_(ids)).order_by(Series.sort)):
        series_names.setdefault(link.course_id, []).append(link.series.name)
    return {"courses": courses, "lessons": lessons, "series_names": series_names,
            "total": total, "page": page, "pages": pages, "filters": filters,
            "series_choices": series_choices, "specialty_choices": specialty_choices,
            "categories": CATEGORY_LABELS}



def course_page(viewer, course_id: int) -> dict | None:
    """A course's page (description, declared hours, lessons, series, its organization), or None
    when the course does not exist or the account may not see it. `may_play`: only a trainee
    opens the player (study.play), so only a trainee is offered its links."""
    course = Course.get_or_none(Course.id == course_id)
    if course is None or not catalog.course_visible(viewer, course):
        return None
    lessons = list(Lesson.select().where(Lesson.course == course)
                   .order_by(Lesson.position, Lesson.id))
    series = [link.series.name for link in
              CourseSeries.select(CourseSeries, Series).join(Series)
              .where(CourseSeries.course == course).order_by(Series.sort)]
    total_ms = sum(lesson.duration_ms or 0 for lesson in lessons if lesson.is_ready)
    return {"course": course, "lessons": lessons, "series": series,
            "organization": Organization.get_by_id(course.organization_id),
            "total_minutes": round(total_ms / 60000),
            "may_play": viewer.has_role("trainee") and viewer.person is not None}
