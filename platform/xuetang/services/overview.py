"""The home page's overview: the organizations an account manages and the registrations it oversees."""

from peewee import fn

from xuetang.models import ROLES, District, Organization, Person, StudyYear
from xuetang.rules.filings import kinds_for
from xuetang.services.filings import queue_count
from xuetang.services.people import Viewer


def district_registrations(district_ids: set[int]) -> list[dict]:
    """Registrations per district: employers and registered people."""
    rows = []
    for district in (District.select()
                     .where(District.id.in_(district_ids))
                     .order_by(District.sort)):
        employers = (Organization.select()
                     .where((Organization.district == district)
                            & (Organization.kind == "employer"))
                     .count())
        people = Person.select().where(Person.district == district).count()
        rows.append({"district": district, "employers": employers, "people": people})
    return rows


def city_registrations() -> dict:
    """Registered people in the whole city, and organizations per kind."""
    by_kind = dict(Organization.select(Organization.kind, fn.COUNT(Organization.id))
                   .group_by(Organization.kind)
                   .tuples())
    return {"people": Person.select().count(), "by_kind": by_kind}


def staff_title(viewer: Viewer) -> str:
    """How the greeting names a staff account: each organisation (or district) with its role,
    e.g. "济南市人力资源和社会保障局 · 市人社管理员", never the bare username."""
    titles: list[str] = []
    for grant in viewer.grants:
        if grant.role == "trainee":
            continue
        where = (grant.organization.name if grant.organization_id
                 else grant.district.name if grant.district_id else "")
        title = f"{where} · {ROLES[grant.role]}" if where else ROLES[grant.role]
        if title not in titles:
            titles.append(title)
    return "、".join(titles)


def home_page(viewer: Viewer) -> dict:
    """One section per role `viewer` holds: the district and city keys only for those admins."""
    context = {"staff_title": staff_title(viewer)}
    if viewer.has_role("district_admin"):
        context["districts"] = district_registrations(viewer.district_ids("district_admin"))
    if viewer.has_role("city_admin"):
        context["city"] = city_registrations()
    if kinds_for({g.role for g in viewer.grants}) or viewer.has_role("district_admin",
                                                                     "city_admin"):
        context["filings"] = {"kinds": kinds_for({g.role for g in viewer.grants}),
                              "queue": queue_count(viewer)}
    if viewer.has_role("employer_admin", "district_admin", "city_admin"):
        current = StudyYear.current()
        context["report_year"] = current.year if current else None
    managed = {g.organization_id for g in viewer.grants if g.organization_id}
    context["organizations"] = list(Organization.select().where(Organization.id.in_(managed)))
    return context
